import ProtoWire
import Testing
import TestSupport

/// Untrusted bytes: whatever arrives, decoding either throws a `WireDecodingError` or yields a message whose own
/// encoding decodes back to it. Nothing else (a crash, another error type) is allowed.
@Suite struct RobustnessTests {
    /// How one decode ended.
    enum Outcome {
        case decoded
        case rejected
    }

    /// Decodes `bytes` as `M`; records an issue for any error that is not a `WireDecodingError` and for a decoded
    /// message whose encoding does not round-trip.
    @discardableResult
    static func decode<M: ProtoMessage>(_ bytes: [UInt8], as type: M.Type = AllTypes.self, context: @autoclosure () -> String) -> Outcome {
        let message: M
        do {
            message = try M(serializedBytes: bytes)
        } catch is WireDecodingError {
            return .rejected
        } catch {
            Issue.record("\(context()): unexpected error \(error)")
            return .rejected
        }
        let encoded = message.serializedBytes()
        do {
            let again = try M(serializedBytes: encoded)
            if again.serializedBytes() != encoded {
                Issue.record("\(context()): re-encoding is not stable")
            }
        } catch {
            Issue.record("\(context()): our own encoding does not decode: \(error)")
        }
        return .decoded
    }

    @Test func hundredThousandRandomByteStrings() {
        var random = SplitMix64(seed: 0xF022)
        var decoded = 0
        for index in 0..<100_000 {
            let bytes = random.bytes(count: Int.random(in: 0...40, using: &random))
            if Self.decode(bytes, context: "random input \(index) \(bytes)") == .decoded { decoded += 1 }
        }
        // Sanity check of the generator: some inputs (the empty one at least) are valid messages.
        #expect(decoded > 0)
    }

    /// Random sequences of plausible fields (known numbers, any wire type, lengths near the truth), which get
    /// much further into the decoder than uniform bytes.
    @Test func randomFieldSequences() {
        var random = SplitMix64(seed: 0x5EED)
        let numbers = [1, 2, 5, 7, 8, 11, 12, 13, 14, 15, 31, 35, 37, 41, 42, 44, 45, 51, 61, 70, 71, 72, 73, 80, 81, 82, 90, 1000]
        var decoded = 0
        for index in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                bytes += Self.randomField(numbers: numbers, depth: 0, using: &random)
            }
            if Self.decode(bytes, context: "field sequence \(index) \(bytes)") == .decoded { decoded += 1 }
        }
        #expect(decoded > 1000)
    }

    static func randomField(numbers: [Int], depth: Int, using random: inout SplitMix64) -> [UInt8] {
        let number = numbers.randomElement(using: &random) ?? 1
        switch UInt8.random(in: 0..<7, using: &random) {
        case 0, 1:
            return Wire.varint(number, random.integer())
        case 2:
            return Wire.fixed32(number, random.integer())
        case 3:
            return Wire.fixed64(number, random.integer())
        case 4 where depth < 3:
            var content: [UInt8] = []
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                content += randomField(numbers: [1, 2, 3, 9], depth: depth + 1, using: &random)
            }
            return Wire.delimited(number, content)
        case 5:
            var content = random.bytes(count: Int.random(in: 0...12, using: &random))
            if random.chance(0.2) { content = Array(random.string().utf8) }
            var bytes = Wire.delimited(number, content)
            if random.chance(0.1) { bytes.removeLast(Int.random(in: 0...min(3, bytes.count), using: &random)) }
            return bytes
        default:
            return Wire.group(number + 1000, random.chance(0.5) ? Wire.varint(1, 1) : [])
        }
    }

    @Test func everyTruncationOfEveryFixture() throws {
        for name in Fixture.allNames {
            let bytes = try Fixture.load(name).bytes
            // Every offset of every fixture but the tens-of-kilobytes one, where (quadratic) every offset of its
            // first and last kilobyte and a sample in between keep the test fast.
            let offsets: [Int]
            if bytes.count <= 8192 {
                offsets = Array(0..<bytes.count)
            } else {
                offsets = Array(0..<1024) + Array(stride(from: 1024, to: bytes.count - 1024, by: 61))
                    + Array((bytes.count - 1024)..<bytes.count)
            }
            for offset in offsets {
                let prefix = Array(bytes[..<offset])
                if name.hasPrefix("Recursive") {
                    Self.decode(prefix, as: Recursive.self, context: "\(name) cut at \(offset)")
                } else {
                    Self.decode(prefix, context: "\(name) cut at \(offset)")
                }
            }
        }
    }

    @Test func randomMutationsOfEveryFixture() throws {
        var random = SplitMix64(seed: 0xB17F)
        for name in Fixture.allNames {
            let original = try Fixture.load(name).bytes
            let rounds = original.count > 8192 ? 60 : 400
            for round in 0..<rounds {
                var bytes = original
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    Self.mutate(&bytes, using: &random)
                }
                if name.hasPrefix("Recursive") {
                    Self.decode(bytes, as: Recursive.self, context: "\(name) mutation \(round)")
                } else {
                    Self.decode(bytes, context: "\(name) mutation \(round)")
                }
            }
        }
    }

    static func mutate(_ bytes: inout [UInt8], using random: inout SplitMix64) {
        guard !bytes.isEmpty else {
            bytes = random.bytes(count: Int.random(in: 1...4, using: &random))
            return
        }
        let index = Int.random(in: 0..<bytes.count, using: &random)
        switch UInt8.random(in: 0..<7, using: &random) {
        case 0: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1: bytes[index] = UInt8.random(in: 0...255, using: &random)
        case 2: bytes[index] = [0x00, 0x7F, 0x80, 0xFF].randomElement(using: &random) ?? 0
        case 3: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
        case 4: bytes.remove(at: index)
        case 5:
            let end = min(bytes.count, index + Int.random(in: 1...16, using: &random))
            bytes.insert(contentsOf: bytes[index..<end], at: index)
        default:
            bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], at: index)
        }
    }

    // MARK: Hostile length prefixes

    @Test(arguments: [UInt64(1) << 31, UInt64(1) << 32, UInt64(1) << 63, UInt64.max])
    func hugeLengthPrefixFailsFastWithoutAllocating(length: UInt64) {
        // The error is lengthExceedsInput, raised when the length is read and compared with the bytes left, before
        // anything is allocated or read (no timing bound: timed assertions are not tests).
        // Strings, bytes, nested and repeated messages, map entries, packed runs of both kinds, an oneof member,
        // and an unknown field: each path reads a length.
        for field in [14, 15, 44, 45, 70, 71, 72, 73, 31, 41, 42, 80, 82, 1000] {
            let bytes = Wire.tag(field, 2) + Wire.varint(length) + [1, 2, 3]
            assertDecodeFails(bytes, .lengthExceedsInput(length: length, remaining: 3))
        }
        // Inside a nested message the bound is the nested message's end.
        let inner = Wire.tag(2, 2) + Wire.varint(length)
        assertDecodeFails(Wire.delimited(70, inner) + [0, 0, 0, 0], .lengthExceedsInput(length: length, remaining: 0))
    }
}
