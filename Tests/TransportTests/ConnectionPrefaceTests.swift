// Tests/TransportTests/ConnectionPrefaceTests.swift: an HTTP/1.1 request on the gRPC port gets a readable HTTP/1.1
// answer, not HTTP/2 frames (issue 15, point 3), and HTTP/2 clients are unaffected.

import Glibc
import RPCCore
import Testing
import Transport
import TestSupport

@Suite(.tags(.live)) struct ConnectionPrefaceLiveTests {
    @Test func classifiesTheFirstBytes() {
        let preface = ConnectionPreface.http2
        #expect(ConnectionPreface.classify([UInt8]()) == .undecided)
        #expect(ConnectionPreface.classify(preface.prefix(10)) == .undecided)
        #expect(ConnectionPreface.classify(preface) == .http2)
        #expect(ConnectionPreface.classify(preface + [0, 0, 0, 4]) == .http2)
        #expect(ConnectionPreface.classify(Array("P".utf8)) == .undecided)  // PRI or POST: wait
        #expect(ConnectionPreface.classify(Array("POST /x HTTP/1.1\r\n".utf8)) == .http1)
        #expect(ConnectionPreface.classify(Array("GET".utf8)) == .undecided)  // byte by byte: wait for the space
        #expect(ConnectionPreface.classify(Array("ABCDEFGHIJKLMNOPQ".utf8)) == .unknown)  // no method is that long
        #expect(ConnectionPreface.classify(Array("GET / HTTP/1.1\r\n".utf8)) == .http1)
        #expect(ConnectionPreface.classify(Array("PRI * HTTP/1.1\r\n".utf8)) == .http1)
        #expect(ConnectionPreface.classify(Array("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".utf8)) == .malformedHTTP2)
        #expect(ConnectionPreface.classify([0x16, 0x03, 0x01, 0x02]) == .unknown)  // a TLS ClientHello
        #expect(ConnectionPreface.classify(Array("get / HTTP/1.1".utf8)) == .unknown)
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        "POST /tensorwire.v1.Inference/Predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    ])
    func anHTTP1RequestGetsAReadableHTTP1ErrorAndTheConnectionCloses(request: String) throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        let (reply, closed) = try exchangeRaw(port: server.port, Array(request.utf8))
        #expect(closed)
        let text = String(decoding: reply, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 505 HTTP Version Not Supported\r\n"), "\(text.prefix(80))")
        #expect(text.contains("Connection: close\r\n"))
        #expect(text.contains("speaks gRPC over HTTP/2, not HTTP/1.1"))
        #expect(reply == ConnectionPreface.http1Reply)  // no HTTP/2 bytes before or after it
        // The server still serves gRPC.
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [5], timeout: .seconds(30)).message == [5])
    }

    @Test func anHTTP2ClientStillGetsSettingsFirst() throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        // The preface alone, in two pieces: the server answers with a SETTINGS frame (type 4) first.
        let fd = try connectLoopback(port: server.port)
        defer { close(fd) }
        let preface = ConnectionPreface.http2
        _ = preface.prefix(5).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var header = [UInt8](repeating: 0, count: 9)
        // Nothing before the preface is complete.
        #expect(header.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } < 0)
        _ = Array(preface.dropFirst(5)).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received = 0
        for _ in 0..<50 where received < 9 {
            let n = header[received...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += n }
        }
        #expect(received == 9 && header[3] == 4, "first frame header \(header)")
    }
}
