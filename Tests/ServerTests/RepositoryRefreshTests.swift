// Tests/ServerTests/RepositoryRefreshTests.swift: the catalog's zero-downtime refresh on a real repository folder
// (issue 21): a new version swaps in warm, a broken one leaves the old serving and is reported per version.

import Batching
import Foundation
import Inference
import Testing
import TensorwireProto
import TestSupport
import Logging
@testable import Server

@Suite(.serialized, .tags(.live)) struct RepositoryRefreshLiveTests {
    @Test func aNewVersionSwapsInAndABrokenOneLeavesTheOldServingWithItsReason() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("refresh-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func write(_ version: Int, _ bytes: [UInt8]) throws {
            let folder = root.appendingPathComponent("m/\(version)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(bytes).write(to: folder.appendingPathComponent("model.onnx"))
        }
        try write(1, BuiltinModels.digitsONNX)
        let scanner = RepositoryScanner(directory: root.path, files: LocalRepositoryFileSystem(maxFileBytes: 1 << 26))
        let repository = try ModelRepository.load(directory: root.path, logger: .discarding)
        let catalog = ModelCatalog(
            repository: repository, modelControl: .poll, source: .init(directory: root.path), metrics: ServerMetrics())
        defer { catalog.shutdown() }
        var applied = try #require(scanner.scan()?["m"]?.content)
        let first = try catalog.resolve(model: "m", version: "").1
        #expect(first.warmUpBatchSizes == Array(1...64), "start-up versions warm at every batch size too")

        try write(2, BuiltinModels.digitsONNX)
        var content = try #require(scanner.scan()?["m"]?.content)
        #expect(catalog.refresh(model: "m", content: content, previous: applied).isEmpty)
        applied = content
        let (second, secondBatcher) = try catalog.resolve(model: "m", version: "")
        #expect(second.number == 2 && secondBatcher !== first)
        #expect(catalog.entry("m")?.versions.map(\.number) == [2], "version 1 unloaded once 2 was ready")
        #expect(secondBatcher.waitUntilWarm() == nil)

        try write(3, [0x0A, 0xFF, 0x01])
        content = try #require(scanner.scan()?["m"]?.content)
        let failures = catalog.refresh(model: "m", content: content, previous: applied)
        applied = content
        #expect(failures.count == 1 && failures.first?.hasPrefix("version 3: ") == true, "\(failures)")
        #expect(try catalog.resolve(model: "m", version: "").1 === secondBatcher, "version 2 keeps serving")
        let info = try catalog.info(model: "m")
        #expect(info.defaultVersion == "2" && info.state == .ready)
        #expect(info.versions.map(\.version) == ["2", "3"])
        #expect(info.versions.last?.state == .failed && info.versions.last?.error.contains("/m/3/model.onnx") == true)

        // Version 3 fixed in place: it serves, and version 2 unloads.
        try write(3, BuiltinModels.digitsONNX)
        content = try #require(scanner.scan()?["m"]?.content)
        #expect(catalog.refresh(model: "m", content: content, previous: applied).isEmpty)
        #expect(try catalog.info(model: "m").versions.map(\.version) == ["3"])
        #expect(try catalog.resolve(model: "m", version: "").0.number == 3)

        catalog.remove(model: "m")
        #expect(catalog.entry("m") == nil)
    }
}
