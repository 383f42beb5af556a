// Tests/TransportTests/HTTP1ConnectionTests.swift: REST over HTTP/1.1 on the gRPC port (keep-alive, pipelining, order).

import Dispatch
import Glibc
import HTTPTypes
import Locks
import RPCCore
import TestSupport
import Testing
import Transport

/// Answers `METHOD TARGET BODY` as text; `/hold` waits (off the loop) until a later request has arrived, so a
/// pipelined pair is answered out of order by the handler and the transport must restore the order.
final class EchoHTTPHandler: Sendable {
    let laterArrived = DispatchSemaphore(value: 0)
    let requests = Lock<[String]>([])

    var handler: HTTPRequestHandler {
        HTTPRequestHandler { request, responder in
            let text = "\(request.method) \(request.target) \(request.version.rawValue) "
                + String(decoding: request.body, as: UTF8.self)
            self.requests.withLock { $0.append(text) }
            let response = HTTPResponse(
                status: 200, headers: [HeaderField("content-type", "text/plain")], body: Array(text.utf8))
            if request.path == "/hold" {
                DispatchQueue.global().async {
                    _ = self.laterArrived.wait(timeout: .now() + 30)
                    responder.respond(response)
                }
            } else {
                if request.path == "/later" { self.laterArrived.signal() }
                responder.respond(response)
            }
        }
    }
}

