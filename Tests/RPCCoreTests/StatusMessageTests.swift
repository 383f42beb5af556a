// Tests/RPCCoreTests/StatusMessageTests.swift: grpc-message percent-encoding (W-45).

import RPCCore
import Testing

@Suite struct StatusMessageTests {
    static let special = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"

    @Test func specialStatusMessageEncodesWithUppercaseHex() {
        #expect(
            StatusMessage.percentEncode(Self.special)
                == "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and non-BMP %F0%9F%98%88%09%0A")
    }

    @Test func specialStatusMessageRoundTripsByteForByte() {
        let decoded = StatusMessage.percentDecode(StatusMessage.percentEncode(Self.special))
        #expect(Array(decoded.utf8) == Array(Self.special.utf8))
    }

    @Test func printableASCIIPassesThroughAndPercentIsEscaped() {
        #expect(StatusMessage.percentEncode("plain text ~!") == "plain text ~!")
        #expect(StatusMessage.percentEncode("100%") == "100%25")
        #expect(StatusMessage.percentEncode("\u{7F}") == "%7F")
    }

    @Test(arguments: [
        ("%", "%"), ("%4", "%4"), ("%zz", "%zz"), ("100%", "100%"), ("%%41", "%A"), ("%e2%98%ba", "☺"),
        ("a%2", "a%2"), ("%41%42", "AB"),
    ])
    func decoderNeverFailsAndKeepsBadEscapes(input: String, expected: String) {
        #expect(StatusMessage.percentDecode(input) == expected)
    }

    @Test func decoderReplacesInvalidUTF8InsteadOfFailing() {
        #expect(StatusMessage.percentDecode("%E2%98") == "\u{FFFD}")
        #expect(StatusMessage.percentDecode("x%FFy") == "x\u{FFFD}y")
    }

    @Test func everyByteRoundTrips() {
        let all = String(decoding: (0...0x7F).map { UInt8($0) }, as: UTF8.self) + "é☺😈"
        #expect(StatusMessage.percentDecode(StatusMessage.percentEncode(all)) == all)
        #expect(StatusMessage.percentEncode(all).utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
    }
}
