// The three kinds of metric a registry hands out. Every update is one or two relaxed atomic operations and never
// takes a lock: they run on the request path (loop threads, instance threads), where a contended lock per request
// would serialise the threads that the server spreads work over. Reads for the exposition are relaxed loads too;
// a scrape sees each value at some instant during the scrape, which is all Prometheus asks for.

internal import Synchronization

/// A monotonically increasing count (requests, rows, batches). One relaxed atomic add per `increment`; any thread.
/// Obtained from a `CounterFamily` with its label values and meant to be kept by the caller, so the hot path pays
/// neither the label lookup nor its lock.
public final class Counter: Sendable {
    private let cells = AtomicCells(count: 1, initial: 0)
    /// When the child was created, in seconds since the Unix epoch (OpenMetrics `_created`).
    let created: Double

    init(created: Double) { self.created = created }

    /// Adds `amount` (wrapping at 2^64, which a counter of requests does not reach).
    @inline(__always)
    public func increment(by amount: UInt64 = 1) {
        cells.base[0].wrappingAdd(amount, ordering: .relaxed)
    }

    /// The count now.
    public var value: UInt64 { cells.base[0].load(ordering: .relaxed) }
}

/// A value that goes up and down (queue depth, in-flight requests, a state flag). The `Double` is kept as its bit
/// pattern in one atomic word: `set` is a relaxed store, `add` a compare-and-exchange loop. Any thread.
public final class Gauge: Sendable {
    private let cells = AtomicCells(count: 1, initial: Double(0).bitPattern)

    init() {}

    /// Replaces the value.
    @inline(__always)
    public func set(_ value: Double) {
        cells.base[0].store(value.bitPattern, ordering: .relaxed)
    }

    /// Adds `delta` (negative to subtract).
    @inline(__always)
    public func add(_ delta: Double) {
        addDouble(delta, to: cells.base[0])
    }

    /// Adds 1.
    public func increment() { add(1) }

    /// Subtracts 1.
    public func decrement() { add(-1) }

    /// The value now.
    public var value: Double { Double(bitPattern: cells.base[0].load(ordering: .relaxed)) }
}

/// Atomic words on cache lines of their own: one allocation, 64-byte aligned and padded to whole lines, made when
/// the metric is created and freed with it. Two metrics updated by two threads (the counters of two models, say)
/// never share a line, so neither thread's update evicts the other's (false sharing); a metric updated by both
/// still moves its line between the cores, which is the price of one shared total.
struct AtomicCells: ~Copyable, @unchecked Sendable {
    // @unchecked: `base` is allocated and initialised in init, never reassigned, and freed in deinit; every access
    // in between goes through `Atomic`, so sharing the pointer between threads is safe.
    let base: UnsafeMutablePointer<Atomic<UInt64>>
    private let count: Int

    static let lineSize = 64

    init(count: Int, initial: UInt64) {
        let stride = MemoryLayout<Atomic<UInt64>>.stride
        let bytes = (count * stride + Self.lineSize - 1) / Self.lineSize * Self.lineSize
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.lineSize)
        base = raw.bindMemory(to: Atomic<UInt64>.self, capacity: count)
        self.count = count
        for index in 0..<count { (base + index).initialize(to: Atomic(initial)) }
    }

    deinit {
        base.deinitialize(count: count)
        UnsafeMutableRawPointer(base).deallocate()
    }
}

/// Adds `delta` to the `Double` whose bit pattern `word` holds: load, add, compare-and-exchange, retry with the value
/// another thread stored meanwhile. Uncontended it is one `lock cmpxchg`, the same cost as the `lock xadd` of an
/// integer add (the benchmark in Tools/bench/swift/tensorwire-metrics-bench compares the two).
@inline(__always)
func addDouble(_ delta: Double, to word: borrowing Atomic<UInt64>) {
    var expected = word.load(ordering: .relaxed)
    while true {
        let desired = (Double(bitPattern: expected) + delta).bitPattern
        let (exchanged, original) = word.weakCompareExchange(
            expected: expected, desired: desired, ordering: .relaxed)
        if exchanged { return }
        expected = original
    }
}

