// Tests/EventLoopTests/TimerQueueTests.swift: the loop's timer heap as a value, on a virtual clock (instants built
// from one origin; nothing waits).

import Testing
@testable import EventLoop
import Clocks

private let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)

private func at(milliseconds: Int) -> MonotonicInstant { t0 + .milliseconds(milliseconds) }

/// Records which timers ran, in order.
private final class Log {
    var fired: [String] = []
}

extension TimerQueue {
    /// Runs every timer due at `now` that was scheduled before the call, the way the loop does.
    fileprivate mutating func runDue(now: MonotonicInstant) {
        let newest = newestID
        while let body = popDue(now: now, newest: newest) { body() }
    }
}

@Suite struct TimerQueueTests {
    @Test func emptyQueueWaitsForever() {
        var queue = TimerQueue()
        #expect(queue.millisecondsUntilNextDeadline(now: t0) == -1)
        #expect(queue.popDue(now: at(milliseconds: 1_000_000), newest: queue.newestID) == nil)
        #expect(queue.count == 0)
    }

    @Test func timersRunInDeadlineOrderWhateverTheSchedulingOrder() {
        var queue = TimerQueue()
        let log = Log()
        for (name, ms) in [("c", 30), ("a", 10), ("e", 50), ("b", 20), ("d", 40)] {
            _ = queue.schedule(at: at(milliseconds: ms)) { log.fired.append(name) }
        }
        #expect(queue.count == 5)
        #expect(queue.millisecondsUntilNextDeadline(now: t0) == 10)
        queue.runDue(now: at(milliseconds: 25))
        #expect(log.fired == ["a", "b"])
        #expect(queue.millisecondsUntilNextDeadline(now: at(milliseconds: 25)) == 5)
        queue.runDue(now: at(milliseconds: 100))
        #expect(log.fired == ["a", "b", "c", "d", "e"])
        #expect(queue.count == 0)
        #expect(queue.millisecondsUntilNextDeadline(now: at(milliseconds: 100)) == -1)
    }

    @Test func equalDeadlinesRunInSchedulingOrder() {
        var queue = TimerQueue()
        let log = Log()
        for index in 0..<50 {
            _ = queue.schedule(at: at(milliseconds: index % 2 == 0 ? 5 : 10)) { log.fired.append("\(index)") }
        }
        queue.runDue(now: at(milliseconds: 10))
        let evens = stride(from: 0, to: 50, by: 2).map { "\($0)" }
        let odds = stride(from: 1, to: 50, by: 2).map { "\($0)" }
        #expect(log.fired == evens + odds)
    }

    @Test func aTimerIsNotDueBeforeItsDeadline() {
        var queue = TimerQueue()
        let log = Log()
        _ = queue.schedule(at: at(milliseconds: 10)) { log.fired.append("t") }
        queue.runDue(now: at(milliseconds: 9))
        #expect(log.fired.isEmpty)
        queue.runDue(now: at(milliseconds: 10))  // due exactly at its deadline
        #expect(log.fired == ["t"])
    }

    @Test func cancelledTimersNeverRunAndDoNotHoldTheWait() {
        var queue = TimerQueue()
        let log = Log()
        let first = queue.schedule(at: at(milliseconds: 10)) { log.fired.append("first") }
        _ = queue.schedule(at: at(milliseconds: 20)) { log.fired.append("second") }
        queue.cancel(first)
        #expect(queue.count == 1)
        // The cancelled head is skipped: the wait is for the live timer.
        #expect(queue.millisecondsUntilNextDeadline(now: t0) == 20)
        queue.runDue(now: at(milliseconds: 30))
        #expect(log.fired == ["second"])
    }

    @Test func cancellingAFiredOrUnknownTimerDoesNothing() {
        var queue = TimerQueue()
        let log = Log()
        let fired = queue.schedule(at: at(milliseconds: 1)) { log.fired.append("fired") }
        queue.runDue(now: at(milliseconds: 1))
        let pending = queue.schedule(at: at(milliseconds: 5)) { log.fired.append("pending") }
        queue.cancel(fired)
        queue.cancel(fired)
        queue.cancel(TimerID(rawValue: 9999))
        #expect(queue.count == 1)
        queue.cancel(pending)
        queue.cancel(pending)
        #expect(queue.count == 0)
        queue.runDue(now: at(milliseconds: 100))
        #expect(log.fired == ["fired"])
    }

