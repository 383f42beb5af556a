// Clients/TensorwireCLI/LatencyHistogram.swift: a log-linear histogram of latencies in microseconds.

/// Counts of values (microseconds) in log-linear buckets: exact below 64, then each power of two split into 64
/// equal sub-buckets, so a reported percentile is within 1/64 (1.6 %) of the true value; the maximum is exact.
/// Memory is fixed (about 3,700 buckets up to 2^63). A plain value; the bench guards it with a lock.
public struct LatencyHistogram: Sendable, Equatable {
    static let subBucketBits = 6
    static let subBuckets = 1 << subBucketBits
    private var counts: [UInt64]
    public private(set) var count: UInt64 = 0
    public private(set) var max: UInt64 = 0
    public private(set) var sum: Double = 0

    public init() {
        counts = Array(repeating: 0, count: Self.subBuckets * (64 - Self.subBucketBits + 1))
    }

    static func index(of value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount  // >= subBucketBits
        let shift = exponent - subBucketBits
        let sub = Int(value >> UInt64(shift)) - subBuckets  // 0..<subBuckets
        return subBuckets + shift * subBuckets + sub
    }

    /// The smallest value in bucket `index` and the bucket's width.
    static func range(of index: Int) -> (low: UInt64, width: UInt64) {
        if index < subBuckets { return (UInt64(index), 1) }
        let shift = (index - subBuckets) / subBuckets
        let sub = (index - subBuckets) % subBuckets
        return (UInt64(subBuckets + sub) << UInt64(shift), 1 << UInt64(shift))
    }

    /// Records one value.
    public mutating func record(_ value: UInt64) {
        counts[Self.index(of: value)] += 1
        count += 1
        sum += Double(value)
        if value > max { max = value }
    }

    /// Adds another histogram's counts.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
        sum += other.sum
        if other.max > max { max = other.max }
    }

    /// The value at quantile `q` (0...1): the midpoint of the bucket holding it, never above the maximum; 0 when
    /// empty.
    public func value(atQuantile q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((q * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen >= rank {
                let (low, width) = Self.range(of: index)
                return Swift.min(low + (width - 1) / 2, max)
            }
        }
        return max
    }

    /// The mean of the recorded values.
    public var mean: Double { count == 0 ? 0 : sum / Double(count) }
}
