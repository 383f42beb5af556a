import Crypto
import Foundation
import Inference
import Logging
import ProtoWire
import RPCCore
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// `--model-keys` and `--model-keys-env`: parsing, and where their errors point. No server starts here.
@Suite struct ModelKeysOptionsTests {
    static func options(_ arguments: [String]) throws -> ServerOptions {
        guard case .run(let options) = try ServerOptions.parse(arguments) else { return ServerOptions() }
        return options
    }

    @Test func flagsParseAndTheSummaryNamesOnlyWhereKeysComeFrom() throws {
        var options = try Self.options(["--model-keys", "/etc/tw/keys", "--model-keys-env=TW_MODEL_KEYS"])
        #expect(options.modelKeysPath == "/etc/tw/keys")
        #expect(options.modelKeysEnvironmentVariable == "TW_MODEL_KEYS")
        #expect(options.hasModelKeys)
        options.modelKeysEnvironmentValue = SecretText(String(repeating: "ab", count: 32))
        #expect(options.effectiveSummary.contains("model-keys=/etc/tw/keys model-keys-env=TW_MODEL_KEYS"))
        #expect(!options.effectiveSummary.contains("abab"))
        #expect(!String(describing: options).contains("abab") && !String(reflecting: options).contains("abab"))
        #expect(!(try Self.options([])).hasModelKeys)
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--model-keys-env", ""]) }
        #expect(ServerOptions.usage.contains("--model-keys PATH"))
    }

    @Test func keyErrorsNameTheFlagAndNeverTheKey() throws {
        var options = ServerOptions()
        options.modelKeysEnvironmentVariable = "TW_KEYS"
        #expect {
            try TensorwireServer.modelKeys(options: options)
        } throws: { "\($0)" == "--model-keys-env TW_KEYS: the environment variable is not set" }
        let secret = String(repeating: "c3", count: 31)
        options.modelKeysEnvironmentValue = SecretText(secret)
        #expect {
            try TensorwireServer.modelKeys(options: options)
        } throws: { "\($0)".contains("--model-keys-env TW_KEYS: key 1 is not 64 hex digits") && !"\($0)".contains(secret) }
        options.modelKeysEnvironmentValue = SecretText(String(repeating: "c3", count: 32))
        #expect(try TensorwireServer.modelKeys(options: options).keys.count == 1)
        options.modelKeysPath = "/nonexistent/tw-keys"
        #expect {
            try TensorwireServer.modelKeys(options: options)
        } throws: { "\($0)".hasPrefix("--model-keys /nonexistent/tw-keys: cannot read") }
    }
}

/// Sealed models served over loopback: GetModel reports `sealed` and `sha256`, a version that fails names its
/// cause, the other models serve, and explicit model control refuses a sealed model without its key.
@Suite(.serialized, .tags(.live))
struct SealedModelServingLiveTests {
    struct Repository {
        let root: URL
        let keyFile: String
        let key: ModelKey

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("sealed-repo-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            key = ModelKey.generate()
            keyFile = root.appendingPathComponent("model.key").path
            try key.write(toNewFile: keyFile)
            let models = root.appendingPathComponent("models")
            for (name, sealedWith) in [("sealed", key), ("plain", nil), ("foreign", ModelKey.generate())] {
                let directory = models.appendingPathComponent("\(name)/1")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                if let sealedWith {
                    let sealed = try SealedModel.seal(BuiltinModels.digitsONNX, key: sealedWith)
                    try Data(sealed).write(to: directory.appendingPathComponent("model.onnx.sealed"))
                } else {
                    try Data(BuiltinModels.digitsONNX).write(to: directory.appendingPathComponent("model.onnx"))
                }
            }
        }

        var models: String { root.appendingPathComponent("models").path }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    static func withServer(_ arguments: [String], _ body: (TensorwireServer, ClientConnection) throws -> Void) throws {
        try ModelControlLiveTests.withServer(arguments, body)
    }

    static func predictStatus(_ client: ClientConnection, _ model: String) -> Status {
        var request = TensorwireV1.PredictRequest()
        request.model = model
        request.inputs = [TensorwireV1.Tensor(name: "X", shape: [1, 64], floatData: [Float](repeating: 1, count: 64))]
        return client.unary(path: "/tensorwire.v1.Inference/Predict", request: request.serializedBytes()).status
    }

    @Test func getModelReportsSealedAndTheDigestAndFailuresNameTheCause() throws {
        let repository = try Repository()
        defer { repository.remove() }
        let digest = Crypto.hex(Crypto.sha256(BuiltinModels.digitsONNX))
        try Self.withServer(["--models", repository.models, "--model-keys", repository.keyFile]) { server, client in
            let sealed = try BatchingOptionsLiveTests.getModel(client, "sealed")
            #expect(sealed.versions.map(\.sealed) == [true])
            #expect(sealed.versions.map(\.sha256) == [digest])
            let plain = try BatchingOptionsLiveTests.getModel(client, "plain")
            #expect(plain.versions.map(\.sealed) == [false])
            #expect(plain.versions.map(\.sha256) == [digest])
            let foreign = try BatchingOptionsLiveTests.getModel(client, "foreign")
            #expect(foreign.state == .failed)
            #expect(foreign.versions.first?.error.contains("foreign/1/model.onnx.sealed: no key with id ") == true)
            #expect(foreign.versions.first?.sha256 == "")
            #expect(Self.predictStatus(client, "sealed").isOK)
            #expect(Self.predictStatus(client, "plain").isOK)
            #expect(Self.predictStatus(client, "foreign").code == .unavailable)
            #expect(server.startupSummary().contains { $0.text == "model sealed version 1: READY (sealed sha256=\(digest)), GEMM \(Self.gemm)" })
        }
    }

    static var gemm: String { "\(GEMMBackend.preferred.effective)" }

    @Test func explicitLoadOfASealedModelWithoutItsKeyIsRefusedWithTheReason() throws {
        let repository = try Repository()
        defer { repository.remove() }
        try Self.withServer(["--models", repository.models, "--model-keys", repository.keyFile, "--model-control", "explicit"]) {
            _, client in
            var load = KServe.RepositoryModelLoadRequest()
            load.modelName = "foreign"
            let refused = client.unary(path: "/inference.GRPCInferenceService/RepositoryModelLoad", request: load.serializedBytes())
            #expect(refused.status.code == .invalidArgument)
            #expect(refused.status.message.contains("version 1: ") && refused.status.message.contains("no key with id"))
            load.modelName = "sealed"
            #expect(client.unary(path: "/inference.GRPCInferenceService/RepositoryModelLoad", request: load.serializedBytes()).status.isOK)
            #expect(Self.predictStatus(client, "sealed").isOK)
        }
    }
}
