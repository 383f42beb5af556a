// Tests/Base64CodecTests/Base64Tests.swift: the base64 codec (W-21 and JSON bytes fields).

import Base64Codec
import Testing

@Suite struct Base64Tests {
    @Test func encodesWithoutPaddingByDefaultAndWithPaddingOnRequest() {
        #expect(Base64.encode([UInt8]()) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8")
        #expect(Base64.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64.encode(Array("foob".utf8), padded: true) == "Zm9vYg==")
        #expect(Base64.encode(Array("fooba".utf8), padded: true) == "Zm9vYmE=")
        #expect(Base64.encode([0xFF, 0xFE]) == "//4")
    }

    @Test func decodesPaddedAndUnpaddedInput() {
        #expect(Base64.decode("Zm9vYg==") == Array("foob".utf8))
        #expect(Base64.decode("Zm9vYg") == Array("foob".utf8))
        #expect(Base64.decode("Zm9vYmE=") == Array("fooba".utf8))
        #expect(Base64.decode("Zm9vYmE") == Array("fooba".utf8))
        #expect(Base64.decode("") == [])
    }

    @Test func roundTripsEveryLengthUpToSixteen() {
        for length in 0...16 {
            // Every byte value appears across the lengths (a multiplicative walk through 0...255).
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: ($0 + 1) * 167 + length * 31) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
            #expect(Base64.decode(Base64.encode(bytes, padded: true)) == bytes)
        }
    }

    @Test func ignoringLineBreaksDropsWrappingOnly() {
        #expect(Base64.decode("Zm9v\nYmE=", ignoringLineBreaks: true) == Array("fooba".utf8))
        #expect(Base64.decode("  Zm9v\r\n  YmE=\n", ignoringLineBreaks: true) == Array("fooba".utf8))
        #expect(Base64.decode("Zm9v\nYmE=") == nil)
        #expect(Base64.decode("Zm9v\tYmE=", ignoringLineBreaks: true) == nil)
    }

    @Test(arguments: ["Z", "Zm9vY", "Zm=v", "Zm9v!", "Zm9v YmE=", "====", "Zg===", "=Zg="])
    func rejectsMalformedInput(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
