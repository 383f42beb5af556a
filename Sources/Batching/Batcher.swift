public import Clocks
internal import Dispatch
internal import Glibc
public import Inference
internal import Locks
public import Logging
internal import Synchronization

/// The dynamic batcher of one model version: a queue guarded by a `Lock` and `instances` worker threads (pthreads,
/// not Swift concurrency), each owning an `ExecutionContext` whose buffers grow on demand within its share of the
/// model's memory budget (`Model.maxRows(instances:)` caps the batch size).
///
/// Threads: `submit`, `runLoneRequestOrWake`, `shutdown` and the counters may be called from any thread (the
/// transport's loop threads). Decisions, compute and completions happen on the instance threads, except for what
/// `runLoneRequestOrWake` computes on its caller's thread with an idle instance's context claimed (a lone request,
/// or with `computesQueuedInline` the queued batches); completions run outside the lock. The worker
/// threads hold the batcher alive until `shutdown` joins them, so call `shutdown` before dropping it, and never from
/// a completion (it would join its own thread).
public final class Batcher: Sendable {
    public let model: Model
    public let version: Int
    public let policy: BatchPolicy
    public let maxQueueSize: Int
    public let defaultTimeoutMicroseconds: Int
    public let instances: Int
    /// "name version N", for error messages.
    public let modelLabel: String
    /// False when some input or output has no leading batch dimension: each request then runs alone, as given.
    /// A model whose ONNX export fixed the batch dimension (`Model.fixedBatchSize`, e.g. input `[1, 4]`) is one.
    public let rowBatchable: Bool
    /// Threads each packed GEMM of an instance may use (the instance thread included): `blasThreads`, or
    /// `cores / instances` so that GEMM threads × instances ≤ cores. Passed to every call, never set process-wide.
    public let gemmThreads: Int
    /// True when the model's constants fit config.json's `inline_max_weight_bytes`: `runLoneRequestOrWake` may then
    /// compute a lone request on its caller's thread.
    public let computesInline: Bool
    /// True when `computesInline` and `ModelConfig.inlineQueuedBatches` (the server sets it when the process may run
    /// on one CPU only): `runLoneRequestOrWake` then also runs the queued requests, batch by batch as an instance
    /// would, on its caller's thread.
    public let computesQueuedInline: Bool

    private let logger: Logger
    private let clock: any MonotonicClock
    private let hooks: BatcherHooks
    private let state: Lock<QueueState>
    /// One wake-up per instance. A counting semaphore keeps a signal sent between the decision and the wait.
    private let wakeups: [DispatchSemaphore]
    /// Each instance's execution context, where `runLoneRequestOrWake` can borrow it while the instance sleeps.
    private let slots: [InstanceSlot]
    private let threads = Lock<[pthread_t]>([])
    private let batchCounter = Atomic<Int>(0)
    private let rowCounter = Atomic<Int>(0)
    /// KServe ModelStatistics counters of this version: batches are recorded here, request outcomes by the server.
    public let statistics = BatchStatistics()
    /// The batch sizes each instance runs once on zeros before it takes requests (`waitUntilWarm`).
    public let warmUpBatchSizes: [Int]
    /// Each instance's warm-up outcome, reported once it ran (Batcher+WarmUp.swift).
    let warmUp: WarmUpLatch