/// Splits HTTP/1.1 responses framed by Content-Length: (status, lowercased headers, body text).
func parseResponses(_ bytes: [UInt8]) -> [(status: Int, headers: [String: String], body: String)] {
    var out: [(status: Int, headers: [String: String], body: String)] = []
    var rest = bytes[...]
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    while let range = rest.firstRange(of: separator) {
        let head = String(decoding: rest[rest.startIndex..<range.lowerBound], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst().split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingPrefix(" ").description
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = range.upperBound
        let bodyEnd = min(rest.endIndex, bodyStart + length)
        out.append((Int(statusLine.count > 1 ? statusLine[1] : "0") ?? 0, headers,
                    String(decoding: rest[bodyStart..<bodyEnd], as: UTF8.self)))
        rest = rest[bodyEnd...]
    }
    return out
}

@Suite(.tags(.live)) struct HTTP1ConnectionLiveTests {
    func makeHTTPServer(_ echo: EchoHTTPHandler) throws -> GRPCServer {
        var configuration = GRPCServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.maxReceiveMessageBytes = 1 << 16
        return try GRPCServer(router: Echo.router(), httpHandler: echo.handler, configuration: configuration)
    }

    @Test func pipelinedRequestsAreAnsweredInRequestOrder() throws {
        let echo = EchoHTTPHandler()
        let server = try makeHTTPServer(echo)
        defer { server.shutdown(drainSeconds: 1) }
        let request = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            + "GET /last?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let (reply, closed) = try exchangeRaw(port: server.port, Array(request.utf8))
        #expect(closed, "Connection: close on the last request closes after its answer")
        let responses = parseResponses(reply)
        #expect(responses.map(\.body) == ["GET /hold HTTP/1.1 ", "POST /later HTTP/1.1 hello", "GET /last?q=1 HTTP/1.1 "])
        #expect(responses.map(\.status) == [200, 200, 200])
        #expect(responses.last?.headers["connection"] == "close")
        #expect(responses.first?.headers["date"]?.hasSuffix(" GMT") == true)
    }

    @Test func keepAliveServesManyRequestsOnOneConnection() throws {
        let echo = EchoHTTPHandler()
        let server = try makeHTTPServer(echo)
        defer { server.shutdown(drainSeconds: 1) }
        let fd = try connectLoopback(port: server.port)
        defer { close(fd) }
        for index in 0..<5 {
            let request = Array("GET /n/\(index) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var reply: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            let giveUp = ContinuousClock.now + .seconds(10)
            while parseResponses(reply).isEmpty, ContinuousClock.now < giveUp {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { reply += buffer[0..<n] }
                if n == 0 { break }
            }
            #expect(parseResponses(reply).first?.body == "GET /n/\(index) HTTP/1.1 ")
        }
        #expect(server.activeConnections == 1)
    }

    @Test func chunkedBodiesAndHTTP10() throws {
        let echo = EchoHTTPHandler()
        let server = try makeHTTPServer(echo)
        defer { server.shutdown(drainSeconds: 1) }
        let chunked = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
        let (reply, _) = try exchangeRaw(port: server.port, Array(chunked.utf8))
        #expect(parseResponses(reply).first?.body == "POST /c HTTP/1.1 abcde")
        let (old, closed) = try exchangeRaw(port: server.port, Array("GET /old HTTP/1.0\r\n\r\n".utf8))
        #expect(closed, "HTTP/1.0 without keep-alive closes")
        #expect(parseResponses(old).first?.body == "GET /old HTTP/1.0 ")
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", 413),
        ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ])
    func aBadRequestGetsItsStatusThenCloseAndTheServerGoesOn(request: String, status: Int) throws {
        let echo = EchoHTTPHandler()
        let server = try makeHTTPServer(echo)
        defer { server.shutdown(drainSeconds: 1) }
        // A good request first: its answer is owed before the refusal.
        let (reply, closed) = try exchangeRaw(port: server.port, Array(("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n" + request).utf8))
        #expect(closed)
        let responses = parseResponses(reply)
        #expect(responses.map(\.status) == [200, status])
        #expect(responses.last?.body.hasPrefix("{\"error\":\"") == true, "\(responses.last?.body ?? "")")
        #expect(responses.last?.headers["connection"] == "close")
        #expect(echo.requests.withLock { $0 } == ["GET /ok HTTP/1.1 "])
        // gRPC and HTTP/1.1 still work.
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [5], timeout: .seconds(30)).message == [5])
        let (again, _) = try exchangeRaw(port: server.port, Array("GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(parseResponses(again).first?.status == 200)
    }

    @Test func expectContinueGetsTheInterimAnswerBeforeTheBody() throws {
        let echo = EchoHTTPHandler()
        let server = try makeHTTPServer(echo)
        defer { server.shutdown(drainSeconds: 1) }
        let fd = try connectLoopback(port: server.port)
        defer { close(fd) }
        let head = Array("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8)
        _ = head.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var interim: [UInt8] = []
        let giveUp = ContinuousClock.now + .seconds(10)
        while interim.count < 25, ContinuousClock.now < giveUp {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { interim += buffer[0..<n] }
            if n == 0 { break }
        }
        #expect(String(decoding: interim, as: UTF8.self) == "HTTP/1.1 100 Continue\r\n\r\n")
        _ = Array("ok".utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        while parseResponses(reply).isEmpty, ContinuousClock.now < giveUp {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { reply += buffer[0..<n] }
            if n == 0 { break }
        }
        #expect(parseResponses(reply).first?.body == "POST /e HTTP/1.1 ok")
    }

    @Test func withoutAHandlerHTTP1StillGets505() throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        let (reply, closed) = try exchangeRaw(port: server.port, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(closed)
        #expect(reply == ConnectionPreface.http1Reply)
    }

    @Test func aSecondPortServesTheSame() throws {
        let echo = EchoHTTPHandler()
        var configuration = GRPCServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.httpPort = 0
        let server = try GRPCServer(router: Echo.router(), httpHandler: echo.handler, configuration: configuration)
        defer { server.shutdown(drainSeconds: 1) }
        let port = try #require(server.httpPort)
        #expect(port != server.port)
        let (reply, _) = try exchangeRaw(port: port, Array("GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(parseResponses(reply).first?.body == "GET /p HTTP/1.1 ")
    }
}

/// Draining an HTTP/1.1 connection (issue 21): a request whose head arrived before the drain is read to its end and
/// answered, with `Connection: close`, and the connection then closes.
@Suite(.tags(.live)) struct HTTP1DrainLiveTests {
    @Test func aRequestWhoseBodyIsArrivingWhenTheDrainBeginsIsFinishedAndAnsweredWithConnectionClose() throws {
        let echo = EchoHTTPHandler()
        var configuration = GRPCServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.maxReceiveMessageBytes = 1 << 16
        let server = try GRPCServer(router: Echo.router(), httpHandler: echo.handler, configuration: configuration)
        let fd = try connectLoopback(port: server.port)
        defer { close(fd) }
        func sendText(_ text: String) {
            _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        /// Reads until `done(reply)` or the peer closes; false on close.
        func read(until done: ([UInt8]) -> Bool) -> Bool {
            let giveUp = ContinuousClock.now + .seconds(20)
            while !done(reply), ContinuousClock.now < giveUp {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return false }
                reply += buffer[0..<n]
            }
            return done(reply)
        }
        // The 100 Continue says the server has read the head.
        sendText("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\nhello")
        #expect(read { String(decoding: $0, as: UTF8.self).contains("100 Continue") })
        let stopped = Promise<Bool>()
        DispatchQueue.global().async {
            server.shutdown(drainSeconds: 10)
            stopped.fulfill(true)
        }
        #expect(waitUntil { server.drainNotices == 1 })
        sendText("12345")
        _ = read { _ in false }
        let answers = parseResponses(reply).filter { $0.status != 100 }
        #expect(answers.map(\.status) == [200])
        #expect(answers.first?.body == "POST /x HTTP/1.1 hello12345")
        #expect(answers.first?.headers["connection"] == "close")
        #expect(stopped.wait() == true)
    }
}
