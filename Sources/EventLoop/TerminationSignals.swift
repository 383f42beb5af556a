internal import Dispatch
internal import Glibc
internal import Locks
internal import Synchronization

/// SIGTERM/SIGINT handling for server executables, by the self-pipe trick: the process-wide handler only writes one
/// byte to a pipe (async-signal-safe), and ordinary code waits on the pipe's read end, so whichever thread the kernel
/// picks for the signal, the work happens outside the signal context. (Dispatch signal sources were not used: with
/// live loop threads that do not block the signals, a SIGTERM still killed the process.) Any thread may call these.
public enum TerminationSignals {
    /// Installs the handlers (once) and blocks the calling thread until SIGTERM or SIGINT arrives.
    public static func wait() {
        let fd = installOnce()
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n == 1 { return }
            if n < 0 && errno == EINTR { continue }
            // The pipe failed (should not happen): stop waiting rather than spin.
            return
        }
    }

    private static let installed = Lock<Int32?>(nil)

    /// Creates the pipe and installs the handlers; returns the read end.
    private static func installOnce() -> Int32 {
        installed.withLock { readEnd in
            if let readEnd { return readEnd }
            let fd = installSignalPipe(for: [SIGTERM, SIGINT]) { terminationPipeWriteEnd.store($0, ordering: .releasing) }
            guard let fd else { preconditionFailure("pipe() failed: errno \(errno)") }
            readEnd = fd
            return fd
        }
    }
}

/// SIGHUP, the conventional "reload your files" signal, by the same self-pipe: the handler writes one byte; a
/// dispatch thread reads it and calls the registered handlers. Any thread.
public enum HangupSignal {
    private static let handlers = Lock<[@Sendable () -> Void]>([])
    private static let installed = Lock(false)

    /// Adds `handler`, called (off the signal context) on every SIGHUP from now on.
    public static func onHangup(_ handler: @escaping @Sendable () -> Void) {
        handlers.withLock { $0.append(handler) }
        installed.withLock { done in
            guard !done, let readEnd = installSignalPipe(for: [SIGHUP], publish: {
                hangupPipeWriteEnd.store($0, ordering: .releasing)
            }) else { return }
            done = true
            // One thread of the pool blocks on the pipe for the process's life: signals are rare, a thread is cheap.
            DispatchQueue(label: "tw-sighup").async {
                var byte: UInt8 = 0
                while true {
                    let n = read(readEnd, &byte, 1)
                    if n == 1 {
                        for handler in HangupSignal.handlers.withLock({ $0 }) { handler() }
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }
}

/// Creates a pipe, hands its write end to `publish` (before any signal can arrive) and routes `signals` to the one
/// handler, which writes a byte to it; returns the read end, or nil when pipe() fails.
private func installSignalPipe(for signals: [Int32], publish: (Int32) -> Void) -> Int32? {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return nil }
    publish(fds[1])
    var action = sigaction()
    action.__sigaction_handler.sa_handler = selfPipeSignalHandler
    sigemptyset(&action.sa_mask)
    action.sa_flags = SA_RESTART
    for signalNumber in signals { _ = sigaction(signalNumber, &action, nil) }
    return fds[0]
}

/// The write ends of the self-pipes, read by the signal handler (a lock-free atomic load is async-signal-safe).
private let terminationPipeWriteEnd = Atomic<Int32>(-1)
private let hangupPipeWriteEnd = Atomic<Int32>(-1)

/// The C signal handler: a file-scope function, so it carries no actor isolation (docs/DESIGN.md, "C callbacks and
/// Swift 6").
private func selfPipeSignalHandler(_ signalNumber: Int32) {
    let fd = signalNumber == SIGHUP
        ? hangupPipeWriteEnd.load(ordering: .acquiring) : terminationPipeWriteEnd.load(ordering: .acquiring)
    guard fd >= 0 else { return }
    var byte: UInt8 = 1
    _ = write(fd, &byte, 1)
}
