/// Carries a non-`Sendable` value through `@Sendable` closures that run back on the loop that owns it, e.g. a
/// connection captured by a task given to `loop.execute` from another thread. Every access preconditions that it
/// happens on `loop`'s thread (swift-nio's `NIOLoopBoundBox`).
public final class LoopBound<Value>: @unchecked Sendable {
    // @unchecked: `storage` is created, read and written only on `loop`'s thread; `init` and `value` check it.
    public let loop: EventLoop
    /// `@exclusivity(unchecked)`: one thread, and no access overlaps another (the runtime's dynamic check cost ~80
    /// instructions per access, several per RPC).
    @exclusivity(unchecked) private var storage: Value

    /// Must be called on `loop`'s thread.
    public init(_ value: Value, loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.storage = value
    }

    /// The value; readable and writable only on `loop`'s thread.
    public var value: Value {
        get {
            loop.preconditionInEventLoop()
            return storage
        }
        set {
            loop.preconditionInEventLoop()
            storage = newValue
        }
    }
}