    @Test func manyCancellationsCompactTheHeapAndKeepTheOrder() {
        var queue = TimerQueue()
        let log = Log()
        var ids: [TimerID] = []
        for index in 0..<1000 {
            let id = queue.schedule(at: at(milliseconds: 1000 - index)) { log.fired.append("\(index)") }
            ids.append(id)
        }
        // Cancel all but every hundredth (the per-RPC deadline timers' pattern), triggering compactions.
        for (index, id) in ids.enumerated() where index % 100 != 0 { queue.cancel(id) }
        #expect(queue.count == 10)
        #expect(queue.millisecondsUntilNextDeadline(now: t0) == 1000 - 900)
        queue.runDue(now: at(milliseconds: 2000))
        #expect(log.fired == stride(from: 900, through: 0, by: -100).map { "\($0)" })
        #expect(queue.count == 0)
    }

    @Test func aTimerScheduledWhileRunningDueOnesWaitsForTheNextRound() {
        var queue = TimerQueue()
        let log = Log()
        _ = queue.schedule(at: at(milliseconds: 0)) { log.fired.append("due") }
        // A callback that re-arms itself for "now" (popDue's `newest` bound keeps it from starving the loop).
        let newest = queue.newestID
        let body = queue.popDue(now: at(milliseconds: 0), newest: newest)
        body?()
        _ = queue.schedule(at: at(milliseconds: 0)) { log.fired.append("re-armed") }
        #expect(queue.popDue(now: at(milliseconds: 0), newest: newest) == nil)
        #expect(log.fired == ["due"])
        #expect(queue.millisecondsUntilNextDeadline(now: at(milliseconds: 0)) == 0)
        queue.runDue(now: at(milliseconds: 0))
        #expect(log.fired == ["due", "re-armed"])
    }

    @Test func reArmingMeansCancelAndScheduleAgain() {
        var queue = TimerQueue()
        let log = Log()
        var idle = queue.schedule(at: at(milliseconds: 100)) { log.fired.append("idle@100") }
        // Activity at 50 ms pushes the idle timer back.
        queue.cancel(idle)
        idle = queue.schedule(at: at(milliseconds: 150)) { log.fired.append("idle@150") }
        queue.runDue(now: at(milliseconds: 120))
        #expect(log.fired.isEmpty)
        #expect(queue.millisecondsUntilNextDeadline(now: at(milliseconds: 120)) == 30)
        queue.runDue(now: at(milliseconds: 150))
        #expect(log.fired == ["idle@150"])
        _ = idle
    }

    @Test func theWaitIsRoundedUpToWholeMilliseconds() {
        var queue = TimerQueue()
        _ = queue.schedule(at: t0 + .microseconds(1500)) {}
        #expect(queue.millisecondsUntilNextDeadline(now: t0) == 2)
        #expect(queue.millisecondsUntilNextDeadline(now: t0 + .microseconds(1499)) == 1)
        // Overdue: no wait.
        #expect(queue.millisecondsUntilNextDeadline(now: t0 + .seconds(1)) == 0)
        _ = queue.schedule(at: t0 + .seconds(1_000_000_000)) {}
        // A far deadline clamps rather than overflowing (the first timer is still the earliest).
        #expect(queue.millisecondsUntilNextDeadline(now: t0) == 2)
    }

    @Test func aFarDeadlineClampsToInt32() {
        var queue = TimerQueue()
        _ = queue.schedule(at: t0 + .seconds(1_000_000_000)) {}
        #expect(queue.millisecondsUntilNextDeadline(now: t0) == Int32.max)
    }

    @Test func timerIDsAreUniqueAndIncreasing() {
        var queue = TimerQueue()
        let a = queue.schedule(at: t0) {}
        let b = queue.schedule(at: t0) {}
        #expect(a != b)
        #expect(b.rawValue > a.rawValue)
        #expect(queue.newestID == b.rawValue)
    }
}
