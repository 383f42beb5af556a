import Foundation
import Inference
import Logging
import ProtoWire
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
        let output = MemoryLogOutput()
        let repository = try ModelRepository.load(
            directory: scratch.root.path, logger: Logger(component: "models", sink: LogSink(output: output)))
        let lines = output.lines
        #expect(repository.entries.map { "\($0.name)/\($0.version)" } == ["broken/2", "empty/0", "mlp/3", "zip/1"])
        // A default skl2onnx export (ZipMap left in) loads.
        #expect(repository.readyEntries.map(\.name) == ["mlp", "zip"])
        #expect(repository.model(named: "mlp")?.version == 3)
        let broken = repository.entries.first { $0.name == "broken" }
        #expect(broken?.failureReason?.contains("not a valid ONNX") == true)
        #expect(broken?.failureReason?.contains("broken/2/model.onnx") == true)
        #expect(lines.count == 4)
        #expect(lines.contains { $0.contains(" ERROR models: model broken version 2: FAILED") })
        // A failure of the whole model names no version.
        #expect(lines.contains { $0.contains(" ERROR models: model empty: FAILED: ") })
    }

    @Test func testConfigKnobsAndVersionPolicies() throws {
        let scratch = try Scratch()
        for version in [1, 2, 5] { try scratch.add("m", version: version, fixture: "torch_mlp.onnx") }
        try scratch.write("m/config.json", """
            {"max_batch_size": 32, "max_queue_delay_us": 250, "preferred_batch_sizes": [16, 8],
             "max_queue_size": 100, "default_timeout_us": 5000, "instances": 2, "version_policy": "all"}
            """)
        var repository = try ModelRepository.load(directory: scratch.root.path, logger: .discarding)
        #expect(repository.entries.map(\.version) == [1, 2, 5])
        let config = try #require(repository.entries.first?.config)
        #expect(config.maxBatchSize == 32)
        #expect(config.maxQueueDelayMicroseconds == 250)
        #expect(config.preferredBatchSizes == [8, 16])
        #expect(config.maxQueueSize == 100)
        #expect(config.defaultTimeoutMicroseconds == 5000)
        #expect(config.instances == 2)

        try scratch.write("m/config.json", #"{"version_policy": {"specific": {"versions": [2, 7]}}}"#)
        repository = try ModelRepository.load(directory: scratch.root.path, logger: .discarding)
        #expect(repository.entries.map(\.version) == [2, 7])
        #expect(repository.entries.last?.failureReason?.contains("version_policy names version 7") == true)

        try scratch.write("m/config.json", #"{"version_policy": {"latest": {"num_versions": 2}}}"#)
        repository = try ModelRepository.load(directory: scratch.root.path, logger: .discarding)
        #expect(repository.entries.map(\.version) == [2, 5])

        try scratch.write("m/config.json", "{}")
        repository = try ModelRepository.load(directory: scratch.root.path, logger: .discarding)
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
            // Foundation on Linux accepts a trailing comma; JSON does not.
            (#"{"max_batch_size": 8,}"#, "not valid JSON: line 1, column 22: trailing comma before '}'"),
            ("{\"instances\": 2\n, \"version_policy\": [\"all\",]}", "line 2, column 28: trailing comma before ']'"),
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
        #expect(throws: ModelLoadError.self) { try ModelRepository.load(directory: "/nonexistent/tw-models", logger: .discarding) }
    }

    @Test func testBuiltinRepositoryServesDigits() throws {
        let repository = ModelRepository.builtin()
        let entry = try #require(repository.model(named: "digits"))
        #expect(entry.version == 1)
        #expect(entry.model?.signature.inputs.first?.dims == [-1, 64])
    }

    // MARK: What a new user hits (issue 15, point 4)

    /// Loads `scratch` and returns the failure reason of `model` and every log line.
    func load(_ scratch: Scratch) throws -> (ModelRepository, [String]) {
        let output = MemoryLogOutput()
        let repository = try ModelRepository.load(
            directory: scratch.root.path, logger: Logger(component: "models", sink: LogSink(output: output)))
        return (repository, output.lines)
    }

    @Test func aModelFolderPassedAsTheRepositoryNamesItsParent() throws {
        let scratch = try Scratch()
        try scratch.add("iris", version: 1, fixture: "torch_mlp.onnx")
        let folder = scratch.root.appendingPathComponent("iris").path
        do {
            _ = try ModelRepository.load(directory: folder, logger: .discarding)
            Issue.record("a model folder was served as a repository (its version folder as a model named '1')")
        } catch {
            #expect(error.file == folder)
            #expect(error.reason.contains("looks like one model's folder (it holds 1/model.onnx)"))
            #expect(error.reason.contains("--models \(scratch.root.standardizedFileURL.path)"))
            #expect(error.reason.contains("model 'iris'"))
        }
    }

    @Test func missingVersionFolderSaysWhatWasFoundAndWhatToDo() throws {
        let scratch = try Scratch()
        try scratch.write("pickled/model.pkl", "pickle")
        try scratch.write("named/iris.onnx", "onnx")
        try scratch.write("flat/model.onnx", "onnx")
        try scratch.write("renamed/1/iris.onnx", "onnx")
        try scratch.write("zero/0/model.onnx", "onnx")
        let (repository, _) = try load(scratch)
        func reason(_ name: String) -> String { repository.entries.first { $0.name == name }?.failureReason ?? "" }
        #expect(reason("pickled").contains("found: model.pkl; Tensorwire serves ONNX, not pickles: convert model.pkl with skl2onnx"))
        #expect(reason("named").contains("found: iris.onnx; move iris.onnx to \(scratch.root.path)/named/1/model.onnx"))
        #expect(reason("flat").contains("found: model.onnx; move model.onnx to \(scratch.root.path)/flat/1/model.onnx"))
        #expect(reason("renamed").contains("rename 1/iris.onnx to 1/model.onnx"))
        #expect(reason("zero").contains("version folders are numbered from 1"))
        // None of them the old one-size-fits-all text alone.
        for name in ["pickled", "named", "flat", "renamed", "zero"] { #expect(reason(name).contains("found: ")) }
    }

    @Test func tritonConfigIsReportedAsNotRead() throws {
        let scratch = try Scratch()
        try scratch.add("m", version: 1, fixture: "torch_mlp.onnx")
        try scratch.write("m/config.pbtxt", "max_batch_size: 8")
        let (repository, lines) = try load(scratch)
        #expect(repository.readyEntries.map(\.name) == ["m"])
        #expect(lines.contains { $0.contains(" WARN  models: ") && $0.contains("m/config.pbtxt is Triton's format and is not read")
            && $0.contains("reads \(scratch.root.path)/m/config.json") })
    }

    @Test func emptyRepositoryAndLooseFilesAreWarnedAbout() throws {
        let scratch = try Scratch()
        try scratch.write("iris.onnx", "onnx")
        let (repository, lines) = try load(scratch)
        #expect(repository.entries.isEmpty)
        #expect(lines.contains { $0.contains("iris.onnx: not a model folder, skipped") && $0.contains("move it to \(scratch.root.path)/iris/1/model.onnx") })
        #expect(lines.contains { $0.contains(" WARN  models: the model repository \(scratch.root.path) holds no model folders") })
    }

    @Test func repositoryErrorsAreInPlainWords() throws {
        let scratch = try Scratch()
        try scratch.write("file", "x")
        for (path, expected) in [
            ("/nonexistent/tw-models", "the model repository does not exist"),
            (scratch.root.appendingPathComponent("file").path, "is a file, not a model repository folder"),
        ] {
            do {
                _ = try ModelRepository.load(directory: path, logger: .discarding)
                Issue.record("\(path) loaded")
            } catch {
                #expect(error.reason.contains(expected), "\(error.reason)")
                #expect(!error.description.contains("NSCocoaErrorDomain"))
            }
        }
    }

    @Test func aFixedBatchExportIsWarnedAboutAtLoad() throws {
        let scratch = try Scratch()
        let onnx = ModelBuilder.model(
            nodes: [ModelBuilder.node("Identity", ["x"], ["y"])],
            inputs: [ModelBuilder.valueInfo("x", [ONNXDimension(value: 1), ONNXDimension(value: 4)])],
            outputs: [ModelBuilder.valueInfo("y", [ONNXDimension(value: 1), ONNXDimension(value: 4)])])
        let directory = scratch.root.appendingPathComponent("fixed/1")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(onnx.serializedBytes()).write(to: directory.appendingPathComponent("model.onnx"))
        try scratch.add("dynamic", version: 1, fixture: "torch_mlp.onnx")
        let (repository, lines) = try load(scratch)
        #expect(repository.readyEntries.count == 2)
        let warnings = lines.filter { $0.contains(" WARN  models: ") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("model fixed version 1: the batch dimension is fixed at 1") == true)
        #expect(warnings.first?.contains("dynamic_axes") == true)
    }
}
