import Inference
import Testing

/// The engine against onnxruntime's outputs on committed fixture models (Tools/fixtures/generate_models.py).
@Suite struct ConformanceTests {
    static let fixtures = [
        "torch_mlp", "torch_gelu_batchnorm", "torch_image_flatten", "odd_sizes_b1", "odd_sizes_b3", "keras_mlp",
        "keras_nhwc_image", "preprocessing_ops", "sklearn_logreg_iris", "sklearn_pipeline_strings",
        "sklearn_logreg_binary", "sklearn_linreg", "sklearn_mlp_regressor", "digits",
    ]

    @Test(arguments: fixtures, Fixtures.backends)
    func testOutputsMatchOnnxruntime(_ name: String, _ gemm: GEMMBackend) throws {
        let model = try Fixtures.model(name, gemm: gemm)
        #expect(model.gemm == gemm)
        let record = try Fixtures.record(name)
        #expect(model.signature.inputs.map(\.name) == record.inputs.map(\.name))
        #expect(model.signature.outputs.map(\.name) == record.outputs.map(\.name))
        let context = model.makeContext(maxBatchSize: 8)
        let outputs = try context.run(record.inputs.map(\.tensor))
        #expect(outputs.count == record.outputs.count)
        for (output, expected) in zip(outputs, record.outputs) {
            Fixtures.expectClose(output, expected.tensor, "\(name).\(expected.name)")
        }
    }

    /// Each row run alone gives the row of the batched run: the batch dimension is really dynamic.
    @Test(arguments: ["torch_mlp", "keras_nhwc_image", "sklearn_pipeline_strings", "torch_image_flatten"],
          Fixtures.backends)
    func testRowsRunAloneMatchTheBatch(_ name: String, _ gemm: GEMMBackend) throws {
        let model = try Fixtures.model(name, gemm: gemm)
        let record = try Fixtures.record(name)
        let context = model.makeContext(maxBatchSize: 1)
        let input = record.inputs[0].tensor
        let rows = input.shape.dims[0]
        let perRow = (input.shape.elementCount ?? 0) / max(rows, 1)
        guard let values = input.floats else { Issue.record("float input expected"); return }
        for row in 0..<rows {
            var dims = input.shape.dims
            dims[0] = 1
            let single = Tensor(shape: Shape(dims), floats: Array(values[(row * perRow)..<((row + 1) * perRow)]))
            let outputs = try context.run([single])
            for (output, expected) in zip(outputs, record.outputs) {
                let count = (expected.tensor.shape.elementCount ?? 0) / rows
                var expectedDims = expected.tensor.shape.dims
                expectedDims[0] = 1
                let slice: Tensor.Storage
                switch expected.tensor.storage {
                case .float32(let v): slice = .float32(Array(v[(row * count)..<((row + 1) * count)]))
                case .float64(let v): slice = .float64(Array(v[(row * count)..<((row + 1) * count)]))
                case .int64(let v): slice = .int64(Array(v[(row * count)..<((row + 1) * count)]))
                case .string(let v): slice = .string(Array(v[(row * count)..<((row + 1) * count)]))
                }
                let expectedRow = try #require(Tensor(shape: Shape(expectedDims), storage: slice))
                Fixtures.expectClose(output, expectedRow, "\(name).\(expected.name)[\(row)]")
            }
        }
    }

    @Test func testSignatureComesFromTheGraph() throws {
        let model = try Fixtures.model("digits")
        #expect(model.signature.inputs == [TensorSignature(name: "X", dataType: .float32, dims: [-1, 64])])
        #expect(model.signature.outputs == [
            TensorSignature(name: "label", dataType: .int64, dims: [-1]),
            TensorSignature(name: "probabilities", dataType: .float32, dims: [-1, 10]),
        ])
        let strings = try Fixtures.model("sklearn_pipeline_strings")
        #expect(strings.signature.outputs.first?.dataType == .string)
    }

    @Test func testGemmEpiloguesAreFused() throws {
        // 3 × (Gemm + Relu) collapse into 3 dense steps; BatchNorm and the bias adds fold into the GEMMs.
        #expect(try Fixtures.model("torch_mlp").stepCount == 3)
        #expect(try Fixtures.model("keras_mlp").stepCount == 5) // dense+relu, dense, elu, dense, softmax
    }

    @Test func testEmptyBatchGivesEmptyOutputs() throws {
        let model = try Fixtures.model("torch_mlp")
        let outputs = try model.makeContext().run([Tensor(shape: [0, 20], floats: [])])
        #expect(outputs.first?.shape == [0, 5])
    }

    @Test func testInputValidationNamesTensorAndShapes() throws {
        let context = try Fixtures.model("torch_mlp").makeContext()
        #expect(throws: InferenceError.shape(input: "input", expected: [-1, 20], received: [2, 19])) {
            try context.run([Tensor(shape: [2, 19], floats: [Float](repeating: 0, count: 38))])
        }
        #expect(throws: InferenceError.dataType(input: "input", expected: .float32, received: .int64)) {
            try context.run([Tensor(shape: [1, 20], int64s: [Int64](repeating: 0, count: 20))])
        }
        #expect(throws: InferenceError.inputCount(expected: 1, received: 0)) { try context.run([Tensor]()) }
    }
}
