// Tests/ClientTests/CLITLSLiveTests.swift: the CLI's --tls-ca, --tls-cert and --tls-key against a TLS server
// (issue 19 §5, the TLS half).

import Foundation
import Server
import TensorwireCLI
import TestSupport
import Testing

@Suite(.serialized, .tags(.live))
struct CLITLSLiveTests {
    static let certificates = Result { try TestCertificates.make() }

    @Test func healthOverMutualTLS() throws {
        let certs = try Self.certificates.get()
        let serverArguments = [
            "--tls-cert", certs.serverCertificate, "--tls-key", certs.serverKey, "--tls-client-ca", certs.caCertificate,
        ]
        try CLICommandLiveTests.withServer(serverArguments) { server in
            let good = CLICommandLiveTests.run(
                ["health", "--tls-ca", certs.caCertificate, "--tls-cert", certs.clientCertificate,
                 "--tls-key", certs.clientKey], port: server.port)
            #expect(good.code == 0, "\(good)")
            let noCertificate = CLICommandLiveTests.run(["health", "--tls-ca", certs.caCertificate], port: server.port)
            #expect(noCertificate.code == CLIError.ExitCode.unavailable, "\(noCertificate)")
            let plaintext = CLICommandLiveTests.run(["health"], port: server.port)
            #expect(plaintext.code == CLIError.ExitCode.unavailable, "\(plaintext)")
            // REST over HTTPS (ALPN http/1.1) with the same client certificate.
            let rest = CLICommandLiveTests.run(
                ["--http", "health", "--tls-ca", certs.caCertificate, "--tls-cert", certs.clientCertificate,
                 "--tls-key", certs.clientKey], port: server.port)
            #expect(rest.code == 0, "\(rest)")
            let restPredict = CLICommandLiveTests.run(
                ["--http", "list", "--tls-ca", certs.caCertificate, "--tls-cert", certs.clientCertificate,
                 "--tls-key", certs.clientKey], port: server.port)
            #expect(restPredict.code == 0, "\(restPredict)")
            #expect(restPredict.stdout.contains("digits"), "\(restPredict)")
        }
    }

    @Test func incompleteTLSOptionsAreUsageErrors() {
        let keyAlone = CLICommandLiveTests.run(["health", "--tls-ca", "ca.pem", "--tls-cert", "c.pem"], port: 1)
        #expect(keyAlone.code == CLIError.ExitCode.usage)
        #expect(keyAlone.err.first == "tensorwire: --tls-cert and --tls-key go together: give both or neither")
        let noCA = CLICommandLiveTests.run(["health", "--tls-cert", "c.pem", "--tls-key", "k.pem"], port: 1)
        #expect(noCA.err.first == "tensorwire: --tls-cert and --tls-key need --tls-ca (the server's CA)")
        let missing = CLICommandLiveTests.run(["health", "--tls-ca", "/nonexistent/ca.pem"], port: 1)
        #expect(missing.code == CLIError.ExitCode.input)
        #expect(missing.err.first?.contains("/nonexistent/ca.pem") == true)
    }
}
