import ProtoWire
import Testing
import TestSupport

/// The decoder's short-field fast paths: strings of up to 15 bytes checked and built from one or two 8-byte loads
/// that may run past the string (never past the input), packed varint runs sized by counting their last bytes
/// (short runs into an empty field as array literals), packed fixed-width runs copied straight from unaligned
/// wire bytes, and two-byte length prefixes read inline.
@Suite struct ShortFieldDecodingTests {
    /// `text`'s bytes as `Nested.b`, followed by `trailing` (more wire bytes: another field), so that word loads
    /// from the string's start may run into them.
    static func decodeString(_ bytes: [UInt8], trailing: [UInt8]) throws -> Nested {
        try Nested(serializedBytes: Wire.delimited(2, bytes) + trailing)
    }

    @Test func asciiStringsOfEveryShortLengthKeepOnlyTheirOwnBytes() throws {
        // A following field whose bytes are non-ASCII (0xFF would be, as a string byte): the loads that cover the
        // string also read them, and neither the check nor the result may take them in.
        let trailing = Wire.varint(1, 0xFFFF_FFFF)
        for length in 0...40 {
            let text = String((0..<length).map { Character(Unicode.Scalar(UInt8(0x41 + $0 % 26))) })
            for tail in [[], trailing, Wire.varint(3, 7)] {
                let message = try Self.decodeString(Array(text.utf8), trailing: tail)
                #expect(message.b == text, "length \(length), \(tail.count) trailing bytes")
                #expect(message.b.utf8.count == length)
                #expect(Array(message.b.utf8) == Array(text.utf8))
            }
        }
    }

    @Test func shortAsciiStringsBehaveAsTheStandardLibrarysOwn() throws {
        // Decoded short strings take fast paths: they must be indistinguishable from strings the standard library
        // makes of the same bytes (equality, hashing, ordering, views, mutation).
        var random = SplitMix64(seed: 0x5157)
        for count in 0...15 {
            for round in 0..<40 {
                let bytes = (0..<count).map { _ in UInt8.random(in: 0...0x7F, using: &random) }
                let reference = String(decoding: bytes, as: UTF8.self)
                let trailing = round % 2 == 0 ? Wire.varint(1, 0xFFFF_FFFF) : []
                var decoded = try Self.decodeString(bytes, trailing: trailing).b
                #expect(decoded == reference)
                #expect(decoded.hashValue == reference.hashValue)
                #expect(Set([decoded]).contains(reference))
                #expect(!(decoded < reference) && !(reference < decoded))
                #expect(Array(decoded.utf8) == bytes)
                #expect(decoded.count == reference.count)
                #expect(Array(decoded.unicodeScalars) == Array(reference.unicodeScalars))
                decoded.withCString { pointer in
                    #expect(String(cString: pointer) == String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
                }
                decoded += "é"
                #expect(decoded == reference + "é")
            }
        }
    }

    @Test func shortStringsAtEveryOffsetFromTheEndOfTheInput() throws {
        // Strings that end 0...16 bytes before the end of the input take the one-word, the two-word and the
        // general paths; all give the same string.
        for length in 0...16 {
            let text = String(repeating: "x", count: length)
            for padding in 0...16 {
                let message = try Self.decodeString(
                    Array(text.utf8), trailing: Wire.delimited(20, [UInt8](repeating: 0x80, count: padding)))
                #expect(message.b == text, "length \(length), padding \(padding)")
            }
        }
    }

