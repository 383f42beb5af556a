internal import Glibc
internal import Locks
internal import Synchronization

/// The source of `now` on the Predict path: the event loops' timers and the deadlines computed from
/// `grpc-timeout`, the batchers' policy and the statistics' durations all read one clock passed down from the
/// composition root. Implementations are `Sendable` and may be read from any thread (loop threads, instance
/// threads, callers).
public protocol MonotonicClock: Sendable {
    func now() -> MonotonicInstant

    /// Asks the clock to call `wake` (on whichever thread moved it) each time its time jumps forward, so a thread
    /// that sleeps until an instant of this clock can look again. The system clock never jumps and ignores it; a
    /// virtual clock (`ManualClock`) must call it, or a loop or batcher would sleep through its deadlines. `wake`
    /// must be cheap and must not block.
    func onAdvance(_ wake: @escaping @Sendable () -> Void)

    /// Whether `onAdvance` ever calls back (a virtual clock). A caller registers only then: the callback holds a
    /// weak reference to its owner, and a weakly referenced object pays the runtime's slow path on every retain
    /// and release for the rest of its life (a batcher or a loop is retained on every request).
    var jumps: Bool { get }
}

extension MonotonicClock {
    public func onAdvance(_ wake: @escaping @Sendable () -> Void) {}
    public var jumps: Bool { false }
}

/// `CLOCK_MONOTONIC`: the clock `epoll_wait` and semaphore timeouts elapse on, not adjusted by NTP steps.
/// (`ContinuousClock` is `CLOCK_BOOTTIME` on Linux, which also counts time suspended; a server is never suspended,
/// and mixing the two would put a loop timer and a batch deadline on different time lines.) Stateless: any thread.
public struct SystemMonotonicClock: MonotonicClock {
    public init() {}

    public func now() -> MonotonicInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicInstant(nanoseconds: UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec))
    }
}

/// A clock that moves only when told to: tests drive deadlines, batch delays and loop timers with it (as NIO's
/// `EmbeddedEventLoop.advanceTime` does). The time is an `Atomic` and the observers sit behind a `Lock`, so any
/// thread may read or advance it; observers run on the advancing thread. `package`: a test hook, not API.
package final class ManualClock: MonotonicClock {
    private let current: Atomic<UInt64>
    private let observers = Lock<[@Sendable () -> Void]>([])

    package init(start: MonotonicInstant = MonotonicInstant(nanoseconds: 1_000_000_000)) {
        current = Atomic(start.nanoseconds)
    }

    package func now() -> MonotonicInstant { MonotonicInstant(nanoseconds: current.load(ordering: .acquiring)) }

    package var jumps: Bool { true }

    package func onAdvance(_ wake: @escaping @Sendable () -> Void) {
        observers.withLock { $0.append(wake) }
    }

    package func advance(byMicroseconds microseconds: Int) {
        let (delta, overflow) = UInt64(max(0, microseconds)).multipliedReportingOverflow(by: 1_000)
        advance(byNanoseconds: overflow ? .max : delta)
    }

    package func advance(by duration: Duration) {
        advance(byNanoseconds: UInt64(max(0, duration.saturatingNanoseconds)))
    }

    private func advance(byNanoseconds delta: UInt64) {
        current.wrappingAdd(delta, ordering: .acquiringAndReleasing)
        for wake in observers.withLock({ $0 }) { wake() }
    }
}

/// Wall-clock time (`CLOCK_REALTIME`), only for timestamps that are reported as dates, such as KServe's
/// `last_inference`. Never for durations or deadlines: it steps when the system time is set.
public enum WallClock {
    /// Milliseconds since the Unix epoch.
    public static func millisecondsSinceEpoch() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(clamping: spec.tv_sec) &* 1_000 &+ UInt64(clamping: spec.tv_nsec / 1_000_000)
    }
}
