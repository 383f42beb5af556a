// Tests/ServerTests/RepositoryScanTests.swift: the repository scanner's decisions on a fake file system, the real
// file system's digests in a temporary folder, the version choice of a refresh, and the warm-up sizes (issue 21).

import Batching
import Foundation
import Glibc
import Inference
import Locks
import Testing
@testable import Server

/// A file system held in memory: directories list names, files have observations the test edits.
final class FakeRepositoryFileSystem: RepositoryFileSystem, Sendable {
    private let state = Lock<(directories: [String: [String]], files: [String: FileObservation])>(([:], [:]))
    private let nextInode = Lock<UInt64>(1)

    func list(_ path: String) -> [String]? { state.withLock { $0.directories[path] } }
    func observe(_ path: String) -> FileObservation? { state.withLock { $0.files[path] } }

    /// Writes `content` at `path` (creating the folders), as a new inode when `replace`, at time `time`.
    func write(_ path: String, content: String, time: Int64, replace: Bool = false) {
        let inode = nextInode.withLock { next in
            defer { next += 1 }
            return next
        }
        state.withLock { state in
            var parts = path.split(separator: "/").map(String.init)
            let name = parts.removeLast()
            var folder = ""
            for part in parts {
                let parent = folder.isEmpty ? "/" : folder
                folder += "/" + part
                if state.directories[folder] == nil { state.directories[folder] = [] }
                if parent != folder, !(state.directories[parent]?.contains(part) ?? false) {
                    state.directories[parent, default: []].append(part)
                }
            }
            if !(state.directories[folder]?.contains(name) ?? false) { state.directories[folder, default: []].append(name) }
            let old = state.files[path]
            state.files[path] = FileObservation(
                device: 1, inode: replace || old == nil ? inode : old?.inode ?? inode, size: Int64(content.utf8.count),
                modifiedNanoseconds: time, changedNanoseconds: time, digest: Array(content.utf8))
        }
    }

    /// Removes a folder and everything under it.
    func remove(_ folder: String) {
        state.withLock { state in
            state.directories = state.directories.filter { !$0.key.hasPrefix(folder) }
            state.files = state.files.filter { !$0.key.hasPrefix(folder) }
            let parent = String(folder[..<(folder.lastIndex(of: "/") ?? folder.startIndex)])
            let name = String(folder.split(separator: "/").last ?? "")
            state.directories[parent]?.removeAll { $0 == name }
        }
    }

    /// Changes a file's times only (`touch`).
    func touch(_ path: String, time: Int64) {
        state.withLock { state in
            state.files[path]?.modifiedNanoseconds = time
            state.files[path]?.changedNanoseconds = time
        }
    }
}

@Suite struct RepositoryChangeTrackerTests {
    let files = FakeRepositoryFileSystem()
    var scanner: RepositoryScanner { RepositoryScanner(directory: "/repo", files: files) }

    func observe(_ tracker: inout RepositoryChangeTracker) -> RepositoryChangeTracker.Changes {
        tracker.observe(scanner.scan() ?? [:])
    }

