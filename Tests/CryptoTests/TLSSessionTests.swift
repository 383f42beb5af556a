internal import Crypto
internal import Foundation
internal import TestSupport
internal import Testing

/// A client and a server session pumped in memory (NIOHTTP2's `interactInMemory`): each round moves every ciphertext
/// byte one way, then the other, until neither side has anything to send.
private struct Pair {
    let client: TLSSession
    let server: TLSServerSession
    var clientReceived: [UInt8] = []
    var serverReceived: [UInt8] = []
    var clientError: TLSError?
    var serverError: TLSError?

    init(client: TLSSession, server: TLSServerSession) throws {
        self.client = client
        self.server = server
        try client.start()
    }

    mutating func pump() {
        for _ in 0..<32 {
            let toServer = client.drainCiphertext()
            let toClient = server.drainCiphertext()
            if toServer.isEmpty && toClient.isEmpty { return }
            if !toServer.isEmpty {
                let result = server.feed(toServer)
                serverReceived += result.plaintext
                if let error = result.error { serverError = error }
            }
            if !toClient.isEmpty {
                let result = client.feed(toClient)
                clientReceived += result.plaintext
                if let error = result.error { clientError = error }
            }
        }
    }
}

@Suite struct TLSSessionTests {
    static let certificates = Result { try TestCertificates.make() }

    private func certificates() throws -> TestCertificates { try Self.certificates.get() }

    private func serverContext(clientAuth: TLSClientAuth? = nil) throws -> TLSServerContext {
        let certs = try certificates()
        return try TLSServerContext(
            certificateFile: certs.serverCertificate, keyFile: certs.serverKey,
            clientCAFile: clientAuth == nil ? nil : certs.caCertificate, clientAuth: clientAuth ?? .required)
    }

