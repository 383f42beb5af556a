public import Clocks
internal import CLinuxShims
internal import Glibc
internal import Locks
internal import Synchronization

/// One epoll loop thread, in the spirit of redis's `ae.c`: file descriptors with read/write interest, a timer heap,
/// a cross-thread task queue woken through an eventfd, and before-sleep hooks (where the transport flushes its
/// coalesced writes).
///
/// Threads: `execute`, `inEventLoop` and `shutdown` may be called from any thread. Everything else
/// (`register`, `setInterest`, `unregister`, `scheduleTimer`, `cancelTimer`, `addBeforeSleepHook`,
/// `removeBeforeSleepHook`) must be called on the loop's own thread; each checks with a precondition. Closures given
/// to those run on the loop thread and need not be `Sendable`.
///
/// One iteration: actions deferred to the end of the last one (`deferUntilSleep`) → before-sleep hooks →
/// `epoll_wait` (until the next timer, or forever) → I/O handlers → due timers → queued tasks. The thread starts in `init` and runs until `shutdown()`, which joins it; on the way out it
/// runs the tasks already queued and then drops every registration, timer and hook on the loop thread.
public final class EventLoop: Sendable {
    /// The thread name (at most 15 bytes reach the kernel).
    public let name: String
    /// The clock of this loop's timers (`scheduleTimer`), and of every deadline computed on it.
    public let clock: any MonotonicClock

    private let epollFD: Int32
    private let wakeFD: Int32
    /// Tasks from any thread. The eventfd is written when the queue goes from empty to non-empty.
    private let tasks = Lock<[@Sendable () -> Void]>([])
    /// `pthread_self()` of the loop thread; 0 until the thread runs.
    private let owner = Atomic<UInt>(0)
    private let stopRequested = Atomic<Bool>(false)
    /// The thread to join; taken by the first `shutdown()`.
    private let thread = Lock<pthread_t?>(nil)

    /// Owned by the loop thread: only `loopState`, which preconditions `inEventLoop`, reads it (apart from `init`
    /// before the thread exists).
    private nonisolated(unsafe) let _state = LoopState()

