internal import Dispatch
internal import Glibc
package import EventLoop
internal import HTTP2
internal import Locks
internal import Synchronization
internal import HTTPTypes

/// The per-loop half of a server or client: the table of live connections by id and the dirty list that the
/// before-sleep hook flushes (DESIGN.md, "Threads": write coalescing). Created, read and written only on `loop`'s
/// thread; other threads reach it through `LoopBound<LoopContext>`, which checks that.
final class LoopContext {
    let loop: EventLoop
    /// `@exclusivity(unchecked)`: the loop thread only, short accesses that never overlap (looked up for every
    /// response a handler sends; the dynamic check cost ~80 instructions each).
    @exclusivity(unchecked) var connections: [UInt64: HTTP2Connection] = [:] {
        didSet { recentConnection = nil }
    }
    /// The connection `connection(_:)` found last, dropped by any change to `connections`: a handler's answers
    /// come back to the same few connections, and hashing the id cost each ~130 instructions (callgrind).
    @exclusivity(unchecked) private var recentConnection: (id: UInt64, connection: HTTP2Connection)?
    /// The HTTP/1.1 connections (REST), apart: they carry no HTTP/2 session.
    var http1Connections: [UInt64: HTTP1ServerConnection] = [:]
    private var dirty: [any FlushableConnection] = []
    /// The `date` header value of this second (HTTP/1.1 answers carry one, RFC 9110 §6.6.1), formatted once.
    private var cachedDate: (second: Int, value: String) = (-1, "")
    private var hook: HookID?
    /// The buffer every connection of this loop reads into: allocated once, never zeroed (a fresh zeroed 64 KiB
    /// array per readable event cost more instructions than the request it carried, callgrind). Safe to share:
    /// reads run one at a time on the loop thread and `HTTP2Session.receive` copies out what it keeps.
    let readBuffer: UnsafeMutableRawBufferPointer

    static let readBufferSize = 64 * 1024

    /// The live connection with this id (`connections[id]`, remembering the last one found).
    func connection(_ id: UInt64) -> HTTP2Connection? {
        if let recent = recentConnection, recent.id == id { return recent.connection }
        guard let found = connections[id] else { return nil }
        recentConnection = (id, found)
        return found
    }
    /// TLS connections read ciphertext here before decrypting into `readBuffer` (`TLSChannel.read`); allocated by
    /// the first TLS connection, so a plaintext loop does not carry it.
    var cipherBuffer: UnsafeMutableRawBufferPointer {
        if let cipherStorage { return cipherStorage }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferSize, alignment: 16)
        cipherStorage = buffer
        return buffer
    }
    private var cipherStorage: UnsafeMutableRawBufferPointer?

    init(loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        hook = loop.addBeforeSleepHook { [unowned self] in self.flushAll() }
    }

    deinit {
        readBuffer.deallocate()
        cipherStorage?.deallocate()
    }

    /// Queues `connection` for the next before-sleep flush.
    func markDirty(_ connection: any FlushableConnection) {
        guard !connection.isDirty, !connection.isClosed else { return }
        connection.isDirty = true
        dirty.append(connection)
    }

    /// Drains every dirty connection's nghttp2 output into its buffer and writes it; a flush may dirty others again
    /// (a stream closing frees work elsewhere), so it loops until the list is empty.
    func flushAll() {
        var rounds = 0
        while !dirty.isEmpty && rounds < 8 {
            rounds += 1
            let batch = dirty
            dirty.removeAll(keepingCapacity: true)
            for connection in batch {
                connection.isDirty = false
                connection.flush()
            }
        }
    }

    /// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), cached per second.
    func httpDate() -> String {
        var now = time(nil)
        let second = Int(now)
        if second == cachedDate.second { return cachedDate.value }
        var parts = tm()
        gmtime_r(&now, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let value = "\(days[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon) % 12]) "
            + "\(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        cachedDate = (second, value)
        return value
    }

    func detach() {
        if let hook { loop.removeBeforeSleepHook(hook) }
        hook = nil
    }

    /// Creates a context on `loop`'s thread and returns it boxed for use from any thread.
    static func make(on loop: EventLoop) -> LoopBound<LoopContext> {
        onLoop(loop) { LoopBound(LoopContext(loop: loop), loop: loop) }
    }
}

/// A connection the loop's before-sleep hook flushes: HTTP/2 (`HTTP2Connection`) and HTTP/1.1
/// (`HTTP1ServerConnection`). Loop thread only.
protocol FlushableConnection: AnyObject {
    /// Set by `LoopContext` while the connection is on the dirty list.
    var isDirty: Bool { get set }
    var isClosed: Bool { get }
    /// Writes what is pending.
    func flush()
}

/// Connection ids, unique per process; hand-offs carry them instead of object references.
let nextConnectionID = Atomic<UInt64>(1)

/// Runs `body` on `loop`'s thread and waits for its result. Must not be called on that loop's thread unless it is
/// the caller's own loop (then it runs inline).
package func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) -> T {
    if loop.inEventLoop { return body() }
    let result = Lock<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    loop.execute {
        let value = body()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    // Set before signal(); the semaphore orders it.
    guard let value = result.withLock({ $0 }) else { preconditionFailure("onLoop: the task did not run") }
    return value
}
