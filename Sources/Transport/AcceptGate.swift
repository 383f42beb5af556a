// Sources/Transport/AcceptGate.swift: what the listener does with each accept() outcome (sans-I/O; issue 25, point 4).

internal import Glibc

/// The accept loop's decisions, apart from the sockets: adopt a connection, close it at once past
/// `maxConnections`, stop at EAGAIN, or pause accepting when the process is out of descriptors (EMFILE, ENFILE) or
/// kernel memory (ENOBUFS, ENOMEM). A level-triggered listener that keeps failing accept() would otherwise spin a
/// core while the queued clients time out. Each episode is logged once: the first decision of an episode carries
/// the log line, the rest carry none. Out of descriptors ends when an accept round drains the backlog (EAGAIN: the
/// server caught up); over the cap ends when a connection is adopted with a tenth of the cap free again (so a
/// server at its cap does not log every connection that replaces one). A value; the acceptor owns one on its loop
/// thread.
struct AcceptGate: Sendable, Equatable {
    /// What accept() gave.
    enum Outcome: Sendable, Equatable {
        case accepted
        /// EAGAIN: nothing more is queued.
        case noneWaiting
        /// accept() failed with this errno.
        case failed(errno: Int32)
    }

    enum Decision: Sendable, Equatable {
        /// Hand the connection to a loop.
        case adopt
        /// Past `maxConnections`: close it now (the client sees the connection closed at once rather than timing out
        /// in the backlog) and keep accepting.
        case closeAtOnce(log: String?)
        /// Stop this round; the next readable event resumes.
        case stop
        /// Stop watching the listener until a descriptor frees (a connection closes) or a retry timer fires.
        case pause(log: String?)
    }

    let maxConnections: Int
    private(set) var overCap = false
    private(set) var exhausted = false

    init(maxConnections: Int) {
        self.maxConnections = max(1, maxConnections)
    }

    /// `liveConnections`: connections open before this one (it excluded).
    mutating func decide(_ outcome: Outcome, liveConnections: Int) -> Decision {
        switch outcome {
        case .accepted:
            guard liveConnections >= maxConnections else {
                if liveConnections < maxConnections - max(1, maxConnections / 10) { overCap = false }
                return .adopt
            }
            defer { overCap = true }
            return .closeAtOnce(
                log: overCap
                    ? nil
                    : "\(liveConnections) connections open, the limit (--max-connections \(maxConnections)); "
                        + "closing new connections at once until one closes")
        case .noneWaiting:
            exhausted = false
            return .stop
        case .failed(let code):
            defer { exhausted = true }
            guard !exhausted else { return .pause(log: nil) }
            let reason = String(cString: strerror(code))
            let what: String
            switch code {
            case EMFILE: what = "out of file descriptors (raise the limit: ulimit -n, LimitNOFILE=)"
            case ENFILE: what = "the system is out of file descriptors"
            case ENOBUFS, ENOMEM: what = "out of kernel memory for sockets"
            default: what = "accept failed"
            }
            return .pause(
                log: "accept: \(reason): \(what); not accepting until a connection closes "
                    + "(\(liveConnections) open; new clients wait in the backlog)")
        }
    }

}
