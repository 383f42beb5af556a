// Tests/ServerTests/TLSOptionsTests.swift: `--tls-cert`, `--tls-key`, `--tls-client-ca`, `--tls-client-auth`
// (issue 19 §1), and the start-up and reload errors that name the file.

import Crypto
import Foundation
import Logging
@testable import Server
import TestSupport
import Testing

@Suite struct TLSOptionsTests {
    static func parsed(_ arguments: [String]) throws -> ServerOptions? {
        guard case .run(let options) = try ServerOptions.parse(arguments) else { return nil }
        return options
    }

    @Test func tlsFlagsParse() throws {
        let defaults = try #require(try Self.parsed([]))
        #expect(defaults.tlsCertificateFile == nil && defaults.tlsKeyFile == nil && defaults.tlsClientAuth == .required)
        let options = try #require(try Self.parsed([
            "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem", "--tls-client-auth", "optional",
        ]))
        #expect(options.tlsCertificateFile == "c.pem" && options.tlsKeyFile == "k.pem")
        #expect(options.tlsClientCAFile == "ca.pem" && options.tlsClientAuth == .optional)
        #expect(options.effectiveSummary.contains("tls-cert=c.pem tls-key=k.pem"))
    }

    @Test func incompleteTLSFlagsAreUsageErrors() {
        #expect(throws: ServerOptions.UsageError(description: "--tls-cert and --tls-key go together: give both or neither")) {
            try ServerOptions.parse(["--tls-cert", "c.pem"])
        }
        #expect(throws: ServerOptions.UsageError(
            description: "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS runs over TLS)")) {
            try ServerOptions.parse(["--tls-client-ca", "ca.pem"])
        }
        #expect(throws: ServerOptions.UsageError(description: "--tls-client-auth: \"sometimes\" is not required or optional")) {
            try ServerOptions.parse(["--tls-client-auth", "sometimes"])
        }
    }

}

/// Start-up and reload of a real server with TLS files.
@Suite(.tags(.live)) struct TLSStartupLiveTests {
    @Test func aMissingKeyFileStopsStartUpNamingTheFile() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        var options = ServerOptions()
        options.port = 0
        options.tlsCertificateFile = certificates.serverCertificate
        options.tlsKeyFile = certificates.directory + "/absent.key"
        let error = try #require(throws: TLSError.self) { try TensorwireServer(options: options) }
        #expect(TensorwireServer.describe(startupError: error).contains(certificates.directory + "/absent.key"))
    }

    @Test func reloadKeepsTheOldPairWhenTheNewOneIsBad() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        var options = ServerOptions()
        options.port = 0
        options.tlsCertificateFile = certificates.serverCertificate
        options.tlsKeyFile = certificates.serverKey
        let server = try TensorwireServer(options: options)
        defer { server.shutdown(drainSeconds: 0) }
        let first = try #require(server.tlsContext)
        #expect(server.reloadTLS())
        let second = try #require(server.tlsContext)
        #expect(first !== second)
        // The key of another certificate over the key file: the reload fails and the previous context stays.
        try certificates.issue(name: "spare", ca: "ca", subject: "/CN=spare", extensions: "extendedKeyUsage=serverAuth\n")
        let spareKey = try String(contentsOfFile: certificates.directory + "/spare.key", encoding: .utf8)
        try spareKey.write(toFile: certificates.serverKey, atomically: true, encoding: .utf8)
        #expect(!server.reloadTLS())
        #expect(server.tlsContext === second)
        // The matching certificate arrives too: now it reloads.
        let spareCertificate = try String(contentsOfFile: certificates.directory + "/spare.pem", encoding: .utf8)
        try spareCertificate.write(toFile: certificates.serverCertificate, atomically: true, encoding: .utf8)
        #expect(server.reloadTLS())
        #expect(server.tlsContext !== second)
    }
}
