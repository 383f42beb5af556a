import Dispatch
import Locks
import Testing
import TestSupport

private struct Boom: Error {}

/// A class with no `Sendable` conformance, to show that `Lock` holds non-Sendable state as `Mutex` does.
private final class Counter {
    var value = 0
}

@Suite struct LockTests {
    @Test func withLockMutatesTheStateAndReturnsTheBodysResult() {
        let lock = Lock([1, 2])
        let count = lock.withLock { state -> Int in
            state.append(3)
            return state.count
        }
        #expect(count == 3)
        #expect(lock.withLock { $0 } == [1, 2, 3])
    }

    @Test func aThrowingBodyReleasesTheLockAndKeepsItsChanges() {
        let lock = Lock(0)
        #expect(throws: Boom.self) {
            try lock.withLock { (state: inout Int) throws(Boom) in
                state = 7
                throw Boom()
            }
        }
        // Locking again on this thread would trap if the throw had left the lock held.
        #expect(lock.withLock { $0 } == 7)
    }

    @Test func holdsNonSendableState() {
        let lock = Lock(Counter())
        lock.withLock { $0.value += 1 }
        #expect(lock.withLock { $0.value } == 1)
    }
}

/// A counter with no synchronisation of its own: `@unchecked Sendable` because the test's `Lock(())` guards it.
private final class UnguardedCounter: @unchecked Sendable {
    var value = 0
}

@Suite(.tags(.live)) struct LockLiveTests {
    /// Many threads incrementing under the lock lose no update (and, under Tools/tsan, report no race: the point of
    /// the type).
    @Test func contendedIncrementsAreNeverLost() {
        let lock = Lock(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<10_000 { lock.withLock { $0 += 1 } }
        }
        #expect(lock.withLock { $0 } == 80_000)
    }

    /// A lock that guards only a critical section (`Lock(())`, as HealthStatusBoard's delivery lock) orders what its
    /// body touches; under Tools/tsan an empty state once made TSan report the lock's own object header (see
    /// `Lock.Cell`).
    @Test func anEmptyLockOrdersWhatItsBodyTouches() {
        let lock = Lock(())
        let counter = UnguardedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<10_000 { lock.withLock { _ in counter.value += 1 } }
        }
        #expect(lock.withLock { _ in counter.value } == 80_000)
    }
}
