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
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { preconditionFailure("pipe() failed: errno \(errno)") }
            terminationPipeWriteEnd.store(fds[1], ordering: .releasing)
            var action = sigaction()
            action.__sigaction_handler.sa_handler = terminationSignalHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            for signalNumber in [SIGTERM, SIGINT] { _ = sigaction(signalNumber, &action, nil) }
            readEnd = fds[0]
            return fds[0]
        }
    }
}

/// The write end of the self-pipe, read by the signal handler (a lock-free atomic load is async-signal-safe).
private let terminationPipeWriteEnd = Atomic<Int32>(-1)

/// The C signal handler: a file-scope function, so it carries no actor isolation (docs/DESIGN.md, "C callbacks and
/// Swift 6").
private func terminationSignalHandler(_ signalNumber: Int32) {
    let fd = terminationPipeWriteEnd.load(ordering: .acquiring)
    guard fd >= 0 else { return }
    var byte: UInt8 = 1
    _ = write(fd, &byte, 1)
}
