import Foundation
import Inference
import ProtoWire
import RPCCore
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// Issue 25 end to end: with `--model-control explicit`, a client's RepositoryModelLoad of a hostile config.json or
/// model gets a load error naming the file and the limit, and the server keeps serving.
@Suite(.serialized, .tags(.live))
struct ModelResourceLimitEndToEndLiveTests {
    /// x[N, width] → Relu → y.
    static func wideRelu(width: Int64) -> [UInt8] {
        var model = ONNXModel()
        model.irVersion = 8
        model.opsetImports = [ONNXOperatorSetID(domain: "", version: 17)]
        var node = ONNXNode()
        node.opType = "Relu"
        node.name = "relu"
        node.inputs = ["x"]
        node.outputs = ["y"]
        model.graph.nodes = [node]
        for name in ["x", "y"] {
            var info = ONNXValueInfo()
            info.name = name
            info.elementType = 1
            info.dims = [ONNXDimension(param: "N"), ONNXDimension(value: width)]
            if name == "x" { model.graph.inputs.append(info) } else { model.graph.outputs.append(info) }
        }
        return model.serializedBytes()
    }

    /// `good` (digits), `hugebatch` (digits, max_batch_size 2^62), `manyinstances` (digits, 10^6 instances),
    /// `wide` (the 200-byte model whose one row of buffers is 2 GiB), `wide8k` (64 KiB of buffers per row).
    static func makeRepository() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rl-repo-\(UUID().uuidString)")
        func write(_ path: String, _ bytes: [UInt8]) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        for name in ["good", "hugebatch", "manyinstances"] { try write("\(name)/1/model.onnx", BuiltinModels.digitsONNX) }
        try write("hugebatch/config.json", Array(#"{"max_batch_size": 4611686018427387904}"#.utf8))
        try write("manyinstances/config.json", Array(#"{"instances": 1000000}"#.utf8))
        try write("wide/1/model.onnx", wideRelu(width: 1 << 28))
        try write("wide8k/1/model.onnx", wideRelu(width: 8192))
        return root
    }

    @Test func hostileModelsGetLoadErrorsAndTheServerKeepsServing() throws {
        let root = try Self.makeRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        try ModelControlLiveTests.withServer(["--models", root.path, "--model-control", "explicit",
                                          "--load-model", "good"]) { (_: TensorwireServer, client: ClientConnection) throws in
            #expect(ModelControlLiveTests.infer(client, "good").isOK)
            let expectations = [
                ("hugebatch", "hugebatch/config.json: 'max_batch_size' is 4611686018427387904, over the limit of 1048576"),
                ("manyinstances", "manyinstances/config.json: 'instances' is 1000000, over the limit of 256"),
                ("wide", "wide/1/model.onnx: one batch row of execution buffers needs 2147483648 bytes"),
            ]
            for (name, expected) in expectations {
                let status = ModelControlLiveTests.status(client, "RepositoryModelLoad",
                                                      KServe.RepositoryModelRequest(modelName: name))
                #expect(status.code == .invalidArgument, "\(name): \(status)")
                #expect(status.message.contains(expected), "\(name): \(status.message)")
                // Still alive and serving after each refusal.
                #expect(ModelControlLiveTests.infer(client, "good").isOK)
                #expect(try !ModelControlLiveTests.ready(client, name))
            }
        }
    }

    @Test func maxModelBytesFlagReachesTheLoader() throws {
        #expect(try ServerOptions.parse(["--max-model-bytes", "1048576"])
            == .run({ var options = ServerOptions(); options.maxModelBytes = 1 << 20; return options }()))
        #expect(ServerOptions().maxModelBytes == Model.defaultMaxModelBytes)
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--max-model-bytes", "0"]) }
        #expect(ServerOptions.usage.contains("--max-model-bytes N"))
        // With a 64 KiB budget, `wide8k` (64 KiB of buffers per row) does not fit: the load error names the budget
        // and the flag, and the server still answers.
        let root = try Self.makeRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        try ModelControlLiveTests.withServer(["--models", root.path, "--model-control", "explicit",
                                          "--max-model-bytes", "65536"]) { (server: TensorwireServer, client: ClientConnection) throws in
            #expect(server.catalog.source.maxModelBytes == 65536)
            let status = ModelControlLiveTests.status(client, "RepositoryModelLoad",
                                                  KServe.RepositoryModelRequest(modelName: "wide8k"))
            #expect(status.code == .invalidArgument, "\(status)")
            #expect(status.message.contains("budget of 65536 bytes (--max-model-bytes)")
                || status.message.contains("budget of 65536 bytes; raise it with --max-model-bytes"), "\(status.message)")
            #expect(try ModelControlLiveTests.call(client, "ServerLive", KServe.ServerLiveRequest(),
                                               as: KServe.ServerLiveResponse.self).live)
        }
    }
}
