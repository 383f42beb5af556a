import Logging
import Batching
import Clocks
import Dispatch
import HTTP2
import Inference
import ProtoWire
import RPCCore
import Locks
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// Batching seen from a client over loopback (our Transport client against our server). An instance is held busy
/// at a `ComputeGate` where a test needs requests to pile up, so nothing depends on timing.
@Suite(.serialized, .tags(.live))
struct BatchingEndToEndLiveTests {
    /// Starts a unary Predict without waiting; the response arrives in the returned promise.
    static func startUnary(_ client: ClientConnection, _ request: TensorwireV1.PredictRequest, timeout: Duration? = nil)
        -> Promise<UnaryResponse>
    {
        let box = Promise<UnaryResponse>()
        client.unary(path: Digits.predict, request: request.serializedBytes(), timeout: timeout) { box.fulfill($0) }
        return box
    }

    static func decode(_ response: UnaryResponse) throws -> TensorwireV1.PredictResponse {
        try TensorwireV1.PredictResponse(serializedBytes: try #require(response.message))
    }

    /// Each request alone (nothing else in flight), as the reference.
    static func singleResults(_ client: ClientConnection, _ requests: [TensorwireV1.PredictRequest]) throws
        -> [TensorwireV1.PredictResponse]
    {
        try requests.map { request in
            let response = client.unary(path: Digits.predict, request: request.serializedBytes(), timeout: .seconds(30))
            #expect(response.status.isOK, "\(response.status)")
            return try decode(response)
        }
    }

    @Test func concurrentUnaryCallersAreBatchedAndGetTheirOwnRows() throws {
        try HookedServer.with { server in
            let first = Self.startUnary(server.client, Digits.request(id: "hold", rows: 1, seed: 999))
            #expect(waitUntil { server.gate.traces.withLock { $0.count } == 1 })
            // 40 callers on 4 connections while the instance is held: they queue, then run as few large batches.
            let clients = try (0..<4).map { _ in try ClientConnection(host: "127.0.0.1", port: server.transport.port) }
            defer { for client in clients { client.close() } }
            let requests = (0..<40).map { Digits.request(id: "c\($0)", rows: 1 + $0 % 3, seed: UInt64($0)) }
            let boxes = requests.enumerated().map { Self.startUnary(clients[$0.offset % 4], $0.element) }
            let batcher = try server.batcher
            #expect(waitUntil { batcher.queuedRequests == 40 })
            server.gate.open()
            #expect(first.wait()?.status.isOK == true)
            let responses = try boxes.map { box in try Self.decode(try #require(box.wait())) }
            let batchSizes = boxes.compactMap { $0.wait()?.trailers.strings(forKey: "tw-batch-size").first.flatMap { Int($0) } }
            #expect(batchSizes.count == 40)
            #expect(batchSizes.allSatisfy { $0 > 1 })
            #expect(responses.allSatisfy { ($0.batch?.batchSize ?? 0) > 1 && ($0.batch?.batchRequests ?? 0) > 1 })
            // 80 rows at most 64 per batch: two batches after the held one.
            #expect(server.gate.traces.withLock { $0.count } <= 4)
            let single = try Self.singleResults(server.client, requests)
            for (index, response) in responses.enumerated() {
                #expect(response.id == requests[index].id)
                #expect(Digits.labels(response).count == 1 + index % 3)
                #expect(Digits.sameRows(response, single[index]), "request \(index)")
            }
        }
    }

    @Test func aLoneRequestOnAnIdleCheapModelIsComputedOnTheLoopThreadAsABatchOfOne() throws {
        try HookedServer.with(gated: false, computesInline: true) { server in
            // The instance has warmed up and sleeps (it reports its warm-up just before it first goes to sleep).
            let batcher = try server.batcher
            #expect(waitUntil { batcher.sleepingInstances == 1 })
            let request = Digits.request(id: "inline", rows: 2, seed: 42)
            let answer = server.client.unary(path: Digits.predict, request: request.serializedBytes(), timeout: .seconds(30))
            #expect(answer.status.isOK, "\(answer.status)")
            let response = try Self.decode(answer)
            #expect(server.gate.onLoopThread.withLock { $0 } == [true], "computed on the loop thread that read it")
            #expect(response.batch?.batchSize == 2 && response.batch?.batchRequests == 1)
            #expect(answer.trailers.strings(forKey: "tw-batch-size") == ["2"])
            // The engine's own answer for the same rows.
            let reference = try BuiltinModels.digits().makeContext().run([Tensor(
                shape: [2, 64], floats: request.inputs[0].floatData)])
            #expect(Digits.labels(response) == reference[0].int64s)
            let probabilities = try #require(reference[1].floats)
            #expect(zip(Digits.probabilities(response), probabilities).allSatisfy { abs($0 - $1) <= 1e-5 })
            let stats = batcher.statistics.snapshot()
            #expect(stats.executionCount == 1 && stats.queue.count == 1 && stats.success.count == 1)
        }
    }

    @Test func manyConcurrentCallersOnTheLiveServerGetSingleRequestResults() throws {
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let clients = try (0..<8).map { _ in try ClientConnection(host: "127.0.0.1", port: server.port) }
        defer { for client in clients { client.close() } }
        let requests = (0..<400).map { Digits.request(id: "l\($0)", rows: 1 + $0 % 4, seed: UInt64(1000 + $0)) }
        let responses = Lock<[Int: TensorwireV1.PredictResponse]>([:])
        DispatchQueue.concurrentPerform(iterations: 32) { caller in
            for index in stride(from: caller, to: requests.count, by: 32) {
                let answer = clients[caller % 8].unary(path: Digits.predict, request: requests[index].serializedBytes(),
                                                       timeout: .seconds(60))
                if let message = answer.message, let decoded = try? TensorwireV1.PredictResponse(serializedBytes: message) {
                    responses.withLock { $0[index] = decoded }
                }
            }
        }
        let single = try Self.singleResults(clients[0], requests)
        let collected = responses.withLock { $0 }
        #expect(collected.count == requests.count)
        for index in requests.indices {
            let response = try #require(collected[index])
            #expect(response.id == requests[index].id)
            #expect(Digits.sameRows(response, single[index]), "request \(index)")
        }
    }

    @Test func grpcTimeoutShorterThanAHeldBatchIsDeadlineExceededAndNeverComputed() throws {
        try HookedServer.with { server in
            let first = Self.startUnary(server.client, Digits.request(id: "hold", rows: 1, seed: 1))
            #expect(waitUntil { server.gate.traces.withLock { $0.count } == 1 })
            let late = Self.startUnary(server.client, Digits.request(id: "late", rows: 5, seed: 2), timeout: .milliseconds(100))
            let answer = try #require(late.wait())
            #expect(answer.status.code == .deadlineExceeded)
            server.gate.open()
            #expect(first.wait()?.status.isOK == true)
            let after = server.client.unary(path: Digits.predict, request: Digits.request(id: "after", rows: 2, seed: 3).serializedBytes())
            #expect(after.status.isOK)
            // The 5-row request never reached the engine: only the held row and the 2 after it did.
            #expect(server.gate.computedRows == 3)
        }
    }

    @Test func defaultTimeoutExpiresQueuedRequestsBeforeCompute() throws {
        var config = ModelConfig()
        config.defaultTimeoutMicroseconds = 50_000
        let clock = ManualClock()
        try HookedServer.with(config: config, clock: clock) { server in
            let first = Self.startUnary(server.client, Digits.request(id: "hold", rows: 1, seed: 1))
            #expect(waitUntil { server.gate.traces.withLock { $0.count } == 1 })
            let late = Self.startUnary(server.client, Digits.request(id: "late", rows: 5, seed: 2))
            let batcher = try server.batcher
            #expect(waitUntil { batcher.queuedRequests == 1 })
            clock.advance(byMicroseconds: 100_000)  // past the 50 ms default timeout, without waiting for it
            server.gate.open()
            let answer = try #require(late.wait())
            #expect(answer.status.code == .deadlineExceeded)
            #expect(answer.status.message.contains("digits"))
            // The held request had waited for nothing, so it computed; the queued one expired before compute.
            #expect(first.wait()?.status.code == .ok)
            #expect(server.gate.computedRows == 1)
        }
    }

    @Test func cancelledCallsAreNeverComputed() throws {
        try HookedServer.with { server in
            let first = Self.startUnary(server.client, Digits.request(id: "hold", rows: 1, seed: 1))
            #expect(waitUntil { server.gate.traces.withLock { $0.count } == 1 })
            let finished = Promise<Status>()
            let call = server.client.makeCall(
                path: Digits.predict, kind: .unary,
                handlers: ClientCallHandlers(onFinish: { status, _ in finished.fulfill(status) }))
            call.send(Digits.request(id: "gone", rows: 7, seed: 2).serializedBytes())
            call.closeSend()
            let batcher = try server.batcher
            #expect(waitUntil { batcher.queuedRequests == 1 })
            call.cancel()
            #expect(finished.wait()?.code == .cancelled)
            // A later call on the same connection: by the time it is answered the server has seen the reset.
            var get = TensorwireV1.GetModelRequest()
            get.model = "digits"
            #expect(server.client.unary(path: "/tensorwire.v1.Inference/GetModel", request: get.serializedBytes()).status.isOK)
            server.gate.open()
            #expect(first.wait()?.status.isOK == true)
            let after = server.client.unary(path: Digits.predict, request: Digits.request(id: "after", rows: 2, seed: 3).serializedBytes())
            #expect(after.status.isOK)
            #expect(server.gate.computedRows == 3)
        }
    }

    @Test func fullQueueIsResourceExhaustedNamingTheModelAndLimit() throws {
        var config = ModelConfig()
        config.maxQueueSize = 2
        try HookedServer.with(config: config) { server in
            let first = Self.startUnary(server.client, Digits.request(id: "hold", rows: 1, seed: 1))
            #expect(waitUntil { server.gate.traces.withLock { $0.count } == 1 })
            let queued = (0..<2).map { Self.startUnary(server.client, Digits.request(id: "q\($0)", rows: 1, seed: UInt64($0))) }
            let batcher = try server.batcher
            #expect(waitUntil { batcher.queuedRequests == 2 })
            let refused = server.client.unary(path: Digits.predict, request: Digits.request(id: "x", rows: 1, seed: 9).serializedBytes())
            #expect(refused.status.code == .resourceExhausted)
            #expect(refused.status.message.contains("digits"), "\(refused.status.message)")
            #expect(refused.status.message.contains("max_queue_size 2"), "\(refused.status.message)")
            #expect(refused.status.message.contains("--max-queue-size"), "the message names the flag that raises the limit")
            server.gate.open()
            #expect(first.wait()?.status.isOK == true)
            #expect(queued.allSatisfy { $0.wait()?.status.isOK == true })
        }
    }

    @Test func predictStreamStopsReadingAtTheInFlightLimitInsteadOfRefusing() throws {
        // A small stream window, so the paused stream also stops the client (the transport test checks the window).
        try HookedServer.with(configure: { $0.http2.initialWindowSize = 65_535 }) { server in
            let received = Lock<[TensorwireV1.PredictResponse]>([])
            let finished = Promise<Status>()
            let call = server.client.makeCall(
                path: Digits.stream, kind: .bidirectionalStreaming,
                handlers: ClientCallHandlers(
                    onMessage: { bytes in
                        if let response = try? TensorwireV1.PredictResponse(serializedBytes: bytes) {
                            received.withLock { $0.append(response) }
                        }
                    },
                    onFinish: { status, _ in finished.fulfill(status) }))
            let requests = (0..<1000).map { Digits.request(id: "s\($0)", rows: 1 + $0 % 2, seed: UInt64($0)) }
            for request in requests { call.send(request.serializedBytes()) }
            call.closeSend()
            let batcher = try server.batcher
            let limit = InferenceRPC.maxInFlightPerStream
            // The first batch is held computing; the stream stops reading with the limit in flight.
            #expect(waitUntil { server.gate.traces.withLock { $0.count } == 1 })
            let held = server.gate.traces.withLock { $0[0].requestCount }
            #expect(waitUntil { batcher.queuedRequests == limit - held })
            // The stream has paused: DATA that arrived since is held by the transport (its credit withheld), not
            // handed to the service. Every submission happened before the pause, on the same loop thread, so the
            // queue is final: the limit in flight, nothing refused.
            let streamCall = try #require(server.firstStreamCall.wait())
            #expect(waitUntil { streamCall.withheldRequestBytes > 0 })
            #expect(batcher.queuedRequests == limit - held)
            #expect(received.withLock { $0.isEmpty })
            server.gate.open()
            #expect(finished.wait(seconds: 60)?.isOK == true)
            let responses = received.withLock { $0 }
            #expect(responses.map(\.id) == requests.map(\.id))
            #expect(responses.allSatisfy { $0.error == nil })
            #expect(responses.contains { ($0.batch?.batchSize ?? 0) > 1 })
            for (index, response) in responses.enumerated() where index % 97 == 0 {
                let alone = try Self.singleResults(server.client, [requests[index]])[0]
                #expect(Digits.sameRows(response, alone), "stream request \(index)")
            }
        }
    }
}