    /// Creates the batcher and starts its instance threads.
    ///
    /// - `config`: the model's config.json knobs (batching, `instances`, `max_queue_size`, `default_timeout_us`).
    /// - `clock`: where `now` comes from; deadlines in jobs must come from the same clock.
    /// - `blasThreads`: threads per packed GEMM call of this batcher's instances (`gemmThreads`); nil:
    ///   `cores / instances`. OpenBLAS's own pool is process-wide and set once by the composition root
    ///   (`BLAS.threadCount`); a batcher never changes it.
    /// - `logger`: where the batcher reports what would otherwise vanish (an instance thread that cannot start).
    public init(
        model: Model, version: Int = 1, config: ModelConfig = ModelConfig(),
        clock: any MonotonicClock = SystemMonotonicClock(), blasThreads: Int? = nil, hooks: BatcherHooks = BatcherHooks(),
        logger: Logger = .discarding, warmUpBatchSizes: [Int] = []
    ) throws(BatchError) {
        let signature = model.signature
        let rowwise = !signature.inputs.isEmpty
            && (signature.inputs + signature.outputs).allSatisfy { tensor in
                tensor.dims.first == -1 && !tensor.dims.dropFirst().contains { $0 < 0 }
            }
        self.model = model
        self.version = version
        self.rowBatchable = rowwise
        if rowwise {
            // A batch never holds more rows than one instance's share of the model's memory budget allows: a
            // larger request is split, as for max_batch_size.
            var policy = BatchPolicy(config: config)
            let fitting = max(1, model.maxRows(instances: max(1, config.instances)))
            if policy.maxBatchSize > fitting {
                policy.maxBatchSize = fitting
                policy.preferredBatchSizes.removeAll { $0 > fitting }
            }
            self.policy = policy
        } else {
            self.policy = BatchPolicy(maxBatchSize: 1)
        }
        self.maxQueueSize = max(1, config.maxQueueSize)
        self.defaultTimeoutMicroseconds = max(0, config.defaultTimeoutMicroseconds)
        self.instances = max(1, config.instances)
        self.modelLabel = "\(model.name) version \(version)"
        self.clock = clock
        self.hooks = hooks
        self.logger = logger
        self.state = Lock(QueueState(instances: max(1, config.instances)))
        self.wakeups = (0..<max(1, config.instances)).map { _ in DispatchSemaphore(value: 0) }
        self.slots = (0..<max(1, config.instances)).map { _ in InstanceSlot() }
        self.computesInline = config.inlineMaxWeightBytes > 0 && model.constantBytes <= config.inlineMaxWeightBytes
        self.computesQueuedInline = computesInline && config.inlineQueuedBatches
        let largest = self.policy.maxBatchSize
        self.warmUpBatchSizes = rowwise ? warmUpBatchSizes.filter { $0 >= 1 && $0 <= largest } : []
        self.warmUp = WarmUpLatch(instances: max(1, config.instances))

        self.gemmThreads = max(1, blasThreads ?? Self.defaultBLASThreads(instances: instances, cores: Self.onlineCores))
        // A virtual clock that jumps wakes the sleeping instances, so they decide again at the new time.
        if clock.jumps { clock.onAdvance { [weak self] in self?.wakeSleepers() } }

        for index in 0..<instances {
            var handle = pthread_t()
            let start = Unmanaged.passRetained(WorkerStart(batcher: self, index: index)).toOpaque()
            let rc = pthread_create(&handle, nil, batcherWorkerMain, start)
            guard rc == 0 else {
                Unmanaged<WorkerStart>.fromOpaque(start).release()
                shutdown(drain: false)
                let error = BatchError.internalError(
                    "model \(modelLabel): cannot start instance thread \(index) (pthread_create \(rc))")
                logger.error(error.description)
                throw error
            }
            threads.withLock { $0.append(handle) }
        }
    }

    /// BLAS threads per call such that `threads × instances ≤ cores` (at least 1).
    public static func defaultBLASThreads(instances: Int, cores: Int) -> Int {
        max(1, cores / max(1, instances))
    }

    /// The CPUs online now (`sysconf(_SC_NPROCESSORS_ONLN)`), at least 1.
    public static var onlineCores: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Queues a job. Returns at once; the job's completion runs later on an instance thread. `wakeNow` false: a
    /// sleeping instance is not woken; the caller promises `wakeIfQueued()` soon (an event loop does it once at the
    /// end of the pass that submitted several requests, so that they meet in one batch instead of waking an instance,
    /// and switching threads, for each).
    ///
    /// Throws, without calling the completion, when the queue already holds `max_queue_size` requests
    /// (`.queueFull`), when the deadline has already passed, when the batcher is shutting down, or when the inputs do
    /// not match the model signature. Never throws for the number of rows: a large request is split.
    public func submit(_ job: BatchJob, wakeNow: Bool = true) throws(BatchError) {
        let now = clock.now()
        var job = job
        if job.deadline == nil, defaultTimeoutMicroseconds > 0 {
            job.deadline = now.advanced(byMicroseconds: defaultTimeoutMicroseconds)
        }
        if let deadline = job.deadline, deadline <= now {
            throw .deadlineExceeded(model: modelLabel, queuedMicroseconds: 0)
        }
        if job.cancellation.isCancelled { throw .cancelled }
        let rows: Int
        if rowBatchable {
            rows = try validate(job.inputs)
        } else {
            rows = 1 // Runs alone, as given; the engine validates it.
        }
        let assembly = rows > policy.maxBatchSize ? Reassembly(totalRows: rows, completion: job.completion) : nil
        let pending = Pending(
            job: job, request: BatchPolicy.Request(rows: rows, enqueued: now, deadline: job.deadline),
            offset: 0, assembly: assembly
        )
        let label = modelLabel
        let limit = maxQueueSize
        let woken: Int? = try state.withLock { (state) throws(BatchError) -> Int? in
            guard state.accepting else { throw .shuttingDown(model: label) }
            guard state.queue.count < limit else { throw .queueFull(model: label, limit: limit) }
            state.queue.append(pending)
            return wakeNow ? state.sleepers.popLast() : nil
        }
        if let woken { wakeups[woken].signal() }
    }