    @Test func aNewVersionIsActedOnOnceItIsTheSameInTwoScans() throws {
        files.write("/repo/m/1/model.onnx", content: "v1", time: 1)
        var tracker = RepositoryChangeTracker()
        tracker.seed(try #require(scanner.scan()))
        #expect(observe(&tracker).isEmpty)
        files.write("/repo/m/2/model.onnx", content: "v2", time: 2)
        #expect(observe(&tracker) == .init(unsettled: ["m"]))
        let changes = observe(&tracker)
        let content = try #require(changes.changed["m"])
        #expect(content.versionNumbers == [1, 2])
        #expect(content.changedVersions(since: tracker.applied["m"]) == [2])
        tracker.markApplied("m", content)
        #expect(observe(&tracker).isEmpty)
    }

    @Test func aFileStillBeingWrittenWaitsUntilItStopsChanging() throws {
        var tracker = RepositoryChangeTracker()
        tracker.seed([:])
        for (step, partial) in ["ab", "abcd", "abcdef"].enumerated() {
            files.write("/repo/m/1/model.onnx", content: partial, time: Int64(step))
            #expect(observe(&tracker) == .init(unsettled: ["m"]), "still growing at step \(step)")
        }
        #expect(observe(&tracker).changed["m"]?.versions[1]?["model.onnx"] == Array("abcdef".utf8))
    }

    @Test func aTouchReloadsNothingButTheSameSizeAndTimeWithNewContentDoes() throws {
        files.write("/repo/m/1/model.onnx", content: "aaaa", time: 5)
        var tracker = RepositoryChangeTracker()
        tracker.seed(try #require(scanner.scan()))
        files.touch("/repo/m/1/model.onnx", time: 9)
        #expect(observe(&tracker) == .init(unsettled: ["m"]))
        #expect(observe(&tracker).isEmpty, "the content is what was applied")
        // Same size, the modification time set back (cp -p): the digest tells.
        files.write("/repo/m/1/model.onnx", content: "bbbb", time: 9)
        #expect(observe(&tracker) == .init(unsettled: ["m"]))
        #expect(observe(&tracker).changed["m"]?.versions[1]?["model.onnx"] == Array("bbbb".utf8))
    }

    @Test func aConfigChangeReloadsEveryVersionAndASealedFileCountsAsAModelFile() throws {
        files.write("/repo/m/1/model.onnx", content: "v1", time: 1)
        files.write("/repo/m/2/model.onnx.sealed", content: "v2", time: 1)
        files.write("/repo/m/3/notes.txt", content: "not a model", time: 1)
        var tracker = RepositoryChangeTracker()
        tracker.seed(try #require(scanner.scan()))
        let before = try #require(tracker.applied["m"])
        #expect(before.versionNumbers == [1, 2])
        files.write("/repo/m/config.json", content: "{}", time: 2)
        _ = observe(&tracker)
        let after = try #require(observe(&tracker).changed["m"])
        #expect(after.changedVersions(since: before) == [1, 2])
        #expect(after.changedVersions(since: nil) == [1, 2])
    }

    @Test func aRemovedModelFolderIsRemovedAfterTwoScansAndAnUnlistableRootChangesNothing() throws {
        files.write("/repo/m/1/model.onnx", content: "v1", time: 1)
        files.write("/repo/n/1/model.onnx", content: "v1", time: 1)
        var tracker = RepositoryChangeTracker()
        tracker.seed(try #require(scanner.scan()))
        files.remove("/repo/n")
        #expect(observe(&tracker) == .init(unsettled: ["n"]))
        #expect(observe(&tracker) == .init(removed: ["n"]))
        #expect(RepositoryScanner(directory: "/elsewhere", files: files).scan() == nil)
    }

    @Test func onlyLimitsTheScanToTheNamedModels() throws {
        var tracker = RepositoryChangeTracker()
        tracker.seed([:])
        files.write("/repo/m/1/model.onnx", content: "v1", time: 1)
        files.write("/repo/n/1/model.onnx", content: "v1", time: 1)
        let scan = try #require(scanner.scan())
        #expect(tracker.observe(scan, only: ["m"]) == .init(unsettled: ["m"]))
        #expect(Set(tracker.observe(scan, only: ["m"]).changed.keys) == ["m"])
    }
}

@Suite struct LocalRepositoryFileSystemTests {
    @Test func theDigestFollowsTheContentEvenWhenSizeAndModificationTimeStayTheSame() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("m/1"), withIntermediateDirectories: true)
        let path = root.appendingPathComponent("m/1/model.onnx").path
        try Data("aaaa".utf8).write(to: URL(fileURLWithPath: path))
        let files = LocalRepositoryFileSystem(maxFileBytes: 1 << 20)
        let first = try #require(files.observe(path))
        #expect(files.observe(path) == first, "unchanged: the same observation")
        // Rewrite in place with the same size, then set the modification time back to the old one.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: Data("bbbb".utf8))
        try handle.close()
        var times = [timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2 /* UTIME_OMIT */),
                     timespec(tv_sec: Int(first.modifiedNanoseconds / 1_000_000_000),
                              tv_nsec: Int(first.modifiedNanoseconds % 1_000_000_000))]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let second = try #require(files.observe(path))
        #expect(second.size == first.size && second.modifiedNanoseconds == first.modifiedNanoseconds)
        #expect(second.digest != first.digest)
        #expect(files.observe(root.appendingPathComponent("m").path) == nil, "a folder is not a model file")
        #expect(files.list(root.appendingPathComponent("m").path) == ["1"])
    }
}

@Suite struct RefreshVersionChoiceTests {
    @Test func thePolicySelectsFromTheAvailableVersions() {
        #expect(ModelCatalog.selectedVersions(.latest(count: 1), available: [3, 1, 2]) == [3])
        #expect(ModelCatalog.selectedVersions(.latest(count: 2), available: [3, 1, 2]) == [2, 3])
        #expect(ModelCatalog.selectedVersions(.all, available: [2, 1]) == [1, 2])
        #expect(ModelCatalog.selectedVersions(.specific([4, 1]), available: [1, 2]) == [1, 4])
    }

