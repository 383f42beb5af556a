import Foundation
import Inference
import Testing

@Suite struct ModelRepositoryTests {
    /// A scratch repository directory, removed when the test ends.
    final class Scratch {
        let root: URL
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("tw-repo-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: root) }

        func add(_ model: String, version: Int, fixture: String) throws {
            let directory = root.appendingPathComponent("\(model)/\(version)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(Fixtures.bytes(fixture)).write(to: directory.appendingPathComponent("model.onnx"))
        }

        func write(_ path: String, _ text: String) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    @Test func testFailedModelsAreReportedWhileOthersLoad() throws {
        let scratch = try Scratch()
        try scratch.add("mlp", version: 1, fixture: "torch_mlp.onnx")
        try scratch.add("mlp", version: 3, fixture: "torch_mlp.onnx")
        try scratch.add("zip", version: 1, fixture: "sklearn_zipmap.onnx")
        try scratch.write("broken/2/model.onnx", "not a protobuf at all")
        try scratch.write("empty/README", "no versions here")
        var lines: [String] = []
        let repository = try ModelRepository.load(directory: scratch.root.path) { lines.append($0) }
        #expect(repository.entries.map { "\($0.name)/\($0.version)" } == ["broken/2", "empty/0", "mlp/3", "zip/1"])
        #expect(repository.readyEntries.map(\.name) == ["mlp"])
        #expect(repository.model(named: "mlp")?.version == 3)
        let zip = repository.entries.first { $0.name == "zip" }
        #expect(zip?.failureReason?.contains("zipmap") == true)
        #expect(zip?.failureReason?.contains("zip/1/model.onnx") == true)
        #expect(repository.entries.first { $0.name == "broken" }?.failureReason?.contains("not a valid ONNX") == true)
        #expect(lines.count == 4)
        #expect(lines.contains { $0.hasPrefix("model zip version 1: FAILED") })
    }

    @Test func testConfigKnobsAndVersionPolicies() throws {
        let scratch = try Scratch()
        for version in [1, 2, 5] { try scratch.add("m", version: version, fixture: "torch_mlp.onnx") }
        try scratch.write("m/config.json", """
            {"max_batch_size": 32, "max_queue_delay_us": 250, "preferred_batch_sizes": [16, 8],
             "max_queue_size": 100, "default_timeout_us": 5000, "instances": 2, "version_policy": "all"}
            """)
        var repository = try ModelRepository.load(directory: scratch.root.path) { _ in }
        #expect(repository.entries.map(\.version) == [1, 2, 5])
        let config = try #require(repository.entries.first?.config)
        #expect(config.maxBatchSize == 32)
        #expect(config.maxQueueDelayMicroseconds == 250)
        #expect(config.preferredBatchSizes == [8, 16])
        #expect(config.maxQueueSize == 100)
        #expect(config.defaultTimeoutMicroseconds == 5000)
        #expect(config.instances == 2)

        try scratch.write("m/config.json", #"{"version_policy": {"specific": {"versions": [2, 7]}}}"#)
        repository = try ModelRepository.load(directory: scratch.root.path) { _ in }
        #expect(repository.entries.map(\.version) == [2, 7])
        #expect(repository.entries.last?.failureReason?.contains("version_policy names version 7") == true)

        try scratch.write("m/config.json", #"{"version_policy": {"latest": {"num_versions": 2}}}"#)
        repository = try ModelRepository.load(directory: scratch.root.path) { _ in }
        #expect(repository.entries.map(\.version) == [2, 5])

        try scratch.write("m/config.json", "{}")
        repository = try ModelRepository.load(directory: scratch.root.path) { _ in }
        #expect(repository.entries.map(\.version) == [5])
    }

    @Test func testBadConfigFailsTheModelWithTheKey() throws {
        for (json, expected) in [
            (#"{"max_batch_sise": 4}"#, "unknown key 'max_batch_sise'"),
            (#"{"max_batch_size": 0}"#, "'max_batch_size' must be an integer ≥ 1"),
            (#"{"instances": 1.5}"#, "'instances' must be an integer"),
            (#"{"instances": true}"#, "'instances' must be an integer"),
            (#"{"version_policy": "newest"}"#, "'version_policy' must be"),
            ("[1, 2", "not valid JSON"),
        ] {
            #expect(throws: ModelLoadError.self) { try ModelConfig(json: Array(json.utf8), file: "config.json") }
            do {
                _ = try ModelConfig(json: Array(json.utf8), file: "m/config.json")
            } catch {
                #expect(error.reason.contains(expected), "\(json): \(error.reason)")
                #expect(error.file == "m/config.json")
            }
        }
    }

    @Test func testMissingDirectoryThrows() {
        #expect(throws: ModelLoadError.self) { try ModelRepository.load(directory: "/nonexistent/tw-models") { _ in } }
    }

    @Test func testBuiltinRepositoryServesDigits() throws {
        let repository = ModelRepository.builtin()
        let entry = try #require(repository.model(named: "digits"))
        #expect(entry.version == 1)
        #expect(entry.model?.signature.inputs.first?.dims == [-1, 64])
    }
}
