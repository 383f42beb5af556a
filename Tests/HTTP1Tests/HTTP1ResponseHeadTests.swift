// The response status line and header section, byte for byte.

import HTTP1
import HTTPTypes
import Testing

@Suite struct HTTP1ResponseHeadTests {
    @Test func serializesStatusLineFieldsAndTheEmptyLine() {
        let head = HTTP1ResponseHead(
            status: 200, headers: [HeaderField("Content-Type", "application/json"), HeaderField("Content-Length", "2")])
        var bytes = Array("previous".utf8)
        head.serialize(into: &bytes)
        let expected = "previousHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test func everyParserStatusHasItsReasonPhrase() {
        #expect(HTTP1ResponseHead.reasonPhrase(400) == "Bad Request")
        #expect(HTTP1ResponseHead.reasonPhrase(413) == "Content Too Large")
        #expect(HTTP1ResponseHead.reasonPhrase(414) == "URI Too Long")
        #expect(HTTP1ResponseHead.reasonPhrase(431) == "Request Header Fields Too Large")
        #expect(HTTP1ResponseHead.reasonPhrase(501) == "Not Implemented")
        #expect(HTTP1ResponseHead.reasonPhrase(505) == "HTTP Version Not Supported")
        #expect(HTTP1ResponseHead.reasonPhrase(100) == "Continue")
        #expect(HTTP1ResponseHead.reasonPhrase(599) == "")
    }

    @Test func unnamedStatusKeepsTheSpaceBeforeAnEmptyReason() {
        var bytes: [UInt8] = []
        HTTP1ResponseHead(status: 599).serialize(into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "HTTP/1.1 599 \r\n\r\n")
    }

    @Test func lineBreaksInAFieldCannotSplitTheResponse() {
        var bytes: [UInt8] = []
        HTTP1ResponseHead(status: 400, headers: [HeaderField("X-A\r\n", "a\r\nSet-Cookie: b\0")]).serialize(into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "HTTP/1.1 400 Bad Request\r\nX-A  : a  Set-Cookie: b \r\n\r\n")
    }
}
