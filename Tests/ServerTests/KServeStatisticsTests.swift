import Batching
import Dispatch
import Foundation
import Inference
import ProtoWire
import RPCCore
import Locks
import Synchronization
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// ModelStatistics: the counters match the requests made through both services (KServe ModelInfer and native
/// Predict), failures count as failures, batches of several requests are recorded per batch size, and the message
/// carries every field perf_analyzer reads.
@Suite(.serialized, .tags(.live))
struct KServeStatisticsLiveTests {
    static func statistics(_ client: ClientConnection, _ request: KServe.ModelStatisticsRequest) throws -> KServe.ModelStatisticsResponse {
        try KServeLiveTests.call(client, "ModelStatistics", request, as: KServe.ModelStatisticsResponse.self)
    }

    static func predict(_ client: ClientConnection, rows: Int) -> Status {
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        var tensor = TensorwireV1.Tensor()
        tensor.name = "X"
        tensor.dtype = .float32
        tensor.shape = [Int64(rows), 64]
        tensor.floatData = (0..<(rows * 64)).map { Float($0 % 16) }
        request.inputs = [tensor]
        return client.unary(path: "/tensorwire.v1.Inference/Predict", request: request.serializedBytes()).status
    }

    @Test func countsMatchTheRequestsOfBothServices() throws {
        try KServeLiveTests.withServer { client in
            let before = try Self.statistics(client, .init(name: "digits"))
            #expect(before.modelStats.map { "\($0.name) \($0.version)" } == ["digits 1"])
            #expect(before.modelStats.first?.inferenceStats == KServe.InferStatistics())
            #expect(before.modelStats.first?.lastInference == 0)

            let started = UInt64(Date().timeIntervalSince1970 * 1000)
            // 3 ModelInfer (1, 1 and 2 rows) and 2 Predict (1 and 3 rows), one after the other: 5 batches.
            for rows in [1, 1, 2] {
                let response = client.unary(
                    path: KServeLiveTests.prefix + "ModelInfer",
                    request: KServeLiveTests.digitsRequest(id: "s", rows: rows).serializedBytes())
                #expect(response.status.isOK)
            }
            #expect(Self.predict(client, rows: 1).isOK)
            #expect(Self.predict(client, rows: 3).isOK)
            // Two failures that reached the model: a wrong shape (KServe) and a wrong width (Predict).
            var wrong = KServeLiveTests.digitsRequest(id: "w")
            wrong.inputs[0].shape = [1, 63]
            #expect(client.unary(path: KServeLiveTests.prefix + "ModelInfer", request: wrong.serializedBytes()).status.code == .invalidArgument)
            var bad = TensorwireV1.PredictRequest()
            bad.model = "digits"
            #expect(client.unary(path: "/tensorwire.v1.Inference/Predict", request: bad.serializedBytes()).status.code == .invalidArgument)
            // An unknown model counts nowhere.
            var unknown = KServeLiveTests.digitsRequest(id: "u")
            unknown.modelName = "nope"
            #expect(client.unary(path: KServeLiveTests.prefix + "ModelInfer", request: unknown.serializedBytes()).status.code == .notFound)

            let response = try Self.statistics(client, .init(name: "digits", version: "1"))
            let stats = try #require(response.modelStats.first)
            #expect(response.modelStats.count == 1)
            #expect(stats.name == "digits" && stats.version == "1")
            #expect(stats.inferenceCount == 8)
            #expect(stats.executionCount == 5)
            let inference = stats.inferenceStats
            #expect(inference.success.count == 5)
            #expect(inference.fail.count == 2)
            #expect(inference.queue.count == 5)
            #expect(inference.computeInput.count == 5)
            #expect(inference.computeInfer.count == 5)
            #expect(inference.computeOutput.count == 5)
            #expect(inference.success.ns > 0 && inference.computeInfer.ns > 0)
            #expect(inference.success.ns >= inference.computeInfer.ns)
            #expect(inference.cacheHit.count == 0 && inference.cacheMiss.count == 0)
            #expect(stats.batchStats.map(\.batchSize) == [1, 2, 3])
            #expect(stats.batchStats.map(\.computeInfer.count) == [3, 1, 1])
            #expect(stats.batchStats.reduce(0) { $0 + $1.computeInfer.count } == stats.executionCount)
            #expect(stats.lastInference >= started && stats.lastInference <= UInt64(Date().timeIntervalSince1970 * 1000))

            // An empty name lists every loaded model; an empty version every ready version.
            #expect(try Self.statistics(client, .init()).modelStats.map(\.name) == ["digits"])
            #expect(try Self.statistics(client, .init(name: "digits")).modelStats.first == stats)
        }
    }

