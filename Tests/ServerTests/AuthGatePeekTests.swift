// Tests/ServerTests/AuthGatePeekTests.swift: the gate's model-name peek on bytes finds what the String peek finds.

@testable internal import Server
internal import Testing
internal import TestSupport

/// `AuthGate` authorizes a model-scoped request by the model name it peeks out of the protobuf bytes. The fast
/// peeks (`scanASCII`: a flat scan of the usual encodings; `readASCII`: a `ProtoReader`) answer with a range of the
/// buffer, and must find exactly what `peekString` (a `String`, with proto3's UTF-8 check) finds whenever they
/// answer; they may only decline (nil), and then the gate asks `peekString`.
@Suite struct AuthGatePeekTests {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            out.append(UInt8(value & 0x7F) | (value >= 0x80 ? 0x80 : 0))
            value >>= 7
        } while value != 0
        return out
    }

    static func tag(_ field: Int, _ wire: UInt64) -> [UInt8] { varint(UInt64(field) << 3 | wire) }

    static func lengthDelimited(_ field: Int, _ payload: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(payload.count)) + payload
    }

    /// A random message: mostly well-formed fields 1-20 of every wire type, names that are ASCII, non-ASCII UTF-8
    /// or not UTF-8, and now and then a group, a 10-byte varint, a truncation or a flipped byte. `clean` says
    /// whether it is one the flat scan must answer (tags 1-15, no group, no damage, every name ASCII).
    static func message(_ random: inout SplitMix64) -> (bytes: [UInt8], clean: Bool) {
        var bytes: [UInt8] = []
        var clean = true
        let names: [[UInt8]] = [Array("digits".utf8), [], Array("fraud-v2".utf8), Array("modèle".utf8), [0xFF, 0x61],
                                Array(repeating: UInt8(ascii: "m"), count: 200)]
        for _ in 0..<Int.random(in: 0...5, using: &random) {
            let field = Int.random(in: 0..<10, using: &random) < 7 ? Int.random(in: 1...3, using: &random)
                : Int.random(in: 1...20, using: &random)
            if field > 15 { clean = false }
            switch Int.random(in: 0..<10, using: &random) {
            case 0:
                let value = varint(random.next() >> UInt64.random(in: 0...63, using: &random))
                if value.count > 9 { clean = false }  // the flat scan leaves 10-byte varints to the reader
                bytes += tag(field, 0) + value
            case 1: bytes += tag(field, 1) + (0..<8).map { _ in UInt8.random(in: 0...255, using: &random) }
            case 2: bytes += tag(field, 5) + (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }
            case 3:
                bytes += tag(field, 3) + tag(4, 0) + [1] + tag(field, 4)
                clean = false
            case 4:
                bytes += tag(field, 0) + [UInt8](repeating: 0x80, count: 9) + [0x01]  // a 10-byte varint
                clean = false
            default:
                let name = names[Int.random(in: 0..<names.count, using: &random)]
                if field == 1, name.contains(where: { $0 >= 0x80 }) { clean = false }
                bytes += lengthDelimited(field, name)
            }
        }
        switch Int.random(in: 0..<10, using: &random) {
        case 0 where !bytes.isEmpty:
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
            clean = false
        case 1 where !bytes.isEmpty:
            bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            clean = false
        default:
            break
        }
        return (bytes, clean)
    }

    @Test func bytePeeksFindWhatTheStringPeekFinds() {
        var random = SplitMix64(seed: 19)
        var scanned = 0
        for _ in 0..<20_000 {
            let (bytes, clean) = Self.message(&random)
            let expected = AuthGate.peekString(field: 1, in: bytes)
            bytes.withUnsafeBytes { buffer in
                let scan = AuthGate.scanASCII(field: 1, in: buffer)
                let read = AuthGate.readASCII(field: 1, in: buffer)
                for range in [scan, read, AuthGate.peekASCII(field: 1, in: buffer)].compactMap({ $0 }) {
                    let name = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)
                    #expect(name == expected, "\(bytes)")
                }
                if clean { #expect(scan != nil, "\(bytes)") }
                // The reader declines only a non-ASCII name, which the String peek then decides.
                if read == nil { #expect(bytes.contains { $0 >= 0x80 }, "\(bytes)") }
                if scan != nil { scanned += 1 }
            }
        }
        #expect(scanned > 5_000)
    }

    @Test func predictAndModelInferShapes() {
        let tensor = Self.lengthDelimited(1, Array("X".utf8)) + Self.tag(2, 0) + [1]
            + Self.lengthDelimited(10, [UInt8](repeating: 0, count: 256))
        let predict = Self.lengthDelimited(1, Array("digits".utf8)) + Self.lengthDelimited(3, tensor)
        predict.withUnsafeBytes { buffer in
            #expect(AuthGate.scanASCII(field: 1, in: buffer) == 2..<8)
        }
        // proto3: the last occurrence wins; a name after a non-ASCII one is the String peek's answer too.
        let twice = Self.lengthDelimited(1, Array("modèle".utf8)) + Self.lengthDelimited(1, Array("b".utf8))
        #expect(AuthGate.peekString(field: 1, in: twice) == "b")
        twice.withUnsafeBytes { #expect(AuthGate.peekASCII(field: 1, in: $0) == nil) }
        // A name that is not UTF-8 stops the String peek at the previous one; the byte peeks decline.
        let invalid = Self.lengthDelimited(1, Array("a".utf8)) + Self.lengthDelimited(1, [0xFF]) + Self.lengthDelimited(1, Array("b".utf8))
        #expect(AuthGate.peekString(field: 1, in: invalid) == "a")
        invalid.withUnsafeBytes { #expect(AuthGate.peekASCII(field: 1, in: $0) == nil) }
    }
}
