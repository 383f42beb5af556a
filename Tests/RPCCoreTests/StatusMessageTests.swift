// Tests/RPCCoreTests/StatusMessageTests.swift: grpc-message percent-encoding (W-45).

import RPCCore
import Testing
import HTTPTypes

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

/// Issue 25, point 5: long strings echoed into `grpc-message` are cut so the trailers always go out.
@Suite struct StatusMessageLimitTests {
    @Test func shortMessagesAreOnlyPercentEncoded() {
        #expect(StatusMessage.headerValue("model not found") == "model not found")
        #expect(StatusMessage.headerValue(StatusMessageTests.special) == StatusMessage.percentEncode(StatusMessageTests.special))
        let exact = String(repeating: "a", count: StatusMessage.maxEncodedBytes)
        #expect(StatusMessage.headerValue(exact) == exact)
    }

    @Test func aSeventyThousandByteModelNameIsCutWithAnEllipsis() {
        let message = "model \"" + String(repeating: "m", count: 70_000) + "\" not found"
        let value = StatusMessage.headerValue(message)
        #expect(value.utf8.count <= StatusMessage.maxEncodedBytes)
        #expect(value.hasSuffix("%E2%80%A6"))
        let decoded = StatusMessage.percentDecode(value)
        #expect(decoded.hasSuffix("…"))
        #expect(message.hasPrefix(String(decoded.dropLast())))
        #expect(decoded.utf8.count > StatusMessage.maxEncodedBytes - 16)  // cut near the limit, not far below it
    }

    @Test(arguments: ["é", "😈", "\u{0301}", "a\u{0301}"])
    func multiByteTextIsCutAtAScalarBoundaryAndStaysValidUTF8(unit: String) {
        let message = String(repeating: unit, count: 12_000)
        let value = StatusMessage.headerValue(message)
        #expect(value.utf8.count <= StatusMessage.maxEncodedBytes)
        #expect(value.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })  // a valid header value
        let decoded = StatusMessage.percentDecode(value)
        #expect(!decoded.unicodeScalars.contains("\u{FFFD}"))  // no scalar was split
        #expect(decoded.hasSuffix("…"))
        #expect(message.unicodeScalars.starts(with: decoded.unicodeScalars.dropLast()))
    }

    @Test func aTinyLimitStillEndsWithTheEllipsis() {
        let value = StatusMessage.headerValue(String(repeating: "é", count: 100), maxEncodedBytes: 20)
        #expect(value.utf8.count <= 20)
        #expect(value == "%C3%A9%E2%80%A6")
    }

    @Test func theServerStatusTrailersCarryTheCutMessage() throws {
        for message in [String(repeating: "é", count: 12_000), String(repeating: "m", count: 70_000)] {
            var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
            let end = try #require(try machine.sendStatus(Status(code: .notFound, message: message)).payload)
            let sent = try #require(end.fields.first { $0.name == "grpc-message" }?.value)
            #expect(sent.utf8.count <= StatusMessage.maxEncodedBytes)
            #expect(sent.hasSuffix("%E2%80%A6"))
            #expect(end.fields.contains { $0.name == "grpc-status" && $0.value == "5" })
        }
    }

    /// Issue 25, point 2: what the machine holds for an unfinished message is visible to the transport's budgets.
    @Test func bufferedRequestBytesCountTheUnfinishedMessage() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Chat")
        #expect(machine.bufferedRequestBytes == 0)
        // A prefix declaring 1,000 bytes, then 600 of them.
        let prefix: [UInt8] = [0, 0, 0, 0x03, 0xE8]
        _ = try machine.receiveRequestData(Array(prefix.prefix(3)), endStream: false)
        #expect(machine.bufferedRequestBytes == 3)
        let rest = Array(prefix.dropFirst(3)) + [UInt8](repeating: 7, count: 600)
        _ = try machine.receiveRequestData(rest, endStream: false)
        #expect(machine.bufferedRequestBytes == 605)
        let last = [UInt8](repeating: 7, count: 400)
        _ = try machine.receiveRequestData(last, endStream: false)
        #expect(machine.bufferedRequestBytes == 0)  // complete: handed out
    }

    /// A stream refused while its message was still arriving gives its bytes back at once (the transport's budgets
    /// then measure the other streams without them); discarding before the final status changes nothing.
    @Test func aRefusedStreamDiscardsItsUnfinishedMessage() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Chat")
        _ = try machine.receiveRequestData([0, 0, 0, 0x03, 0xE8] + [UInt8](repeating: 7, count: 600), endStream: false)
        machine.discardBufferedRequest()
        #expect(machine.bufferedRequestBytes == 605)  // still answering: kept
        _ = try machine.sendStatus(Status(code: .resourceExhausted, message: "budget"), trailers: Metadata())
        #expect(machine.bufferedRequestBytes == 605)
        machine.discardBufferedRequest()
        #expect(machine.bufferedRequestBytes == 0)
        // The rest of the message arrives and is dropped unread.
        #expect(try machine.receiveRequestData([UInt8](repeating: 7, count: 400), endStream: true) == .drop)
        #expect(machine.bufferedRequestBytes == 0)
    }
}
