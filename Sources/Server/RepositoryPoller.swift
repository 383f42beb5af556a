// Sources/Server/RepositoryPoller.swift: the thread that scans the repository (every --repository-poll-secs in poll
// mode, and on SIGHUP or RepositoryModelLoad) and hands the changes to the catalog.

internal import Dispatch
internal import Glibc
internal import Locks
internal import Logging
internal import RPCCore
internal import Synchronization

/// Scans the model repository and applies what changed: a stable new or changed model folder is refreshed (its
/// changed versions load and warm in the background, then swap in), a folder gone for two scans is unloaded. Scans
/// and loads run one at a time on a private serial queue, never on a loop thread. A scan that finds a folder still
/// changing looks again after `settleInterval` rather than a whole poll interval, so a version is served about one
/// poll interval plus its load time after it lands. Any thread may call anything here.
final class RepositoryPoller: Sendable {
    /// Which models a scan looks at.
    enum Scope: Sendable, Equatable {
        /// Every model folder: new ones load, removed ones unload (poll mode, and SIGHUP in mode none).
        case repository
        /// Only the models loaded now (SIGHUP in explicit mode: it re-reads them, it loads nothing new).
        case loadedModels
    }

    private let queue = DispatchQueue(label: "tw-repository-poll")
    private let scanner: RepositoryScanner
    /// Touched on `queue` only; the lock makes that checkable rather than assumed.
    private let tracker = Lock(RepositoryChangeTracker())
    private let catalog: ModelCatalog
    private let scope: Scope
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)
    /// How long a scan waits to look again at a folder that was still changing.
    let settleInterval: Duration
    /// Rounds a triggered rescan makes while folders are still changing, before it reports them as unsettled.
    static let maxSettleRounds = 20

    /// `seed`: the repository as a scan saw it before the start-up load read it (nil: scan now), so that a file
    /// changed during start-up is loaded again by the first poll.
    init(
        scanner: RepositoryScanner, catalog: ModelCatalog, scope: Scope, logger: Logger,
        seed: [String: ModelObservation]?, settleInterval: Duration = .milliseconds(200)
    ) {
        self.scanner = scanner
        self.catalog = catalog
        self.scope = scope
        self.logger = logger
        self.settleInterval = settleInterval
        if let scan = seed ?? scanner.scan() { tracker.withLock { $0.seed(scan) } }
    }

    /// Polls every `interval` until `stop`.
    func startPolling(every interval: Duration) {
        queue.async { [self] in pollTick(interval: interval) }
    }

    /// Ends the polls; a scan in progress finishes first. Idempotent.
    func stop() {
        stopped.store(true, ordering: .releasing)
        queue.sync {}
    }

    private func pollTick(interval: Duration) {
        guard !stopped.load(ordering: .acquiring) else { return }
        let changes = scanAndApply(only: nil)
        let next = changes.unsettled.isEmpty ? interval : min(interval, settleInterval)
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: next.nanosecondsClamped))) { [self] in
            pollTick(interval: interval)
        }
    }

    /// SIGHUP: rescans in the background (every model of the scope) until nothing is changing; returns at once.
    func rescanInBackground() {
        queue.async { [self] in _ = rescanUntilSettled(only: nil) }
    }

    /// RepositoryModelLoad in poll mode: rescans `model` now and waits for the outcome. NOT_FOUND for a model that
    /// is neither in the repository nor loaded; INVALID_ARGUMENT with the reasons when a selected version fails to
    /// load or warm (the versions it would have replaced keep serving); UNAVAILABLE while its files keep changing.
    /// Blocks; not on a loop thread.
    func rescan(model name: String) throws(RPCError) {
        let outcome: Result<Void, RPCError> = queue.sync {
            guard scanner.scan(model: name) != nil || catalog.entry(name) != nil else {
                return .failure(RPCError(
                    code: .notFound, message: "model '\(name)' is not in the repository \(scanner.directory)"))
            }
            let (changes, failures) = rescanUntilSettled(only: [name])
            if changes.unsettled.contains(name) {
                return .failure(RPCError(
                    code: .unavailable, message: "model '\(name)': its files are still changing; try again once written"))
            }
            // The reasons of this rescan, or, when nothing changed, those still standing (a reload exits non-zero
            // while a selected version fails).
            let standing = failures.isEmpty
                ? (catalog.entry(name)?.versions ?? []).compactMap { version in
                    version.reportedError.map { "version \(version.number): \($0)" }
                } : failures
            if !standing.isEmpty {
                return .failure(RPCError(
                    code: .invalidArgument, message: "load failed for model '\(name)': " + standing.joined(separator: "; ")))
            }
            return .success(())
        }
        try outcome.get()
    }

    /// Scans until no folder in scope is changing (at most `maxSettleRounds` rounds `settleInterval` apart).
    /// On `queue`.
    private func rescanUntilSettled(only: Set<String>?) -> (RepositoryChangeTracker.Changes, [String]) {
        var failures: [String] = []
        var round = 0
        while true {
            var changes = RepositoryChangeTracker.Changes()
            failures += apply(scanned: &changes, only: only)
            round += 1
            if changes.unsettled.isEmpty || round >= Self.maxSettleRounds || stopped.load(ordering: .acquiring) {
                if !changes.unsettled.isEmpty {
                    logger.warning("repository scan: still changing after \(round) looks, left for the next scan: "
                        + changes.unsettled.joined(separator: ", "))
                }
                return (changes, failures)
            }
            usleep(UInt32(clamping: settleInterval.nanosecondsClamped / 1000))
        }
    }

    /// One periodic scan. On `queue`.
    private func scanAndApply(only: Set<String>?) -> RepositoryChangeTracker.Changes {
        var changes = RepositoryChangeTracker.Changes()
        _ = apply(scanned: &changes, only: only)
        return changes
    }

    /// Scans, asks the tracker what is due, refreshes and removes; returns the load failures. On `queue`.
    private func apply(scanned changes: inout RepositoryChangeTracker.Changes, only: Set<String>?) -> [String] {
        guard let scan = scanner.scan() else {
            logger.warning("repository scan: \(scanner.directory) cannot be listed; nothing changes")
            return []
        }
        var names = only
        if scope == .loadedModels {
            let loaded = Set(catalog.loadedModelNames)
            names = names.map { $0.intersection(loaded) } ?? loaded
        }
        changes = tracker.withLock { $0.observe(scan, only: names) }
        var failures: [String] = []
        for (name, content) in changes.changed.sorted(by: { $0.key < $1.key }) {
            guard !stopped.load(ordering: .acquiring) else { break }
            let previous = tracker.withLock { $0.applied[name] }
            let failed = catalog.refresh(model: name, content: content, previous: previous)
            tracker.withLock { $0.markApplied(name, content) }
            failures += failed
        }
        for name in changes.removed where scope == .repository {
            catalog.remove(model: name)
            tracker.withLock { $0.markApplied(name, nil) }
        }
        return failures
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to `Int64`'s range (no overflow trap for a huge interval).
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, overflowSum) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowSum ? .max : sum
    }
}
