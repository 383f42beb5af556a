// Sources/Server/RepositoryScan.swift: what a scan of the model repository sees, and when a change is ready to act
// on. The decisions (`RepositoryChangeTracker`) are pure; the file system is behind `RepositoryFileSystem`, so the
// tests give it a fake one.

internal import Crypto
internal import Glibc
internal import Inference
internal import Locks

/// One file as one scan saw it: its `stat` identity and its content digest. Two observations are equal only when the
/// file did not move, grow, or get written between them (the change time moves on every write, even one that keeps
/// the size and sets the modification time back, as `cp -p` and `rsync -t` do).
struct FileObservation: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedNanoseconds: Int64
    var changedNanoseconds: Int64
    /// SHA-256 of the content: what decides whether a load is due (a `touch` alone loads nothing).
    var digest: [UInt8]
}

/// The files of one model folder as one scan saw them: `config.json` and, per version folder that holds a model file,
/// each model file by name.
struct ModelObservation: Hashable, Sendable {
    var config: FileObservation?
    var versions: [Int: [String: FileObservation]]

    /// The content alone (digests), which is what the catalog loaded from.
    var content: ModelContent {
        ModelContent(config: config?.digest, versions: versions.mapValues { $0.mapValues(\.digest) })
    }
}

/// The content of one model folder: digests of `config.json` and of each version's model files.
struct ModelContent: Hashable, Sendable {
    var config: [UInt8]?
    var versions: [Int: [String: [UInt8]]]

    /// The version folders that hold a model file, ascending.
    var versionNumbers: [Int] { versions.keys.sorted() }

    /// The versions whose files differ from `old` (all of them when `config.json` differs, since batching and
    /// warm-up follow it).
    func changedVersions(since old: ModelContent?) -> Set<Int> {
        guard let old, old.config == config else { return Set(versions.keys) }
        return Set(versions.keys.filter { old.versions[$0] != versions[$0] })
    }
}

/// The file system as the scanner needs it. Any thread.
protocol RepositoryFileSystem: Sendable {
    /// The names in a directory (no `.` and `..`), or nil when it is not a readable directory.
    func list(_ path: String) -> [String]?
    /// A regular file's observation, or nil when it is missing or not a regular file.
    func observe(_ path: String) -> FileObservation?
}

/// Scans a repository into observations: one `list` of the root, of each model folder and of each numbered version
/// folder, and one `observe` per model file and `config.json`.
struct RepositoryScanner: Sendable {
    /// The file names in a version folder that make it a version. A sealed model is one more name here; the loader
    /// decides which it reads.
    static let modelFileNames = ["model.onnx", "model.onnx.sealed"]
    static let configFileName = "config.json"

    let directory: String
    let files: any RepositoryFileSystem

    /// Every model folder of the repository (names not starting with `.`); nil when the root cannot be listed (a
    /// scan that saw nothing must not read as "every model was removed").
    func scan() -> [String: ModelObservation]? {
        guard let names = files.list(directory) else { return nil }
        var models: [String: ModelObservation] = [:]
        for name in names where !name.hasPrefix(".") {
            if let model = scan(model: name) { models[name] = model }
        }
        return models
    }

    /// One model folder, or nil when `name` is not a folder of the repository.
    func scan(model name: String) -> ModelObservation? {
        let folder = directory + "/" + name
        guard let entries = files.list(folder) else { return nil }
        var model = ModelObservation(config: files.observe(folder + "/" + Self.configFileName), versions: [:])
        for entry in entries {
            guard let version = Int(entry), version >= 1, String(version) == entry,
                  let inside = files.list(folder + "/" + entry) else { continue }
            var found: [String: FileObservation] = [:]
            for file in Self.modelFileNames where inside.contains(file) {
                if let observation = files.observe(folder + "/" + entry + "/" + file) { found[file] = observation }
            }
            if !found.isEmpty { model.versions[version] = found }
        }
        return model
    }
}

