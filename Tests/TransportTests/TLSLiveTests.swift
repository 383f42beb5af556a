// Tests/TransportTests/TLSLiveTests.swift: a TLS server on loopback, driven by our own TLS session over a blocking
// socket (the Crypto module's client role) and by curl: ALPN, mutual TLS, hostile bytes, the handshake timeout and a
// certificate swap.

import Clocks
import Crypto
import Dispatch
import Foundation
import Glibc
import HTTPTypes
import RPCCore
import Synchronization
import TestSupport
import Testing
import Transport

/// What one TLS exchange saw.
struct TLSExchange {
    var handshakeDone = false
    var error: TLSError?
    var alpn: TLSApplicationProtocol?
    /// The server certificate's names, as our client verified them.
    var serverIdentity: TLSPeerIdentity?
    var reply: [UInt8] = []
    var closed = false
}

/// Connects, runs the handshake with `client`, sends `request` once it is done, and reads until the server closes
/// (or `seconds` pass, a failure guard).
func tlsExchange(
    port: Int, client: TLSClientContext, serverName: String = "localhost", request: [UInt8], seconds: Double = 10
) throws -> TLSExchange {
    let fd = try connectLoopback(port: port)
    defer { close(fd) }
    let session = try client.makeSession(serverName: serverName)
    try session.start()
    var outcome = TLSExchange()
    var sent = false
    var buffer = [UInt8](repeating: 0, count: 16 << 10)
    let giveUp = DispatchTime.now() + seconds
    func sendCiphertext() {
        let bytes = session.drainCiphertext()
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    sendCiphertext()
    while DispatchTime.now() < giveUp {
        if session.handshakeDone && !sent {
            sent = true
            outcome.handshakeDone = true
            outcome.alpn = session.applicationProtocol
            outcome.serverIdentity = session.peerIdentity
            try session.write(request)
            sendCiphertext()
        }
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            outcome.closed = true
            break
        }
        if n > 0 {
            let result = session.feed(Array(buffer[0..<n]))
            outcome.reply += result.plaintext
            if let error = result.error {
                outcome.error = error
                outcome.closed = true
                break
            }
            sendCiphertext()
            if result.closed {
                outcome.closed = true
                break
            }
        }
    }
    if session.handshakeDone && !outcome.handshakeDone {
        outcome.handshakeDone = true
        outcome.alpn = session.applicationProtocol
    }
    return outcome
}

/// Answers every REST request with "METHOD TARGET VERSION identity=<peerIdentity or ->".
private let identityHandler = HTTPRequestHandler { request, responder in
    let text = "\(request.method) \(request.target) \(request.version.rawValue) identity=\(request.peerIdentity ?? "-")"
    responder.respond(HTTPResponse(status: 200, headers: [HeaderField("content-type", "text/plain")], body: Array(text.utf8)))
}

