import Auth
import Foundation
import HTTPTypes
import Logging
import ProtoWire
import RPCCore
import Server
@testable import TensorwireCLI
import TensorwireClient
import TensorwireProto
import Testing
import Transport

import TestSupport

/// `--auth-keys` end to end over loopback: every status for keys and scopes on native gRPC, KServe gRPC, REST and
/// model control; health stays open; the key file reloads; a non-loopback bind without access control refuses.
@Suite(.serialized, .tags(.live))
struct AuthLiveTests {
    /// Four keys: `ops` (admin), `etl` (infer:digit*, read:*), `reader` (read:digits), `old` (admin, expired).
    struct Keys {
        let ops = NewAPIKey(id: "ops", scopes: [.admin], expires: nil)
        let etl = NewAPIKey(id: "etl", scopes: [.infer(ModelGlob("digit*")), .read(ModelGlob("*"))], expires: "2099-01-01")
        let reader = NewAPIKey(id: "reader", scopes: [.read(ModelGlob("digits"))], expires: nil)
        let old = NewAPIKey(id: "old", scopes: [.admin], expires: "2020-01-01T00:00:00Z")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tw-keys-\(UUID().uuidString).json").path

        func write(_ keys: [NewAPIKey]) throws {
            let text = "{\"keys\": [" + keys.map(\.entryJSON).joined(separator: ",\n") + "]}"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
    }

    static func withServer(_ extra: [String] = [], _ body: (TensorwireServer, Keys, ClientConnection) throws -> Void) throws {
        let keys = Keys()
        try keys.write([keys.ops, keys.etl, keys.reader, keys.old])
        defer { try? FileManager.default.removeItem(atPath: keys.path) }
        guard case .run(let options) = try ServerOptions.parse(["--port", "0", "--auth-keys", keys.path] + extra) else {
            Issue.record("did not parse as a run")
            return
        }
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        try body(server, keys, client)
    }

    static func bearer(_ key: NewAPIKey?) -> Metadata {
        var metadata = Metadata()
        if let key { try? metadata.addString("Bearer \(key.key)", forKey: "authorization") }
        return metadata
    }

    static func code(_ client: ClientConnection, _ path: String, _ request: [UInt8], _ key: NewAPIKey?) -> Status.Code {
        client.unary(path: path, request: request, metadata: bearer(key), timeout: .seconds(10)).status.code
    }

    /// Past the gate: whatever the service answers, it is neither refusal.
    static func passed(_ code: Status.Code) -> Bool { code != .unauthenticated && code != .permissionDenied }

    @Test func nativeAndKServeGRPC() throws {
        try Self.withServer { _, keys, client in
            var predict = TensorwireV1.PredictRequest()
            predict.model = "digits"
            let predictBytes = predict.serializedBytes()
            let path = "/tensorwire.v1.Inference/Predict"
            #expect(Self.code(client, path, predictBytes, nil) == .unauthenticated)
            #expect(Self.code(client, path, predictBytes, NewAPIKey(id: "x", scopes: [.admin], expires: nil)) == .unauthenticated)
            #expect(Self.code(client, path, predictBytes, keys.old) == .unauthenticated)
            #expect(Self.code(client, path, predictBytes, keys.reader) == .permissionDenied)
            #expect(Self.passed(Self.code(client, path, predictBytes, keys.etl)))
            #expect(Self.passed(Self.code(client, path, predictBytes, keys.ops)))

            let refused = client.unary(path: path, request: predictBytes, metadata: Self.bearer(keys.reader), timeout: .seconds(10))
            #expect(refused.status.message.contains("infer:digits"))
            #expect(!refused.status.message.contains(keys.reader.key))

            var infer = KServe.ModelInferRequest()
            infer.modelName = "digits"
            let kserve = "/inference.GRPCInferenceService/"
            #expect(Self.code(client, kserve + "ModelInfer", infer.serializedBytes(), nil) == .unauthenticated)
            #expect(Self.code(client, kserve + "ModelInfer", infer.serializedBytes(), keys.reader) == .permissionDenied)
            #expect(Self.passed(Self.code(client, kserve + "ModelInfer", infer.serializedBytes(), keys.etl)))
            var metadata = KServe.ModelMetadataRequest()
            metadata.name = "digits"
            #expect(Self.code(client, kserve + "ModelMetadata", metadata.serializedBytes(), keys.reader) == .ok)
            metadata.name = "fraud"
            #expect(Self.code(client, kserve + "ModelMetadata", metadata.serializedBytes(), keys.reader) == .permissionDenied)
            #expect(Self.code(client, kserve + "ModelStatistics", [], keys.reader) == .permissionDenied)
            #expect(Self.code(client, kserve + "ModelStatistics", [], keys.etl) == .ok)
            #expect(Self.code(client, kserve + "RepositoryIndex", [], keys.etl) == .permissionDenied)
            #expect(Self.code(client, kserve + "RepositoryIndex", [], keys.ops) == .ok)
            #expect(Self.code(client, "/tensorwire.v1.Inference/ListModels", [], keys.reader) == .permissionDenied)
            #expect(Self.code(client, "/tensorwire.v1.Inference/ListModels", [], keys.etl) == .ok)

            // Health stays open; reflection is closed by default.
            #expect(Self.code(client, kserve + "ServerLive", [], nil) == .ok)
            #expect(Self.code(client, kserve + "ServerReady", [], nil) == .ok)
            #expect(Self.code(client, "/grpc.health.v1.Health/Check", [], nil) == .ok)
            #expect(Self.code(client, kserve + "ServerMetadata", [], nil) == .unauthenticated)
            #expect(Self.code(client, kserve + "ServerMetadata", [], keys.reader) == .ok)
        }
    }

