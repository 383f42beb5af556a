import Batching
import Foundation
import Dispatch
import Inference
import Locks
import Synchronization
import Testing
import TestSupport
import Clocks

/// Collects completions, keyed by a test-chosen id; any thread may deliver.
final class Completions: Sendable {
    private let results = Lock<[Int: Result<BatchOutput, BatchError>]>([:])
    private let arrived = DispatchSemaphore(value: 0)

    func handler(_ id: Int) -> @Sendable (Result<BatchOutput, BatchError>) -> Void {
        { result in
            let duplicate = self.results.withLock { results in
                defer { results[id] = result }
                return results[id] != nil
            }
            precondition(!duplicate, "request \(id) completed twice")
            self.arrived.signal()
        }
    }

    /// Waits for `count` completions (generous timeout: a loaded 2-core machine is slow, not wrong).
    func wait(_ count: Int) -> Bool {
        for _ in 0..<count where arrived.wait(timeout: .now() + .seconds(60)) == .timedOut { return false }
        return true
    }

    subscript(id: Int) -> Result<BatchOutput, BatchError>? { results.withLock { $0[id] } }
    var count: Int { results.withLock { $0.count } }
}

/// Holds the first batch in compute until released, and records every batch that reaches compute.
final class ComputeGate: Sendable {
    private let entered = DispatchSemaphore(value: 0)
    private let release = DispatchSemaphore(value: 0)
    private let holding = Atomic<Bool>(true)
    private let traces = Lock<[BatchTrace]>([])

    var hooks: BatcherHooks {
        BatcherHooks { trace in
            self.traces.withLock { $0.append(trace) }
            if self.holding.exchange(false, ordering: .acquiringAndReleasing) {
                self.entered.signal()
                _ = self.release.wait(timeout: .now() + .seconds(60))
            }
        }
    }

    func waitUntilHeld() -> Bool { entered.wait(timeout: .now() + .seconds(60)) == .success }
    func open() { release.signal() }
    var recorded: [BatchTrace] { traces.withLock { $0 } }
}

/// Digits inputs: `rows` rows of 64 pixel intensities in 0...16, deterministic in `seed`.
func digitsRows(_ rows: Int, seed: Int) -> Tensor {
    var state = UInt64(truncatingIfNeeded: seed) &* 6364136223846793005 &+ 1442695040888963407
    let values = (0..<(rows * 64)).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float((state >> 33) % 17)
    }
    return Tensor(shape: [rows, 64], floats: values)
}

func config(maxBatchSize: Int = 64, instances: Int = 1, maxQueueSize: Int = 1024) -> ModelConfig {
    var config = ModelConfig()
    config.maxBatchSize = maxBatchSize
    config.instances = instances
    config.maxQueueSize = maxQueueSize
    return config
}

/// Batched outputs equal the outputs of the same rows run alone (labels exactly, probabilities within 1e-5: a
/// one-row run takes the GEMV path, a batch the GEMM path).
func expectSameAsAlone(_ output: BatchOutput, _ input: Tensor, _ context: ExecutionContext) throws {
    let alone = try context.run([input])
    #expect(output.outputs.count == alone.count)
    #expect(output.outputs[0] == alone[0], "labels")
    let batched = try #require(output.outputs[1].floats)
    let reference = try #require(alone[1].floats)
    #expect(output.outputs[1].shape == alone[1].shape)
    #expect(zip(batched, reference).allSatisfy { abs($0 - $1) <= 1e-5 }, "probabilities")
}

