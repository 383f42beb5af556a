import Batching
import Clocks
import Dispatch
import Glibc
import Inference
import Locks
import Testing
import TestSupport

/// Issue 26: at the end of an event-loop pass, `Batcher.runLoneRequestOrWake` computes a cheap model's lone queued
/// request on the calling thread when an idle instance would run it at once as a batch of one, and otherwise wakes
/// the instances as `wakeIfQueued` does. The tests call it from the test thread, as a loop thread would.
@Suite(.tags(.live)) struct InlineBatcherLiveTests {
    let model: Model

    init() throws { model = try BuiltinModels.digits() }

    /// A digits batcher whose instances have warmed up and sleep, so that a lone request can claim one.
    func idleBatcher(
        settings: ModelConfig = config(), clock: any MonotonicClock = ManualClock(), hooks: BatcherHooks = BatcherHooks()
    ) throws -> Batcher {
        let batcher = try Batcher(model: model, config: settings, clock: clock, hooks: hooks)
        #expect(batcher.waitUntilWarm() == nil)
        #expect(waitUntil { batcher.sleepingInstances == settings.instances })
        return batcher
    }

    /// Queues `rows` rows as request `id` without waking an instance, as an event loop's pass does.
    static func queue(_ batcher: Batcher, rows: Int, id: Int, _ completions: ThreadedCompletions,
                      deadline: MonotonicInstant? = nil, cancellation: CancellationToken = CancellationToken()) throws {
        let job = BatchJob(inputs: [digitsRows(rows, seed: id)], deadline: deadline, cancellation: cancellation,
                           completion: completions.handler(id))
        try batcher.submit(job, wakeNow: false)
    }

    @Test func aLoneRequestIsComputedOnTheCallingThreadAsABatchOfOne() throws {
        let traces = Lock<[BatchTrace]>([])
        let hooks = BatcherHooks(beforeCompute: { trace in traces.withLock { $0.append(trace) } })
        let batcher = try idleBatcher(hooks: hooks)
        defer { batcher.shutdown() }
        #expect(batcher.computesInline, "digits' weights fit the default inline_max_weight_bytes")
        let completions = ThreadedCompletions()
        try Self.queue(batcher, rows: 3, id: 1, completions)
        #expect(batcher.queuedRequests == 1)
        batcher.runLoneRequestOrWake()
        // Computed and completed before the call returned, on this thread.
        #expect(completions.count == 1 && completions.ranHere(1))
        let output = try #require(try completions[1]?.get())
        try expectSameAsAlone(output, digitsRows(3, seed: 1), model.makeContext())
        // A batch of one request that waited for nothing (the virtual clock did not move).
        #expect(output.facts == BatchFacts(batchSize: 3, requestCount: 1, queueMicroseconds: 0, computeMicroseconds: 0))
        #expect(traces.withLock { $0 } == [BatchTrace(instance: 0, rows: 3, requestCount: 1)])
        #expect(batcher.computedBatches == 1 && batcher.computedRows == 3 && batcher.queuedRequests == 0)
        // KServe statistics: one execution of batch size 3, one request queued for 0 ns.
        let stats = batcher.statistics.snapshot()
        #expect(stats.executionCount == 1 && stats.inferenceCount == 3)
        #expect(stats.queue == BatchStatistics.Duration(count: 1, nanoseconds: 0))
        #expect(stats.computeInfer.count == 1 && stats.computeInput.count == 1 && stats.computeOutput.count == 1)
        #expect(stats.batchSizes.map(\.batchSize) == [3])
        // The instance went back to sleep: the next lone request runs here too, and a submitted one still computes.
        #expect(batcher.sleepingInstances == 1)
        try Self.queue(batcher, rows: 1, id: 2, completions)
        batcher.runLoneRequestOrWake()
        #expect(completions.count == 2 && completions.ranHere(2))
        try batcher.submit(BatchJob(inputs: [digitsRows(2, seed: 3)], completion: completions.handler(3)))
        #expect(completions.wait(3))
        #expect(throws: Never.self) { try completions[3]?.get() }
        #expect(!completions.ranHere(3))
    }

    @Test func requestsQueuedTogetherStillMeetInOneBatchOnAnInstance() throws {
        let traces = Lock<[BatchTrace]>([])
        let hooks = BatcherHooks(beforeCompute: { trace in traces.withLock { $0.append(trace) } })
        let batcher = try idleBatcher(hooks: hooks)
        defer { batcher.shutdown() }
        let completions = ThreadedCompletions()
        for id in 1...3 { try Self.queue(batcher, rows: 1, id: id, completions) }
        batcher.runLoneRequestOrWake()
        #expect(completions.wait(3))
        #expect(traces.withLock { $0 } == [BatchTrace(instance: 0, rows: 3, requestCount: 3)])
        #expect((1...3).allSatisfy { !completions.ranHere($0) })
        #expect(try completions[2]?.get().facts.requestCount == 3)
    }

    @Test func itWakesTheInstanceWhenThePolicyWouldWaitOrNoInstanceIsIdle() throws {
        let gate = ComputeGate()
        var delayed = config()
        delayed.maxQueueDelayMicroseconds = 60_000_000
        let clock = ManualClock()
        let batcher = try idleBatcher(settings: delayed, clock: clock, hooks: gate.hooks)
        defer {
            gate.open()
            batcher.shutdown(drain: false)
        }
        let completions = ThreadedCompletions()
        // With a queue delay, a lone partial batch waits for more rows: the instance is woken and waits the delay.
        try Self.queue(batcher, rows: 1, id: 1, completions)
        batcher.runLoneRequestOrWake()
        #expect(completions.count == 0 && batcher.queuedRequests == 1)
        #expect(waitUntil { batcher.sleepingInstances == 1 })
        // The delay ends: the instance runs it, held busy at the gate; nothing is idle.
        clock.advance(byMicroseconds: 60_000_000)
        #expect(gate.waitUntilHeld())
        // A full batch would run at once, but no instance is idle: it stays queued for the busy instance.
        try Self.queue(batcher, rows: 64, id: 2, completions)
        batcher.runLoneRequestOrWake()
        #expect(completions.count == 0 && batcher.queuedRequests == 1)
        gate.open()
        #expect(completions.wait(2))
        #expect(!completions.ranHere(1) && !completions.ranHere(2))
        #expect(gate.recorded.map(\.rows) == [1, 64])
    }

    @Test func anExpiredOrCancelledLoneRequestIsAnsweredAsUsualNotComputed() throws {
        let clock = ManualClock()
        let batcher = try idleBatcher(clock: clock)
        defer { batcher.shutdown() }
        let completions = ThreadedCompletions()
        try Self.queue(batcher, rows: 1, id: 1, completions, deadline: clock.now().advanced(byMicroseconds: 100))
        clock.advance(byMicroseconds: 200)
        batcher.runLoneRequestOrWake()
        let token = CancellationToken()
        try Self.queue(batcher, rows: 1, id: 2, completions, cancellation: token)
        token.cancel()
        batcher.runLoneRequestOrWake()
        #expect(completions.wait(2))
        #expect(completions[1].map { if case .failure(.deadlineExceeded) = $0 { true } else { false } } == true)
        #expect(completions[2].map { if case .failure(.cancelled) = $0 { true } else { false } } == true)
        #expect(batcher.computedBatches == 0)
    }

    @Test func itNeverComputesOnTheCallingThreadOnceTheBatcherStopsAccepting() throws {
        let gate = ComputeGate()
        let batcher = try idleBatcher(settings: config(instances: 2), hooks: gate.hooks)
        let completions = ThreadedCompletions()
        // Instance A is held busy; instance B sleeps idle; one more request is queued without a wake.
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1)))
        #expect(gate.waitUntilHeld())
        #expect(waitUntil { batcher.sleepingInstances == 1 })
        try Self.queue(batcher, rows: 1, id: 2, completions)
        // Draining (a model swap): the stopping batcher lists no idle instance, and the lone request is drained by
        // an instance thread, never computed here.
        let stopped = Promise<Bool>()
        DispatchQueue.global().async {
            batcher.shutdown(drain: true)
            stopped.fulfill(true)
        }
        #expect(waitUntil { batcher.sleepingInstances == 0 })
        batcher.runLoneRequestOrWake()
        gate.open()
        #expect(stopped.wait() == true)
        #expect(completions.wait(2))
        #expect(throws: Never.self) { try completions[2]?.get() }
        #expect(!completions.ranHere(2))
    }

    @Test func aClaimedInstancesThreadNeverComputesUntilTheClaimEnds() throws {
        let probe = ExclusiveUseProbe()
        let clock = ManualClock()
        let batcher = try idleBatcher(clock: clock, hooks: probe.hooks)
        let completions = ThreadedCompletions()
        // The lone request claims the only instance and is held in compute on another thread.
        try Self.queue(batcher, rows: 1, id: 1, completions)
        let ran = Promise<Bool>()
        DispatchQueue.global().async {
            batcher.runLoneRequestOrWake()
            ran.fulfill(true)
        }
        #expect(probe.gate.waitUntilHeld())
        #expect(batcher.sleepingInstances == 0, "a claimed instance is not listed as a sleeper")
        // Work queued meanwhile, a clock jump (which wakes the sleepers) and a drain (which wakes every instance
        // thread) must not make the instance's thread compute on the borrowed context.
        try batcher.submit(BatchJob(inputs: [digitsRows(2, seed: 2)], completion: completions.handler(2)))
        clock.advance(byMicroseconds: 1_000)
        let stopped = Promise<Bool>()
        DispatchQueue.global().async {
            batcher.shutdown(drain: true)
            stopped.fulfill(true)
        }
        // Submits are refused once the shutdown began (one accepted before that is drained with the rest).
        #expect(waitUntil {
            (try? batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 3)], completion: { _ in }))) == nil
        })
        #expect(completions[2] == nil)
        probe.gate.open()
        #expect(ran.wait() == true)
        // The release woke the instance, which drained the queued request after the claimed run.
        #expect(stopped.wait() == true)
        #expect(completions.wait(2))
        #expect(throws: Never.self) { try completions[1]?.get() }
        #expect(throws: Never.self) { try completions[2]?.get() }
        #expect(probe.mostAtOnce == 1, "the context was used by one thread at a time")
        #expect(probe.gate.recorded.first == BatchTrace(instance: 0, rows: 1, requestCount: 1))
        #expect(probe.gate.recorded.count >= 2)
    }

    @Test func aModelWhoseWeightsExceedTheLimitIsAlwaysComputedByAnInstance() throws {
        // x[N, 256] · W[256, 512]: 512 KiB of weights, over the default 256 KiB.
        let large = try Self.matMulModel(k: 256, n: 512)
        #expect(large.constantBytes > ModelConfig.defaultInlineMaxWeightBytes)
        let batcher = try Batcher(model: large, config: config(), clock: ManualClock())
        defer { batcher.shutdown() }
        #expect(batcher.waitUntilWarm() == nil)
        #expect(waitUntil { batcher.sleepingInstances == 1 })
        #expect(!batcher.computesInline)
        let completions = ThreadedCompletions()
        let input = Tensor(shape: [1, 256], floats: [Float](repeating: 1, count: 256))
        try batcher.submit(BatchJob(inputs: [input], completion: completions.handler(1)), wakeNow: false)
        batcher.runLoneRequestOrWake()
        #expect(completions.wait(1))
        #expect(!completions.ranHere(1))
        #expect(try completions[1]?.get().outputs.first?.floats?.first == 256)
    }

    @Test func theConfigKnobSetsTheLimit() throws {
        var knobs = config()
        knobs.inlineMaxWeightBytes = 0
        let off = try idleBatcher(settings: knobs)
        defer { off.shutdown() }
        #expect(!off.computesInline)
        let completions = ThreadedCompletions()
        try Self.queue(off, rows: 1, id: 1, completions)
        off.runLoneRequestOrWake()
        #expect(completions.wait(1))
        #expect(!completions.ranHere(1))
        knobs.inlineMaxWeightBytes = model.constantBytes - 1
        let below = try Batcher(model: model, config: knobs, clock: ManualClock())
        defer { below.shutdown() }
        #expect(!below.computesInline)
        knobs.inlineMaxWeightBytes = model.constantBytes
        let exact = try Batcher(model: model, config: knobs, clock: ManualClock())
        defer { exact.shutdown() }
        #expect(exact.computesInline)

        let parsed = try ModelConfig(json: Array(#"{"inline_max_weight_bytes": 4096}"#.utf8), file: "config.json")
        #expect(parsed.inlineMaxWeightBytes == 4096)
        #expect(ModelConfig().inlineMaxWeightBytes == 256 << 10)
        #expect(throws: ModelLoadError.self) {
            try ModelConfig(json: Array(#"{"inline_max_weight_bytes": -1}"#.utf8), file: "config.json")
        }
        #expect(throws: ModelLoadError.self) {
            try ModelConfig(json: Array(#"{"inline_max_weight_bytes": 2147483648}"#.utf8), file: "config.json")
        }
    }

    /// x[N, k] · W[k, n] → y, W all ones.
    static func matMulModel(k: Int, n: Int) throws -> Model {
        var model = ONNXModel()
        model.irVersion = 8
        model.opsetImports = [ONNXOperatorSetID(domain: "", version: 17)]
        var node = ONNXNode()
        node.opType = "MatMul"
        node.inputs = ["x", "w"]
        node.outputs = ["y"]
        model.graph.nodes = [node]
        var weights = ONNXTensor()
        weights.name = "w"
        weights.dims = [Int64(k), Int64(n)]
        weights.dataType = ONNXTensor.ElementType.float
        weights.floatData = [Float](repeating: 1, count: k * n)
        model.graph.initializers = [weights]
        for (name, width, isInput) in [("x", k, true), ("y", n, false)] {
            var info = ONNXValueInfo()
            info.name = name
            info.elementType = 1
            info.dims = [ONNXDimension(param: "N"), ONNXDimension(value: Int64(width))]
            if isInput { model.graph.inputs.append(info) } else { model.graph.outputs.append(info) }
        }
        return try Model(onnx: model, name: "matmul")
    }
}

/// A `ComputeGate` that also counts the model runs in progress (from `beforeCompute` to `afterBatch`) and remembers
/// the most at once: more than one would mean two threads on one instance's context.
final class ExclusiveUseProbe: Sendable {
    let gate = ComputeGate()
    private let counts = Lock<(now: Int, most: Int)>((0, 0))

    var hooks: BatcherHooks {
        let held = gate.hooks.beforeCompute
        return BatcherHooks(
            beforeCompute: { trace in
                self.counts.withLock { counts in
                    counts.now += 1
                    counts.most = max(counts.most, counts.now)
                }
                held?(trace)
            },
            afterBatch: { _, _ in self.counts.withLock { $0.now -= 1 } })
    }

    var mostAtOnce: Int { counts.withLock { $0.most } }
}

/// `Completions` that also note whether each completion ran on the thread that created this object (the test's).
final class ThreadedCompletions: Sendable {
    private let completions = Completions()
    private let testThread = pthread_self()
    private let here = Lock<[Int: Bool]>([:])

    func handler(_ id: Int) -> @Sendable (Result<BatchOutput, BatchError>) -> Void {
        let forward = completions.handler(id)
        return { result in
            let onTestThread = pthread_equal(pthread_self(), self.testThread) != 0
            self.here.withLock { $0[id] = onTestThread }
            forward(result)
        }
    }

    func wait(_ count: Int) -> Bool { completions.wait(count) }
    /// True when completion `id` has run, on the test's thread.
    func ranHere(_ id: Int) -> Bool { here.withLock { $0[id] } == true }
    subscript(id: Int) -> Result<BatchOutput, BatchError>? { completions[id] }
    var count: Int { completions.count }
}