    @Test func droppedVersionsServeUntilTheirReplacementsAreReady() {
        // Nothing selected is ready: every dropped version keeps serving.
        #expect(ModelCatalog.retainedVersions(dropped: [1, 2], selected: 1, readySelected: 0) == [1, 2])
        // The new version failed (1 of 2 selected ready): the highest dropped one keeps serving.
        #expect(ModelCatalog.retainedVersions(dropped: [1, 2], selected: 2, readySelected: 1) == [2])
        // Every selected version is ready: the dropped ones unload.
        #expect(ModelCatalog.retainedVersions(dropped: [1], selected: 1, readySelected: 1) == [])
    }

    @Test func warmUpRunsEverySizeUpToTheLimitThenPowersOfTwo() {
        #expect(Batcher.defaultWarmUpBatchSizes(maxBatchSize: 8, preferred: []) == Array(1...8))
        #expect(Batcher.defaultWarmUpBatchSizes(maxBatchSize: 1000, preferred: [48, 2000])
            == [1, 2, 4, 8, 16, 32, 48, 64, 128, 256, 512, 1000])
    }

    @Test func configJSONTakesWarmUpSizesWithinMaxBatchSize() throws {
        let config = try ModelConfig(json: Array(#"{"max_batch_size": 8, "warmup": [8, 1, 4, 4]}"#.utf8), file: "c")
        #expect(config.warmupBatchSizes == [1, 4, 8])
        #expect(throws: ModelLoadError.self) {
            try ModelConfig(json: Array(#"{"max_batch_size": 8, "warmup": [16]}"#.utf8), file: "c")
        }
        #expect(throws: ModelLoadError.self) { try ModelConfig(json: Array(#"{"warmup": [true]}"#.utf8), file: "c") }
    }
}

@Suite struct PollOptionsTests {
    @Test func pollModeTakesAnIntervalAndNeedsARepository() throws {
        guard case .run(let options) = try ServerOptions.parse(
            ["--models", "/m", "--model-control", "poll", "--repository-poll-secs", "0.5", "--drain-delay-seconds", "2"])
        else { Issue.record("not a run"); return }
        #expect(options.modelControl == .poll && options.repositoryPollSeconds == 0.5 && options.drainDelaySeconds == 2)
        #expect(options.effectiveSummary.contains("repository-poll-secs=0.5"))
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--model-control", "poll"]) }
        #expect(throws: ServerOptions.UsageError.self) {
            try ServerOptions.parse(["--models", "/m", "--repository-poll-secs", "1"])
        }
        #expect(throws: ServerOptions.UsageError.self) {
            try ServerOptions.parse(["--models", "/m", "--model-control", "poll", "--repository-poll-secs", "0"])
        }
    }
}