@Suite(.tags(.live)) struct BatcherLiveTests {
    let model: Model

    init() throws { model = try BuiltinModels.digits() }

    @Test func testConcurrentSubmittersFormBatchesWithOutputsEqualToSingleRuns() throws {
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: config(), hooks: gate.hooks)
        defer { batcher.shutdown() }
        let completions = Completions()
        let inputs = (0...80).map { digitsRows(1 + $0 % 3, seed: $0) }
        try batcher.submit(BatchJob(inputs: [inputs[0]], completion: completions.handler(0)))
        #expect(gate.waitUntilHeld())
        // While the only instance is busy, eight threads submit ten requests each.
        let rejected = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<10 {
                let id = 1 + thread * 10 + index
                do {
                    try batcher.submit(BatchJob(inputs: [inputs[id]], completion: completions.handler(id)))
                } catch {
                    rejected.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(rejected.load(ordering: .relaxed) == 0)
        gate.open()
        #expect(completions.wait(81))
        let context = model.makeContext()
        var largest = 0
        for id in 0...80 {
            let output = try #require(try completions[id]?.get())
            try expectSameAsAlone(output, inputs[id], context)
            #expect(output.facts.batchSize <= 64)
            #expect(output.facts.batches == 1)
            largest = max(largest, output.facts.requestCount)
        }
        #expect(largest > 1)
        #expect(gate.recorded.contains { $0.requestCount > 1 })
        #expect(batcher.computedRows == inputs.reduce(0) { $0 + $1.shape.dims[0] })
    }

    @Test func testExpiredAndCancelledRequestsAreNeverComputed() throws {
        let gate = ComputeGate()
        let clock = ManualClock()
        let batcher = try Batcher(model: model, config: config(), clock: clock, hooks: gate.hooks)
        defer { batcher.shutdown() }
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1)))
        #expect(gate.waitUntilHeld())
        let token = CancellationToken()
        try batcher.submit(BatchJob(
            inputs: [digitsRows(2, seed: 2)], deadline: clock.now().advanced(byMicroseconds: 100),
            completion: completions.handler(2)))
        try batcher.submit(BatchJob(inputs: [digitsRows(3, seed: 3)], cancellation: token, completion: completions.handler(3)))
        try batcher.submit(BatchJob(inputs: [digitsRows(4, seed: 4)], completion: completions.handler(4)))
        clock.advance(byMicroseconds: 200)
        token.cancel()
        gate.open()
        #expect(completions.wait(4))
        #expect(throws: Never.self) { try completions[1]?.get() }
        guard case .failure(.deadlineExceeded(let model, let queued)) = completions[2] else {
            Issue.record("expected deadlineExceeded, got \(String(describing: completions[2]))")
            return
        }
        #expect(model == "digits version 1")
        #expect(queued >= 200)
        #expect(completions[3].map { if case .failure(.cancelled) = $0 { true } else { false } } == true)
        #expect(try completions[4]?.get().outputs[0].shape == [4])
        // Only the 1-row and 4-row requests reached compute.
        #expect(gate.recorded.map(\.rows) == [1, 4])
        #expect(batcher.computedRows == 5)
        // Already past its deadline, or already cancelled: refused at submit, completion never called.
        #expect(throws: BatchError.deadlineExceeded(model: "digits version 1", queuedMicroseconds: 0)) {
            try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 5)], deadline: clock.now()) { _ in
                Issue.record("completion called for a refused job")
            })
        }
    }

    @Test func testDefaultTimeoutAppliesToRequestsWithoutADeadline() throws {
        let gate = ComputeGate()
        let clock = ManualClock()
        var knobs = config()
        knobs.defaultTimeoutMicroseconds = 50
        let batcher = try Batcher(model: model, config: knobs, clock: clock, hooks: gate.hooks)
        defer { batcher.shutdown() }
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1)))
        #expect(gate.waitUntilHeld())
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 2)], completion: completions.handler(2)))
        clock.advance(byMicroseconds: 60)
        gate.open()
        #expect(completions.wait(2))
        #expect(completions[2].map { if case .failure(.deadlineExceeded) = $0 { true } else { false } } == true)
    }

    @Test func testFullQueueRejectsAtOnceNamingTheModelAndTheLimit() throws {
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: config(maxQueueSize: 2), hooks: gate.hooks)
        defer { batcher.shutdown() }
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1)))
        #expect(gate.waitUntilHeld())
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 2)], completion: completions.handler(2)))
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 3)], completion: completions.handler(3)))
        do {
            try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 4)], completion: completions.handler(4)))
            Issue.record("a third queued request was accepted")
        } catch {
            #expect(error == .queueFull(model: "digits version 1", limit: 2))
            #expect(error.description.contains("digits version 1"))
            #expect(error.description.contains("max_queue_size 2"))
        }
        gate.open()
        #expect(completions.wait(3))
        #expect(completions.count == 3)
    }

    @Test(arguments: [1, 2]) func testOversizeRequestIsSplitAndReassembled(instances: Int) throws {
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: config(maxBatchSize: 4, instances: instances), hooks: gate.hooks)
        defer { batcher.shutdown() }
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1)))
        #expect(gate.waitUntilHeld())
        let large = digitsRows(11, seed: 7)
        try batcher.submit(BatchJob(inputs: [large], completion: completions.handler(2)))
        gate.open()
        #expect(completions.wait(2))
        let output = try #require(try completions[2]?.get())
        #expect(output.outputs[0].shape == [11])
        #expect(output.outputs[1].shape == [11, 10])
        try expectSameAsAlone(output, large, model.makeContext(maxBatchSize: 11))
        #expect(output.facts.batches == 3)
        #expect(output.facts.batchSize == 4)
        #expect(gate.recorded.map(\.rows).sorted() == [1, 3, 4, 4])
    }

    @Test func testRandomArrivalsSizesAndCancellationsEachGetTheirOwnRows() throws {
        let batcher = try Batcher(model: model, config: config(maxBatchSize: 8, instances: 2))
        defer { batcher.shutdown() }
        let completions = Completions()
        let count = 120
        let inputs = (0..<count).map { digitsRows(1 + ($0 * 7919) % 13, seed: $0) }
        let tokens = (0..<count).map { _ in CancellationToken() }
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for id in stride(from: thread, to: count, by: 4) {
                do {
                    try batcher.submit(BatchJob(inputs: [inputs[id]], cancellation: tokens[id],
                                                completion: completions.handler(id)))
                } catch {
                    Issue.record("request \(id) refused: \(error)")
                }
                if id % 5 == 0 { tokens[id].cancel() }
            }
        }
        #expect(completions.wait(count))
        let context = model.makeContext(maxBatchSize: 16)
        for id in 0..<count {
            switch completions[id] {
            case .success(let output)?:
                try expectSameAsAlone(output, inputs[id], context)
            case .failure(.cancelled)?:
                #expect(id % 5 == 0, "request \(id) cancelled without a cancel")
            case let other:
                Issue.record("request \(id): \(String(describing: other))")
            }
        }
    }

    @Test func testInputsThatDoNotMatchTheSignatureAreRefused() throws {
        let batcher = try Batcher(model: model, config: config())
        defer { batcher.shutdown() }
        let wrongWidth = Tensor(shape: [2, 63], floats: Array(repeating: 0, count: 126))
        #expect(throws: BatchError.self) { try batcher.submit(BatchJob(inputs: [wrongWidth]) { _ in }) }
        let wrongType = Tensor(shape: [1, 64], int64s: Array(repeating: 0, count: 64))
        #expect(throws: BatchError.self) { try batcher.submit(BatchJob(inputs: [wrongType]) { _ in }) }
        #expect(throws: BatchError.self) { try batcher.submit(BatchJob(inputs: []) { _ in }) }
    }

    /// With a two-minute delay, a full batch must still run at once (each arrival wakes the waiting instance), and
    /// shutdown must run a partial batch without waiting. A wrong wait shows up as a 60-second timeout, not a flake.
    @Test func testDelayedBatcherRunsFullBatchesAtOnceAndDrainsWithoutWaiting() throws {
        var knobs = config(maxBatchSize: 4)
        knobs.maxQueueDelayMicroseconds = 120_000_000
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: knobs, hooks: gate.hooks)
        gate.open() // nothing is held: the gate only records batches
        let completions = Completions()
        for id in 0..<4 {
            try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: id)], completion: completions.handler(id)))
        }
        #expect(completions.wait(4))
        #expect(gate.recorded.map(\.rows) == [4])
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 9)], completion: completions.handler(9)))
        batcher.shutdown(drain: true)
        #expect(completions.count == 5)
        #expect(try completions[9]?.get().facts.batchSize == 1)
    }

    @Test func jobsQueuedWithoutAWakeRunOnceWokenAndShareABatch() throws {
        // An event loop submits every request of its pass with wakeNow: false and wakes the batcher once.
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: config(maxBatchSize: 8), hooks: gate.hooks)
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 100)], completion: completions.handler(100)))
        #expect(gate.waitUntilHeld())  // the only instance is computing the first job
        for id in 0..<6 {
            try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: id)], completion: completions.handler(id)),
                               wakeNow: false)
        }
        batcher.wakeIfQueued()
        gate.open()
        #expect(completions.wait(7))
        #expect(gate.recorded.map(\.rows) == [1, 6])
        // With the instance asleep or about to be, a wake after more such submits still runs them all.
        for id in 10..<13 {
            try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: id)], completion: completions.handler(id)),
                               wakeNow: false)
        }
        batcher.wakeIfQueued()
        #expect(completions.wait(3))
        batcher.shutdown(drain: true)
        #expect(completions.count == 10)
    }

    @Test func testShutdownFailsQueuedWorkAndRefusesNewWork() throws {
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: config(), hooks: gate.hooks)
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1)))
        #expect(gate.waitUntilHeld())
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 2)], completion: completions.handler(2)))
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            batcher.shutdown(drain: false)
            stopped.signal()
        }
        #expect(completions.wait(1)) // the queued request fails before the busy instance is joined
        #expect(completions[2].map { if case .failure(.shuttingDown) = $0 { true } else { false } } == true)
        gate.open()
        #expect(stopped.wait(timeout: .now() + .seconds(60)) == .success)
        #expect(completions.wait(1))
        #expect(throws: Never.self) { try completions[1]?.get() }
        #expect(throws: BatchError.shuttingDown(model: "digits version 1")) {
            try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 3)]) { _ in })
        }
    }

    @Test func testShutdownWithDrainFinishesQueuedWork() throws {
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: config(), hooks: gate.hooks)
        let completions = Completions()
        for id in 0..<5 {
            try batcher.submit(BatchJob(inputs: [digitsRows(2, seed: id)], completion: completions.handler(id)))
            if id == 0 { #expect(gate.waitUntilHeld()) }
        }
        gate.open()
        batcher.shutdown(drain: true)
        #expect(completions.count == 5)
        for id in 0..<5 { #expect(throws: Never.self) { try completions[id]?.get() } }
    }
}