    /// At the end of an event-loop pass that handed this batcher work with `submit(_:wakeNow: false)`: when the queue
    /// holds exactly one request, which a free instance would run at once as a batch of one, the model
    /// `computesInline`, the batcher accepts work and an instance sleeps idle (so it has finished its warm-up),
    /// computes that request on the calling thread; otherwise wakes instances as `wakeIfQueued` does. So a lone
    /// request skips the hand-off to an instance thread and back, while requests that arrive together still meet in
    /// one batch, and nothing queued is overtaken.
    ///
    /// The idle instance is claimed for the run: its thread computes nothing until the claim is released, so its
    /// execution context and its share of the memory budget serve one thread at a time. The run counts as a batch of
    /// one (statistics, hooks, the completion's `BatchFacts`, queue time up to the start of the run); the
    /// completion runs on the calling thread, after the claim is released. What was queued meanwhile wakes an
    /// instance. An expired or cancelled request is left to the instance, which answers it as usual.
    ///
    /// With `computesQueuedInline`, several queued requests are run here too (`runQueuedOrWake`).
    public func runLoneRequestOrWake() {
        guard computesInline else { return wakeIfQueued() }
        let now = clock.now()
        let policy = self.policy
        let lone = state.withLock { state -> (Pending, Int)? in
            guard state.accepting, state.queue.count == 1, let only = state.queue.first, only.assembly == nil,
                  only.offset == 0, !only.isDead(now: now), !state.sleepers.isEmpty
            else { return nil }
            if policy.maxQueueDelayMicroseconds > 0 {
                guard case .run = policy.decide(queue: CollectionOfOne(only.request), now: now) else { return nil }
            }
            guard let index = state.sleepers.popLast() else { return nil }
            state.queue.removeAll()
            state.claimed[index] = true
            return (only, index)
        }
        guard let (pending, instance) = lone else { return computesQueuedInline ? runQueuedOrWake() : wakeIfQueued() }
        computeClaimed(pending.job, rows: pending.request.rows, instance: instance, enqueued: pending.request.enqueued)
    }

    /// `computesQueuedInline`: runs the queued requests on the calling thread as an instance would, each batch the
    /// one `BatchPolicy.decide` selects, with an idle instance's context claimed for it (statistics, hooks, facts and
    /// completions as for an instance's batch; the completions on this thread). It stops once the rows queued when
    /// it began have run, or when the policy would wait, a queued request has expired, is cancelled or spans several
    /// batches, no instance is idle or the batcher stops accepting; whatever is left then wakes instances
    /// (`wakeIfQueued`). On one CPU an instance thread cannot compute beside the loop anyway: handing it the batch
    /// only adds two thread switches, and its allocations freed on the other thread (docs/performance.md).
    private func runQueuedOrWake() {
        let policy = self.policy
        var budget: Int?
        while true {
            let now = clock.now()
            let claim = state.withLock { state -> (pieces: [Piece], rows: Int, instance: Int)? in
                guard state.accepting, !state.queue.isEmpty, !state.sleepers.isEmpty else { return nil }
                let remaining = budget ?? state.queue.reduce(0) { $0.addingReportingOverflow($1.request.rows).partialValue }
                budget = remaining
                guard remaining > 0,
                      !state.queue.contains(where: { $0.assembly != nil || $0.isDead(now: now) }),
                      case .run(let selection) = policy.decide(queue: state.queue.lazy.map { $0.request }, now: now),
                      let index = state.sleepers.popLast()
                else { return nil }
                state.claimed[index] = true
                let pieces = Self.take(selection, from: &state.queue, now: now)
                return (pieces, pieces.reduce(0) { $0 + $1.rows }, index)
            }
            guard let claim else { return wakeIfQueued() }
            let slot = slots[claim.instance]
            // Set by the instance thread before it first listed itself as a sleeper (under the lock), so always there.
            guard let context = slot.context else {
                release(claim.instance, wakeForQueued: false)
                for piece in claim.pieces {
                    piece.pending.job.completion(.failure(.internalError(
                        "model \(modelLabel): instance \(claim.instance) has no context")))
                }
                return wakeIfQueued()
            }
            var gather = slot.claimedGather ?? GatherBuffers(inputCount: model.signature.inputs.count)
            slot.claimedGather = nil  // one reference to the buffers while the batch is gathered: no copy on write
            compute(claim.pieces, instance: claim.instance, context: context, gather: &gather)
            slot.claimedGather = gather
            // Listed as a sleeper again without a wake: this thread goes on with what is queued, then wakes
            // instances for whatever it leaves.
            release(claim.instance, wakeForQueued: false)
            budget = (budget ?? 0) - claim.rows
        }
    }

