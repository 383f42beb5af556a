import Logging
import Batching
import Foundation
import Inference
import ProtoWire
import RPCCore
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// The batching flags: parsing, and their effect on the models served (GetModel shows them; config.json wins).
@Suite(.serialized, .tags(.live))
struct BatchingOptionsLiveTests {
    static func options(_ arguments: [String]) throws -> ServerOptions {
        guard case .run(let options) = try ServerOptions.parse(arguments) else {
            Issue.record("\(arguments) asked for help")
            return ServerOptions()
        }
        return options
    }

    static func getModel(_ client: ClientConnection, _ name: String) throws -> TensorwireV1.ModelInfo {
        var request = TensorwireV1.GetModelRequest()
        request.model = name
        let response = client.unary(path: "/tensorwire.v1.Inference/GetModel", request: request.serializedBytes())
        #expect(response.status.isOK, "\(response.status)")
        return try TensorwireV1.ModelInfo(serializedBytes: try #require(response.message))
    }

    @Test func batchingFlagsParse() throws {
        let options = try Self.options([
            "--max-batch-size", "16", "--max-queue-delay-us=250", "--preferred-batch-sizes", "8,4,8",
            "--max-queue-size", "9", "--default-timeout-us", "1000000", "--instances", "2", "--blas-threads", "1",
        ])
        var expected = ModelConfig()
        expected.maxBatchSize = 16
        expected.maxQueueDelayMicroseconds = 250
        expected.preferredBatchSizes = [4, 8]
        expected.maxQueueSize = 9
        expected.defaultTimeoutMicroseconds = 1_000_000
        expected.instances = 2
        #expect(options.modelDefaults == expected)
        #expect(options.blasThreads == 1)
        #expect(try Self.options([]).modelDefaults == ModelConfig())
        #expect(try Self.options([]).blasThreads == nil)
        #expect(ServerOptions.usage.contains("--preferred-batch-sizes"))
    }

    /// `--inline-batches`: parsed, and `auto` resolved by the composition root from the CPUs the process may use.
    @Test func inlineBatchesParsesAndAutoFollowsTheAllowedCPUs() throws {
        #expect(try Self.options([]).inlineBatches == .auto)
        for (mode, cpus, expected) in [
            ("auto", 1, true), ("auto", 2, false), ("auto", 0, false), ("on", 8, true), ("off", 1, false),
        ] as [(String, Int, Bool)] {
            var options = try Self.options(["--inline-batches", mode])
            #expect(options.inlineBatches.rawValue == mode)
            options.resolveInlineBatches(cpusAllowed: cpus)
            #expect(options.modelDefaults.inlineQueuedBatches == expected, "\(mode) with \(cpus) CPUs")
            #expect(options.effectiveSummary.contains("inline-batches=\(mode)"))
        }
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--inline-batches", "always"]) }
        #expect(ServerOptions.usage.contains("--inline-batches MODE"))
    }

    @Test func badBatchingFlagsAreUsageErrors() {
        let cases: [([String], String)] = [
            (["--max-batch-size", "0"], "--max-batch-size"),
            (["--max-batch-size", "many"], "--max-batch-size"),
            (["--max-queue-delay-us", "-1"], "--max-queue-delay-us"),
            (["--preferred-batch-sizes", "8,x"], "--preferred-batch-sizes"),
            (["--preferred-batch-sizes", "8,,16"], "--preferred-batch-sizes"),
            (["--preferred-batch-sizes", "0"], "--preferred-batch-sizes"),
            (["--preferred-batch-sizes", "128"], "exceeds the max batch size 64"),
            (["--max-batch-size", "4", "--preferred-batch-sizes", "8"], "exceeds the max batch size 4"),
            (["--instances", "0"], "--instances"),
            (["--max-queue-size", "0"], "--max-queue-size"),
            (["--blas-threads"], "--blas-threads needs a value"),
        ]
        for (arguments, expected) in cases {
            do {
                _ = try ServerOptions.parse(arguments)
                Issue.record("\(arguments) parsed")
            } catch {
                #expect(error.description.contains(expected), "\(arguments): \(error.description)")
            }
        }
    }

    @Test func getModelShowsTheFlagsOnTheBuiltinModel() throws {
        var options = try Self.options([
            "--max-batch-size", "16", "--max-queue-delay-us", "250", "--preferred-batch-sizes", "4,8",
            "--max-queue-size", "9", "--default-timeout-us", "1000000", "--instances", "2",
        ])
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let batching = try #require(try Self.getModel(client, "digits").batching)
        #expect(batching.maxBatchSize == 16)
        #expect(batching.maxQueueDelayUs == 250)
        #expect(batching.preferredBatchSizes == [4, 8])
        #expect(batching.maxQueueSize == 9)
        #expect(batching.defaultTimeoutUs == 1_000_000)
        #expect(batching.instances == 2)
        #expect(try server.catalog.resolve(model: "digits", version: "").1.instances == 2)
    }

    @Test func configJSONWinsOverTheFlagsInARepository() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tw-flags-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for name in ["plain", "tuned"] {
            let directory = root.appendingPathComponent("\(name)/1")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(BuiltinModels.digitsONNX).write(to: directory.appendingPathComponent("model.onnx"))
        }
        try Data(#"{"max_batch_size": 4, "max_queue_size": 3}"#.utf8)
            .write(to: root.appendingPathComponent("tuned/config.json"))
        var options = try Self.options([
            "--models", root.path, "--max-batch-size", "1", "--max-queue-size", "50", "--default-timeout-us", "7",
        ])
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let plain = try #require(try Self.getModel(client, "plain").batching)
        let tuned = try #require(try Self.getModel(client, "tuned").batching)
        #expect(plain.maxBatchSize == 1)
        #expect(plain.maxQueueSize == 50)
        #expect(tuned.maxBatchSize == 4)
        #expect(tuned.maxQueueSize == 3)
        #expect(plain.defaultTimeoutUs == 7)
        #expect(tuned.defaultTimeoutUs == 7)
    }
}