/// A double model (skl2onnx MLPClassifier, DoubleTensorType) through the batcher: requests gathered into one FP64
/// batch, an oversize one split and reassembled, each answer the FP64 rows of its own request.
@Suite(.tags(.live)) struct DoubleBatcherLiveTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../InferenceTests/Fixtures/double/dbl_mlp_classifier.onnx").standardized.path

    static func rows(_ count: Int, seed: Int) -> Tensor {
        Tensor(shape: [count, 6], doubles: (0..<(count * 6)).map { Double(($0 * 7 + seed * 13) % 23) / 3 - 3.5 })
    }

    @Test func testDoubleRequestsBatchSplitAndComeBackInDouble() throws {
        let model = try Model(contentsOf: Self.fixture, name: "dbl")
        let gate = ComputeGate()
        let batcher = try Batcher(model: model, config: config(maxBatchSize: 4), hooks: gate.hooks)
        defer { batcher.shutdown() }
        let completions = Completions()
        let inputs = (0..<8).map { Self.rows($0 == 7 ? 11 : 1 + $0 % 3, seed: $0) }
        try batcher.submit(BatchJob(inputs: [inputs[0]], completion: completions.handler(0)))
        #expect(gate.waitUntilHeld())
        for id in 1..<inputs.count {
            try batcher.submit(BatchJob(inputs: [inputs[id]], completion: completions.handler(id)))
        }
        gate.open()
        #expect(completions.wait(inputs.count))
        let context = model.makeContext(maxBatchSize: 11)
        for (id, input) in inputs.enumerated() {
            let output = try #require(try completions[id]?.get())
            let alone = try context.run([input])
            #expect(output.outputs[0] == alone[0], "labels of \(id)")
            let batched = try #require(output.outputs[1].doubles, "FP64 probabilities of \(id)")
            let reference = try #require(alone[1].doubles)
            #expect(output.outputs[1].shape == alone[1].shape)
            #expect(zip(batched, reference).allSatisfy { abs($0 - $1) <= 1e-12 }, "probabilities of \(id)")
        }
        #expect(try completions[7]?.get().facts.batches == 3)
        #expect(gate.recorded.contains { $0.requestCount > 1 })
    }
}
