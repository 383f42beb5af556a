// Tests/EventLoopTests/FileWatchTests.swift: the fingerprint that certificate reload polls, and the poller.

import EventLoop
import Foundation
import TestSupport
import Testing

@Suite struct FileWatchTests {
    private func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "tw-watch-" + UUID().uuidString
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func fingerprintChangesOnRewriteAndRenameAndIsNilWhenMissing() throws {
        let path = try temporaryFile("one")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try #require(FileFingerprint.of(path: path))
        #expect(FileFingerprint.of(path: path) == first)
        // A rename over the file: another inode.
        let replacement = try temporaryFile("two")
        #expect(rename(replacement, path) == 0)
        let renamed = try #require(FileFingerprint.of(path: path))
        #expect(renamed.inode != first.inode)
        // An in-place rewrite of another size.
        try "three!".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(FileFingerprint.of(path: path)?.size == 6)
        #expect(FileFingerprint.of(path: path + ".absent") == nil)
    }
}

@Suite(.tags(.live)) struct FileWatchLiveTests {
    @Test func aChangedFileIsReported() throws {
        let path = NSTemporaryDirectory() + "tw-watch-" + UUID().uuidString
        try "one".write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let changed = Promise<Bool>()
        let watch = FileWatch(paths: [path], interval: .milliseconds(10)) { changed.fulfill(true) }
        defer { watch.stop() }
        try "a longer text".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(changed.wait() == true)
    }
}
