import Foundation
import Inference
import Logging
import ProtoWire
import Testing

/// Issue 25 ("Resource limits"): sizes that come from a model file or a config.json are bounded and checked before
/// anything is allocated, and a model over its memory budget is a load error naming the file, the budget and the
/// flag, never a crash.
@Suite struct ModelResourceLimitTests {
    func loadError(_ model: ONNXModel, file: String = "m/1/model.onnx", budget: Int = Model.defaultMaxModelBytes)
        -> ModelLoadError? {
        do {
            _ = try Model(onnxBytes: model.serializedBytes(), name: "m", source: file, maxModelBytes: budget)
            return nil
        } catch {
            return error
        }
    }

    @Test func configFileOverItsLimitIsRefusedBeforeItIsRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tw-config-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let small = directory + "/config.json", large = directory + "/large.json"
        try Data("{\"max_batch_size\": 8}".utf8).write(to: URL(fileURLWithPath: small))
        try Data(repeating: 0x20, count: ModelConfig.maxFileBytes + 1).write(to: URL(fileURLWithPath: large))
        #expect(try ModelConfig.readFile(small) == Array("{\"max_batch_size\": 8}".utf8))
        #expect(throws: ModelLoadError.self) { try ModelConfig.readFile(large) }
        do {
            _ = try ModelConfig.readFile(large)
        } catch {
            #expect(error.file == large && error.reason.contains("over the 1 MiB"))
        }
        do {
            _ = try ModelConfig.readFile(directory + "/missing.json")
            Issue.record("a missing config.json was read")
        } catch {
            #expect(error.reason == "cannot be read")
        }
    }

    /// x[N, width] → Relu → y: the issue's 200-byte model at width 2^28.
    static func wideRelu(width: Int64) -> ONNXModel {
        ModelBuilder.model(
            nodes: [ModelBuilder.node("Relu", ["x"], ["y"], name: "relu")],
            inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: width)])],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: width)])]
        )
    }

    /// Add of [side, 1] and [1, side] constants (a [side, side] fold), then two Muls by it, then added to x[N, side].
    static func foldingBomb(side: Int64) -> ONNXModel {
        let column = ModelBuilder.floatTensor("a", [side, 1], [Float](repeating: 1, count: Int(side)))
        let row = ModelBuilder.floatTensor("b", [1, side], [Float](repeating: 2, count: Int(side)))
        return ModelBuilder.model(
            nodes: [
                ModelBuilder.node("Add", ["a", "b"], ["s"], name: "fold_add"),
                ModelBuilder.node("Mul", ["s", "s"], ["p"], name: "fold_mul1"),
                ModelBuilder.node("Mul", ["p", "s"], ["q"], name: "fold_mul2"),
                ModelBuilder.node("Add", ["x", "q"], ["y"], name: "use"),
            ],
            inputs: [ModelBuilder.valueInfo("x", [ONNXDimension(value: side), ONNXDimension(value: side)])],
            outputs: [ModelBuilder.valueInfo("y", [ONNXDimension(value: side), ONNXDimension(value: side)])],
            initializers: [column, row]
        )
    }

    // MARK: config.json caps

    @Test(arguments: [
        (#"{"max_batch_size": 1000000000}"#, "'max_batch_size' is 1000000000, over the limit of 1048576"),
        (#"{"max_batch_size": 4611686018427387904}"#, "'max_batch_size' is 4611686018427387904, over the limit of 1048576"),
        (#"{"max_batch_size": 1e300}"#, "over the limit of 1048576"),
        (#"{"instances": 100000}"#, "'instances' is 100000, over the limit of 256"),
        (#"{"max_queue_size": 100000000}"#, "over the limit of 16777216"),
    ])
    func configValuesOverTheirCapAreLoadErrorsNamingKeyAndCap(_ json: String, _ expected: String) {
        #expect(throws: ModelLoadError.self) { try ModelConfig(json: Array(json.utf8), file: "m/config.json") }
        do {
            _ = try ModelConfig(json: Array(json.utf8), file: "m/config.json")
        } catch {
            #expect(error.file == "m/config.json")
            #expect(error.reason.contains(expected), "\(error.reason)")
        }
    }

    @Test func configValuesAtTheirCapAreAccepted() throws {
        let config = try ModelConfig(json: Array(#"{"max_batch_size": 1048576, "instances": 256}"#.utf8), file: "c")
        #expect(config.maxBatchSize == ModelConfig.maxBatchSizeLimit)
        #expect(config.instances == ModelConfig.instancesLimit)
    }

    // MARK: Execution buffers

    @Test func wideInputModelIsALoadErrorNotAnAbort() throws {
        // The issue's model: one row of buffers is 2 GiB (the input and the Relu's output), over the 1 GiB default.
        let model = Self.wideRelu(width: 1 << 28)
        #expect(model.serializedBytes().count < 200)
        let error = try #require(loadError(model))
        #expect(error.file == "m/1/model.onnx")
        #expect(error.reason.contains("one batch row of execution buffers needs 2147483648 bytes"), "\(error.reason)")
        #expect(error.reason.contains("budget of 1073741824 bytes"))
        #expect(error.reason.contains("--max-model-bytes"))
    }

    @Test func buffersGrowOnDemandWithinTheBudgetAndAreNotPreallocatedToMaxBatchSize() throws {
        // 8 KiB of buffers per row (x and y, 1024 floats each); a 4 MiB budget holds 511 rows.
        let model = try Model(onnx: Self.wideRelu(width: 1024), name: "w", maxModelBytes: 4 << 20)
        #expect(model.bufferBytesPerRow == 8192)
        let rowLimit = model.maxRows()
        #expect(rowLimit == ((4 << 20) - model.fixedBufferBytes - model.constantBytes) / 8192)
        #expect(rowLimit == 511)
        let context = model.makeContext(maxBatchSize: ModelConfig.maxBatchSizeLimit)
        #expect(context.allocatedBufferBytes <= ExecutionContext.preallocatedBytes)
        #expect(context.batchLimit == rowLimit)
        let rows = 300
        let input = (0..<(rows * 1024)).map { Float($0 % 7) - 3 }
        let output = try context.run([Tensor(shape: [rows, 1024], floats: input)])
        #expect(output[0].floats == input.map { max($0, 0) })
        #expect(context.maxBatchSize == rows)
        // Past the budget: refused, and the context keeps working.
        #expect(throws: InferenceError.batchTooLarge(rows: rowLimit + 1, limit: rowLimit)) {
            try context.run([Tensor(shape: [rowLimit + 1, 1024], floats: [Float](repeating: 1, count: (rowLimit + 1) * 1024))])
        }
        #expect(try context.run([Tensor(shape: [1, 1024], floats: [Float](repeating: -1, count: 1024))])[0].floats
            == [Float](repeating: 0, count: 1024))
    }

    @Test func buffersShrinkBackAfterAWindowOfSmallBatches() throws {
        let model = try Model(onnx: Self.wideRelu(width: 64), name: "w")
        let context = model.makeContext(maxBatchSize: 4)
        #expect(context.maxBatchSize == 4)
        _ = try context.run([Tensor(shape: [5000, 64], floats: [Float](repeating: 1, count: 5000 * 64))])
        #expect(context.maxBatchSize == 5000)
        let grown = context.allocatedBufferBytes
        for _ in 0..<(2 * ExecutionContext.shrinkWindow) {
            _ = try context.run([Tensor(shape: [3, 64], floats: [Float](repeating: 1, count: 3 * 64))])
        }
        #expect(context.maxBatchSize == 4)
        #expect(context.allocatedBufferBytes < grown / 100)
        // Still correct after shrinking.
        #expect(try context.run([Tensor(shape: [2, 64], floats: [Float](repeating: -2, count: 128))])[0].floats
            == [Float](repeating: 0, count: 128))
    }

    // MARK: Constant folding

    @Test func foldingOverTheBudgetFailsBeforeAllocating() throws {
        // The issue's model at full size: the first fold alone is 16384² floats (1 GiB), over the 1 GiB default
        // beside the 128 KiB of initializers. Refused at that node, before the GiB is allocated.
        let full = Self.foldingBomb(side: 16384)
        // The refusal names the fold that would exceed the budget: the check runs before that fold's output is
        // allocated (a timing bound would only restate it, and timed assertions are not tests).
        let error = try #require(loadError(full))
        #expect(error.node == "fold_add")
        #expect(error.op == "Add")
        #expect(error.reason.contains("constant folding of 's'"), "\(error.reason)")
        #expect(error.reason.contains("budget of 1073741824 bytes"))
        #expect(error.reason.contains("--max-model-bytes"))
    }

    @Test func foldingBudgetIsCumulative() throws {
        // Sized down: each fold is 512² floats = 1 MiB. A 2.5 MiB budget holds the Add and the first Mul only.
        let model = Self.foldingBomb(side: 512)
        let error = try #require(loadError(model, budget: 5 << 19))
        #expect(error.node == "fold_mul2")
        #expect(error.reason.contains("budget of 2621440 bytes"), "\(error.reason)")
        // With room for every fold, the x input and its output, it loads and runs.
        let loaded = try Model(onnx: model, name: "f", maxModelBytes: 16 << 20)
        #expect(loaded.constantBytes >= 512 * 512 * 4)
    }

    @Test func largeWeightsOverTheBudgetAreALoadError() {
        let k = 256, n = 256
        let model = ModelBuilder.gemm(k: k, n: n, weights: [Float](repeating: 0.5, count: k * n),
                                      bias: [Float](repeating: 0, count: n))
        let error = loadError(model, budget: 128 << 10)
        #expect(error?.reason.contains("initializer 'w': its data needs 262144 bytes") == true, "\(error?.reason ?? "loaded")")
    }

    // MARK: Messages

    @Test func castToOutOfRangeIsALoadErrorNotTruncated() throws {
        // 2^32 + 1 truncates to 1 (float32): it must be refused, not read as float32.
        var model = ModelBuilder.model(
            nodes: [ModelBuilder.node("Cast", ["x"], ["y"], name: "cast",
                                      attributes: [ModelBuilder.intAttribute("to", (1 << 32) + 1)])],
            inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 2)], elementType: 7)],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 2)])]
        )
        let error = try #require(loadError(model))
        #expect(error.op == "Cast")
        #expect(error.reason.contains("'to' = 4294967297 is not an ONNX element type"), "\(error.reason)")
        model.graph.nodes[0].attributes = [ModelBuilder.intAttribute("to", 1)]
        #expect(loadError(model) == nil)
    }

    @Test func emptyFileSaysItIsEmpty() throws {
        do {
            _ = try Model(onnxBytes: [], name: "e", source: "e/1/model.onnx")
            Issue.record("an empty file loaded")
        } catch {
            #expect(error.file == "e/1/model.onnx")
            #expect(error.reason.contains("the file is empty"), "\(error.reason)")
        }
        // A protobuf that parses but holds no graph.
        var graphless = ONNXModel()
        graphless.irVersion = 8
        #expect(loadError(graphless)?.reason.contains("holds no ONNX graph") == true)
    }

    @Test func zeroDimensionIsNamedAsSuch() {
        var model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0, 1], bias: [0, 0])
        model.graph.inputs[0].dims = [ModelBuilder.batch, ONNXDimension(value: 0)]
        let reason = loadError(model)?.reason ?? "loaded"
        #expect(reason.contains("dimension 1 is 0; a dimension of 0 is not supported"), "\(reason)")
        #expect(!reason.contains("dynamic"))
    }

    // MARK: Repository

    @Test func repositoryReportsHostileConfigAndModelAndLoadsTheRest() throws {
        let scratch = try ModelRepositoryTests.Scratch()
        try scratch.add("good", version: 1, fixture: "torch_mlp.onnx")
        try scratch.add("huge_batch", version: 1, fixture: "torch_mlp.onnx")
        try scratch.write("huge_batch/config.json", #"{"max_batch_size": 4611686018427387904}"#)
        try scratch.add("many", version: 1, fixture: "torch_mlp.onnx")
        try scratch.write("many/config.json", #"{"instances": 1000000}"#)
        let wide = root(scratch, "wide/1/model.onnx")
        try FileManager.default.createDirectory(at: wide.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(Self.wideRelu(width: 1 << 28).serializedBytes()).write(to: wide)
        try scratch.write("empty/1/model.onnx", "")
        let repository = try ModelRepository.load(directory: scratch.root.path, logger: .discarding)
        func reason(_ name: String) -> String { repository.entries.first { $0.name == name }?.failureReason ?? "" }
        #expect(repository.readyEntries.map(\.name) == ["good"])
        #expect(reason("huge_batch").contains("huge_batch/config.json: 'max_batch_size' is 4611686018427387904, over the limit of 1048576"))
        #expect(reason("many").contains("many/config.json: 'instances' is 1000000, over the limit of 256"))
        #expect(reason("wide").contains("wide/1/model.onnx: one batch row of execution buffers"))
        #expect(reason("wide").contains("--max-model-bytes"))
        #expect(reason("empty").contains("empty/1/model.onnx: the file is empty"))
    }

    @Test func instancesTimesOneRowMustFitTheBudget() throws {
        // 8 KiB per row: one instance fits a 64 KiB budget, 64 instances do not.
        let scratch = try ModelRepositoryTests.Scratch()
        let file = root(scratch, "w/1/model.onnx")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(Self.wideRelu(width: 1024).serializedBytes()).write(to: file)
        try scratch.write("w/config.json", #"{"instances": 64}"#)
        let failed = ModelRepository.loadModel(named: "w", directory: scratch.root.path, logger: .discarding,
                                               maxModelBytes: 64 << 10)
        #expect(failed.first?.failureReason?.contains("64 instance(s)") == true, "\(failed.first?.failureReason ?? "")")
        #expect(failed.first?.failureReason?.contains("--max-model-bytes") == true)
        try scratch.write("w/config.json", #"{"instances": 1}"#)
        let ready = ModelRepository.loadModel(named: "w", directory: scratch.root.path, logger: .discarding,
                                              maxModelBytes: 64 << 10)
        #expect(ready.first?.model != nil)
        // A file larger than the budget is refused before it is read.
        let tiny = ModelRepository.loadModel(named: "w", directory: scratch.root.path, logger: .discarding,
                                             maxModelBytes: 16)
        #expect(tiny.first?.failureReason?.contains("over the model memory budget of 16 bytes") == true)
    }

    func root(_ scratch: ModelRepositoryTests.Scratch, _ path: String) -> URL {
        scratch.root.appendingPathComponent(path)
    }
}