/// Decides, scan after scan, which models are ready to be (re)loaded or removed. A model folder is acted on only when
/// it is stable, the same in two consecutive scans (every file's identity, size, times and digest), and its content
/// differs from what was last applied; a file still being written is left until it stops changing. A model folder
/// that disappears is removed once it has been gone for two scans. A value owned by the poller's queue.
struct RepositoryChangeTracker: Sendable {
    /// What one scan asks for.
    struct Changes: Equatable, Sendable {
        /// Stable models whose content differs from what was applied, with the new content.
        var changed: [String: ModelContent] = [:]
        /// Models applied before and absent from the last two scans.
        var removed: [String] = []
        /// Models whose files changed since the previous scan (or appeared, or vanished once): scan again soon.
        var unsettled: [String] = []

        var isEmpty: Bool { changed.isEmpty && removed.isEmpty && unsettled.isEmpty }
    }

    private var previous: [String: ModelObservation] = [:]
    /// The content the catalog last acted on, per model (loaded, or failed to load: a failure is not retried until
    /// the files change again).
    private(set) var applied: [String: ModelContent] = [:]

    init() {}

    /// Records what is loaded now without acting on it (the start-up scan).
    mutating func seed(_ scan: [String: ModelObservation]) {
        previous = scan
        applied = scan.mapValues(\.content)
    }

    /// One scan of the whole repository (`only` nil) or of the models in `only`.
    mutating func observe(_ scan: [String: ModelObservation], only: Set<String>? = nil) -> Changes {
        var changes = Changes()
        let considered = only ?? Set(scan.keys).union(previous.keys).union(applied.keys)
        for name in considered.sorted() {
            let now = scan[name]
            let before = previous[name]
            if let now {
                if now != before {
                    changes.unsettled.append(name)
                } else if applied[name] != now.content {
                    changes.changed[name] = now.content
                }
            } else if before != nil {
                changes.unsettled.append(name)
            } else if applied[name] != nil {
                changes.removed.append(name)
            }
            previous[name] = now
        }
        return changes
    }

    /// The catalog acted on `content` for `model` (nil: the model was removed).
    mutating func markApplied(_ model: String, _ content: ModelContent?) {
        applied[model] = content
    }
}

/// The real file system: `opendir`-free listing through Foundation, `stat` for identity and times, SHA-256 of the
/// content read in one piece. The digest is recomputed only when the identity, size or times moved since the last
/// call for that path, so a poll of an unchanged repository costs a `stat` per file. Any thread.
final class LocalRepositoryFileSystem: RepositoryFileSystem {
    /// Digests by path with the identity they were computed for.
    private let digests = Lock<[String: FileObservation]>([:])
    /// The largest file digested (`--max-model-bytes`): a bigger one is observed with an empty digest and its load
    /// fails with the size reason.
    let maxFileBytes: Int

    init(maxFileBytes: Int) {
        self.maxFileBytes = maxFileBytes
    }

    func list(_ path: String) -> [String]? {
        guard RepositoryFiles.isDirectory(path) else { return nil }
        return RepositoryFiles.contents(ofDirectory: path)
    }

    func observe(_ path: String) -> FileObservation? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        func nanoseconds(_ time: timespec) -> Int64 {
            Int64(time.tv_sec).multipliedReportingOverflow(by: 1_000_000_000).partialValue
                .addingReportingOverflow(Int64(time.tv_nsec)).partialValue
        }
        var observation = FileObservation(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedNanoseconds: nanoseconds(info.st_mtim), changedNanoseconds: nanoseconds(info.st_ctim), digest: [])
        if let known = digests.withLock({ $0[path] }), known.sameIdentity(as: observation) {
            return known
        }
        if observation.size <= Int64(maxFileBytes), let digest = Self.streamedDigest(path) {
            observation.digest = digest
        }
        digests.withLock { $0[path] = observation }
        return observation
    }
}

extension LocalRepositoryFileSystem {
    /// SHA-256 of the file at `path`, read in 1 MiB pieces (a model file is never held whole for its digest); nil
    /// when it cannot be read.
    static func streamedDigest(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let hasher = SHA256Hasher()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if got == 0 { return hasher.finish() }
            chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
        }
    }
}

extension FileObservation {
    /// Equal but for the digest.
    func sameIdentity(as other: FileObservation) -> Bool {
        device == other.device && inode == other.inode && size == other.size
            && modifiedNanoseconds == other.modifiedNanoseconds && changedNanoseconds == other.changedNanoseconds
    }
}