    /// Runs `job` (`rows` rows, one whole request) on the context of `instance`, which the caller claimed, then
    /// releases the claim and completes the job on this thread: a batch of one in the statistics and the facts,
    /// queued from `enqueued` to the start of the run.
    private func computeClaimed(_ job: BatchJob, rows: Int, instance: Int, enqueued: MonotonicInstant) {
        // Set by the instance thread before it first listed itself as a sleeper (under the lock), so always there.
        guard let context = slots[instance].context else {
            release(instance)
            job.completion(.failure(.internalError("model \(modelLabel): instance \(instance) has no context")))
            return
        }
        hooks.beforeCompute?(BatchTrace(instance: instance, rows: rows, requestCount: 1))
        let start = clock.now()
        let result = Result { () throws(InferenceError) in try context.run(job.inputs) }.mapError { BatchError.inference($0) }
        let end = clock.now()
        let computeNanoseconds = end.nanoseconds(since: start)
        recordBatch(BatchStatistics.BatchRecord(
            rows: rows, requestsStarting: 1, pieces: 1, queueNanoseconds: start.nanoseconds(since: enqueued),
            inputNanoseconds: 0, inferNanoseconds: computeNanoseconds, outputNanoseconds: 0),
            computeNanoseconds: computeNanoseconds)
        // Released after the hooks, so that the instance's next batch starts after this run's `afterBatch`.
        release(instance)
        let facts = BatchFacts(batchSize: rows, requestCount: 1, queueMicroseconds: start.microseconds(since: enqueued),
                               computeMicroseconds: end.microseconds(since: start))
        job.completion(result.map { BatchOutput(outputs: $0, facts: facts) })
    }

    /// Ends the claim of `runLoneRequestOrWake` on `instance`. It goes back to the sleepers, or, when the batcher
    /// began to stop, its thread woke during the claim (and now sleeps unlisted) or (`wakeForQueued`) work was queued
    /// meanwhile, it is woken.
    private func release(_ instance: Int, wakeForQueued: Bool = true) {
        let wake = state.withLock { state -> Bool in
            state.claimed[instance] = false
            if state.wokeWhileClaimed[instance] {
                state.wokeWhileClaimed[instance] = false
                return true
            }
            guard !state.stopping, state.queue.isEmpty || !wakeForQueued else { return true }
            state.sleepers.append(instance)
            return false
        }
        if wake { wakeups[instance].signal() }
    }

    /// Wakes as many sleeping instances as the queued rows fill batches (at least one, at most every sleeper) when
    /// anything is queued: the wake `submit(_:wakeNow: false)` left to the caller.
    public func wakeIfQueued() {
        let maxBatch = max(1, policy.maxBatchSize)
        let woken = state.withLock { state -> [Int] in
            guard !state.queue.isEmpty, !state.sleepers.isEmpty else { return [] }
            // Rows counted only as far as the sleepers could take them, so the scan is short however long the queue.
            let enough = maxBatch.multipliedReportingOverflow(by: state.sleepers.count)
            let cap = enough.overflow ? Int.max : enough.partialValue
            var rows = 0
            for pending in state.queue {
                guard rows < cap else { break }
                rows = rows.addingReportingOverflow(pending.request.rows).partialValue
            }
            let wanted = min(state.sleepers.count, max(1, (min(rows, cap) + maxBatch - 1) / maxBatch))
            return (0..<wanted).compactMap { _ in state.sleepers.popLast() }
        }
        for index in woken { wakeups[index].signal() }
    }

    /// Wakes every instance that sleeps (the clock moved: a delay may be over, a deadline passed).
    private func wakeSleepers() {
        let sleeping = state.withLock { state in
            defer { state.sleepers.removeAll() }
            return state.sleepers
        }
        for index in sleeping { wakeups[index].signal() }
    }

    /// Requests waiting (a split request counts once).
    public var queuedRequests: Int { state.withLock { $0.queue.count } }
    /// Instances asleep (idle, or waiting for a fuller batch); one claimed by `runLoneRequestOrWake` is not listed.
    public var sleepingInstances: Int { state.withLock { $0.sleepers.count } }
    /// Model runs so far.
    public var computedBatches: Int { batchCounter.load(ordering: .relaxed) }
    /// Rows computed so far.
    public var computedRows: Int { rowCounter.load(ordering: .relaxed) }

    /// Stops accepting work, then either finishes what is queued (`drain`, without waiting for fuller batches) or
    /// fails it with `.shuttingDown`, and joins the instance threads. Idempotent. Not from a completion.
    public func shutdown(drain: Bool = true) {
        let label = modelLabel
        let failed: [Pending] = state.withLock { state in
            state.accepting = false
            state.stopping = true
            // Every instance is woken below: none is a sleeper any more (nor can `runLoneRequestOrWake` claim it).
            state.sleepers.removeAll()
            guard !drain else { return [] }
            defer { state.queue.removeAll() }
            return state.queue
        }
        for pending in failed { finish(pending, with: .shuttingDown(model: label)) }
        for wakeup in wakeups { wakeup.signal() }
        let handles = threads.withLock { handles in
            defer { handles.removeAll() }
            return handles
        }
        for handle in handles { pthread_join(handle, nil) }
    }

    // MARK: - Submission checks

