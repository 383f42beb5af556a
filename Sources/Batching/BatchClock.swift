internal import Glibc
internal import Synchronization

/// A point on a monotonic clock, in nanoseconds since an arbitrary origin. Deadlines, enqueue times and the policy's
/// `now` are all `BatchInstant`s from one `MonotonicClock`. A plain value: any thread.
public struct BatchInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func < (lhs: BatchInstant, rhs: BatchInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// This instant moved later by `microseconds` (saturating; negative values count as 0).
    public func advanced(byMicroseconds microseconds: Int) -> BatchInstant {
        let (delta, overflow) = UInt64(max(0, microseconds)).multipliedReportingOverflow(by: 1_000)
        if overflow { return BatchInstant(nanoseconds: .max) }
        let (sum, carry) = nanoseconds.addingReportingOverflow(delta)
        return BatchInstant(nanoseconds: carry ? .max : sum)
    }

    /// This instant moved later by `nanoseconds` (saturating).
    public func advanced(byNanoseconds delta: UInt64) -> BatchInstant {
        let (sum, carry) = nanoseconds.addingReportingOverflow(delta)
        return BatchInstant(nanoseconds: carry ? .max : sum)
    }

    /// Whole microseconds from `earlier` to `self`; 0 if `earlier` is later.
    public func microseconds(since earlier: BatchInstant) -> Int {
        guard nanoseconds > earlier.nanoseconds else { return 0 }
        return Int(clamping: (nanoseconds - earlier.nanoseconds) / 1_000)
    }

    /// Nanoseconds from `earlier` to `self`; 0 if `earlier` is later.
    public func nanoseconds(since earlier: BatchInstant) -> UInt64 {
        nanoseconds > earlier.nanoseconds ? nanoseconds - earlier.nanoseconds : 0
    }

    public var description: String { "\(nanoseconds)ns" }
}

/// The source of `now` for a `Batcher`. Implementations are `Sendable` and may be read from any thread (submitters
/// on loop threads, instance threads).
public protocol MonotonicClock: Sendable {
    func now() -> BatchInstant
}

/// `CLOCK_MONOTONIC`, the clock the event loops' timers use, so a deadline computed on a loop thread from
/// `grpc-timeout` is comparable here. Stateless: any thread.
public struct SystemMonotonicClock: MonotonicClock {
    public init() {}

    public func now() -> BatchInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return BatchInstant(nanoseconds: UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec))
    }
}

/// A clock that moves only when told to: tests drive deadlines with it. The time is an `Atomic`, so any thread may
/// read or advance it. `package`: a test hook, not API.
package final class ManualClock: MonotonicClock {
    private let current: Atomic<UInt64>

    package init(start: BatchInstant = BatchInstant(nanoseconds: 1_000_000_000)) {
        current = Atomic(start.nanoseconds)
    }

    package func now() -> BatchInstant { BatchInstant(nanoseconds: current.load(ordering: .acquiring)) }

    package func advance(byMicroseconds microseconds: Int) {
        let delta = UInt64(max(0, microseconds)) &* 1_000
        current.wrappingAdd(delta, ordering: .acquiringAndReleasing)
    }
}
