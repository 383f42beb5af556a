// Sources/Auth/KeyFileWatcher.swift: the live key set, re-read when the --auth-keys file changes.

internal import Crypto
internal import Dispatch
internal import EventLoop
internal import Glibc
public import Logging
internal import Locks

/// The key set of one `--auth-keys` file and the authorizer built from it. `poll()` re-stats the file and, when its
/// `FileFingerprint` (device, inode, size, mtime) changed, re-reads and re-parses it; a file that does not parse keeps the old
/// keys and logs why (component `auth`, file, entry and reason, never a digest). `start()` polls once a second
/// on a dispatch queue, so a change is in force within about a second (the promise is 5 s).
/// Threads: every member may be used from any thread; `check` takes a short lock to copy the authorizer.
public final class KeyFileWatcher: Sendable {
    public let path: String
    private let logger: Logger
    private struct State {
        var authorizer: Authorizer
        /// `authorization` values that recently named an entry (see `authenticate`), cleared when the keys change.
        var recent: [(value: [UInt8], grant: AuthGrant)] = []
        var nextRecent = 0
        var stamp: FileFingerprint?
        /// Bumped by start and stop; a scheduled poll of an older generation does nothing.
        var generation = 0
    }
    private let state: Lock<State>

    /// Reads `path` now; throws when it cannot be read or parsed (the server refuses to start).
    public init(path: String, publicActions: PublicActions, logger: Logger) throws(AuthKeyFileError) {
        self.path = path
        self.logger = logger
        let stamp = FileFingerprint.of(path: path)
        let entries = try Self.read(path)
        state = Lock(State(authorizer: Authorizer(entries: entries, publicActions: publicActions), stamp: stamp))
    }

    /// The authorizer in force.
    public var authorizer: Authorizer { state.withLock { $0.authorizer } }

    /// Whether `action` needs no credential, by the authorizer in force.
    public func isPublic(_ action: AuthAction) -> Bool { state.withLock { $0.authorizer.isPublic(action) } }

    /// How many recently accepted `authorization` values `authenticate` remembers.
    static let recentCapacity = 8

    /// The unexpired entry that a request's `authorization` value (`Bearer <key>`) or, without one, its verified
    /// certificate identity names, by the authorizer in force (`grant`'s entry).
    public func authenticate(
        authorization: String?, identity: String?, now: WallTime
    ) -> Result<AuthEntry, Authorizer.Refusal> {
        grant(authorization: authorization, identity: identity, now: now).map(\.entry)
    }

    /// `authenticate`, answering with the entry prepared for per-message checks. A client sends the same value on
    /// every request, so the last few values that named an entry are remembered with their grant: a presented value
    /// is compared with every remembered one in constant time (no early exit; only a length differs at once), under
    /// one short lock, and a match skips parsing, hashing and the digest lookup; expiry is still checked. The memory
    /// holds values callers already sent (at most `recentCapacity`), and is emptied when the key file reloads.
    /// Unknown keys are never remembered.
    public func grant(
        authorization: String?, identity: String?, now: WallTime
    ) -> Result<AuthGrant, Authorizer.Refusal> {
        guard var presented = authorization else {
            let credential = AuthCredential(authorization: nil, identity: identity)
            return authorizer.authenticate(credential: credential, now: now).map(AuthGrant.init)
        }
        let remembered = presented.withUTF8 { value in
            state.withLock { state -> AuthGrant? in
                var found: AuthGrant?
                for index in state.recent.indices {
                    let equal = state.recent[index].value.withUnsafeBytes {
                        Crypto.constantTimeEquals($0, UnsafeRawBufferPointer(value))
                    }
                    if equal && found == nil { found = state.recent[index].grant }
                }
                return found
            }
        }
        if let remembered { return remembered.unexpired(now: now) }
        // Not remembered: look the value up with a copy of the authorizer in force, outside the lock.
        let authorizer = self.authorizer
        let credential = AuthCredential(authorization: presented, identity: identity)
        let result = authorizer.authenticate(credential: credential, now: now).map(AuthGrant.init)
        guard credential.bearer != nil, case .success(let grant) = result else { return result }
        state.withLock { state in
            // Only while the keys that accepted it are still in force.
            guard state.authorizer.entries == authorizer.entries else { return }
            let value = Array(presented.utf8)
            if state.recent.count < Self.recentCapacity {
                state.recent.append((value, grant))
            } else {
                state.recent[state.nextRecent] = (value, grant)
                state.nextRecent = (state.nextRecent + 1) % Self.recentCapacity
            }
        }
        return result
    }

    /// Decides whether a request with this `authorization` value and certificate identity may do `action`, with
    /// the authorizer in force.
    public func check(authorization: String?, identity: String?, action: AuthAction, now: WallTime) -> AuthDecision {
        if isPublic(action) { return .allowed("") }
        switch authenticate(authorization: authorization, identity: identity, now: now) {
        case .success(let entry): return Authorizer.authorize(entry, action)
        case .failure(let refusal): return refusal.decision
        }
    }

    /// `check` for a credential already parsed (a bearer token is presented as `Bearer <token>`).
    public func check(credential: AuthCredential, action: AuthAction, now: WallTime) -> AuthDecision {
        guard let bearer = credential.bearer else { return authorizer.check(credential: credential, action: action, now: now) }
        return check(authorization: "Bearer " + bearer, identity: credential.identity, action: action, now: now)
    }

    /// Re-reads the file if it changed since the last read. Returns true when new keys took effect.
    @discardableResult
    public func poll() -> Bool {
        guard let stamp = FileFingerprint.of(path: path) else { return false }
        guard state.withLock({ $0.stamp }) != stamp else { return false }
        do throws(AuthKeyFileError) {
            let entries = try Self.read(path)
            // A reader that caught a rewrite half-way fails to parse; the writer's last write moves the stamp again.
            state.withLock {
                $0.authorizer.entries = entries
                $0.recent.removeAll()
                $0.nextRecent = 0
                $0.stamp = stamp
            }
            logger.info("reloaded the key file", fields: ["file": .string(path), "entries": .int(entries.count)])
            return true
        } catch {
            // Remember the stamp so a broken file is reported once, not every second.
            state.withLock { $0.stamp = stamp }
            logger.warning("the key file did not reload; the previous keys stay in force: \(error.entry.isEmpty ? "" : error.entry + ": ")\(error.reason)",
                           fields: ["file": .string(path)])
            return false
        }
    }

    /// Polls every `interval` on a dispatch queue until `stop()` (or until the watcher is released).
    public func start(interval: Duration = .seconds(1)) {
        let generation = state.withLock { state in
            state.generation += 1
            return state.generation
        }
        schedule(generation: generation, interval: interval)
    }

    private func schedule(generation: Int, interval: Duration) {
        let (seconds, attoseconds) = interval.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        Self.queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in
            guard let self, self.state.withLock({ $0.generation == generation }) else { return }
            self.poll()
            self.schedule(generation: generation, interval: interval)
        }
    }

    /// Stops polling (idempotent).
    public func stop() {
        state.withLock { $0.generation += 1 }
    }

    private static let queue = DispatchQueue(label: "tensorwire.auth-keys")

    static func read(_ path: String) throws(AuthKeyFileError) -> [AuthEntry] {
        guard let bytes = readFile(path) else {
            throw AuthKeyFileError(path: path, entry: "", reason: "cannot be read (\(String(cString: strerror(errno))))")
        }
        return try AuthKeyFile.parse(bytes, path: path)
    }

    /// The whole file, or nil; at most 16 MiB (a key file is a few KB).
    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count < 16 << 20 {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if got == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<got])
        }
        return nil
    }
}