    /// The row count, after checking types and shapes against the signature (batch dimension first).
    private func validate(_ inputs: [Tensor]) throws(BatchError) -> Int {
        let expected = model.signature.inputs
        guard inputs.count == expected.count else {
            throw .invalidInput("model \(modelLabel): expected \(expected.count) input(s), received \(inputs.count)")
        }
        var rows: Int?
        // Indices, not `zip` and `allSatisfy` over `dropFirst()`: their iterators cost every request ~300
        // instructions (callgrind).
        for index in expected.indices {
            let tensor = inputs[index]
            let signature = expected[index]
            guard tensor.dataType == signature.dataType else {
                throw .invalidInput("input '\(signature.name)': expected \(signature.dataType), received \(tensor.dataType)")
            }
            let dims = tensor.shape.dims
            guard dims.count == signature.dims.count, let first = dims.first, Self.sameAfterFirst(dims, signature.dims)
            else {
                throw .invalidInput(
                    "input '\(signature.name)': expected shape \(Shape(signature.dims)), received \(Shape(dims))")
            }
            if let known = rows, known != first {
                throw .invalidInput("input '\(signature.name)': \(first) rows, but another input has \(known)")
            }
            rows = first
        }
        return rows ?? 0
    }

    /// Whether `dims` and `expected` (of the same count) agree after their first dimension.
    private static func sameAfterFirst(_ dims: [Int], _ expected: [Int]) -> Bool {
        var index = 1
        while index < dims.count {
            if dims[index] != expected[index] { return false }
            index += 1
        }
        return true
    }

    // MARK: - Instance threads

    /// The body of instance thread `index`.
    fileprivate func runWorker(index: Int) {
        let context = model.makeContext(maxBatchSize: policy.maxBatchSize, instances: instances, gemmThreads: gemmThreads)
        // Published before this thread first takes the lock; `runLoneRequestOrWake` borrows it only while the
        // instance sleeps.
        slots[index].context = context
        var gather = GatherBuffers(inputCount: model.signature.inputs.count)
        warmUp.report(instance: index, failure: runWarmUp(context: context))
        let policy = self.policy
        while true {
            let now = clock.now()
            let (step, dropped) = state.withLock { state -> (WorkerStep, [(Pending, BatchError)]) in
                if state.claimed[index] {
                    // Woken while `runLoneRequestOrWake` uses this instance's context: sleep, unlisted, until the
                    // release wakes this thread.
                    state.wokeWhileClaimed[index] = true
                    return (.sleep(until: nil), [])
                }
                let dropped = Self.removeExpiredAndCancelled(&state.queue, now: now, model: modelLabel)
                if state.queue.isEmpty, state.stopping { return (.exit, dropped) }
                let decision = policy.decide(queue: state.queue.lazy.map { $0.request }, now: now, draining: state.stopping)
                switch decision {
                case .idle:
                    state.sleepers.append(index)
                    return (.sleep(until: nil), dropped)
                case .wait(let until):
                    state.sleepers.append(index)
                    return (.sleep(until: until), dropped)
                case .run(let selection):
                    return (.run(Self.take(selection, from: &state.queue, now: now)), dropped)
                }
            }
            for (pending, error) in dropped { finish(pending, with: error) }
            switch step {
            case .exit:
                return
            case .sleep(let until):
                if let until {
                    // The decision is made on the clock's instants; the semaphore only takes the distance to
                    // `until` as a relative timeout (a virtual clock wakes the sleepers itself when it jumps).
                    let delay = until.nanoseconds(since: now)
                    _ = wakeups[index].wait(timeout: .now() + .nanoseconds(Int(clamping: delay)))
                } else {
                    wakeups[index].wait()
                }
                // A timed-out sleeper is still listed; unlist it so submitters wake someone who is asleep.
                state.withLock { state in state.sleepers.removeAll { $0 == index } }
            case .run(let pieces):
                compute(pieces, instance: index, context: context, gather: &gather)
            }
        }
    }

    /// Removes requests whose deadline has passed or whose token is set; they are completed outside the lock.
    private static func removeExpiredAndCancelled(
        _ queue: inout [Pending], now: MonotonicInstant, model: String
    ) -> [(Pending, BatchError)] {
        guard queue.contains(where: { $0.isDead(now: now) }) else { return [] }
        var dropped: [(Pending, BatchError)] = []
        queue.removeAll { pending in
            if pending.job.cancellation.isCancelled {
                dropped.append((pending, .cancelled))
                return true
            }
            if let deadline = pending.request.deadline, deadline <= now {
                let waited = now.microseconds(since: pending.request.enqueued)
                dropped.append((pending, .deadlineExceeded(model: model, queuedMicroseconds: waited)))
                return true
            }
            return false
        }
        return dropped
    }

    /// Dequeues the selected rows: whole requests leave the queue, a cut request stays at the front with fewer rows.
    private static func take(_ selection: BatchPolicy.Selection, from queue: inout [Pending], now: MonotonicInstant) -> [Piece] {
        var pieces: [Piece] = []
        pieces.reserveCapacity(selection.requestCount)
        var removed = 0
        for (position, rows) in selection.rowsPerRequest.enumerated() where position < queue.count {
            let pending = queue[position]
            pieces.append(Piece(pending: pending, rowStart: pending.offset, rows: rows))
            if rows >= pending.request.rows {
                removed += 1
            } else {
                queue[position].offset += rows
                queue[position].request.rows -= rows
            }
        }
        queue.removeFirst(removed)
        return pieces
    }