    @Test func nonAsciiShortStringsAreValidatedWhateverFollows() throws {
        let valid = ["é", "aé", "日本", "abcdefgé", "abcdefghé", "🎉🎉🎉", "abcdefghijkl🎉", "\u{7F}\u{80}"]
        let trailing = Wire.varint(1, 5)
        for text in valid {
            #expect(try Self.decodeString(Array(text.utf8), trailing: trailing).b == text)
        }
        // Invalid sequences of every short length, with ASCII around them, followed by ASCII field bytes.
        let invalid: [[UInt8]] = [[0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xC2]]
        for bad in invalid {
            for before in 0...12 {
                let bytes = [UInt8](repeating: 0x61, count: before) + bad
                #expect(throws: WireDecodingError.invalidUTF8(field: 2), "\(bytes)") {
                    try Self.decodeString(bytes, trailing: trailing)
                }
            }
        }
    }

    @Test func packedVarintRunsOfEveryShortCountAreExact() throws {
        // Element counts 0-9 with one-, two- and ten-byte varints, into an empty field and after earlier runs.
        let pools: [[Int32]] = [[1, 64, 3, 0, 127], [128, 300, 16_383, 16_384], [-1, -2, Int32.min, Int32.max]]
        for pool in pools {
            for count in 0...9 {
                let values = (0..<count).map { pool[$0 % pool.count] }
                let run = values.flatMap { Wire.varint(UInt64(bitPattern: Int64($0))) }
                let once = try Nested(serializedBytes: Wire.delimited(3, run))
                #expect(once.c == values)
                #expect(once.c.capacity >= values.count)
                let twice = try Nested(serializedBytes: Wire.delimited(3, run) + Wire.varint(3, 9) + Wire.delimited(3, run))
                #expect(twice.c == values + [9] + values)
            }
        }
    }

    @Test func packedVarintRunEndingInsideAVarintIsTruncated() {
        for run: [UInt8] in [[0x80], [0x01, 0x80], [0x01, 0x02, 0x03, 0xFF], [0x01, 0x02, 0x03, 0x04, 0x05, 0x80]] {
            #expect(throws: WireDecodingError.truncated, "\(run)") {
                try Nested(serializedBytes: Wire.delimited(3, run))
            }
        }
        // Bytes after the run (in the message) do not complete its last varint.
        #expect(throws: WireDecodingError.truncated) {
            try Nested(serializedBytes: Wire.delimited(3, [0x01, 0x80]) + Wire.varint(1, 1))
        }
    }

    @Test func packedVarintRunWithAnOverlongVarintFails() {
        let overlong = [UInt8](repeating: 0xFF, count: 10) + [0x01]
        for prefix: [UInt8] in [[], [0x01], [0x01, 0x02, 0x03]] {
            #expect(throws: WireDecodingError.overlongVarint) {
                try Nested(serializedBytes: Wire.delimited(3, prefix + overlong))
            }
        }
    }

    @Test func packedFloatsAtEveryAlignmentAndCount() throws {
        // The run starts at every offset modulo 8 (a string field of varying length goes first) and holds 0-300
        // elements (up to 2,400 bytes), into an empty field and appended to an earlier run.
        for offset in 0..<8 {
            for count in [0, 1, 2, 3, 7, 8, 63, 64, 65, 70, 255, 256, 257, 300] {
                let values = (0..<count).map { Float($0) * 0.25 - 3 }
                let run = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { [UInt8]($0) } }
                let head = Wire.delimited(14, [UInt8](repeating: 0x61, count: offset))
                var message = try AllTypes(serializedBytes: head + Wire.delimited(41, run))
                #expect(message.rFloat == values, "offset \(offset), count \(count)")
                message = try AllTypes(serializedBytes: head + Wire.delimited(41, run) + Wire.delimited(41, run))
                #expect(message.rFloat == values + values)
                let doubles = values.map(Double.init)
                let doubleRun = doubles.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { [UInt8]($0) } }
                message = try AllTypes(serializedBytes: head + Wire.delimited(42, doubleRun))
                #expect(message.rDouble == doubles)
            }
        }
    }

    @Test func twoByteLengthPrefixesAreCheckedAgainstTheBytesLeft() throws {
        // A 200-byte string: its length takes two bytes.
        let text = String(repeating: "z", count: 200)
        #expect(try Nested(serializedBytes: Wire.delimited(2, Array(text.utf8))).b == text)
        // The same prefix with one byte missing, and a two-byte length of 16,383 on a short input.
        let short = Array(Wire.delimited(2, Array(text.utf8)).dropLast())
        #expect(throws: WireDecodingError.lengthExceedsInput(length: 200, remaining: 199)) {
            try Nested(serializedBytes: short)
        }
        #expect(throws: WireDecodingError.lengthExceedsInput(length: 16_383, remaining: 3)) {
            try Nested(serializedBytes: Wire.tag(2, 2) + [0xFF, 0x7F, 0x61, 0x62, 0x63])
        }
        // Inside a nested message the bound is the nested message's end, not the input's.
        let inner = Wire.tag(2, 2) + [0xC8, 0x01] + [UInt8](repeating: 0x61, count: 10)
        #expect(throws: WireDecodingError.lengthExceedsInput(length: 200, remaining: 10)) {
            try AllTypes(serializedBytes: Wire.delimited(70, inner) + [UInt8](repeating: 0x61, count: 300))
        }
    }
}
