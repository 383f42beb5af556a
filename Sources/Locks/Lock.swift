internal import Glibc

/// A value guarded by a `pthread_mutex_t`: the one lock of the project, with the API of `Synchronization.Mutex`
/// (`Lock(initialState)`, `withLock { state in … }`), so that ThreadSanitizer can follow it.
///
/// Why not `Mutex`: on Linux, `Synchronization.Mutex` hands a contended lock over inside the kernel (a
/// priority-inheritance futex, `FUTEX_LOCK_PI`/`FUTEX_UNLOCK_PI`) and TSan sees neither side of that hand-over, so
/// two accesses inside `withLock` on different threads are reported as a race whenever the lock was contended (four
/// threads on one `Mutex`: 3 runs out of 3 reported; the same program on a `pthread_mutex_t`: none). TSan intercepts
/// `pthread_mutex_lock`/`unlock` and sees the happens-before edge between them.
///
/// A `final class`, not a `~Copyable` struct like `Mutex`: `Mutex` keeps its futex word inline, but a
/// `pthread_mutex_t` must never move once initialised, so ours lives on the heap whatever wraps it. The class is
/// that heap object, with one identity: a reference to it is the lock, sharing the reference shares the one lock,
/// and the lock lives as long as its last owner (a stored `let`, a local captured by closures). A `~Copyable` struct
/// around the same object would be a second type that changes nothing but the spelling. The mutex is allocated once,
/// in `init`, and destroyed in `deinit`.
///
/// The mutex is `PTHREAD_MUTEX_ERRORCHECK`: locking it again on the thread that holds it traps, as `Mutex` does,
/// instead of deadlocking. Uncontended, a `withLock` costs about what `Mutex`'s does (the figures are in the commit
/// that added this type).
///
/// Any thread may call `withLock`; `body` runs with the lock held and must not lock it again.
public final class Lock<State> {
    /// The state, read and written only inside `withLock`, with `mutex` held. `nonisolated(unsafe)`: the lock, not
    /// the compiler, is what keeps it from being shared, so it may be passed to `body` as `inout sending` (as
    /// `Mutex`'s state is). `@exclusivity(unchecked)`: the mutex already makes every access exclusive, so the
    /// runtime's dynamic exclusivity check on a class property would be a second check on every call (it about
    /// tripled the cost of an uncontended `withLock`).
    @usableFromInline @exclusivity(unchecked) nonisolated(unsafe) internal var cell: Cell
    /// A `pthread_mutex_t`, untyped so that the `@inlinable` `withLock` names no Glibc type (Glibc stays an
    /// internal import); allocated and initialised once, its address never changes.
    @usableFromInline internal let mutex: UnsafeMutableRawPointer

    /// The state and one byte beside it, so that the stored property is never empty. Why: the runtime lays out an
    /// empty stored property of a generic class (a `Lock(())` guarding only a critical section) at offset 0, the
    /// object's header, which every thread reads without the lock (its metadata pointer, before `withLock` takes the
    /// lock); TSan records the `inout` access to the state at the property's address and reported those header reads
    /// as racing with it (four threads on a `Lock(())`: a report every run; with the byte: none in five).
    @usableFromInline
    internal struct Cell {
        @usableFromInline internal var value: State
        @usableFromInline internal let occupied: UInt8 = 0

        @usableFromInline
        internal init(_ value: consuming sending State) { self.value = value }
    }

    /// A lock guarding `initialState`. Inlinable, so that a caller's specialization finds `Cell`'s type metadata
    /// in its own cache instead of asking the runtime (~330 instructions per lock, callgrind; a lock is made per RPC).
    @inlinable
    public init(_ initialState: consuming sending State) {
        cell = Cell(initialState)
        mutex = makeErrorCheckingMutex()
    }

    deinit {
        let typed = mutex.assumingMemoryBound(to: pthread_mutex_t.self)
        pthread_mutex_destroy(typed)
        typed.deallocate()
    }

    /// Runs `body` with the lock held and exclusive access to the state; returns what `body` returns. The lock is
    /// released when `body` returns or throws.
    @inlinable @inline(__always)
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending State) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        Self.lock(mutex)
        defer { Self.unlock(mutex) }
        return try body(&cell.value)
    }

    @usableFromInline
    internal static func lock(_ mutex: UnsafeMutableRawPointer) {
        let rc = pthread_mutex_lock(mutex.assumingMemoryBound(to: pthread_mutex_t.self))
        precondition(rc == 0, "Lock: pthread_mutex_lock failed (\(rc)): locked again by the thread that holds it?")
    }

    @usableFromInline
    internal static func unlock(_ mutex: UnsafeMutableRawPointer) {
        let rc = pthread_mutex_unlock(mutex.assumingMemoryBound(to: pthread_mutex_t.self))
        precondition(rc == 0, "Lock: pthread_mutex_unlock failed (\(rc))")
    }
}

/// A new `PTHREAD_MUTEX_ERRORCHECK` mutex on the heap, for `Lock.init`; it never moves.
@usableFromInline
internal func makeErrorCheckingMutex() -> UnsafeMutableRawPointer {
    let typed = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
    let rc = pthread_mutex_init(typed, &attributes)
    pthread_mutexattr_destroy(&attributes)
    precondition(rc == 0, "Lock: pthread_mutex_init failed (\(rc))")
    return UnsafeMutableRawPointer(typed)
}

// `@unchecked`: the state (`cell`) is read and written only inside `withLock`, with `mutex` held; `sending` on the
// way in (`init`) and out (`withLock`'s result and `inout` state) keeps non-Sendable state from escaping the lock,
// as `Mutex` does, so a `Lock` is `Sendable` whatever its state.
extension Lock: @unchecked Sendable {}
