// Tests/TestSupport/TestCertificates.swift: a throwaway PKI made by the `openssl` CLI in a temporary directory, for
// the TLS tests (session unit tests and live servers).

internal import Foundation

/// A CA, a server certificate for localhost and 127.0.0.1, a client certificate signed by the CA, and a second CA
/// with a client certificate of its own (the "wrong" client). All PEM files in `directory`; `remove()` deletes them.
package struct TestCertificates: Sendable {
    package let directory: String
    package var caCertificate: String { directory + "/ca.pem" }
    package var serverCertificate: String { directory + "/server.pem" }
    package var serverKey: String { directory + "/server.key" }
    package var clientCertificate: String { directory + "/client.pem" }
    package var clientKey: String { directory + "/client.key" }
    package var otherCACertificate: String { directory + "/other-ca.pem" }
    package var otherClientCertificate: String { directory + "/other-client.pem" }
    package var otherClientKey: String { directory + "/other-client.key" }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Makes the files (EC P-256 keys: quick to generate). Throws if `openssl` fails.
    package static func make() throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "tw-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "/CN=Tensorwire Test CA"), ("other-ca", "/CN=Other Test CA")] {
            try openssl(
                ["req", "-x509"] + ec + [
                    "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).pem", "-days", "2", "-subj", subject,
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                ])
        }
        try certificates.issue(
            name: "server", ca: "ca", subject: "/CN=localhost",
            extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        try certificates.issue(
            name: "client", ca: "ca", subject: "/CN=etl-job/O=Tensorwire Tests",
            extensions: "subjectAltName=URI:spiffe://tests/etl-job,DNS:etl.tests\nextendedKeyUsage=clientAuth\n")
        try certificates.issue(
            name: "other-client", ca: "other-ca", subject: "/CN=intruder",
            extensions: "extendedKeyUsage=clientAuth\n")
        return certificates
    }

    /// Issues `name`.pem/.key signed by `ca`; also used by reload tests for a second server pair.
    package func issue(name: String, ca: String, subject: String, extensions: String) throws {
        let extensionFile = "\(directory)/\(name).ext"
        try extensions.write(toFile: extensionFile, atomically: true, encoding: .utf8)
        try Self.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).csr", "-subj", subject,
        ])
        try Self.openssl([
            "x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", "\(directory)/\(ca).pem",
            "-CAkey", "\(directory)/\(ca).key", "-CAcreateserial", "-out", "\(directory)/\(name).pem", "-days", "2",
            "-extfile", extensionFile,
        ])
    }

    package func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "openssl \(arguments.prefix(2).joined(separator: " ")) failed: "
                + String(decoding: message, as: UTF8.self))
        }
    }
}
