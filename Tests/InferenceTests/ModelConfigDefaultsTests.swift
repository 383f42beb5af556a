import Foundation
import Inference
import Logging
import Testing

/// config.json over the server's defaults (the batching flags): keys the file sets win, the others keep the flags.
@Suite struct ModelConfigDefaultsTests {
    static var flags: ModelConfig {
        var config = ModelConfig()
        config.maxBatchSize = 32
        config.maxQueueDelayMicroseconds = 500
        config.preferredBatchSizes = [8, 16]
        config.maxQueueSize = 100
        config.defaultTimeoutMicroseconds = 2_000_000
        config.instances = 2
        return config
    }

    @Test func testKeysTheFileSetsWinAndTheOthersKeepTheDefaults() throws {
        let config = try ModelConfig(
            json: Array(#"{"max_batch_size": 128, "instances": 1}"#.utf8), file: "config.json", defaults: Self.flags)
        #expect(config.maxBatchSize == 128)
        #expect(config.instances == 1)
        #expect(config.maxQueueDelayMicroseconds == 500)
        #expect(config.preferredBatchSizes == [8, 16])
        #expect(config.maxQueueSize == 100)
        #expect(config.defaultTimeoutMicroseconds == 2_000_000)
    }

    @Test func testAnEmptyFileIsTheDefaults() throws {
        #expect(try ModelConfig(json: Array("{}".utf8), file: "config.json", defaults: Self.flags) == Self.flags)
        #expect(try ModelConfig(json: Array("{}".utf8), file: "config.json") == ModelConfig())
    }

    @Test func testDefaultPreferredSizesAboveTheFilesMaximumAreDropped() throws {
        let config = try ModelConfig(json: Array(#"{"max_batch_size": 10}"#.utf8), file: "config.json", defaults: Self.flags)
        #expect(config.preferredBatchSizes == [8])
        // The file's own preferred sizes are checked against the effective maximum, the flag's here.
        #expect(throws: ModelLoadError.self) {
            try ModelConfig(json: Array(#"{"preferred_batch_sizes": [64]}"#.utf8), file: "config.json", defaults: Self.flags)
        }
    }

    @Test func testRepositoryAndBuiltinApplyTheDefaults() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tw-defaults-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (name, json) in [("plain", nil), ("tuned", #"{"max_queue_size": 7}"#)] {
            let directory = root.appendingPathComponent("\(name)/1")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(Fixtures.bytes("torch_mlp.onnx")).write(to: directory.appendingPathComponent("model.onnx"))
            if let json { try Data(json.utf8).write(to: root.appendingPathComponent("\(name)/config.json")) }
        }
        let repository = try ModelRepository.load(directory: root.path, defaults: Self.flags, logger: .discarding)
        let plain = try #require(repository.model(named: "plain"))
        let tuned = try #require(repository.model(named: "tuned"))
        #expect(plain.config == Self.flags)
        #expect(tuned.config.maxQueueSize == 7)
        #expect(tuned.config.instances == 2)
        #expect(ModelRepository.builtin(config: Self.flags).entries.first?.config == Self.flags)
    }
}
