internal import Clocks
internal import Locks
internal import Synchronization

/// The counters behind KServe's `ModelStatistics` (Triton's names and meanings) for one model version, i.e. one
/// `Batcher`: executions, inferences, per-request queue and compute durations, per-batch-size durations, and the
/// request outcomes the server records.
///
/// Threads: any. The batcher records once per batch under a `Lock` (instance threads, outside the queue lock);
/// the server records each request's outcome with `Atomic` adds (instance or loop threads); `snapshot` may be taken
/// from any thread. A batch is recorded before any of its completions run, so a client that holds a response sees
/// its request counted.
public final class BatchStatistics: Sendable {
    /// A count and the total nanoseconds over it (`inference.StatisticDuration`).
    public struct Duration: Sendable, Equatable {
        public var count: UInt64 = 0
        public var nanoseconds: UInt64 = 0

        public init(count: UInt64 = 0, nanoseconds: UInt64 = 0) {
            self.count = count
            self.nanoseconds = nanoseconds
        }

        mutating func add(count: UInt64, nanoseconds: UInt64) {
            self.count &+= count
            self.nanoseconds &+= nanoseconds
        }
    }

    /// The executions of one batch size (`inference.InferBatchStatistics`): each duration counts batches, not
    /// requests.
    public struct BatchSize: Sendable, Equatable {
        public var batchSize: Int
        public var computeInput = Duration()
        public var computeInfer = Duration()
        public var computeOutput = Duration()

        public init(batchSize: Int) { self.batchSize = batchSize }
    }

    /// Everything at one moment (`inference.ModelStatistics` without name and version).
    public struct Snapshot: Sendable, Equatable {
        /// Wall-clock time of the last executed batch, milliseconds since the Unix epoch (0: none yet).
        public var lastInferenceMilliseconds: UInt64 = 0
        /// Rows computed (Triton: each inference in a batch counts once).
        public var inferenceCount: UInt64 = 0
        /// Model runs (batches).
        public var executionCount: UInt64 = 0
        /// Requests answered successfully, and their time from receipt to the response being built.
        public var success = Duration()
        /// Requests for this version that failed (bad input, queue full, deadline, engine error, shutdown).
        public var fail = Duration()
        /// Per request: time in the batch queue.
        public var queue = Duration()
        /// Per request: gathering its batch's inputs, running the model, slicing its outputs (the batch's times,
        /// counted once for every request in it).
        public var computeInput = Duration()
        public var computeInfer = Duration()
        public var computeOutput = Duration()
        /// Per batch size, ascending.
        public var batchSizes: [BatchSize] = []

        public init() {}
    }

    /// What one batch contributes, measured by the instance thread that ran it.
    public struct BatchRecord: Sendable {
        public var rows: Int
        /// Requests that start in this batch (a request split across batches counts in its first one).
        public var requestsStarting: Int
        /// Every request (or piece of one) in the batch.
        public var pieces: Int
        /// The summed queue time of the pieces.
        public var queueNanoseconds: UInt64
        public var inputNanoseconds: UInt64
        public var inferNanoseconds: UInt64
        public var outputNanoseconds: UInt64

        public init(
            rows: Int, requestsStarting: Int, pieces: Int, queueNanoseconds: UInt64, inputNanoseconds: UInt64,
            inferNanoseconds: UInt64, outputNanoseconds: UInt64
        ) {
            self.rows = rows
            self.requestsStarting = requestsStarting
            self.pieces = pieces
            self.queueNanoseconds = queueNanoseconds
            self.inputNanoseconds = inputNanoseconds
            self.inferNanoseconds = inferNanoseconds
            self.outputNanoseconds = outputNanoseconds
        }
    }

    private struct BatchTotals {
        var snapshot = Snapshot()
        var bySize: [Int: BatchSize] = [:]
    }

    private let batches = Lock(BatchTotals())
    private let successCount = Atomic<UInt64>(0)
    private let successNanoseconds = Atomic<UInt64>(0)
    private let failCount = Atomic<UInt64>(0)
    private let failNanoseconds = Atomic<UInt64>(0)

    public init() {}

    /// Records one executed batch (an instance thread, before the batch's completions run).
    public func record(_ batch: BatchRecord) {
        let starting = UInt64(clamping: batch.requestsStarting)
        let pieces = UInt64(clamping: batch.pieces)
        let now = WallClock.millisecondsSinceEpoch()
        batches.withLock { totals in
            totals.snapshot.lastInferenceMilliseconds = now
            totals.snapshot.inferenceCount &+= UInt64(clamping: batch.rows)
            totals.snapshot.executionCount &+= 1
            totals.snapshot.queue.add(count: starting, nanoseconds: batch.queueNanoseconds)
            totals.snapshot.computeInput.add(count: starting, nanoseconds: batch.inputNanoseconds &* pieces)
            totals.snapshot.computeInfer.add(count: starting, nanoseconds: batch.inferNanoseconds &* pieces)
            totals.snapshot.computeOutput.add(count: starting, nanoseconds: batch.outputNanoseconds &* pieces)
            var size = totals.bySize[batch.rows] ?? BatchSize(batchSize: batch.rows)
            size.computeInput.add(count: 1, nanoseconds: batch.inputNanoseconds)
            size.computeInfer.add(count: 1, nanoseconds: batch.inferNanoseconds)
            size.computeOutput.add(count: 1, nanoseconds: batch.outputNanoseconds)
            totals.bySize[batch.rows] = size
        }
    }

    /// Records one request's outcome and its time from receipt to the response (or error) being ready.
    public func recordRequest(succeeded: Bool, nanoseconds: UInt64) {
        if succeeded {
            successNanoseconds.wrappingAdd(nanoseconds, ordering: .relaxed)
            successCount.wrappingAdd(1, ordering: .releasing)
        } else {
            failNanoseconds.wrappingAdd(nanoseconds, ordering: .relaxed)
            failCount.wrappingAdd(1, ordering: .releasing)
        }
    }

    /// The counters now. Each group (batches, successes, failures) is consistent in itself.
    public func snapshot() -> Snapshot {
        var result = batches.withLock { totals in
            var snapshot = totals.snapshot
            snapshot.batchSizes = totals.bySize.values.sorted { $0.batchSize < $1.batchSize }
            return snapshot
        }
        result.success = Duration(
            count: successCount.load(ordering: .acquiring), nanoseconds: successNanoseconds.load(ordering: .relaxed))
        result.fail = Duration(
            count: failCount.load(ordering: .acquiring), nanoseconds: failNanoseconds.load(ordering: .relaxed))
        return result
    }
}
