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
/// A `pthread_mutex_t` must never move once initialised, so it lives on the heap, in one object with the state
/// (`LockStorage`: the state as the header of a `ManagedBuffer`, the mutex as its one tail element). A `Lock` is a
/// reference to that object: copying a `Lock` (a stored `let`, a local captured by closures) shares the one lock,
/// which lives as long as its last copy. One allocation per lock, not two (a lock is made per RPC: the separate
/// mutex's malloc, free and the object's release cost ~900 instructions per RPC, callgrind).
///
/// The mutex is `PTHREAD_MUTEX_ERRORCHECK`: locking it again on the thread that holds it traps, as `Mutex` does,
/// instead of deadlocking. Uncontended, a `withLock` costs about what `Mutex`'s does.
///
/// Any thread may call `withLock`; `body` runs with the lock held and must not lock it again.
public struct Lock<State> {
    @usableFromInline internal let storage: LockStorage<State>

    /// A lock guarding `initialState`. Inlinable, so that a caller's specialization finds the storage's type
    /// metadata in its own cache instead of asking the runtime (~330 instructions per lock, callgrind).
    @inlinable
    public init(_ initialState: consuming sending State) {
        storage = LockStorage.make(initialState)
    }

    /// Runs `body` with the lock held and exclusive access to the state; returns what `body` returns. The lock is
    /// released when `body` returns or throws.
    @inlinable @inline(__always)
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending State) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        let mutex = storage.mutex
        lockMutex(mutex)
        defer { unlockMutex(mutex) }
        return try storage.withState(body)
    }
}

/// The state and one byte beside it, so that the stored header is never empty. Why: an empty header would sit at
/// the object's first byte after its refcount, where every thread reads without the lock; TSan records the `inout`
/// access to the state at the header's address and once reported those reads as racing with it (four threads on a
/// `Lock(())`: a report every run; with the byte: none in five).
@usableFromInline
internal struct LockCell<State> {
    @usableFromInline internal var value: State
    @usableFromInline internal let occupied: UInt8 = 0

    @usableFromInline
    internal init(_ value: consuming sending State) { self.value = value }
}

/// One heap object holding a lock's state (the header) and its `pthread_mutex_t` (in the tail, as 8-byte words, so
/// that the inlinable code names no Glibc type), which never moves. The state is read and written only inside
/// `Lock.withLock`, with the mutex held.
@usableFromInline
internal final class LockStorage<State>: ManagedBuffer<LockCell<State>, UInt64> {
    /// A new storage with `initialState` and an initialised error-checking mutex.
    @inlinable
    internal static func make(_ initialState: consuming sending State) -> LockStorage<State> {
        // Moved into the header through `take()`: a closure that returned a captured cell copied it (a retain per
        // reference in the state) and then destroyed the original (~500 instructions per RPC for a call's lock).
        var pending: LockCell<State>? = LockCell(initialState)
        let buffer = create(minimumCapacity: mutexWords) { _ in
            guard let cell = pending.take() else { preconditionFailure("ManagedBuffer.create calls its factory once") }
            return cell
        }
        // `create` returns an instance of the class it is called on (this subclass); the check costs one compare.
        let storage = unsafeDowncast(buffer, to: LockStorage<State>.self)
        initializeErrorCheckingMutex(storage.mutex)
        return storage
    }

    /// The mutex's address: the tail, fixed for the object's life; untyped so that the inlinable `withLock` names no
    /// Glibc type (Glibc stays an internal import).
    @inlinable
    internal var mutex: UnsafeMutableRawPointer {
        withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
    }

    /// Runs `body` on the state in place (the caller holds the mutex).
    @inlinable @inline(__always)
    internal func withState<Result: ~Copyable, E: Error>(
        _ body: (inout sending State) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        let header = StatePointer(cell: withUnsafeMutablePointerToHeader { $0 })
        return try body(&header.cell.pointee.value)
    }

    deinit {
        pthread_mutex_destroy(mutex.assumingMemoryBound(to: pthread_mutex_t.self))
    }
}

/// The address of a lock's state, for `LockStorage.withState`. `@unchecked Sendable`: the state is reached
/// through it only by the thread that holds the lock's mutex, so it may be passed to `withLock`'s body as `inout
/// sending` (as `Mutex`'s state is); it is used only inside that call, while the storage object is alive.
@usableFromInline
internal struct StatePointer<State>: @unchecked Sendable {
    @usableFromInline internal let cell: UnsafeMutablePointer<LockCell<State>>

    @inlinable
    internal init(cell: UnsafeMutablePointer<LockCell<State>>) { self.cell = cell }
}

/// How many 8-byte words hold a `pthread_mutex_t` (40 bytes, 8-aligned, on x86-64 and arm64 glibc).
@usableFromInline
internal let mutexWords = (MemoryLayout<pthread_mutex_t>.size + 7) / 8

@usableFromInline
internal func lockMutex(_ mutex: UnsafeMutableRawPointer) {
    let rc = pthread_mutex_lock(mutex.assumingMemoryBound(to: pthread_mutex_t.self))
    precondition(rc == 0, "Lock: pthread_mutex_lock failed (\(rc)): locked again by the thread that holds it?")
}

@usableFromInline
internal func unlockMutex(_ mutex: UnsafeMutableRawPointer) {
    let rc = pthread_mutex_unlock(mutex.assumingMemoryBound(to: pthread_mutex_t.self))
    precondition(rc == 0, "Lock: pthread_mutex_unlock failed (\(rc))")
}

/// Initialises a `PTHREAD_MUTEX_ERRORCHECK` mutex at `address` (memory that never moves), for `LockStorage.make`.
@usableFromInline
internal func initializeErrorCheckingMutex(_ address: UnsafeMutableRawPointer) {
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
    let rc = pthread_mutex_init(address.assumingMemoryBound(to: pthread_mutex_t.self), &attributes)
    pthread_mutexattr_destroy(&attributes)
    precondition(rc == 0, "Lock: pthread_mutex_init failed (\(rc))")
}

// `@unchecked`: the state is read and written only inside `withLock`, with the mutex held; `sending` on the way in
// (`init`) and out (`withLock`'s result and `inout` state) keeps non-Sendable state from escaping the lock, as
// `Mutex` does, so a `Lock` is `Sendable` whatever its state.
extension Lock: @unchecked Sendable {}