/// A distribution over fixed buckets (durations, batch sizes). `observe` finds the bucket by binary search over the
/// upper bounds, then does one relaxed atomic add on that bucket's count and one compare-and-exchange loop on the
/// sum. The count of observations is not a third atomic: it is the sum of the buckets, read at scrape time, so the
/// `+Inf` bucket and `_count` always agree. The bucket counts and the sum share one `AtomicCells` allocation. Any
/// thread.
public final class Histogram: Sendable {
    /// The finite upper bounds, strictly increasing; observations above the last fall in the `+Inf` bucket.
    let upperBounds: [Double]
    /// `cells.base[0]`: the sum's bit pattern; `cells.base[1 + i]`: observations in bucket `i` (not cumulative),
    /// the last one being `+Inf`.
    private let cells: AtomicCells
    let created: Double

    init(upperBounds: [Double], created: Double) {
        self.upperBounds = upperBounds
        self.created = created
        // All zeros: no observations, and a sum of 0.0 (whose bit pattern is 0).
        cells = AtomicCells(count: upperBounds.count + 2, initial: 0)
    }

    /// Records one observation. NaN counts in the `+Inf` bucket (and makes the sum NaN), as in client_golang.
    @inline(__always)
    public func observe(_ value: Double) {
        // The first bound >= value; written so that NaN (every comparison false) lands past the last bound.
        var low = 0
        var high = upperBounds.count
        while low < high {
            let middle = (low &+ high) &>> 1
            if value <= upperBounds[middle] { high = middle } else { low = middle &+ 1 }
        }
        cells.base[1 &+ low].wrappingAdd(1, ordering: .relaxed)
        addDouble(value, to: cells.base[0])
    }

    /// The sum of every observation so far.
    public var sum: Double { Double(bitPattern: cells.base[0].load(ordering: .relaxed)) }

    /// Cumulative counts: element `i` is the number of observations <= `upperBounds[i]`; the last element (one past
    /// the bounds) is the `+Inf` bucket, which is also the number of observations.
    public var cumulativeCounts: [UInt64] {
        var running: UInt64 = 0
        return (0...upperBounds.count).map { index in
            running &+= cells.base[1 + index].load(ordering: .relaxed)
            return running
        }
    }

    /// The number of observations so far.
    public var count: UInt64 { cumulativeCounts.last ?? 0 }
}

extension Histogram {
    /// `count` bounds `start`, `start × factor`, `start × factor²`, …; `start` > 0, `factor` > 1, `count` >= 1.
    public static func exponentialBuckets(start: Double, factor: Double, count: Int) -> [Double] {
        precondition(start > 0 && factor > 1 && count >= 1, "exponentialBuckets needs start > 0, factor > 1, count >= 1")
        var bounds: [Double] = []
        var bound = start
        for _ in 0..<count {
            bounds.append(bound)
            bound *= factor
        }
        return bounds
    }

    /// `count` bounds `start`, `start + width`, `start + 2 × width`, …; `width` > 0, `count` >= 1.
    public static func linearBuckets(start: Double, width: Double, count: Int) -> [Double] {
        precondition(width > 0 && count >= 1, "linearBuckets needs width > 0 and count >= 1")
        return (0..<count).map { start + Double($0) * width }
    }

    /// The batch-size bounds 1, 2, 4, … up to `maxBatchSize`, which is the last bound even when it is not a power
    /// of two (`maxBatchSize` 48 gives 1, 2, 4, 8, 16, 32, 48): every batch size has an exact upper bucket and the
    /// `+Inf` bucket stays empty.
    public static func batchSizeBuckets(maxBatchSize: Int) -> [Double] {
        precondition(maxBatchSize >= 1, "batchSizeBuckets needs maxBatchSize >= 1")
        var bounds: [Double] = []
        var size = 1
        while size < maxBatchSize {
            bounds.append(Double(size))
            size *= 2
        }
        bounds.append(Double(maxBatchSize))
        return bounds
    }

    /// Prometheus's default latency bounds in seconds (client_golang's `DefBuckets`): 5 ms to 10 s.
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
}