    /// Runs one batch: gathers rows into the batch tensors, runs the plan once, scatters rows to each request.
    private func compute(_ pieces: [Piece], instance: Int, context: ExecutionContext, gather: inout GatherBuffers) {
        let rows = pieces.reduce(0) { $0 + $1.rows }
        hooks.beforeCompute?(BatchTrace(instance: instance, rows: rows, requestCount: pieces.count))
        let start = clock.now()
        var gathered = start
        let result: Result<[Tensor], BatchError>
        if pieces.count == 1, let only = pieces.first, only.isWholeRequest {
            // One whole request: its tensors are the batch, no copy.
            result = Result { () throws(InferenceError) in try context.run(only.pending.job.inputs) }
                .mapError { .inference($0) }
        } else {
            result = gather.run(pieces, rows: rows, signature: model.signature, context: context, clock: clock,
                                gathered: &gathered)
        }
        let end = clock.now()
        let computeMicroseconds = end.microseconds(since: start)
        // Find every request's rows first, so the batch is recorded in `statistics` before any completion runs.
        // They are found, not copied: the encoders read them where they lie (`OutputRows`).
        var outcomes: [Result<OutputRows, BatchError>] = []
        outcomes.reserveCapacity(pieces.count)
        var rowInBatch = 0
        var queueNanoseconds: UInt64 = 0
        var starting = 0
        for piece in pieces {
            switch result {
            case .success(let outputs):
                if pieces.count == 1 && piece.isWholeRequest {
                    outcomes.append(.success(OutputRows(whole: outputs)))
                } else if let rows = OutputRows(tensors: outputs, firstRow: rowInBatch, rowCount: piece.rows) {
                    outcomes.append(.success(rows))
                } else {
                    let shapes = outputs.map(\.shape.description).joined(separator: ", ")
                    outcomes.append(.failure(.internalError(
                        "outputs of shapes \(shapes) do not hold rows \(rowInBatch)..<\(rowInBatch + piece.rows)")))
                }
            case .failure(let error):
                outcomes.append(.failure(error))
            }
            rowInBatch += piece.rows
            queueNanoseconds &+= start.nanoseconds(since: piece.pending.request.enqueued)
            if piece.rowStart == 0 { starting += 1 }
        }
        let sliced = clock.now()
        recordBatch(BatchStatistics.BatchRecord(
            rows: rows, requestsStarting: starting, pieces: pieces.count, queueNanoseconds: queueNanoseconds,
            inputNanoseconds: gathered.nanoseconds(since: start), inferNanoseconds: end.nanoseconds(since: gathered),
            outputNanoseconds: sliced.nanoseconds(since: end)),
            computeNanoseconds: end.nanoseconds(since: start))
        for (piece, outcome) in zip(pieces, outcomes) {
            let facts = BatchFacts(
                batchSize: rows, requestCount: pieces.count,
                queueMicroseconds: start.microseconds(since: piece.pending.request.enqueued),
                computeMicroseconds: computeMicroseconds
            )
            if let assembly = piece.pending.assembly {
                assembly.deliver(offset: piece.rowStart, rows: piece.rows, outcome: outcome.map { $0.copied() }, facts: facts)
            } else {
                piece.pending.job.completion(outcome.map { BatchOutput(rows: $0, facts: facts) })
            }
        }
    }

    /// Counts one model run everywhere it is counted (the batch and row counters, `statistics`, the `afterBatch`
    /// hook), for a batch an instance ran and for a lone request run on a loop thread alike.
    private func recordBatch(_ record: BatchStatistics.BatchRecord, computeNanoseconds: UInt64) {
        batchCounter.add(1, ordering: .relaxed)
        rowCounter.add(record.rows, ordering: .relaxed)
        statistics.record(record)
        hooks.afterBatch?(record.rows, computeNanoseconds)
    }

    private func finish(_ pending: Pending, with error: BatchError) {
        if let assembly = pending.assembly {
            assembly.fail(error)
        } else {
            pending.job.completion(.failure(error))
        }
    }
}

// MARK: - Queue state

/// Everything the queue lock guards.
private struct QueueState {
    var queue: [Pending] = []
    var accepting = true
    var stopping = false
    /// Instances asleep in `idle` or `wait`, most recent last; a submit wakes one. A claimed instance is not listed.
    var sleepers: [Int] = []
    /// Per instance: `runLoneRequestOrWake` holds its context; its thread must not compute until the claim ends.
    var claimed: [Bool]
    /// Per instance: its thread woke during a claim and sleeps unlisted; the release must signal it.
    var wokeWhileClaimed: [Bool]

    init(instances: Int) {
        claimed = Array(repeating: false, count: instances)
        wokeWhileClaimed = Array(repeating: false, count: instances)
    }
}