    @Test(arguments: [[], ["--model-control", "explicit"]])
    func modelControlNeedsAdminInEveryMode(mode: [String]) throws {
        try Self.withServer(mode) { _, keys, client in
            var load = KServe.RepositoryModelRequest()
            load.modelName = "digits"
            let path = "/inference.GRPCInferenceService/RepositoryModelLoad"
            #expect(Self.code(client, path, load.serializedBytes(), nil) == .unauthenticated)
            #expect(Self.code(client, path, load.serializedBytes(), keys.etl) == .permissionDenied)
            #expect(Self.passed(Self.code(client, path, load.serializedBytes(), keys.ops)))
        }
    }

    @Test func rest() throws {
        try Self.withServer { server, keys, _ in
            let connection = HTTP1ClientConnection(host: "127.0.0.1", port: server.port)
            defer { connection.close() }
            func send(_ method: String, _ target: String, _ key: NewAPIKey?, body: String = "") throws -> HTTP1ClientResponse {
                var headers: [HeaderField] = []
                if let key { headers.append(HeaderField("authorization", "Bearer \(key.key)")) }
                return try connection.send(
                    HTTP1ClientRequest(method: method, target: target, headers: headers, body: Array(body.utf8)),
                    timeout: .seconds(10))
            }
            let unauthorized = try send("POST", "/v2/models/digits/infer", nil, body: "{}")
            #expect(unauthorized.status == 401)
            #expect(unauthorized.headers.contains { $0.name == "www-authenticate" && $0.value == "Bearer" })
            #expect(try send("POST", "/v2/models/digits/infer", keys.old, body: "{}").status == 401)
            let forbidden = try send("POST", "/v2/models/digits/infer", keys.reader, body: "{}")
            #expect(forbidden.status == 403)
            #expect(String(decoding: forbidden.body, as: UTF8.self).contains("infer:digits"))
            #expect(try send("POST", "/v2/models/digits/infer", keys.etl, body: "{}").status == 400)
            #expect(try send("POST", "/v1/models/digits:predict", keys.reader, body: "{}").status == 403)
            #expect(try send("GET", "/v2/models/digits", keys.reader).status == 200)
            #expect(try send("GET", "/v1/models", keys.reader).status == 403)
            #expect(try send("POST", "/v2/repository/models/digits/load", keys.etl).status == 403)
            #expect(try send("POST", "/v2/repository/index", keys.reader).status == 403)
            #expect(try send("GET", "/v2/health/live", nil).status == 200)
            #expect(try send("GET", "/v2/health/ready", nil).status == 200)
            #expect(try send("GET", "/metrics", nil).status == 401)
            #expect(try send("GET", "/metrics", keys.ops).status == 200)
            // A refused request is counted with its code and no key material.
            let exposition = String(decoding: try send("GET", "/metrics", keys.ops).body, as: UTF8.self)
            #expect(exposition.contains("code=\"UNAUTHENTICATED\"") || exposition.contains("UNAUTHENTICATED"))
            #expect(!exposition.contains(keys.reader.key) && !exposition.contains("reader"))
        }
    }

    @Test func publicMetricsAndReflection() throws {
        try Self.withServer(["--auth-public", "health,metrics"]) { server, _, _ in
            let connection = HTTP1ClientConnection(host: "127.0.0.1", port: server.port)
            defer { connection.close() }
            let response = try connection.send(HTTP1ClientRequest(method: "GET", target: "/metrics"), timeout: .seconds(10))
            #expect(response.status == 200)
            let lines = server.startupSummary().map(\.text)
            #expect(lines.contains { $0.hasPrefix("access control: 4 key file entries") && $0.hasSuffix("health, metrics") })
        }
    }

    @Test func reloadTakesNewKeysAndKeepsOldOnMalformed() throws {
        try Self.withServer { server, keys, client in
            let fresh = NewAPIKey(id: "fresh", scopes: [.read(ModelGlob("*"))], expires: nil)
            let path = "/tensorwire.v1.Inference/ListModels"
            #expect(Self.code(client, path, [], fresh) == .unauthenticated)
            try keys.write([keys.ops, fresh])
            server.authGate?.keys.poll()
            #expect(Self.code(client, path, [], fresh) == .ok)
            #expect(Self.code(client, path, [], keys.etl) == .unauthenticated)
            try Data("{\"keys\": [".utf8).write(to: URL(fileURLWithPath: keys.path))
            server.authGate?.keys.poll()
            #expect(Self.code(client, path, [], fresh) == .ok)
        }
    }

