// The parser's behaviour beyond the corpora: chunkings, limits, timing of refusals, state flags, the dead state.

import HTTP1
import HTTPTypes
import Testing

@Suite struct HTTP1RequestParserTests {
    static let getRequest = Array("GET /a HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
    static let postRequest = Array("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".utf8)
    static let chunkedRequest = Array(
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n".utf8)

    @Test func pipelinedRequestsGiveTheSameEventsAtEverySplit() throws {
        let bytes = Self.getRequest + Self.chunkedRequest + Self.postRequest
        let whole = parse(bytes)
        #expect(whole.error == nil)
        #expect(whole.mergedEvents.count == 8)  // head end, head body end, head body end
        for split in 1..<bytes.count {
            let parser = HTTP1RequestParser()
            var events = try parser.feed(Array(bytes[..<split]))
            events += try parser.feed(Array(bytes[split...]))
            #expect(HTTP1ParserEvent.joiningBodies(events) == whole.mergedEvents, "split at \(split)")
            #expect(!parser.isMidRequest)
        }
    }

    @Test func fieldValuesKeepTheirBytesAtEverySplit() throws {
        // The head's fields are taken by position from the pre-scan's buffer, and long runs of name and value
        // bytes are scanned at once: empty values, whitespace around values, obs-text, a long name and a long
        // value must come out the same however the head arrives.
        let long = String(repeating: "v", count: 300)
        let head = "POST /v2/models/m%20x/infer?q=1 HTTP/1.1\r\nHost: x:1\r\nX-Empty:\r\nX-Spaces:   \r\n"
            + "X-Padded: \t a b \t\r\nX-Obs: caf\u{e9}\r\nX-" + String(repeating: "n", count: 40) + ": " + long
            + "\r\nContent-Length: 2\r\n\r\nok"
        let bytes = Array(head.utf8)
        let expected: [HeaderField] = [
            HeaderField("Host", "x:1"), HeaderField("X-Empty", ""), HeaderField("X-Spaces", ""),
            HeaderField("X-Padded", "a b"), HeaderField("X-Obs", "caf\u{e9}"),
            HeaderField("X-" + String(repeating: "n", count: 40), long), HeaderField("Content-Length", "2"),
        ]
        for split in [1, 20, 45, 60, 90, 200, bytes.count - 3, bytes.count - 1] {
            let parser = HTTP1RequestParser()
            var events = try parser.feed(Array(bytes[..<split]))
            events += try parser.feed(Array(bytes[split...]))
            guard case .head(let request)? = events.first else {
                Issue.record("split at \(split): \(events)")
                continue
            }
            #expect(request.target == "/v2/models/m%20x/infer?q=1")
            #expect(request.headers == expected, "split at \(split)")
            #expect(HTTP1ParserEvent.joiningBodies(Array(events.dropFirst())) == [.body(Array("ok".utf8)), .end])
        }
    }

    @Test func eventsComeOutInWireOrder() throws {
        let events = try HTTP1RequestParser().feed(Self.getRequest + Self.postRequest)
        guard events.count == 5, case .head(let first) = events[0], case .head(let second) = events[2] else {
            Issue.record("events: \(events)")
            return
        }
        #expect(first.method == "GET" && first.target == "/a")
        #expect(events[1] == .end)
        #expect(second.method == "POST" && second.contentLength == 5)
        #expect(events[3] == .body(Array("hello".utf8)))
        #expect(events[4] == .end)
    }

    @Test func bodyBytesAreHandedOutAsTheyArrive() throws {
        let parser = HTTP1RequestParser()
        let head = Array(Self.postRequest.dropLast(5))
        #expect(try parser.feed(head).count == 1)
        #expect(parser.bufferedHeadBytes == 0)
        #expect(try parser.feed(Array("he".utf8)) == [.body(Array("he".utf8))])
        #expect(try parser.feed(Array("llo".utf8)) == [.body(Array("llo".utf8)), .end])
    }

    @Test func midRequestAndReadingHeadFollowTheRequest() throws {
        let parser = HTTP1RequestParser()
        #expect(!parser.isMidRequest && !parser.isReadingHead)
        _ = try parser.feed(Array("\r\n".utf8))
        #expect(parser.isMidRequest && parser.isReadingHead)  // a leading empty line starts the head deadline
        _ = try parser.feed(Array(Self.postRequest.prefix(10)))
        #expect(parser.isMidRequest && parser.isReadingHead)
        _ = try parser.feed(Array(Self.postRequest.dropFirst(10).dropLast(5)))
        #expect(parser.isMidRequest && !parser.isReadingHead)  // the body idle timer's turn
        _ = try parser.feed(Array("hello".utf8))
        #expect(!parser.isMidRequest && !parser.isReadingHead)
        _ = try parser.feed(Array(Self.chunkedRequest.dropLast(2)))
        #expect(parser.isMidRequest && !parser.isReadingHead)
        _ = try parser.feed(Array(Self.chunkedRequest.suffix(2)))
        #expect(!parser.isMidRequest)
    }

    @Test func oversizedContentLengthIsRefusedBeforeAnyBodyByte() {
        let request = Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nhello!".utf8)
        let outcome = parse(request, chunkSize: 1, limits: HTTP1Limits(maxBodyBytes: 5))
        #expect(outcome.error?.status == 413)
        #expect(outcome.bytesFedAtError == request.count - 6)  // the head's last LF
        #expect(outcome.events.isEmpty)
    }

    @Test func chunkedBodyIsRefusedWhenItsSizesAddUpPastTheLimit() {
        let request = Array("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\nworld!\r\n".utf8)
        let outcome = parse(request, chunkSize: 1, limits: HTTP1Limits(maxBodyBytes: 10))
        #expect(outcome.error?.status == 413)
        #expect(outcome.error?.reason.contains("a chunk of 6 bytes after 5") == true)
        // Refused at the CR ending the second size line, before its data.
        #expect(outcome.bytesFedAtError == request.count - "\nworld!\r\n".utf8.count)
        #expect(HTTP1ParserEvent.joiningBodies(outcome.events).dropFirst() == [.body(Array("hello".utf8))])
    }

    @Test func chunkedBodyAtExactlyTheLimitIsAccepted() {
        let request = Array("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n".utf8)
        let outcome = parse(request, limits: HTTP1Limits(maxBodyBytes: 10))
        #expect(outcome.error == nil)
        #expect(outcome.mergedEvents.last == .end)
    }

    @Test(arguments: [
        (HTTP1Limits(maxHeaderCount: 2), "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", 431),
        (HTTP1Limits(maxHeaderCount: 2), "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n\r\n", 0),
        (HTTP1Limits(maxTargetBytes: 4), "GET /abcd HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (HTTP1Limits(maxTargetBytes: 4), "GET /abc HTTP/1.1\r\nHost: x\r\n\r\n", 0),
        (HTTP1Limits(maxHeadBytes: 30), "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n\r\n", 431),
        (HTTP1Limits(maxHeadBytes: 33), "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n\r\n", 0),
        (HTTP1Limits(maxHeadBytes: 8, maxTargetBytes: 100), "GET /abcdefgh HTTP/1.1\r\n\r\n", 414),
        (HTTP1Limits(maxHeaderCount: 2), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431),
        (HTTP1Limits(maxHeadBytes: 60), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: \(String(repeating: "a", count: 60))\r\n\r\n", 431),
        (HTTP1Limits(maxHeadBytes: 60), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\n\r\n", 0),
    ])
    func limitsAreEnforcedAtTheirEdges(_ limits: HTTP1Limits, _ request: String, _ status: Int) {
        for chunkSize in [nil, 1] as [Int?] {
            let outcome = parse(Array(request.utf8), chunkSize: chunkSize, limits: limits)
            #expect((outcome.error?.status ?? 0) == status, "\(String(describing: outcome.error))")
            #expect(outcome.maxBufferedHeadBytes <= limits.maxHeadBytes)
        }
    }

    @Test func headBufferNeverPassesTheLimit() {
        let limits = HTTP1Limits(maxHeadBytes: 1000)
        var request = Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8)
        for index in 0..<200 { request += Array("X-\(index): value\r\n".utf8) }
        let outcome = parse(request, chunkSize: 3, limits: limits)
        #expect(outcome.error?.status == 431)
        #expect(outcome.maxBufferedHeadBytes <= 1000)
        #expect(outcome.bytesFedAtError <= 1003)
    }

    @Test func completedRequestsBeforeBadBytesAreStillDelivered() throws {
        let parser = HTTP1RequestParser()
        let events = try parser.feed(Self.getRequest + Array("GET / HTTP/1.1\r\nHost : x\r\n".utf8))
        #expect(HTTP1ParserEvent.joiningBodies(events).last == .end)
        let failure = try #require(parser.failure)
        #expect(failure.status == 400)
        #expect(throws: failure) { try parser.feed([]) }
    }

    @Test func aDeadParserKeepsThrowingItsError() throws {
        let parser = HTTP1RequestParser()
        var first: HTTP1ParseError?
        do {
            _ = try parser.feed(Array("BREW / HTTP/1.1\r\n".utf8))
        } catch {
            first = error
        }
        let error = try #require(first)
        #expect(error.status == 501)
        #expect(parser.failure == error)
        #expect(throws: error) { try parser.feed(Self.getRequest) }
    }

    @Test func bytesAfterAnEndedMessageNeverReachThatMessage() throws {
        // A Content-Length body followed at once by the next request: no byte of one may land in the other.
        let outcome = parse(Self.postRequest + Self.postRequest, chunkSize: 4)
        #expect(outcome.error == nil)
        #expect(outcome.mergedEvents.filter { $0 == .body(Array("hello".utf8)) }.count == 2)
    }

    @Test func valueLookupIgnoresCaseAndTakesTheFirst() {
        let head = HTTP1RequestHead(
            method: "GET", target: "/", versionMinor: 1,
            headers: [HeaderField("Accept", "a"), HeaderField("ACCEPT", "b"), HeaderField("Host", "x")],
            keepAlive: true, expectsContinue: false, contentLength: nil, isChunked: false)
        #expect(head.value("accept") == "a")
        #expect(head.value("HOST") == "x")
        #expect(head.value("missing") == nil)
    }

    @Test func errorDescriptionNamesStatusAndReason() {
        let error = HTTP1ParseError(status: 431, reason: "more than 100 header fields")
        #expect(error.description == "431 Request Header Fields Too Large: more than 100 header fields")
    }

    @Test func linkedLibHTTPParserIs2_9() {
        let parts = HTTP1Library.version.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count == 3 && parts[0] == 2 && parts[1] >= 9)
    }
}