    @Test func aBatchOfSeveralRequestsCountsEachRequestOnceAndTheBatchOnce() throws {
        let gate = ComputeGate()
        let catalog = ModelCatalog(repository: ModelRepository.builtin(), hooks: gate.hooks)
        defer {
            gate.open()
            catalog.shutdown(drain: false)
        }
        let service = KServeService(catalog: catalog)
        let done = DispatchSemaphore(value: 0)
        let failures = Atomic<Int>(0)
        func submit(_ id: String) {
            service.infer(KServeLiveTests.digitsRequest(id: id), deadline: nil, cancellation: CancellationToken()) { result in
                if case .failure = result { failures.add(1, ordering: .relaxed) }
                done.signal()
            }
        }
        // The first request holds the only instance at the gate; the next three queue and run as one batch of 3.
        submit("first")
        #expect(waitUntil { !gate.traces.withLock { $0.isEmpty } })
        for id in ["a", "b", "c"] { submit(id) }
        gate.open()
        for _ in 0..<4 { #expect(done.wait(timeout: .now() + 10) == .success) }
        #expect(failures.load(ordering: .relaxed) == 0)

        let stats = try #require(try service.modelStatistics(.init(name: "digits")).modelStats.first)
        #expect(stats.executionCount == 2)
        #expect(stats.inferenceCount == 4)
        #expect(stats.inferenceStats.success.count == 4)
        #expect(stats.inferenceStats.queue.count == 4)
        #expect(stats.inferenceStats.computeInfer.count == 4)
        #expect(stats.batchStats.map { "\($0.batchSize):\($0.computeInfer.count)" } == ["1:1", "3:1"])
        // Each request of the batch of 3 is charged the batch's model time: the per-request total is at least
        // three times that batch's.
        let three = try #require(stats.batchStats.last)
        #expect(stats.inferenceStats.computeInfer.ns >= 3 * three.computeInfer.ns)
        #expect(three.computeInput.count == 1 && three.computeOutput.count == 1)
    }

    @Test func theStatisticsMessagesRoundTripAndAlwaysCarryEveryDuration() throws {
        var stats = KServe.ModelStatistics()
        stats.name = "m"
        stats.version = "2"
        stats.inferenceCount = 7
        stats.inferenceStats.queue = .init(count: 3, ns: 99)
        var batch = KServe.InferBatchStatistics()
        batch.batchSize = 4
        batch.computeInfer = .init(count: 1, ns: 5)
        stats.batchStats = [batch]
        var response = KServe.ModelStatisticsResponse()
        response.modelStats = [stats]
        let bytes = response.serializedBytes()
        #expect(try KServe.ModelStatisticsResponse(serializedBytes: bytes) == response)
        // inference_stats holds eight duration fields even when they are zero (tag 0x0A..0x42, length 0).
        let inner = KServe.InferStatistics().serializedBytes()
        #expect(inner == [0x0A, 0, 0x12, 0, 0x1A, 0, 0x22, 0, 0x2A, 0, 0x32, 0, 0x3A, 0, 0x42, 0])
    }
}