    /// Creates the epoll fd and the wake-up eventfd and starts the loop thread. `clock` times the loop's timers: the
    /// system clock in the server, a `ManualClock` where a test moves time itself (the loop looks again whenever it
    /// jumps).
    public init(name: String = "tw-loop", clock: any MonotonicClock = SystemMonotonicClock()) throws {
        self.name = name
        self.clock = clock
        let ep = cls_epoll_create()
        guard ep >= 0 else { throw SystemError("epoll_create1", code: cls_errno()) }
        let wake = cls_eventfd()
        guard wake >= 0 else {
            let code = cls_errno()
            close(ep)
            throw SystemError("eventfd", code: code)
        }
        epollFD = ep
        wakeFD = wake
        // The wake fd uses token 0 with an impossible fd (UInt32.max) so it never collides with a registration.
        guard cls_epoll_ctl(ep, 0, wake, cls_epollin(), Self.wakeToken) == 0 else {
            throw SystemError("epoll_ctl(eventfd)", code: cls_errno())
        }
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, eventLoopThreadMain, Unmanaged.passRetained(self).toOpaque())
        guard rc == 0 else {
            Unmanaged.passUnretained(self).release()
            throw SystemError("pthread_create", code: rc)
        }
        thread.withLock { $0 = handle }
        if clock.jumps { clock.onAdvance { [weak self] in self?.wake() } }
    }

    deinit {
        close(epollFD)
        close(wakeFD)
    }

    /// True on this loop's thread.
    public var inEventLoop: Bool {
        owner.load(ordering: .relaxed) == pthread_self()
    }

    public func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(inEventLoop, "not on the thread of event loop \(name)", file: file, line: line)
    }

    // MARK: Any thread

    /// Runs `task` on the loop thread, after the current iteration's I/O and timers. Tasks run in submission order.
    /// A task submitted after the loop has exited is dropped.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        let wasEmpty = tasks.withLock { queue in
            queue.append(task)
            return queue.count == 1
        }
        if wasEmpty { wake() }
    }

    /// Stops the loop and joins its thread. Tasks queued before the call still run. Idempotent; must not be called
    /// on the loop thread itself (it would join itself).
    public func shutdown() {
        precondition(!inEventLoop, "EventLoop.shutdown() called on its own thread")
        stopRequested.store(true, ordering: .releasing)
        wake()
        if let handle = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) {
            pthread_join(handle, nil)
        }
    }

    // MARK: Loop thread only: file descriptors

    /// Watches `fd` (level-triggered). `handler` runs on the loop thread with what epoll reported. The loop never
    /// closes `fd`; unregister before closing it.
    public func register(fd: Int32, interest: IOInterest, handler: @escaping (IOEvents) -> Void) throws {
        let state = loopState
        precondition(state.registrations[fd] == nil, "fd \(fd) is already registered")
        state.generation &+= 1
        let registration = Registration(generation: state.generation, handler: handler)
        guard cls_epoll_ctl(epollFD, 0, fd, Self.epollMask(interest), registration.token(fd: fd)) == 0 else {
            throw SystemError("epoll_ctl(add, \(fd))", code: cls_errno())
        }
        state.registrations[fd] = registration
    }

    /// Changes what a registered `fd` is watched for, e.g. adds `.write` while output is pending.
    public func setInterest(fd: Int32, _ interest: IOInterest) throws {
        guard let registration = loopState.registrations[fd] else {
            preconditionFailure("fd \(fd) is not registered")
        }
        guard cls_epoll_ctl(epollFD, 1, fd, Self.epollMask(interest), registration.token(fd: fd)) == 0 else {
            throw SystemError("epoll_ctl(mod, \(fd))", code: cls_errno())
        }
    }

    /// Stops watching `fd`; its handler is released and not called again, even for events already reported in
    /// this iteration.
    public func unregister(fd: Int32) {
        guard loopState.registrations.removeValue(forKey: fd) != nil else { return }
        // The fd may already be closed (EBADF); the registration is gone from our table either way.
        _ = cls_epoll_ctl(epollFD, 2, fd, 0, 0)
    }

    // MARK: Loop thread only: timers

    /// Runs `body` on the loop thread at `deadline` (or at the next iteration if it has passed). Timers with equal
    /// deadlines fire in the order they were scheduled.
    @discardableResult
    public func scheduleTimer(at deadline: MonotonicInstant, _ body: @escaping () -> Void) -> TimerID {
        loopState.timers.schedule(at: deadline, body)
    }

    /// Runs `body` on the loop thread `delay` from now on the loop's clock.
    @discardableResult
    public func scheduleTimer(after delay: Duration, _ body: @escaping () -> Void) -> TimerID {
        scheduleTimer(at: clock.now() + delay, body)
    }

    /// Cancels a timer that has not fired yet; cancelling a fired or unknown timer does nothing.
    public func cancelTimer(_ id: TimerID) {
        loopState.timers.cancel(id)
    }

    // MARK: Loop thread only: before-sleep hooks

    /// Runs `body` once per iteration, just before the loop waits in `epoll_wait`; hooks run in the order added.
    @discardableResult
    public func addBeforeSleepHook(_ body: @escaping () -> Void) -> HookID {
        let state = loopState
        state.nextHook += 1
        state.hooks.append((HookID(rawValue: state.nextHook), body))
        return HookID(rawValue: state.nextHook)
    }

    public func removeBeforeSleepHook(_ id: HookID) {
        loopState.hooks.removeAll { $0.id == id }
    }

    /// Runs `body` once, at the end of this iteration (before the hooks and the next `epoll_wait`); a second call
    /// for the same `owner` in one iteration is dropped. What it is for: work that handlers start for many requests
    /// in one pass (each connection's bytes read, each request handed to a model's batcher) is completed with one
    /// action, such as waking the batcher once for all of them instead of once per request.
    public func deferUntilSleep(_ owner: AnyObject, _ body: @escaping () -> Void) {
        let state = loopState
        let id = ObjectIdentifier(owner)
        guard !state.deferred.contains(where: { $0.owner == id }) else { return }
        state.deferred.append((id, body))
    }

    /// The loop whose thread is calling, or nil on any other thread.
    public static var current: EventLoop? {
        guard let pointer = cls_current_loop() else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(pointer).takeUnretainedValue()
    }

    // MARK: The loop

    private static let wakeToken = UInt64(UInt32.max)
    private static let maxEvents = 256

    private var loopState: LoopState {
        preconditionInEventLoop()
        return _state
    }

    fileprivate func run() {
        owner.store(pthread_self(), ordering: .releasing)
        cls_set_thread_name(name)
        // Unretained: the thread holds the loop for as long as `run` executes (eventLoopThreadMain).
        cls_set_current_loop(Unmanaged.passUnretained(self).toOpaque())
        defer { cls_set_current_loop(nil) }
        let state = loopState
        var tokens = [UInt64](repeating: 0, count: Self.maxEvents)
        var masks = [UInt32](repeating: 0, count: Self.maxEvents)

        while !stopRequested.load(ordering: .acquiring) {
            runDeferred(state)
            for (_, hook) in state.hooks { hook() }
            let timeout = state.timers.millisecondsUntilNextDeadline(now: clock.now())
            let ready = tokens.withUnsafeMutableBufferPointer { t in
                masks.withUnsafeMutableBufferPointer { m in
                    cls_epoll_wait(epollFD, t.baseAddress!, m.baseAddress!, Int32(Self.maxEvents), timeout)
                }
            }
            precondition(ready >= 0, "epoll_wait failed: \(SystemError("epoll_wait", code: cls_errno()))")
            for i in 0..<Int(ready) {
                if tokens[i] == Self.wakeToken {
                    var counter: UInt64 = 0
                    _ = read(wakeFD, &counter, 8)
                    continue
                }
                let fd = Int32(truncatingIfNeeded: tokens[i] & 0xFFFF_FFFF)
                // A handler earlier in this batch may have unregistered this fd (and a new one may reuse the number).
                guard let registration = state.registrations[fd], registration.token(fd: fd) == tokens[i] else {
                    continue
                }
                registration.handler(Self.events(masks[i]))
            }
            let now = clock.now()
            let newest = state.timers.newestID
            while let timer = state.timers.popDue(now: now, newest: newest) { timer() }
            runTasks()
        }
        runTasks()
        runDeferred(state)
        // Release loop-owned closures (and whatever they capture) on the loop thread.
        state.registrations.removeAll()
        state.timers = TimerQueue()
        state.hooks.removeAll()
    }

    private func runDeferred(_ state: LoopState) {
        guard !state.deferred.isEmpty else { return }
        let actions = state.deferred
        state.deferred.removeAll(keepingCapacity: true)
        for (_, action) in actions { action() }
    }

    private func runTasks() {
        let batch = tasks.withLock { queue -> [@Sendable () -> Void] in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        for task in batch { task() }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private static func epollMask(_ interest: IOInterest) -> UInt32 {
        var mask = interest.contains(.ignoringHalfClose) ? 0 : cls_epollrdhup()
        if interest.contains(.read) { mask |= cls_epollin() }
        if interest.contains(.write) { mask |= cls_epollout() }
        return mask
    }

    private static func events(_ mask: UInt32) -> IOEvents {
        var events: IOEvents = []
        if mask & cls_epollin() != 0 { events.insert(.readable) }
        if mask & cls_epollout() != 0 { events.insert(.writable) }
        if mask & (cls_epollhup() | cls_epollrdhup()) != 0 { events.insert(.hangup) }
        if mask & cls_epollerr() != 0 { events.insert(.error) }
        return events
    }
}

/// Identifies a scheduled timer on its loop.
public struct TimerID: Hashable, Sendable {
    let rawValue: UInt64
}

/// Identifies a before-sleep hook on its loop.
public struct HookID: Hashable, Sendable {
    let rawValue: UInt64
}

/// The loop thread's private state.
private final class LoopState {
    var registrations: [Int32: Registration] = [:]
    var generation: UInt32 = 0
    var timers = TimerQueue()
    var hooks: [(id: HookID, body: () -> Void)] = []
    var nextHook: UInt64 = 0
    /// `deferUntilSleep`'s actions of this iteration, one per owner, in the order asked. `@exclusivity(unchecked)`:
    /// the loop thread only, and no access overlaps another (the dynamic check ran on every RPC's hand-off).
    @exclusivity(unchecked) var deferred: [(owner: ObjectIdentifier, body: () -> Void)] = []
}

private struct Registration {
    /// Distinguishes a re-registration of the same fd number from the one epoll reported.
    let generation: UInt32
    let handler: (IOEvents) -> Void

    func token(fd: Int32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }
}

/// The pthread entry point: a file-scope function, so it carries no actor isolation into C.
private func eventLoopThreadMain(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let argument else { return nil }
    let loop = Unmanaged<EventLoop>.fromOpaque(argument).takeRetainedValue()
    loop.run()
    return nil
}