/// Where an instance's execution context can be reached by `runLoneRequestOrWake`. `@unchecked Sendable`: `context`
/// is written once by the instance thread before it first takes the queue lock; then the context is used by one
/// thread at a time, the instance thread while the instance is unclaimed, the `runLoneRequestOrWake` caller that
/// claimed it (under the lock) until it releases the claim (under the lock), so the lock orders every hand-over.
/// `claimedGather` is only ever touched by a thread that holds the claim (the instance thread never reads it).
private final class InstanceSlot: @unchecked Sendable {
    var context: ExecutionContext?
    /// The batch-assembly buffers of the batches a claimer runs (`runQueuedOrWake`), kept for the next claim.
    var claimedGather: GatherBuffers?
}

/// A queued request: the job, what the policy sees, and how many rows already went into earlier batches.
private struct Pending: Sendable {
    /// The parts that never change once queued, behind one reference.
    let fixed: QueuedJob
    var request: BatchPolicy.Request
    /// Rows of the job already taken (only a request larger than `max_batch_size` is ever cut).
    var offset: Int

    init(job: BatchJob, request: BatchPolicy.Request, offset: Int, assembly: Reassembly?) {
        fixed = QueuedJob(job: job, assembly: assembly)
        self.request = request
        self.offset = offset
    }

    var job: BatchJob { fixed.job }
    /// Collects the pieces of a request larger than `max_batch_size`; nil for the others.
    var assembly: Reassembly? { fixed.assembly }

    func isDead(now: MonotonicInstant) -> Bool {
        if job.cancellation.isCancelled { return true }
        if let deadline = request.deadline, deadline <= now { return true }
        return false
    }
}

/// A queued request's job and reassembly, which never change: one object, so that a `Pending` copied through the
/// queue, the policy's pass and the batch costs one retain and one release, not one per reference in the job (the
/// copies cost ~2K instructions per request at 16 concurrent requests, callgrind).
private final class QueuedJob: Sendable {
    let job: BatchJob
    let assembly: Reassembly?

    init(job: BatchJob, assembly: Reassembly?) {
        self.job = job
        self.assembly = assembly
    }
}

/// A request's rows in one batch.
private struct Piece: Sendable {
    var pending: Pending
    var rowStart: Int
    var rows: Int

    var isWholeRequest: Bool { pending.assembly == nil && rowStart == 0 }
}

private enum WorkerStep: Sendable {
    case run([Piece])
    case sleep(until: MonotonicInstant?)
    case exit
}

/// What a new thread needs: passed through `pthread_create` as a retained pointer.
private final class WorkerStart: Sendable {
    let batcher: Batcher
    let index: Int

    init(batcher: Batcher, index: Int) {
        self.batcher = batcher
        self.index = index
    }
}

/// The pthread entry point: a file-scope function, so it carries no actor isolation into C.
private func batcherWorkerMain(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let argument else { return nil }
    let start = Unmanaged<WorkerStart>.fromOpaque(argument).takeRetainedValue()
    start.batcher.runWorker(index: start.index)
    return nil
}

// MARK: - Gather and scatter

/// An instance thread's reusable input matrices, one per model input; their capacity survives across batches.
/// Owned by one instance thread (a local of `runWorker`).
private struct GatherBuffers {
    var floats: [[Float]]
    var doubles: [[Double]]
    var int64s: [[Int64]]

    init(inputCount: Int) {
        floats = Array(repeating: [], count: inputCount)
        doubles = Array(repeating: [], count: inputCount)
        int64s = Array(repeating: [], count: inputCount)
    }

    /// Copies each piece's rows into the batch matrices and runs the model once; `gathered` is when the copy ended.
    mutating func run(
        _ pieces: [Piece], rows: Int, signature: ModelSignature, context: ExecutionContext, clock: any MonotonicClock,
        gathered: inout MonotonicInstant
    ) -> Result<[Tensor], BatchError> {
        var inputs: [Tensor] = []
        inputs.reserveCapacity(signature.inputs.count)
        for (index, input) in signature.inputs.enumerated() {
            let shape = Shape([rows] + input.dims.dropFirst())
            let perRow = input.elementsPerRow
            let tensor: Tensor?
            switch input.dataType {
            case .float32:
                tensor = Self.gather(pieces, index: index, perRow: perRow, shape: shape, reusing: &floats[index],
                                     values: \.floats, storage: Tensor.Storage.float32)
            case .float64:
                tensor = Self.gather(pieces, index: index, perRow: perRow, shape: shape, reusing: &doubles[index],
                                     values: \.doubles, storage: Tensor.Storage.float64)
            case .int64:
                tensor = Self.gather(pieces, index: index, perRow: perRow, shape: shape, reusing: &int64s[index],
                                     values: \.int64s, storage: Tensor.Storage.int64)
            case .string:
                return .failure(.inference(.dataType(input: input.name, expected: .float32, received: .string)))
            }
            guard let tensor else {
                return .failure(.internalError("input '\(input.name)': not \(input.dataType) after validation, or "
                    + "the gathered rows do not fit \(shape)"))
            }
            inputs.append(tensor)
        }
        gathered = clock.now()
        let result = Result { () throws(InferenceError) in try context.run(inputs) }.mapError { BatchError.inference($0) }
        // Take the buffers back so their capacity is reused; once `inputs` is gone they are uniquely referenced.
        for (index, tensor) in inputs.enumerated() {
            switch tensor.storage {
            case .float32(let values): floats[index] = values
            case .float64(let values): doubles[index] = values
            case .int64(let values): int64s[index] = values
            case .string: break
            }
        }
        inputs.removeAll()
        return result
    }