    @Test func handshakeNegotiatesH2AndCarriesDataBothWays() throws {
        let certs = try certificates()
        let client = try TLSClientContext(caFile: certs.caCertificate, alpn: [.http2, .http1]).makeSession(serverName: "localhost")
        var pair = try Pair(client: client, server: try serverContext().makeSession())
        pair.pump()
        #expect(pair.server.handshakeDone)
        #expect(pair.client.handshakeDone)
        #expect(pair.server.applicationProtocol == .http2)
        #expect(pair.client.applicationProtocol == .http2)
        #expect(pair.server.protocolVersion == "TLSv1.3")
        #expect(pair.server.peerIdentity == nil)

        try pair.client.write(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        try pair.server.write(Array("hello".utf8))
        pair.pump()
        #expect(String(decoding: pair.serverReceived, as: UTF8.self) == "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        #expect(String(decoding: pair.clientReceived, as: UTF8.self) == "hello")
    }

    @Test func alpnPicksHTTP1WhenOnlyThatIsOfferedAndNoneWithoutALPN() throws {
        let certs = try certificates()
        let server = try serverContext()
        var http1 = try Pair(
            client: try TLSClientContext(caFile: certs.caCertificate, alpn: [.http1]).makeSession(serverName: "127.0.0.1"),
            server: try server.makeSession())
        http1.pump()
        #expect(http1.server.applicationProtocol == .http1)
        var none = try Pair(
            client: try TLSClientContext(caFile: certs.caCertificate, alpn: []).makeSession(serverName: "localhost"),
            server: try server.makeSession())
        none.pump()
        #expect(none.server.handshakeDone)
        #expect(none.server.applicationProtocol == nil)
    }

    @Test func largeWritesArriveWholeAcrossRecords() throws {
        let certs = try certificates()
        var pair = try Pair(
            client: try TLSClientContext(caFile: certs.caCertificate).makeSession(serverName: "localhost"),
            server: try serverContext().makeSession())
        // Written before the handshake: held by the server session until it finishes.
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try pair.server.write(payload)
        pair.pump()
        #expect(pair.clientReceived == payload)
    }

    @Test func mutualTLSExposesTheVerifiedClientsNames() throws {
        let certs = try certificates()
        let client = try TLSClientContext(
            caFile: certs.caCertificate, certificateFile: certs.clientCertificate, keyFile: certs.clientKey
        ).makeSession(serverName: "localhost")
        var pair = try Pair(client: client, server: try serverContext(clientAuth: .required).makeSession())
        pair.pump()
        #expect(pair.serverError == nil)
        let identity = try #require(pair.server.peerIdentity)
        #expect(identity.subject == "O=Tensorwire Tests,CN=etl-job")
        #expect(identity.alternativeNames == ["URI:spiffe://tests/etl-job", "DNS:etl.tests"])
        #expect(identity.identity == "O=Tensorwire Tests,CN=etl-job; SAN=URI:spiffe://tests/etl-job,DNS:etl.tests")
    }

    @Test func requiredClientAuthRefusesAMissingAndAWrongCertificate() throws {
        let certs = try certificates()
        var missing = try Pair(
            client: try TLSClientContext(caFile: certs.caCertificate).makeSession(serverName: "localhost"),
            server: try serverContext(clientAuth: .required).makeSession())
        missing.pump()
        // TLS 1.3: the client finishes before the server checks its (absent) certificate, so the server fails.
        #expect(missing.serverError != nil)
        #expect(missing.server.peerIdentity == nil)

        var wrong = try Pair(
            client: try TLSClientContext(
                caFile: certs.caCertificate, certificateFile: certs.otherClientCertificate, keyFile: certs.otherClientKey
            ).makeSession(serverName: "localhost"),
            server: try serverContext(clientAuth: .optional).makeSession())
        wrong.pump()
        #expect(wrong.serverError != nil)
        #expect(wrong.server.peerIdentity == nil)
    }

    @Test func optionalClientAuthAcceptsAClientWithoutCertificate() throws {
        let certs = try certificates()
        var pair = try Pair(
            client: try TLSClientContext(caFile: certs.caCertificate).makeSession(serverName: "localhost"),
            server: try serverContext(clientAuth: .optional).makeSession())
        pair.pump()
        #expect(pair.serverError == nil)
        #expect(pair.server.handshakeDone)
        #expect(pair.server.peerIdentity == nil)
    }

    @Test func theClientRejectsAServerNameTheCertificateDoesNotCover() throws {
        let certs = try certificates()
        var pair = try Pair(
            client: try TLSClientContext(caFile: certs.caCertificate).makeSession(serverName: "example.com"),
            server: try serverContext().makeSession())
        pair.pump()
        #expect(pair.clientError != nil)
        #expect(!pair.server.handshakeDone || pair.serverError != nil || !pair.client.handshakeDone)
    }

    @Test func garbageInsteadOfAClientHelloFailsTheHandshake() throws {
        let server = try serverContext().makeSession()
        let result = server.feed(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(result.error != nil)
        #expect(!result.handshakeDone)
        // The failure sticks.
        #expect(throws: TLSError.self) { try server.write([1]) }
    }

    @Test func aClientHelloInOneByteChunksStillCompletes() throws {
        let certs = try certificates()
        let client = try TLSClientContext(caFile: certs.caCertificate).makeSession(serverName: "localhost")
        try client.start()
        let server = try serverContext().makeSession()
        for byte in client.drainCiphertext() {
            let result = server.feed([byte])
            #expect(result.error == nil)
        }
        #expect(server.hasCiphertext)
        let reply = client.feed(server.drainCiphertext())
        #expect(reply.error == nil)
        #expect(reply.handshakeDone)
    }

    @Test func contextErrorsNameTheFileAndOpenSSLsReason() throws {
        let certs = try certificates()
        let missing = certs.directory + "/missing.pem"
        let error = try #require(throws: TLSError.self) {
            try TLSServerContext(certificateFile: missing, keyFile: certs.serverKey)
        }
        #expect(error.message.contains(missing))
        #expect(!error.reason.isEmpty)
        let mismatch = try #require(throws: TLSError.self) {
            try TLSServerContext(certificateFile: certs.serverCertificate, keyFile: certs.clientKey)
        }
        #expect(mismatch.message.contains("does not match"))
        let notPEM = try #require(throws: TLSError.self) {
            try TLSServerContext(certificateFile: certs.directory + "/server.ext", keyFile: certs.serverKey)
        }
        #expect(notPEM.description.contains("server.ext"))
    }
}
