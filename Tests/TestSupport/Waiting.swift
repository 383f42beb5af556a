// Tests/TestSupport/Waiting.swift: the one way a test waits for another thread. Each wait is for an event (a value
// arriving, a condition becoming true); the time limit is only a guard that turns a hang into a failure, never what
// decides the outcome.

internal import Dispatch
internal import Locks

/// A one-shot value filled in by another thread (a completion, a handler reaching a step). The first `fulfill`
/// wins; `wait` blocks on a semaphore until it arrives. Any thread.
package final class Promise<Value: Sendable>: Sendable {
    private let value = Lock<Value?>(nil)
    private let semaphore = DispatchSemaphore(value: 0)

    package init() {}

    package func fulfill(_ newValue: Value) {
        let first = value.withLock { current -> Bool in
            guard current == nil else { return false }
            current = newValue
            return true
        }
        if first { semaphore.signal() }
    }

    /// The value once it has arrived, or nil if it has not after `seconds` (a failure guard: callers `#expect` or
    /// `#require` the value). `seconds: 0` asks whether it has arrived already.
    package func wait(seconds: Double = 30) -> Value? {
        guard semaphore.wait(timeout: .now() + seconds) == .success else { return nil }
        semaphore.signal()
        return value.withLock { $0 }
    }

    /// The value if it has arrived, without waiting.
    package var current: Value? { value.withLock { $0 } }
}

/// Checks `condition` until it holds, re-checking every millisecond, for state that another thread changes without
/// telling (a counter of the server, a queue length). Returns false if it still does not hold after `seconds`: a
/// failure guard, so callers `#expect` the result.
package func waitUntil(seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let giveUp = DispatchTime.now() + seconds
    while DispatchTime.now() < giveUp {
        if try condition() { return true }
        _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .milliseconds(1))
    }
    return try condition()
}
