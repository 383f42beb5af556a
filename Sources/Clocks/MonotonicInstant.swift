/// A point on the process's one monotonic clock (`CLOCK_MONOTONIC`), in nanoseconds since an arbitrary origin.
/// Every instant on the Predict path is one of these, from one `MonotonicClock`: the event loops' timers, a call's
/// deadline from `grpc-timeout`, the batcher's enqueue times and deadlines, and the queue, compute and request
/// durations the statistics report. A plain value: any thread.
///
/// Arithmetic saturates: an instant never wraps (a deadline of "effectively never" stays at `.max`) and the
/// distance from a later instant to an earlier one is zero where the result is unsigned.
public struct MonotonicInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The latest representable instant ("never").
    public static let max = MonotonicInstant(nanoseconds: .max)

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// This instant moved later by `microseconds` (saturating; negative values count as 0).
    public func advanced(byMicroseconds microseconds: Int) -> MonotonicInstant {
        let (delta, overflow) = UInt64(Swift.max(0, microseconds)).multipliedReportingOverflow(by: 1_000)
        if overflow { return .max }
        return advanced(byNanoseconds: delta)
    }

    /// This instant moved later by `nanoseconds` (saturating).
    public func advanced(byNanoseconds delta: UInt64) -> MonotonicInstant {
        let (sum, carry) = nanoseconds.addingReportingOverflow(delta)
        return MonotonicInstant(nanoseconds: carry ? .max : sum)
    }

    /// This instant moved by `duration`, later or earlier (saturating at both ends).
    public func advanced(by duration: Duration) -> MonotonicInstant {
        let delta = duration.saturatingNanoseconds
        if delta >= 0 { return advanced(byNanoseconds: UInt64(delta)) }
        let back = delta.magnitude
        return MonotonicInstant(nanoseconds: nanoseconds > back ? nanoseconds - back : 0)
    }

    /// Whole microseconds from `earlier` to `self`; 0 if `earlier` is later.
    public func microseconds(since earlier: MonotonicInstant) -> Int {
        Int(clamping: nanoseconds(since: earlier) / 1_000)
    }

    /// Nanoseconds from `earlier` to `self`; 0 if `earlier` is later.
    public func nanoseconds(since earlier: MonotonicInstant) -> UInt64 {
        nanoseconds > earlier.nanoseconds ? nanoseconds - earlier.nanoseconds : 0
    }

    /// The signed time from `earlier` to `self` (negative if `earlier` is later), clamped to ±`Int64.max` ns.
    public func duration(since earlier: MonotonicInstant) -> Duration {
        if nanoseconds >= earlier.nanoseconds {
            return .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds))
        }
        return .nanoseconds(-Int64(clamping: earlier.nanoseconds - nanoseconds))
    }

    public static func + (instant: MonotonicInstant, duration: Duration) -> MonotonicInstant {
        instant.advanced(by: duration)
    }

    public static func - (later: MonotonicInstant, earlier: MonotonicInstant) -> Duration {
        later.duration(since: earlier)
    }

    public var description: String { "\(nanoseconds)ns" }
}

extension Duration {
    /// The whole nanoseconds of this duration, clamped to `Int64`'s range (±292 years).
    var saturatingNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if carry { return seconds < 0 ? .min : .max }
        return sum
    }
}