    @Test func nonLoopbackWithoutAccessControlRefusesToStart() throws {
        guard case .run(let options) = try ServerOptions.parse(["--host", "0.0.0.0", "--port", "0"]) else { return }
        do {
            let server = try TensorwireServer(options: options, logSink: .discarding)
            server.shutdown(drainSeconds: 0)
            Issue.record("a server on 0.0.0.0 with no access control started")
        } catch {
            let text = TensorwireServer.describe(startupError: error)
            #expect(text.contains("--auth-keys") && text.contains("--tls-client-ca") && text.contains("--insecure"))
        }
        #expect(ServerOptions.isLoopback("127.0.0.2") && ServerOptions.isLoopback("::1") && ServerOptions.isLoopback("localhost"))
        #expect(!ServerOptions.isLoopback("0.0.0.0") && !ServerOptions.isLoopback("10.0.0.1") && !ServerOptions.isLoopback("::"))
    }
}

/// `tensorwire keys new` and `--api-key` / TENSORWIRE_API_KEY against a server with a key file.
@Suite(.serialized, .tags(.live))
struct CLIAuthLiveTests {
    @Test func keysNewPrintsAKeyThatTheServerAccepts() throws {
        let made = CLICommandLiveTests.run(["keys", "new", "cli-job", "--scope", "read:*", "--expires", "2099-01-01"], port: nil)
        #expect(made.code == 0)
        let lines = made.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 3, let key = lines[0].split(separator: " ").last.map(String.init) else {
            Issue.record("unexpected output \(made.stdout)")
            return
        }
        #expect(lines[2].hasPrefix("{\"id\": \"cli-job\"") && !lines[2].contains(key))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tw-cli-keys-\(UUID().uuidString).json").path
        try Data("{\"keys\": [\(lines[2])]}".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try CLICommandLiveTests.withServer(["--auth-keys", path]) { server in
            #expect(CLICommandLiveTests.run(["list"], port: server.port).code == 1)
            #expect(CLICommandLiveTests.run(["--api-key", key, "list"], port: server.port).code == 0)
            #expect(CLICommandLiveTests.run(["--api-key", key, "--http", "list"], port: server.port).code == 0)
            let denied = CLICommandLiveTests.run(["--api-key", "tw_wrong", "list"], port: server.port)
            #expect(denied.code == 1 && !denied.stderr.contains("tw_wrong"))
            let capture = CLICommandLiveTests.Capture(input: [])
            let code = TensorwireCommand.run(
                ["list"], environment: ["TENSORWIRE_SERVER": "127.0.0.1:\(server.port)", "TENSORWIRE_API_KEY": key],
                console: capture.console)
            #expect(code == 0)
        }
        #expect(CLICommandLiveTests.run(["keys", "new", "bad name", "--scope", "admin"], port: nil).code == 2)
        #expect(CLICommandLiveTests.run(["keys", "new", "x", "--scope", "write:*"], port: nil).code == 2)
        #expect(CLICommandLiveTests.run(["keys", "new", "x"], port: nil).code == 2)
    }
}

extension AuthLiveTests {
    /// A PredictStream is authorized per message: a request for a model outside the key's glob ends the stream.
    @Test func predictStreamIsCheckedPerMessage() throws {
        try Self.withServer { server, keys, _ in
            var metadata = Metadata()
            try metadata.addString("Bearer \(keys.etl.key)", forKey: "authorization")
            let client = try TensorwireClient(host: "127.0.0.1", port: server.port, defaultMetadata: metadata)
            defer { client.close() }
            let stream = client.predictStream(onResponse: { _ in })
            var request = TensorwireV1.PredictRequest()
            request.model = "fraud"
            stream.send(request)
            stream.finish()
            let status = stream.wait()
            #expect(status.code == .permissionDenied && status.message.contains("infer:fraud"))
        }
    }
}

/// Mutual TLS identities with scopes: a verified client certificate stands for a key.
@Suite(.serialized, .tags(.live))
struct AuthTLSLiveTests {
    @Test func aCertificateIdentityGetsItsScopes() throws {
        let certs = try TestCertificates.make()
        defer { certs.remove() }
        let path = certs.directory + "/keys.json"
        try Data(#"{"keys": [{"identity": "URI:spiffe://tests/etl-job", "scopes": ["read:*"]}]}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        try CLICommandLiveTests.withServer([
            "--tls-cert", certs.serverCertificate, "--tls-key", certs.serverKey, "--tls-client-ca", certs.caCertificate,
            "--tls-client-auth", "optional", "--auth-keys", path,
        ]) { server in
            let withCertificate = CLICommandLiveTests.run(
                ["list", "--tls-ca", certs.caCertificate, "--tls-cert", certs.clientCertificate, "--tls-key", certs.clientKey],
                port: server.port)
            #expect(withCertificate.code == 0)
            let without = CLICommandLiveTests.run(["list", "--tls-ca", certs.caCertificate], port: server.port)
            #expect(without.code == 1 && without.stderr.contains("UNAUTHENTICATED"))
        }
    }
}
