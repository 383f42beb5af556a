import Batching
import Clocks
import Inference
import Locks
import Testing
import TestSupport

/// `ModelConfig.inlineQueuedBatches` (the server's `--inline-batches`, on by default when the process may run on one
/// CPU only): at the end of an event-loop pass, `Batcher.runLoneRequestOrWake` runs the requests the pass queued on
/// the calling thread, each batch the one an instance would have run, and wakes the instances only for what it
/// leaves. The tests call it from the test thread, as a loop thread would.
@Suite(.tags(.live)) struct QueuedInlineBatcherLiveTests {
    let model: Model

    init() throws { model = try BuiltinModels.digits() }

    static func settings(maxBatchSize: Int = 64, instances: Int = 1) -> ModelConfig {
        var settings = config(maxBatchSize: maxBatchSize, instances: instances)
        settings.inlineQueuedBatches = true
        return settings
    }

    func idleBatcher(settings: ModelConfig = settings(), clock: any MonotonicClock = ManualClock(),
                     hooks: BatcherHooks = BatcherHooks()) throws -> Batcher {
        let batcher = try Batcher(model: model, config: settings, clock: clock, hooks: hooks)
        #expect(batcher.waitUntilWarm() == nil)
        #expect(waitUntil { batcher.sleepingInstances == settings.instances })
        return batcher
    }

    static func tracing() -> (Lock<[BatchTrace]>, BatcherHooks) {
        let traces = Lock<[BatchTrace]>([])
        return (traces, BatcherHooks(beforeCompute: { trace in traces.withLock { $0.append(trace) } }))
    }

    @Test func requestsQueuedTogetherRunHereAsTheBatchAnInstanceWouldRun() throws {
        let (traces, hooks) = Self.tracing()
        let batcher = try idleBatcher(hooks: hooks)
        defer { batcher.shutdown() }
        #expect(batcher.computesInline && batcher.computesQueuedInline)
        let completions = ThreadedCompletions()
        for id in 1...3 { try InlineBatcherLiveTests.queue(batcher, rows: id, id: id, completions) }
        batcher.runLoneRequestOrWake()
        // Computed and completed before the call returned, on this thread, as one batch of the three.
        #expect(completions.count == 3 && (1...3).allSatisfy { completions.ranHere($0) })
        #expect(traces.withLock { $0 } == [BatchTrace(instance: 0, rows: 6, requestCount: 3)])
        for id in 1...3 {
            let output = try #require(try completions[id]?.get())
            #expect(output.facts == BatchFacts(batchSize: 6, requestCount: 3, queueMicroseconds: 0, computeMicroseconds: 0))
            try expectSameAsAlone(output, digitsRows(id, seed: id), model.makeContext())
        }
        #expect(batcher.computedBatches == 1 && batcher.computedRows == 6 && batcher.queuedRequests == 0)
        #expect(batcher.statistics.snapshot().batchSizes.map(\.batchSize) == [6])
        // The instance was claimed and listed again: it still sleeps, and a submitted request still computes there.
        #expect(batcher.sleepingInstances == 1)
        try batcher.submit(BatchJob(inputs: [digitsRows(2, seed: 9)], completion: completions.handler(9)))
        #expect(completions.wait(4))
        #expect(!completions.ranHere(9))
    }

    @Test func moreThanOneBatchRunsHereBatchByBatch() throws {
        let (traces, hooks) = Self.tracing()
        let batcher = try idleBatcher(settings: Self.settings(maxBatchSize: 4), hooks: hooks)
        defer { batcher.shutdown() }
        let completions = ThreadedCompletions()
        for id in 1...5 { try InlineBatcherLiveTests.queue(batcher, rows: 2, id: id, completions) }
        batcher.runLoneRequestOrWake()
        #expect(completions.count == 5 && (1...5).allSatisfy { completions.ranHere($0) })
        #expect(traces.withLock { $0 } == [
            BatchTrace(instance: 0, rows: 4, requestCount: 2), BatchTrace(instance: 0, rows: 4, requestCount: 2),
            BatchTrace(instance: 0, rows: 2, requestCount: 1),
        ])
        #expect(try completions[5]?.get().facts.batchSize == 2)
        #expect(batcher.queuedRequests == 0 && batcher.sleepingInstances == 1)
    }

    @Test func aDeadOrSplitRequestInTheQueueLeavesTheQueueToTheInstances() throws {
        let clock = ManualClock()
        let batcher = try idleBatcher(settings: Self.settings(maxBatchSize: 4), clock: clock)
        defer { batcher.shutdown() }
        let completions = ThreadedCompletions()
        // A cancelled request among live ones: the instance drops it and computes the rest.
        let token = CancellationToken()
        try InlineBatcherLiveTests.queue(batcher, rows: 1, id: 1, completions)
        try InlineBatcherLiveTests.queue(batcher, rows: 1, id: 2, completions, cancellation: token)
        token.cancel()
        batcher.runLoneRequestOrWake()
        #expect(completions.wait(2))
        #expect(!completions.ranHere(1) && !completions.ranHere(2))
        #expect(completions[2].map { if case .failure(.cancelled) = $0 { true } else { false } } == true)
        #expect(throws: Never.self) { try completions[1]?.get() }
        // An expired one.
        #expect(waitUntil { batcher.sleepingInstances == 1 })
        try InlineBatcherLiveTests.queue(batcher, rows: 1, id: 3, completions)
        try InlineBatcherLiveTests.queue(batcher, rows: 1, id: 4, completions, deadline: clock.now().advanced(byMicroseconds: 10))
        clock.advance(byMicroseconds: 20)
        batcher.runLoneRequestOrWake()
        #expect(completions.wait(2))  // two more (`wait` counts arrivals since the last wait)
        #expect(!completions.ranHere(3) && !completions.ranHere(4))
        #expect(completions[4].map { if case .failure(.deadlineExceeded) = $0 { true } else { false } } == true)
        // A request larger than a batch (split across batches, its pieces reassembled): left to the instance.
        #expect(waitUntil { batcher.sleepingInstances == 1 })
        try InlineBatcherLiveTests.queue(batcher, rows: 1, id: 5, completions)
        try InlineBatcherLiveTests.queue(batcher, rows: 6, id: 6, completions)
        batcher.runLoneRequestOrWake()
        #expect(completions.wait(2))
        #expect(!completions.ranHere(5) && !completions.ranHere(6))
        let split = try #require(try completions[6]?.get())
        #expect(split.outputs.first?.shape == [6])
    }

    @Test func itWakesTheInstanceWhenThePolicyWouldWait() throws {
        var delayed = Self.settings()
        delayed.maxQueueDelayMicroseconds = 60_000_000
        let clock = ManualClock()
        let batcher = try idleBatcher(settings: delayed, clock: clock)
        defer { batcher.shutdown(drain: false) }
        let completions = ThreadedCompletions()
        for id in 1...2 { try InlineBatcherLiveTests.queue(batcher, rows: 1, id: id, completions) }
        batcher.runLoneRequestOrWake()
        #expect(completions.count == 0 && batcher.queuedRequests == 2)
        clock.advance(byMicroseconds: 60_000_000)
        #expect(completions.wait(2))
        #expect(!completions.ranHere(1) && !completions.ranHere(2))
    }

    @Test func offByDefaultAndOnlyForAModelThatComputesInline() throws {
        #expect(ModelConfig().inlineQueuedBatches == false)
        let batcher = try idleBatcher(settings: config())
        defer { batcher.shutdown() }
        #expect(batcher.computesInline && !batcher.computesQueuedInline)
        var settings = Self.settings()
        settings.inlineMaxWeightBytes = 0
        let notInline = try Batcher(model: model, config: settings, clock: ManualClock())
        defer { notInline.shutdown() }
        #expect(!notInline.computesInline && !notInline.computesQueuedInline)
        let completions = ThreadedCompletions()
        for id in 1...2 { try InlineBatcherLiveTests.queue(batcher, rows: 1, id: id, completions) }
        batcher.runLoneRequestOrWake()
        #expect(completions.wait(2))
        #expect(!completions.ranHere(1) && !completions.ranHere(2))
    }
}
