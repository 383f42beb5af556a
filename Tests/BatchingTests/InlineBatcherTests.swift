import Batching
import Clocks
import Dispatch
import Inference
import Locks
import Testing
import TestSupport

/// Issue 26: `Batcher.runInline` computes a cheap model's request on the caller's thread when an idle instance
/// would run it at once as a batch of one, and declines (the caller then submits) in every other case.
@Suite(.tags(.live)) struct InlineBatcherLiveTests {
    let model: Model

    init() throws { model = try BuiltinModels.digits() }

    /// A digits batcher whose only instance has warmed up and sleeps, so that an inline run can claim it.
    func idleBatcher(
        settings: ModelConfig = config(), clock: any MonotonicClock = ManualClock(), hooks: BatcherHooks = BatcherHooks()
    ) throws -> Batcher {
        let batcher = try Batcher(model: model, config: settings, clock: clock, hooks: hooks)
        #expect(batcher.waitUntilWarm() == nil)
        #expect(waitUntil { batcher.sleepingInstances == settings.instances })
        return batcher
    }

    @Test func anIdleBatcherComputesOnTheCallersThreadAsABatchOfOne() throws {
        let traces = Lock<[BatchTrace]>([])
        let hooks = BatcherHooks(beforeCompute: { trace in traces.withLock { $0.append(trace) } })
        let batcher = try idleBatcher(hooks: hooks)
        defer { batcher.shutdown() }
        #expect(batcher.computesInline, "digits' weights fit the default inline_max_weight_bytes")
        let completions = Completions()
        let input = digitsRows(3, seed: 7)
        #expect(batcher.runInline(BatchJob(inputs: [input], completion: completions.handler(1))))
        // The completion ran before runInline returned, on this thread.
        #expect(completions.count == 1)
        let output = try #require(try completions[1]?.get())
        try expectSameAsAlone(output, input, model.makeContext())
        // A batch of one request that waited for nothing (the virtual clock did not move).
        #expect(output.facts == BatchFacts(batchSize: 3, requestCount: 1, queueMicroseconds: 0, computeMicroseconds: 0))
        #expect(traces.withLock { $0 } == [BatchTrace(instance: 0, rows: 3, requestCount: 1)])
        #expect(batcher.computedBatches == 1 && batcher.computedRows == 3)
        // KServe statistics: one execution of batch size 3, one request queued for 0 ns.
        let stats = batcher.statistics.snapshot()
        #expect(stats.executionCount == 1 && stats.inferenceCount == 3)
        #expect(stats.queue == BatchStatistics.Duration(count: 1, nanoseconds: 0))
        #expect(stats.computeInfer.count == 1 && stats.computeInput.count == 1 && stats.computeOutput.count == 1)
        #expect(stats.batchSizes.map(\.batchSize) == [3])
        // The instance went back to sleep: the next request runs inline too, and a submitted one still computes.
        #expect(batcher.sleepingInstances == 1)
        #expect(batcher.runInline(BatchJob(inputs: [digitsRows(1, seed: 8)], completion: completions.handler(2))))
        try batcher.submit(BatchJob(inputs: [digitsRows(2, seed: 9)], completion: completions.handler(3)))
        #expect(completions.wait(3))
        #expect(throws: Never.self) { try completions[3]?.get() }
    }

    @Test func itDeclinesWhileTheInstanceIsBusyOrWorkIsQueued() throws {
        let gate = ComputeGate()
        var delayed = config()
        delayed.maxQueueDelayMicroseconds = 60_000_000
        let clock = ManualClock()
        let batcher = try idleBatcher(settings: delayed, clock: clock, hooks: gate.hooks)
        defer {
            gate.open()
            batcher.shutdown(drain: false)
        }
        let completions = Completions()
        // With a queue delay, a lone partial batch would wait for more rows: not run at once, so not inline.
        #expect(!batcher.runInline(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1))))
        // A queued partial batch leaves the instance asleep (waiting out the delay) with work in the queue: a full
        // batch, which an idle instance would run at once, still must not overtake it.
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 2)], completion: completions.handler(2)))
        #expect(waitUntil { batcher.sleepingInstances == 1 })
        #expect(batcher.queuedRequests == 1)
        #expect(!batcher.runInline(BatchJob(inputs: [digitsRows(64, seed: 3)], completion: completions.handler(3))))
        // The delay ends: the instance takes the queued request and is held busy at the gate; nothing is idle.
        clock.advance(byMicroseconds: 60_000_000)
        #expect(gate.waitUntilHeld())
        #expect(!batcher.runInline(BatchJob(inputs: [digitsRows(64, seed: 4)], completion: completions.handler(4))))
        gate.open()
        #expect(completions.wait(1))
        #expect(throws: Never.self) { try completions[2]?.get() }
        #expect(completions.count == 1, "the declined jobs were never completed")
        // Idle again: the full batch runs inline.
        #expect(waitUntil { batcher.sleepingInstances == 1 && batcher.queuedRequests == 0 })
        #expect(batcher.runInline(BatchJob(inputs: [digitsRows(64, seed: 5)], completion: completions.handler(5))))
        #expect(gate.recorded.map(\.rows) == [1, 64])
    }

    @Test func itDeclinesWhatSubmitRefusesSoThatSubmitAnswersIt() throws {
        let clock = ManualClock()
        let batcher = try idleBatcher(clock: clock)
        defer { batcher.shutdown() }
        let never: @Sendable (Result<BatchOutput, BatchError>) -> Void = { _ in Issue.record("completed") }
        let expired = BatchJob(inputs: [digitsRows(1, seed: 1)], deadline: clock.now(), completion: never)
        #expect(!batcher.runInline(expired))
        #expect(throws: BatchError.deadlineExceeded(model: "digits version 1", queuedMicroseconds: 0)) {
            try batcher.submit(expired)
        }
        let token = CancellationToken()
        token.cancel()
        #expect(!batcher.runInline(BatchJob(inputs: [digitsRows(1, seed: 1)], cancellation: token, completion: never)))
        let wrongShape = BatchJob(inputs: [Tensor(shape: [1, 3], floats: [1, 2, 3])], completion: never)
        #expect(!batcher.runInline(wrongShape))
        #expect(throws: BatchError.self) { try batcher.submit(wrongShape) }
        // A request larger than max_batch_size is split by the batcher, never run inline whole.
        #expect(!batcher.runInline(BatchJob(inputs: [digitsRows(65, seed: 1)], completion: never)))
        #expect(batcher.computedBatches == 0)
    }

    @Test func itNeverRunsOnceTheBatcherStopsAccepting() throws {
        let gate = ComputeGate()
        let batcher = try idleBatcher(settings: config(instances: 2), hooks: gate.hooks)
        let completions = Completions()
        // Instance A is held busy; instance B sleeps idle.
        try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1)))
        #expect(gate.waitUntilHeld())
        // Draining (a model swap): new work is refused, and the idle instance takes none inline either.
        let stopped = Self.startDraining(batcher)
        #expect(batcher.sleepingInstances == 0, "a stopping batcher lists no idle instance")
        #expect(!batcher.runInline(BatchJob(inputs: [digitsRows(1, seed: 3)], completion: completions.handler(3))))
        gate.open()
        #expect(stopped.wait() == true)
        #expect(!batcher.runInline(BatchJob(inputs: [digitsRows(1, seed: 4)], completion: completions.handler(4))))
        #expect(completions.wait(1))
        #expect(completions.count == 1)
    }

    @Test func aClaimedInstancesThreadNeverComputesUntilTheClaimEnds() throws {
        let probe = ExclusiveUseProbe()
        let clock = ManualClock()
        let batcher = try idleBatcher(clock: clock, hooks: probe.hooks)
        let completions = Completions()
        // The inline run claims the only instance and is held in compute on another thread.
        let ran = Promise<Bool>()
        DispatchQueue.global().async {
            ran.fulfill(batcher.runInline(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: completions.handler(1))))
        }
        #expect(probe.gate.waitUntilHeld())
        #expect(batcher.sleepingInstances == 0, "a claimed instance is not listed as a sleeper")
        // Work queued meanwhile, a clock jump (which wakes the sleepers) and a drain (which wakes every instance
        // thread) must not make the instance's thread compute on the borrowed context.
        try batcher.submit(BatchJob(inputs: [digitsRows(2, seed: 2)], completion: completions.handler(2)))
        clock.advance(byMicroseconds: 1_000)
        let stopped = Self.startDraining(batcher)
        #expect(completions[2] == nil)
        probe.gate.open()
        #expect(ran.wait() == true)
        // The release woke the instance, which drained the queued request after the inline run.
        #expect(stopped.wait() == true)
        #expect(completions.wait(2))
        #expect(throws: Never.self) { try completions[1]?.get() }
        #expect(throws: Never.self) { try completions[2]?.get() }
        #expect(probe.mostAtOnce == 1, "the context was used by one thread at a time")
        #expect(probe.gate.recorded.first == BatchTrace(instance: 0, rows: 1, requestCount: 1))
        #expect(probe.gate.recorded.count >= 2)
    }

    @Test func aModelWhoseWeightsExceedTheLimitNeverRunsInline() throws {
        // x[N, 256] · W[256, 512]: 512 KiB of weights, over the default 256 KiB.
        let large = try Self.matMulModel(k: 256, n: 512)
        #expect(large.constantBytes > ModelConfig.defaultInlineMaxWeightBytes)
        let batcher = try Batcher(model: large, config: config(), clock: ManualClock())
        defer { batcher.shutdown() }
        #expect(batcher.waitUntilWarm() == nil)
        #expect(waitUntil { batcher.sleepingInstances == 1 })
        #expect(!batcher.computesInline)
        let input = Tensor(shape: [1, 256], floats: [Float](repeating: 1, count: 256))
        #expect(!batcher.runInline(BatchJob(inputs: [input], completion: { _ in Issue.record("ran inline") })))
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [input], completion: completions.handler(1)))
        #expect(completions.wait(1))
        #expect(try completions[1]?.get().outputs.first?.floats?.first == 256)
    }

    @Test func theConfigKnobSetsTheLimit() throws {
        var knobs = config()
        knobs.inlineMaxWeightBytes = 0
        let off = try Batcher(model: model, config: knobs, clock: ManualClock())
        defer { off.shutdown() }
        #expect(!off.computesInline)
        #expect(waitUntil { off.sleepingInstances == 1 })
        #expect(!off.runInline(BatchJob(inputs: [digitsRows(1, seed: 1)], completion: { _ in Issue.record("ran") })))
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

    /// Starts `shutdown(drain: true)` on another thread and returns once the batcher refuses new work (what a
    /// submit accepted before that is drained); the promise is fulfilled when the shutdown returns.
    static func startDraining(_ batcher: Batcher) -> Promise<Bool> {
        let stopped = Promise<Bool>()
        DispatchQueue.global().async {
            batcher.shutdown(drain: true)
            stopped.fulfill(true)
        }
        #expect(waitUntil {
            do {
                try batcher.submit(BatchJob(inputs: [digitsRows(1, seed: 0)], completion: { _ in }))
                return false
            } catch {
                return (error as? BatchError) == .shuttingDown(model: batcher.modelLabel)
            }
        })
        return stopped
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