private let closeRequest = Array("GET /who HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)

@Suite(.tags(.live), .serialized) struct TLSLiveTests {
    static let certificates = Result { try TestCertificates.make() }

    private func makeTLSServer(
        clientAuth: TLSClientAuth? = nil, configure: (inout GRPCServer.Configuration) -> Void = { _ in }
    ) throws -> (GRPCServer, TestCertificates) {
        let certs = try Self.certificates.get()
        var configuration = GRPCServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.tls = try TLSServerContext(
            certificateFile: certs.serverCertificate, keyFile: certs.serverKey,
            clientCAFile: clientAuth == nil ? nil : certs.caCertificate, clientAuth: clientAuth ?? .required)
        configure(&configuration)
        return (try GRPCServer(router: Echo.router(), httpHandler: identityHandler, configuration: configuration), certs)
    }

    @Test func http1OverTLSIsAnsweredAndALPNIsHTTP1() throws {
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        let client = try TLSClientContext(caFile: certs.caCertificate, alpn: [.http1])
        let exchange = try tlsExchange(port: server.port, client: client, request: closeRequest)
        #expect(exchange.error == nil)
        #expect(exchange.alpn == .http1)
        #expect(exchange.serverIdentity?.subject == "CN=localhost")
        let text = String(decoding: exchange.reply, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(text.hasSuffix("GET /who HTTP/1.1 identity=-"))
    }

    @Test func withoutALPNTheFirstBytesStillPickHTTP1() throws {
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        let exchange = try tlsExchange(
            port: server.port, client: try TLSClientContext(caFile: certs.caCertificate, alpn: []), request: closeRequest)
        #expect(exchange.alpn == nil)
        #expect(String(decoding: exchange.reply, as: UTF8.self).hasSuffix("identity=-"))
    }

    @Test func manyPipelinedRequestsInOneTLSWriteAreAllAnswered() throws {
        // About 100 KB of requests: more than one 64 KiB read, more than the 32 requests in flight allowed, so the
        // hand-over to HTTP/1.1 and the pipelining pause both leave decrypted bytes waiting inside the session.
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        let pad = String(repeating: "p", count: 600)
        var requests: [UInt8] = []
        for index in 0..<150 {
            let close = index == 149 ? "Connection: close\r\n" : ""
            requests += Array("GET /who/\(index) HTTP/1.1\r\nHost: localhost\r\nX-Pad: \(pad)\r\n\(close)\r\n".utf8)
        }
        let exchange = try tlsExchange(
            port: server.port, client: try TLSClientContext(caFile: certs.caCertificate, alpn: []), request: requests,
            seconds: 30)
        let text = String(decoding: exchange.reply, as: UTF8.self)
        #expect(text.components(separatedBy: "HTTP/1.1 200").count - 1 == 150)
        #expect(text.hasSuffix("GET /who/149 HTTP/1.1 identity=-"))
    }

    @Test func mutualTLSPassesTheClientIdentityToTheHandler() throws {
        let (server, certs) = try makeTLSServer(clientAuth: .required)
        defer { server.shutdown(drainSeconds: 0) }
        let good = try TLSClientContext(
            caFile: certs.caCertificate, certificateFile: certs.clientCertificate, keyFile: certs.clientKey, alpn: [.http1])
        let exchange = try tlsExchange(port: server.port, client: good, request: closeRequest)
        #expect(String(decoding: exchange.reply, as: UTF8.self).hasSuffix(
            "identity=O=Tensorwire Tests,CN=etl-job; SAN=URI:spiffe://tests/etl-job,DNS:etl.tests"))

        let failuresBefore = server.tlsHandshakeFailures
        let missing = try tlsExchange(
            port: server.port, client: try TLSClientContext(caFile: certs.caCertificate, alpn: [.http1]),
            request: closeRequest)
        #expect(missing.reply.isEmpty)
        #expect(missing.closed)
        let wrong = try tlsExchange(
            port: server.port,
            client: try TLSClientContext(
                caFile: certs.caCertificate, certificateFile: certs.otherClientCertificate,
                keyFile: certs.otherClientKey, alpn: [.http1]),
            request: closeRequest)
        #expect(wrong.reply.isEmpty)
        #expect(wrong.closed)
        #expect(waitUntil { server.tlsHandshakeFailures >= failuresBefore + 2 })
    }

    @Test func optionalClientAuthServesAClientWithoutCertificate() throws {
        let (server, certs) = try makeTLSServer(clientAuth: .optional)
        defer { server.shutdown(drainSeconds: 0) }
        let exchange = try tlsExchange(
            port: server.port, client: try TLSClientContext(caFile: certs.caCertificate, alpn: [.http1]),
            request: closeRequest)
        #expect(String(decoding: exchange.reply, as: UTF8.self).hasSuffix("identity=-"))
    }

    @Test func plaintextAndGarbageFailTheHandshakeAndTheServerStillServes() throws {
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        let plaintext = try exchangeRaw(port: server.port, closeRequest)
        #expect(plaintext.closed)
        #expect(!String(decoding: plaintext.reply, as: UTF8.self).contains("HTTP/1.1 200"))
        let garbage = try exchangeRaw(port: server.port, [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5] + Array(repeating: 0xFF, count: 64))
        #expect(garbage.closed)
        #expect(waitUntil { server.tlsHandshakeFailures >= 2 })
        let exchange = try tlsExchange(
            port: server.port, client: try TLSClientContext(caFile: certs.caCertificate, alpn: [.http1]),
            request: closeRequest)
        #expect(String(decoding: exchange.reply, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
    }

    @Test func aStalledHandshakeIsClosedByTheHandshakeTimeout() throws {
        let clock = ManualClock()
        let (server, _) = try makeTLSServer { configuration in
            configuration.clock = clock
            configuration.handshakeTimeout = .seconds(5)
        }
        defer { server.shutdown(drainSeconds: 0) }
        let fd = try connectLoopback(port: server.port)
        defer { close(fd) }
        // Half a ClientHello record header: the handshake can never finish.
        _ = [UInt8]([0x16, 0x03]).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(waitUntil { server.activeConnections == 1 })
        // The connection counts as active when accepted, a moment before its loop arms the handshake timer; a jump
        // made before that moves the timer's start with it. So jump again on every look until the timeout is seen
        // (under a full parallel test run the single jump was seen to land first).
        #expect(waitUntil {
            clock.advance(by: .seconds(6))
            return server.handshakeTimeouts == 1 && server.activeConnections == 0
        })
    }

    @Test func aReplacedContextServesNewConnectionsWithTheNewCertificate() throws {
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        try certs.issue(
            name: "server2", ca: "ca", subject: "/CN=reloaded",
            extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        let client = try TLSClientContext(caFile: certs.caCertificate, alpn: [.http1])
        #expect(try tlsExchange(port: server.port, client: client, request: closeRequest).serverIdentity?.subject == "CN=localhost")
        server.replaceTLSContext(
            try TLSServerContext(certificateFile: certs.directory + "/server2.pem", keyFile: certs.directory + "/server2.key"))
        let after = try tlsExchange(port: server.port, client: client, request: closeRequest)
        #expect(after.serverIdentity?.subject == "CN=reloaded")
        #expect(String(decoding: after.reply, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
    }

    @Test func ourGRPCClientCallsOverTLSWithALPNH2() throws {
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        var configuration = ClientConnection.Configuration()
        configuration.tls = try TLSClientContext(caFile: certs.caCertificate)
        let client = try ClientConnection(host: "127.0.0.1", port: server.port, configuration: configuration)
        defer { client.close() }
        // Big enough to span several TLS records both ways.
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        for _ in 0..<3 {
            let response = client.unary(path: Echo.unary.path, request: payload, timeout: .seconds(30))
            #expect(response.status.code == .ok)
            #expect(response.message == payload)
        }
        #expect(server.tlsHandshakeFailures == 0)
    }

    @Test func ourGRPCClientRefusesAServerItCannotVerify() throws {
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        var configuration = ClientConnection.Configuration()
        // The other CA did not sign the server's certificate.
        configuration.tls = try TLSClientContext(caFile: certs.otherCACertificate)
        let client = try ClientConnection(host: "127.0.0.1", port: server.port, configuration: configuration)
        defer { client.close() }
        let response = client.unary(path: Echo.unary.path, request: [1, 2, 3], timeout: .seconds(30))
        #expect(response.status.code == .unavailable)
    }

    @Test func curlSpeaksHTTP2AndHTTP1OverTLS() throws {
        let (server, certs) = try makeTLSServer()
        defer { server.shutdown(drainSeconds: 0) }
        for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "curl", "-sS", "--max-time", "20", flag, "--cacert", certs.caCertificate,
                "https://localhost:\(server.port)/who",
            ]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let body = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            #expect(body.hasPrefix("GET /who"), "curl \(flag): \(body)")
            #expect(body.contains(version == "2" ? "HTTP/2" : "HTTP/1.1") || body.contains(version), "\(body)")
        }
    }
}
