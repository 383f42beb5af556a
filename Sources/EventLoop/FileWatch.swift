internal import Locks
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
        let last: Lock<[FileFingerprint?]>
        let onChange: @Sendable () -> Void

        init(paths: [String], interval: DispatchTimeInterval, onChange: @escaping @Sendable () -> Void) {
            self.paths = paths
            self.interval = interval
            self.onChange = onChange
            self.last = Lock(paths.map { FileFingerprint.of(path: $0) })
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