    /// The rows of input `index` of every piece in one tensor of `shape`, built in `buffer`'s capacity (taken, so
    /// that the tensor holds the only reference); nil when a piece's input is not of this type or does not fit.
    private static func gather<T>(
        _ pieces: [Piece], index: Int, perRow: Int, shape: Shape, reusing buffer: inout [T],
        values: KeyPath<Tensor, [T]?>, storage: ([T]) -> Tensor.Storage
    ) -> Tensor? {
        var rows = buffer
        buffer = []
        rows.removeAll(keepingCapacity: true)
        for piece in pieces {
            guard let elements = piece.pending.job.inputs[index][keyPath: values] else { return nil }
            rows.append(contentsOf: elements[(piece.rowStart * perRow)..<((piece.rowStart + piece.rows) * perRow)])
        }
        return Tensor(shape: shape, storage: storage(rows))
    }
}

/// Rows concatenated along the batch dimension, in the order given.
private func concatenateRows(_ parts: [[Tensor]]) -> Result<[Tensor], BatchError> {
    guard let first = parts.first else { return .success([]) }
    var joined: [Tensor] = []
    for index in first.indices {
        let tensors = parts.compactMap { $0.indices.contains(index) ? $0[index] : nil }
        let rows = tensors.reduce(0) { $0 + ($1.shape.dims.first ?? 0) }
        let shape = Shape([rows] + first[index].shape.dims.dropFirst())
        let storage: Tensor.Storage
        switch first[index].storage {
        case .float32: storage = .float32(tensors.flatMap { $0.floats ?? [] })
        case .float64: storage = .float64(tensors.flatMap { $0.doubles ?? [] })
        case .int64: storage = .int64(tensors.flatMap { $0.int64s ?? [] })
        case .string: storage = .string(tensors.flatMap { $0.strings ?? [] })
        }
        guard let tensor = Tensor(shape: shape, storage: storage) else {
            return .failure(.internalError("reassembled output \(index) does not fit \(shape)"))
        }
        joined.append(tensor)
    }
    return .success(joined)
}

/// Collects the pieces of a request split across batches (possibly computed by several instances at once) and
/// completes it once: with the reassembled rows, or with the first error. Any instance thread; a `Lock` guards it.
private final class Reassembly: Sendable {
    private struct Parts {
        var pieces: [(offset: Int, outputs: [Tensor])] = []
        var rowsDone = 0
        var finished = false
        var facts: BatchFacts?
    }

    let totalRows: Int
    let completion: @Sendable (Result<BatchOutput, BatchError>) -> Void
    private let parts = Lock(Parts())

    init(totalRows: Int, completion: @escaping @Sendable (Result<BatchOutput, BatchError>) -> Void) {
        self.totalRows = totalRows
        self.completion = completion
    }

    func deliver(offset: Int, rows: Int, outcome: Result<[Tensor], BatchError>, facts: BatchFacts) {
        let total = totalRows
        let ready: Result<BatchOutput, BatchError>? = parts.withLock { parts in
            guard !parts.finished else { return nil }
            switch outcome {
            case .failure(let error):
                parts.finished = true
                parts.pieces.removeAll()
                return .failure(error)
            case .success(let outputs):
                parts.pieces.append((offset, outputs))
                parts.rowsDone += rows
                if var merged = parts.facts {
                    merged.batchSize = max(merged.batchSize, facts.batchSize)
                    merged.requestCount = max(merged.requestCount, facts.requestCount)
                    merged.queueMicroseconds = min(merged.queueMicroseconds, facts.queueMicroseconds)
                    merged.computeMicroseconds += facts.computeMicroseconds
                    merged.batches += 1
                    parts.facts = merged
                } else {
                    parts.facts = facts
                }
                guard parts.rowsDone >= total, let facts = parts.facts else { return nil }
                parts.finished = true
                let ordered = parts.pieces.sorted { $0.offset < $1.offset }.map(\.outputs)
                parts.pieces.removeAll()
                return concatenateRows(ordered).map { BatchOutput(outputs: $0, facts: facts) }
            }
        }
        if let ready { completion(ready) }
    }

    func fail(_ error: BatchError) {
        let first = parts.withLock { parts in
            defer { parts.finished = true; parts.pieces.removeAll() }
            return !parts.finished
        }
        if first { completion(.failure(error)) }
    }
}
