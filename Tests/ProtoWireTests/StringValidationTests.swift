import ProtoWire
import Testing
import TestSupport

/// `string` fields must be exactly the valid UTF-8 that the standard library accepts: the decoder's own validator
/// is checked against `String(validating:as:)` on every short sequence that matters.
@Suite struct StringValidationTests {
    /// Decodes `bytes` as `Nested.b` and reports whether the decoder accepted it; the string must round-trip.
    static func decoderAccepts(_ bytes: [UInt8]) -> Bool {
        do {
            let message = try Nested(serializedBytes: Wire.delimited(2, bytes))
            return Array(message.b.utf8) == bytes
        } catch {
            return false
        }
    }

    static func standardLibraryAccepts(_ bytes: [UInt8]) -> Bool {
        String(validating: bytes, as: UTF8.self) != nil
    }

    static func disagreements(_ inputs: some Sequence<[UInt8]>) -> [[UInt8]] {
        var found: [[UInt8]] = []
        for bytes in inputs where decoderAccepts(bytes) != standardLibraryAccepts(bytes) {
            found.append(bytes)
            if found.count == 10 { break }
        }
        return found
    }

    @Test func everyOneAndTwoByteSequence() {
        let pairs = (0..<65_536).lazy.map { [UInt8(truncatingIfNeeded: $0 >> 8), UInt8(truncatingIfNeeded: $0)] }
        #expect(Self.disagreements(pairs) == [])
        #expect(Self.disagreements((0...255).lazy.map { [UInt8($0)] }) == [])
    }

    @Test func everyMultiByteLeadWithEverySecondByte() {
        let continuations: [UInt8] = [0x41, 0x80, 0xBF, 0xC0]
        var inputs: [[UInt8]] = []
        for lead in UInt8(0xC0)...0xFF {
            for second in UInt8.min...UInt8.max {
                for third in continuations {
                    inputs.append([lead, second, third])
                    if lead >= 0xF0 { inputs.append([lead, second, 0x80, third]) }
                }
            }
        }
        #expect(Self.disagreements(inputs) == [])
    }

    @Test func randomSequencesAroundAsciiRuns() {
        // Invalid bytes at every offset after ASCII runs of every length exercise the eight-bytes-at-a-time path.
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                    0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
        var random = SplitMix64(seed: 0x0FF8)
        var inputs: [[UInt8]] = []
        for _ in 0..<30_000 {
            var bytes = [UInt8](repeating: 0x61, count: Int.random(in: 0...17, using: &random))
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                bytes.append(interesting.randomElement(using: &random) ?? 0)
            }
            bytes += [UInt8](repeating: 0x62, count: Int.random(in: 0...9, using: &random))
            inputs.append(bytes)
        }
        let valid = ["", "ascii only, long enough for two words", "é", "日本語", "🎉", "a🎉b", "\u{10FFFF}", "\u{0}"]
        inputs += valid.map { Array($0.utf8) }
        #expect(Self.disagreements(inputs) == [])
        for text in valid {
            #expect(Self.decoderAccepts(Array(text.utf8)), "\(text)")
        }
    }

    @Test func oneNonAsciiByteAtEveryPositionOfEveryShortLength() {
        // The ASCII check reads overlapping words (8 bytes, or 4, or the first, middle and last byte); a non-ASCII
        // byte at any position of any length must reach the full validator.
        for length in 1...40 {
            for position in 0..<length {
                var invalid = [UInt8](repeating: 0x61, count: length)
                invalid[position] = 0x80
                #expect(!Self.decoderAccepts(invalid), "0x80 at \(position) of \(length)")
                var valid = [UInt8](repeating: 0x61, count: length)
                valid[position] = 0x7F
                #expect(Self.decoderAccepts(valid), "0x7F at \(position) of \(length)")
                if position + 1 < length {
                    valid[position] = 0xC3
                    valid[position + 1] = 0xA9
                    #expect(Self.decoderAccepts(valid), "é at \(position) of \(length)")
                }
            }
        }
    }

    @Test func shortStringsFollowedByMoreInputHoldOnlyTheirOwnBytes() throws {
        // Strings of up to 8 bytes are read as one 8-byte word when the input goes on past them; the bytes after
        // the string (here an unknown varint of 0xFF bytes, then another field) must not become part of it.
        let texts = (0...16).map { String(repeating: "a", count: $0) } + ["é", "aé", "日本", "🎉", "ab🎉", "é\u{0}"]
        for text in texts {
            let bytes = Wire.delimited(2, text) + Wire.varint(1000, UInt64.max) + Wire.varint(1, 7)
            let message = try Nested(serializedBytes: bytes)
            #expect(message.b == text)
            #expect(Array(message.b.utf8) == Array(text.utf8))
            #expect(message.b.hashValue == text.hashValue)
            #expect(message.b + "z" == text + "z")
            #expect(message.a == 7)
        }
    }
}
