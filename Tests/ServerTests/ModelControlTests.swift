import Logging
import Batching
import Dispatch
import Foundation
import Inference
import ProtoWire
import RPCCore
import ServiceSupport
import Locks
import Synchronization
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// Explicit model control (`--model-control explicit`, `--load-model`): RepositoryModelLoad / RepositoryModelUnload
/// over loopback against a repository made of copies of the built-in digits model, the refusals without the flag,
/// load errors, and an unload that drains queued work (through `KServeService` with a gated batcher).
@Suite(.serialized, .tags(.live))
struct ModelControlLiveTests {
    static let prefix = "/inference.GRPCInferenceService/"

    /// A repository in a fresh temporary directory: `alpha` and `beta` (digits, version 1), `broken` (a model.onnx
    /// that is not ONNX) and `badconfig` (a config.json with an unknown key). Removed by `remove()`.
    struct Repository {
        let root: URL

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("mc-repo-\(UUID().uuidString)")
            for name in ["alpha", "beta", "badconfig"] {
                let directory = root.appendingPathComponent("\(name)/1")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                try Data(BuiltinModels.digitsONNX).write(to: directory.appendingPathComponent("model.onnx"))
            }
            try Data(#"{"max_batch_sise": 4}"#.utf8).write(to: root.appendingPathComponent("badconfig/config.json"))
            let broken = root.appendingPathComponent("broken/1")
            try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
            try Data([0x0A, 0xFF, 0x01, 0x02]).write(to: broken.appendingPathComponent("model.onnx"))
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    static func withServer(_ arguments: [String], _ body: (TensorwireServer, ClientConnection) throws -> Void) throws {
        guard case .run(var options) = try ServerOptions.parse(arguments) else {
            Issue.record("\(arguments) did not parse as a run")
            return
        }
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        try body(server, client)
    }

    static func status(_ client: ClientConnection, _ method: String, _ request: some ProtoMessage) -> Status {
        client.unary(path: prefix + method, request: request.serializedBytes()).status
    }

    static func call<Response: ProtoMessage>(
        _ client: ClientConnection, _ method: String, _ request: some ProtoMessage, as: Response.Type
    ) throws -> Response {
        let response = client.unary(path: prefix + method, request: request.serializedBytes())
        #expect(response.status.isOK, "\(method): \(response.status)")
        return try Response(serializedBytes: try #require(response.message))
    }

    static func infer(_ client: ClientConnection, _ model: String) -> Status {
        var request = KServeLiveTests.digitsRequest(id: "r")
        request.modelName = model
        return status(client, "ModelInfer", request)
    }

    static func index(_ client: ClientConnection) throws -> [String] {
        try call(client, "RepositoryIndex", KServe.RepositoryIndexRequest(), as: KServe.RepositoryIndexResponse.self)
            .models.map { "\($0.name)|\($0.version)|\($0.state)|\($0.reason)" }
    }

    static func ready(_ client: ClientConnection, _ model: String) throws -> Bool {
        try call(client, "ModelReady", KServe.ModelRequest(name: model), as: KServe.ModelReadyResponse.self).ready
    }

    @Test func optionsParseModelControlAndLoadModel() throws {
        #expect(try ServerOptions.parse(["--model-control", "explicit", "--load-model", "a", "--load-model=b"])
            == .run({ var options = ServerOptions(); options.modelControl = .explicit; options.loadModels = ["a", "b"]; return options }()))
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--load-model", "a"]) }
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--model-control", "poll"]) }
        #expect(ServerOptions.usage.contains("--model-control MODE"))
    }

    @Test func modelControlIsRefusedWithoutTheFlag() throws {
        let repository = try Repository()
        defer { repository.remove() }
        try Self.withServer(["--models", repository.root.path]) { (_: TensorwireServer, client: ClientConnection) throws in
            for method in ["RepositoryModelLoad", "RepositoryModelUnload"] {
                let status = Self.status(client, method, KServe.RepositoryModelRequest(modelName: "alpha"))
                #expect(status.code == .unavailable)
                #expect(status.message.contains("--model-control explicit"), "\(status.message)")
            }
            // Mode none: everything in the repository was loaded at start-up and still serves.
            #expect(Self.infer(client, "alpha").isOK)
        }
    }

    @Test func explicitModeStartsEmptyThenLoadsInfersAndUnloads() throws {
        let repository = try Repository()
        defer { repository.remove() }
        try Self.withServer(["--models", repository.root.path, "--model-control", "explicit"]) { (server: TensorwireServer, client: ClientConnection) throws in
            // Nothing is loaded: repository models are listed by name only, and are unknown to inference.
            #expect(try Self.index(client) == ["alpha|||", "badconfig|||", "beta|||", "broken|||"])
            #expect(Self.infer(client, "alpha").code == .notFound)
            #expect(try !Self.ready(client, "alpha"))
            #expect(try Self.call(client, "ServerReady", KServe.ServerReadyRequest(), as: KServe.ServerReadyResponse.self).ready)

            #expect(Self.status(client, "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: "alpha")).isOK)
            #expect(try Self.ready(client, "alpha"))
            #expect(Self.infer(client, "alpha").isOK)
            #expect(try Self.index(client).prefix(1) == ["alpha|1|READY|"])
            #expect(server.catalog.loadedModelNames == ["alpha"])
            #expect((try? server.health.check("").get()) == .serving)

            #expect(Self.status(client, "RepositoryModelUnload", KServe.RepositoryModelRequest(modelName: "alpha")).isOK)
            #expect(try !Self.ready(client, "alpha"))
            let refused = Self.infer(client, "alpha")
            #expect(refused.code == .unavailable)
            #expect(refused.message.contains("not loaded"), "\(refused.message)")
            #expect(try Self.index(client).prefix(1) == ["alpha||UNAVAILABLE|unloaded"])
            #expect(Self.status(client, "ModelMetadata", KServe.ModelRequest(name: "alpha")).code == .unavailable)
            // The native service agrees: GetModel says UNLOADED.
            let info = client.unary(
                path: "/tensorwire.v1.Inference/GetModel",
                request: { var request = TensorwireV1.GetModelRequest(); request.model = "alpha"; return request }().serializedBytes())
            #expect(try TensorwireV1.ModelInfo(serializedBytes: try #require(info.message)).state == .unloaded)
            // Unloading again is a no-op; an unknown model is NOT_FOUND.
            #expect(Self.status(client, "RepositoryModelUnload", KServe.RepositoryModelRequest(modelName: "alpha")).isOK)
            #expect(Self.status(client, "RepositoryModelUnload", KServe.RepositoryModelRequest(modelName: "nope")).code == .notFound)

            // Load again (and reload while loaded): it serves.
            #expect(Self.status(client, "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: "alpha")).isOK)
            #expect(Self.status(client, "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: "alpha")).isOK)
            #expect(Self.infer(client, "alpha").isOK)
        }
    }

    @Test func loadModelFlagLoadsOnlyTheNamedModelsAtStartup() throws {
        let repository = try Repository()
        defer { repository.remove() }
        try Self.withServer(["--models", repository.root.path, "--model-control", "explicit", "--load-model", "beta"]) { (server: TensorwireServer, client: ClientConnection) throws in
            #expect(server.catalog.loadedModelNames == ["beta"])
            #expect(Self.infer(client, "beta").isOK)
            #expect(Self.infer(client, "alpha").code == .notFound)
        }
        // An unknown --load-model name stops the start.
        guard case .run(var options) = try ServerOptions.parse(
            ["--models", repository.root.path, "--model-control", "explicit", "--load-model", "gamma"]) else { return }
        options.port = 0
        #expect(throws: RPCError.self) { _ = try TensorwireServer(options: options, logSink: .discarding) }
    }

    @Test func aBadModelsLoadErrorNamesTheFileAndLeavesItUnloaded() throws {
        let repository = try Repository()
        defer { repository.remove() }
        try Self.withServer(["--models", repository.root.path, "--model-control", "explicit", "--load-model", "beta"]) { (server: TensorwireServer, client: ClientConnection) throws in
            let broken = Self.status(client, "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: "broken"))
            #expect(broken.code == .invalidArgument)
            #expect(broken.message.contains("load failed for model 'broken'"), "\(broken.message)")
            #expect(broken.message.contains("broken/1/model.onnx"), "\(broken.message)")
            #expect(try !Self.ready(client, "broken"))
            #expect(Self.infer(client, "broken").code == .unavailable)
            let row = try #require(try Self.index(client).first { $0.hasPrefix("broken|") })
            #expect(row.hasPrefix("broken||UNAVAILABLE|load failed: version 1: "), "\(row)")

            let badConfig = Self.status(client, "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: "badconfig"))
            #expect(badConfig.code == .invalidArgument)
            #expect(badConfig.message.contains("config.json") && badConfig.message.contains("max_batch_sise"), "\(badConfig.message)")

            let unknown = Self.status(client, "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: "gamma"))
            #expect(unknown.code == .notFound)
            #expect(unknown.message.contains("alpha, badconfig, beta, broken"), "\(unknown.message)")
            for name in ["../beta", "", ".hidden", "a/b"] {
                #expect(Self.status(client, "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: name)).code == .invalidArgument)
            }
            var withParameters = KServe.RepositoryModelRequest(modelName: "alpha")
            withParameters.parameters = [.init()]
            withParameters.parameters[0].key = "config"
            #expect(Self.status(client, "RepositoryModelLoad", withParameters).code == .invalidArgument)
            // Failed loads do not touch what serves, nor the server's health.
            #expect(Self.infer(client, "beta").isOK)
            #expect((try? server.health.check("").get()) == .serving)
        }
    }

    @Test func unloadDrainsQueuedRequestsAndRefusesNewOnes() throws {
        let repository = try Repository()
        defer { repository.remove() }
        let gate = ComputeGate()
        let catalog = ModelCatalog(
            repository: ModelRepository(directory: repository.root.path, entries: []), hooks: gate.hooks,
            modelControl: .explicit, source: .init(directory: repository.root.path))
        defer {
            gate.open()
            catalog.shutdown(drain: false)
        }
        try catalog.load(model: "alpha")
        let service = KServeService(catalog: catalog)
        let results = Lock<[String: Result<KServe.ModelInferResponse, RPCError>]>([:])
        // What finished, in order: the requests' completions and the unload.
        let finished = Lock<[String]>([])
        let done = DispatchSemaphore(value: 0)
        func submit(_ id: String) {
            var request = KServeLiveTests.digitsRequest(id: id)
            request.modelName = "alpha"
            service.infer(request, deadline: nil, cancellation: CancellationToken()) { result in
                results.withLock { $0[id] = result.map(\.0) }
                finished.withLock { $0.append(id) }
                done.signal()
            }
        }
        // The first request holds the instance at the gate; three more wait in the queue.
        for id in ["a", "b", "c", "d"] { submit(id) }
        #expect(waitUntil { gate.traces.withLock { $0.count } == 1 })
        let unloaded = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? catalog.unload(model: "alpha")
            finished.withLock { $0.append("unloaded") }
            unloaded.signal()
        }
        // The model leaves the table at once: a new request is refused while the old ones are still queued.
        #expect(waitUntil {
            do throws(RPCError) {
                _ = try catalog.resolve(model: "alpha", version: "")
                return false
            } catch {
                return error.code == .unavailable
            }
        })
        #expect(finished.withLock { $0 }.isEmpty, "unload returned before its queue drained")
        gate.open()
        #expect(unloaded.wait(timeout: .now() + 10) == .success)
        for _ in 0..<4 { #expect(done.wait(timeout: .now() + 10) == .success) }
        // The unload returned only after every queued request was answered (the gate held them until now).
        #expect(finished.withLock { $0 }.last == "unloaded", "\(finished.withLock { $0 })")
        let outcome = results.withLock { $0 }
        for id in ["a", "b", "c", "d"] {
            guard case .success(let response)? = outcome[id] else {
                Issue.record("request \(id): \(String(describing: outcome[id]))")
                continue
            }
            #expect(response.id == id)
        }
        submit("late")
        #expect(done.wait(timeout: .now() + 10) == .success)
        guard case .failure(let late)? = results.withLock({ $0["late"] }) else {
            Issue.record("a request after the unload was not refused")
            return
        }
        #expect(late.code == .unavailable)
    }

    @Test func reloadWhileServingLosesNoRequest() throws {
        let repository = try Repository()
        defer { repository.remove() }
        let gate = ComputeGate()
        let catalog = ModelCatalog(
            repository: ModelRepository(directory: repository.root.path, entries: []), hooks: gate.hooks,
            modelControl: .explicit, source: .init(directory: repository.root.path))
        defer {
            gate.open()
            catalog.shutdown(drain: false)
        }
        try catalog.load(model: "alpha")
        let service = KServeService(catalog: catalog)
        let failures = Atomic<Int>(0)
        let finished = Lock<[String]>([])
        let done = DispatchSemaphore(value: 0)
        for id in 0..<3 {
            var request = KServeLiveTests.digitsRequest(id: "\(id)")
            request.modelName = "alpha"
            service.infer(request, deadline: nil, cancellation: CancellationToken()) { result in
                if case .failure = result { failures.add(1, ordering: .relaxed) }
                finished.withLock { $0.append("request") }
                done.signal()
            }
        }
        // The old version's batcher holds the requests: its first batch waits at the gate.
        let old = try catalog.resolve(model: "alpha", version: "").1
        #expect(waitUntil { gate.traces.withLock { $0.count } == 1 })
        let reloaded = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? catalog.load(model: "alpha")
            finished.withLock { $0.append("reloaded") }
            reloaded.signal()
        }
        // The reload overlaps the held work: the new version is installed while the load still waits for the old
        // one to drain (it cannot, the gate is closed).
        #expect(waitUntil { (try? catalog.resolve(model: "alpha", version: "").1).map { $0 !== old } == true })
        #expect(finished.withLock { $0 }.isEmpty, "the reload finished before the old version drained")
        gate.open()
        #expect(reloaded.wait(timeout: .now() + 10) == .success)
        for _ in 0..<3 { #expect(done.wait(timeout: .now() + 10) == .success) }
        // The reload returned only after the old version had answered all three.
        #expect(finished.withLock { $0 } == ["request", "request", "request", "reloaded"])
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect((try? catalog.resolve(model: "alpha", version: "")) != nil)
    }
}
