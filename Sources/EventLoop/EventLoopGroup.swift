public import Clocks
internal import Synchronization

/// A fixed set of loop threads handed out round-robin (e.g. one accepted connection per `next()`).
/// Any thread may call `next()` and `shutdown()`.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let cursor = Atomic<Int>(0)

    /// Starts `count` loops whose timers run on `clock`.
    public init(count: Int, namePrefix: String = "tw-loop", clock: any MonotonicClock = SystemMonotonicClock()) throws {
        precondition(count > 0, "an EventLoopGroup needs at least one loop")
        var loops: [EventLoop] = []
        do {
            for i in 0..<count { loops.append(try EventLoop(name: "\(namePrefix)-\(i)", clock: clock)) }
        } catch {
            for loop in loops { loop.shutdown() }
            throw error
        }
        self.loops = loops
    }

    public func next() -> EventLoop {
        let i = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[i % loops.count]
    }

    /// Shuts down and joins every loop.
    public func shutdown() {
        for loop in loops { loop.shutdown() }
    }
}
