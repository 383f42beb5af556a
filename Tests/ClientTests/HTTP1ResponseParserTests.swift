import HTTPTypes
import Testing
import TensorwireClient

/// The REST client's response parser, sans-I/O: well-formed responses in any split, and the hostile ones it must
/// refuse (oversized heads, bad status lines, missing or bad lengths, truncation, chunked bodies, smuggling shapes).
struct HTTP1ResponseParserTests {
    static let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntw-batch-size: 3\r\ncontent-length: 11\r\n\r\n{\"ready\":1}"

    /// Feeds `text` (in pieces of `chunk` bytes) and collects the responses, or the first error.
    static func parse(_ text: String, chunk: Int = .max, limits: HTTP1ResponseParser.Limits = .init())
        -> (responses: [HTTP1ClientResponse], error: HTTP1ResponseError?, parser: HTTP1ResponseParser)
    {
        var parser = HTTP1ResponseParser(limits: limits)
        var responses: [HTTP1ClientResponse] = []
        let bytes = Array(text.utf8)
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + max(chunk, 1))
            parser.receive(Array(bytes[offset..<end]))
            offset = end
            do {
                while let response = try parser.nextResponse() { responses.append(response) }
            } catch {
                return (responses, error, parser)
            }
        } while offset < bytes.count
        return (responses, nil, parser)
    }

    static func error(_ text: String, limits: HTTP1ResponseParser.Limits = .init()) -> HTTP1ResponseError? {
        parse(text, limits: limits).error
    }

    @Test func aResponseParsesWholeAndByteByByte() throws {
        for chunk in [Int.max, 1, 7] {
            let (responses, error, parser) = Self.parse(Self.ok, chunk: chunk)
            #expect(error == nil)
            let response = try #require(responses.first)
            #expect(responses.count == 1)
            #expect(response.status == 200)
            #expect(response.reason == "OK")
            #expect(response.header("tw-batch-size") == "3")
            #expect(response.header("content-type") == "application/json")
            #expect(String(decoding: response.body, as: UTF8.self) == #"{"ready":1}"#)
            #expect(response.keepAlive)
            #expect(!parser.hasPartialResponse)
            #expect(throws: Never.self) { try parser.finish() }
        }
    }

    @Test func backToBackResponsesComeOutInOrder() {
        let second = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        let (responses, error, _) = Self.parse(Self.ok + second, chunk: 5)
        #expect(error == nil)
        #expect(responses.map(\.status) == [200, 404])
        #expect(responses.map(\.keepAlive) == [true, false])
    }

    @Test func namesAreLowerCasedAndValuesTrimmed() {
        let (responses, _, _) = Self.parse("HTTP/1.1 200 OK\r\nX-Thing: \t a b \t\r\nCONTENT-LENGTH:0\r\n\r\n")
        #expect(responses.first?.headers == [HeaderField("x-thing", "a b"), HeaderField("content-length", "0")])
    }

    @Test func interimAnswersAreSkippedAndEmptyStatusesNeedNoLength() {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 499 \r\ncontent-length: 0\r\n\r\n"
        let (responses, error, _) = Self.parse(text)
        #expect(error == nil)
        #expect(responses.map(\.status) == [204, 499])
        #expect(responses.last?.reason == "")
        #expect(Self.error("HTTP/1.1 101 Switching Protocols\r\n\r\n") == .unexpectedSwitchingProtocols)
    }

    @Test func http10ClosesUnlessKeptAlive() {
        #expect(Self.parse("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").responses.first?.keepAlive == false)
        #expect(Self.parse("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n").responses.first?.keepAlive == true)
        #expect(Self.parse("HTTP/1.1 200 OK\r\nconnection: upgrade, close\r\ncontent-length: 0\r\n\r\n").responses.first?.keepAlive == false)
    }

    @Test func anOversizedHeadIsRefusedBeforeItEnds() {
        let limits = HTTP1ResponseParser.Limits(maxHeadBytes: 256)
        let endless = "HTTP/1.1 200 OK\r\nx: " + String(repeating: "a", count: 300)
        #expect(Self.error(endless, limits: limits) == .headTooLarge(limit: 256))
        let complete = "HTTP/1.1 200 OK\r\nx: " + String(repeating: "a", count: 300) + "\r\ncontent-length: 0\r\n\r\n"
        #expect(Self.error(complete, limits: limits) == .headTooLarge(limit: 256))
        let many = "HTTP/1.1 200 OK\r\n" + String(repeating: "x: y\r\n", count: 5) + "content-length: 0\r\n\r\n"
        #expect(Self.error(many, limits: .init(maxHeaderCount: 5)) == .tooManyHeaders(limit: 5))
    }

    @Test func badStatusLinesAreRefused() {
        for line in ["HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1  200 OK", "http/1.1 200 OK",
                     "HTTP/1.1 abc OK", "HTTP/1.1 700 Odd", "HTTP/1.1 099 Low", "HTTP/1.1 200OK", "ICY 200 OK", "",
                     "HTTP/1.1 200 O\u{01}K", "HTTP/1.2 200 OK", "HTTP/1.1\t200 OK"] {
            let error = Self.error(line + "\r\ncontent-length: 0\r\n\r\n")
            guard case .badStatusLine = error else {
                Issue.record("\(line.debugDescription): \(String(describing: error))")
                continue
            }
        }
        // A bare LF ends no line here.
        guard case .badStatusLine = Self.error("HTTP/1.1 200 OK\ncontent-length: 0\r\n\r\n") else {
            Issue.record("bare LF in the status line")
            return
        }
    }

    @Test func smugglingShapesInHeadersAreRefused() {
        let cases = [
            "x: a\r\n folded\r\n",  // obs-fold
            "x : a\r\n",  // whitespace before the colon
            "x: a\rb\r\n",  // bare CR
            "x: a\nb: c\r\n",  // bare LF
            "no colon\r\n",
            "x: a\u{00}b\r\n",  // NUL in a value
            "bad[name]: v\r\n",
            ": empty name\r\n",
        ]
        for field in cases {
            let error = Self.error("HTTP/1.1 200 OK\r\n" + field + "content-length: 0\r\n\r\n")
            guard case .badHeader = error else {
                Issue.record("\(field.debugDescription): \(String(describing: error))")
                continue
            }
        }
    }

    @Test func aMissingLengthOrATransferCodingIsRefused() {
        #expect(Self.error("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nbody until close") == .missingContentLength)
        #expect(Self.error("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            == .transferEncodingNotSupported("chunked"))
        // Both framings at once (the classic smuggling shape) is refused too.
        #expect(Self.error("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\nhello")
            == .transferEncodingNotSupported("chunked"))
    }

    @Test func badLengthsAreRefused() {
        for value in ["-1", "+5", "5 5", "0x10", "1e3", "", "99999999999999999999", "5,5", "٣"] {
            let error = Self.error("HTTP/1.1 200 OK\r\ncontent-length: \(value)\r\n\r\n")
            guard case .badContentLength = error else {
                Issue.record("\(value.debugDescription): \(String(describing: error))")
                continue
            }
        }
        #expect(Self.error("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n{}") == .badContentLength("given twice"))
    }

    @Test func anOversizedBodyIsRefusedBeforeItArrives() {
        let limits = HTTP1ResponseParser.Limits(maxBodyBytes: 1000)
        // Only the head has arrived: the refusal does not wait for the body.
        #expect(Self.error("HTTP/1.1 200 OK\r\ncontent-length: 1001\r\n\r\n", limits: limits)
            == .bodyTooLarge(length: 1001, limit: 1000))
        #expect(Self.error("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", limits: limits) == nil)
    }

    @Test func aTruncatedResponseIsReportedAtTheEnd() {
        let (responses, error, parser) = Self.parse("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
        #expect(responses.isEmpty && error == nil)
        #expect(parser.hasPartialResponse)
        #expect(throws: HTTP1ResponseError.truncated("4 of 10 body bytes")) { try parser.finish() }
        let head = Self.parse("HTTP/1.1 200 OK\r\ncontent-le").parser
        #expect(throws: HTTP1ResponseError.truncated("27 bytes of an unfinished head")) { try head.finish() }
    }

    @Test func aFailedParserStaysFailed() {
        var parser = HTTP1ResponseParser()
        parser.receive(Array("HTTP/9 200 OK\r\n\r\n".utf8))
        #expect(throws: HTTP1ResponseError.self) { try parser.nextResponse() }
        parser.receive(Array(Self.ok.utf8))
        #expect(throws: HTTP1ResponseError.self) { try parser.nextResponse() }
        #expect(throws: HTTP1ResponseError.self) { try parser.finish() }
    }

    @Test func errorsReadPlainly() {
        #expect("\(HTTP1ResponseError.badStatusLine("HTTP/2 \u{01}"))" == #"bad status line 'HTTP/2 \u{01}'"#)
        #expect("\(HTTP1ResponseError.missingContentLength)".contains("no Content-Length"))
        #expect("\(HTTP1ResponseError.transferEncodingNotSupported("chunked"))".contains("Transfer-Encoding: chunked"))
    }

    @Test func requestsAreSerializedWithoutInjectableFields() {
        let request = HTTP1ClientRequest(
            method: "POST", target: "/v1/models/a%20b:predict", headers: [HeaderField("x-k", "v\r\nevil: 1")],
            body: Array("{}".utf8))
        let text = String(decoding: request.serialized(host: "127.0.0.1:9"), as: UTF8.self)
        #expect(text == "POST /v1/models/a%20b:predict HTTP/1.1\r\nhost: 127.0.0.1:9\r\nx-k: v  evil: 1\r\ncontent-length: 2\r\n\r\n{}")
        let get = String(decoding: HTTP1ClientRequest(method: "GET", target: "/v1/models").serialized(host: "h:1"), as: UTF8.self)
        #expect(get == "GET /v1/models HTTP/1.1\r\nhost: h:1\r\n\r\n")
    }
}
