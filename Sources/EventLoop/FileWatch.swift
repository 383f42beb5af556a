internal import Dispatch
internal import Glibc
internal import Synchronization

/// What `stat` says about a file that changes when it is rewritten in place or replaced by a rename: inode and
/// device, size, and modification time to the nanosecond. A plain value; nil from `of(path:)` when the file is
/// missing or unreadable.
public struct FileFingerprint: Sendable, Hashable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modifiedNanoseconds: Int64

    public init(device: UInt64, inode: UInt64, size: Int64, modifiedNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
    }

    /// `stat(path)` (following links: a Kubernetes secret is a symlink swapped atomically).
    public static func of(path: String) -> FileFingerprint? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let nanoseconds = Int64(info.st_mtim.tv_sec).multipliedReportingOverflow(by: 1_000_000_000).partialValue
            .addingReportingOverflow(Int64(info.st_mtim.tv_nsec)).partialValue
        return FileFingerprint(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedNanoseconds: nanoseconds)
    }
}

/// Calls `onChange` when any of `paths` changes (its `FileFingerprint`, or appearing/disappearing), checking every
/// `interval` on a private dispatch queue: cheap enough at one `stat` per file per second, and it sees in-place
/// rewrites and renames alike, which inotify on the file itself would miss after a rename. `onChange` runs on that
/// queue, never concurrently with itself. `stop()` (any thread) ends it; it also stops when released.
public final class FileWatch: Sendable {
    private let state: State

    private final class State: Sendable {
        let paths: [String]
        let interval: DispatchTimeInterval
        let queue = DispatchQueue(label: "tw-file-watch")
        let stopped = Atomic<Bool>(false)
        let last: Mutex<[FileFingerprint?]>
        let onChange: @Sendable () -> Void

        init(paths: [String], interval: DispatchTimeInterval, onChange: @escaping @Sendable () -> Void) {
            self.paths = paths
            self.interval = interval
            self.onChange = onChange
            self.last = Mutex(paths.map { FileFingerprint.of(path: $0) })
        }

        /// One check, then the next one `interval` later (until stopped).
        func schedule() {
            queue.asyncAfter(deadline: .now() + interval) { [self] in
                guard !stopped.load(ordering: .acquiring) else { return }
                let now = paths.map { FileFingerprint.of(path: $0) }
                let changed = last.withLock { last -> Bool in
                    guard now != last else { return false }
                    last = now
                    return true
                }
                if changed { onChange() }
                schedule()
            }
        }
    }

    public init(paths: [String], interval: Duration = .seconds(1), onChange: @escaping @Sendable () -> Void) {
        let (seconds, attoseconds) = interval.components
        let milliseconds = max(1, Int(clamping: seconds).multipliedReportingOverflow(by: 1000).partialValue
            .addingReportingOverflow(Int(attoseconds / 1_000_000_000_000_000)).partialValue)
        state = State(paths: paths, interval: .milliseconds(milliseconds), onChange: onChange)
        state.schedule()
    }

    public func stop() {
        state.stopped.store(true, ordering: .releasing)
    }

    deinit {
        state.stopped.store(true, ordering: .releasing)
    }
}

/// SIGHUP, the conventional "reload your files" signal, by the same self-pipe trick as `TerminationSignals`: the
/// handler writes one byte; a dispatch thread reads it and calls the registered handlers. Any thread.
public enum HangupSignal {
    private static let handlers = Mutex<[@Sendable () -> Void]>([])
    private static let installed = Mutex(false)

    /// Adds `handler`, called (off the signal context) on every SIGHUP from now on.
    public static func onHangup(_ handler: @escaping @Sendable () -> Void) {
        handlers.withLock { $0.append(handler) }
        installed.withLock { done in
            guard !done else { return }
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { return }
            done = true
            hangupPipeWriteEnd.store(fds[1], ordering: .releasing)
            let readEnd = fds[0]
            var action = sigaction()
            action.__sigaction_handler.sa_handler = hangupSignalHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            _ = sigaction(SIGHUP, &action, nil)
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

/// The write end of the SIGHUP self-pipe (an atomic load is async-signal-safe).
private let hangupPipeWriteEnd = Atomic<Int32>(-1)

/// File scope, so it carries no actor isolation (docs/DESIGN.md, "C callbacks and Swift 6").
private func hangupSignalHandler(_ signalNumber: Int32) {
    let fd = hangupPipeWriteEnd.load(ordering: .acquiring)
    guard fd >= 0 else { return }
    var byte: UInt8 = 1
    _ = write(fd, &byte, 1)
}
