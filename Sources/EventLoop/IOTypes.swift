/// What a registered file descriptor wants to hear about.
public struct IOInterest: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = IOInterest(rawValue: 1 << 0)
    public static let write = IOInterest(rawValue: 1 << 1)
    /// Do not report the peer's half-close (EPOLLRDHUP) any more: for a connection that has already seen it and
    /// still writes (level-triggered, it would otherwise fire on every loop iteration). A full hang-up still reports.
    public static let ignoringHalfClose = IOInterest(rawValue: 1 << 2)
}

/// What epoll reported for a registered file descriptor.
public struct IOEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let readable = IOEvents(rawValue: 1 << 0)
    public static let writable = IOEvents(rawValue: 1 << 1)
    /// The peer hung up (EPOLLHUP or EPOLLRDHUP). A read will return what is left and then end-of-file.
    public static let hangup = IOEvents(rawValue: 1 << 2)
    /// EPOLLERR: a pending socket error (read `SO_ERROR`, or let the next read/write report it).
    public static let error = IOEvents(rawValue: 1 << 3)
}

/// The outcome of one non-blocking read or write.
public enum IOResult: Sendable, Equatable {
    /// This many bytes moved (for a write, possibly fewer than offered).
    case transferred(Int)
    /// The socket would block (EAGAIN): wait for readiness.
    case wouldBlock
    /// A read found the peer's end of stream.
    case endOfFile
}
