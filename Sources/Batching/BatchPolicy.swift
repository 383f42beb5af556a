public import Clocks
public import Inference

/// The batching decision as a pure function of the queue and the current time, in the spirit of Triton's
/// `DynamicBatchScheduler::GetDynamicBatch` but without its clock reads or cursor mutation, so tests drive it with
/// a virtual clock. A plain value: any thread; the `Batcher` calls it under its queue lock.
///
/// Semantics:
/// - An empty queue is `.idle`.
/// - With no delay (`maxQueueDelayMicroseconds == 0`, the default) a free instance takes what is queued at once, up
///   to `maxBatchSize` rows: it never waits. Requests accumulate only while every instance is busy.
/// - With a delay, a partial batch waits for a preferred or full batch, at most until the oldest request has waited
///   the delay. A queued deadline that falls before that point runs the batch at once: waiting would spend time the
///   request does not have (the batcher drops requests whose deadline has passed before compute).
/// - A request's rows stay contiguous in one batch, unless the request (what remains of it) is larger than
///   `maxBatchSize`: then it is cut into pieces, the first filling the rest of the current batch.
/// - Requests are taken in queue order; one that does not fit ends the batch (no reordering).
public struct BatchPolicy: Sendable, Equatable {
    /// The most rows per batch (at least 1; 1 turns batching off).
    public var maxBatchSize: Int
    /// How long a partial batch may wait, measured from the oldest queued request.
    public var maxQueueDelayMicroseconds: Int
    /// Batch sizes worth stopping at, ascending.
    public var preferredBatchSizes: [Int]

    public init(maxBatchSize: Int, maxQueueDelayMicroseconds: Int = 0, preferredBatchSizes: [Int] = []) {
        self.maxBatchSize = max(1, maxBatchSize)
        self.maxQueueDelayMicroseconds = max(0, maxQueueDelayMicroseconds)
        self.preferredBatchSizes = preferredBatchSizes.filter { $0 >= 1 }.sorted()
    }

    /// The batching knobs of a model's config.json.
    public init(config: ModelConfig) {
        self.init(
            maxBatchSize: config.maxBatchSize,
            maxQueueDelayMicroseconds: config.maxQueueDelayMicroseconds,
            preferredBatchSizes: config.preferredBatchSizes
        )
    }

    /// What the policy sees of one queued request.
    public struct Request: Sendable, Equatable {
        /// Rows not yet computed (less than the request's size once part of it ran in an earlier batch).
        public var rows: Int
        /// When the request was queued.
        public var enqueued: MonotonicInstant
        /// When the request expires, if it has a deadline.
        public var deadline: MonotonicInstant?

        public init(rows: Int, enqueued: MonotonicInstant, deadline: MonotonicInstant? = nil) {
            self.rows = max(0, rows)
            self.enqueued = enqueued
            self.deadline = deadline
        }
    }

    /// The rows of the next batch: from each of the first `rowsPerRequest.count` queued requests, in queue order,
    /// take `rowsPerRequest[i]` rows. Only the last entry may be fewer than that request's remaining rows (a cut).
    public struct Selection: Sendable, Equatable {
        public var rowsPerRequest: [Int]

        public init(rowsPerRequest: [Int]) { self.rowsPerRequest = rowsPerRequest }

        /// Rows in the batch.
        public var rows: Int { rowsPerRequest.reduce(0, +) }
        /// Requests (or pieces of requests) in the batch.
        public var requestCount: Int { rowsPerRequest.count }
    }

    /// What a free instance does next.
    public enum Decision: Sendable, Equatable {
        /// Run this batch now.
        case run(Selection)
        /// Nothing worth running yet: decide again at `until` or when a request arrives.
        case wait(until: MonotonicInstant)
        /// The queue is empty: sleep until a request arrives.
        case idle
    }

    /// Decides for one free instance. `queue` is in arrival order and holds no expired or cancelled requests (the
    /// batcher removes them first). `draining` (shutdown) runs partial batches without waiting.
    public func decide<Queue: Collection>(
        queue: Queue, now: MonotonicInstant, draining: Bool = false
    ) -> Decision where Queue.Element == Request {
        var taken: [Int] = []
        var total = 0
        var filling = true
        var blocked = false // the batch is full, or the next request does not fit: waiting cannot grow it
        var preferredMark: Int?
        var oldest: MonotonicInstant?
        var earliestDeadline: MonotonicInstant?
        for request in queue {
            oldest = min(oldest ?? request.enqueued, request.enqueued)
            if let deadline = request.deadline { earliestDeadline = min(earliestDeadline ?? deadline, deadline) }
            guard filling else { continue }
            let room = maxBatchSize - total
            if room <= 0 {
                filling = false
                blocked = true
            } else if request.rows <= room {
                taken.append(request.rows)
                total += request.rows
                if preferredBatchSizes.contains(total) { preferredMark = taken.count }
            } else if request.rows > maxBatchSize {
                taken.append(room)
                total += room
                filling = false
                blocked = true
            } else {
                filling = false
                blocked = true
            }
        }
        guard !taken.isEmpty, let oldest else { return .idle }
        let all = Decision.run(Selection(rowsPerRequest: taken))
        if maxQueueDelayMicroseconds == 0 || draining || blocked || total >= maxBatchSize { return all }
        if let preferredMark { return .run(Selection(rowsPerRequest: Array(taken.prefix(preferredMark)))) }
        let delayEnds = oldest.advanced(byMicroseconds: maxQueueDelayMicroseconds)
        if now >= delayEnds { return all }
        if let earliestDeadline, earliestDeadline <= delayEnds { return all }
        return .wait(until: delayEnds)
    }
}
