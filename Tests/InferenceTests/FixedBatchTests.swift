import Inference
import Testing

/// `Model.fixedBatchSize` and `Model.fixedBatchHint`: graphs exported without a dynamic batch axis (torch.onnx.export
/// without `dynamic_axes` writes `[1, 4]`) are told apart from the usual `[N, 4]` export, and the hint names the
/// model's own tensors in the re-export advice.
@Suite struct FixedBatchTests {
    /// x[rows, 4] → Gemm(W[2, 4], b[2], transB=1) → y[rows, 2], with `rows` a fixed dimension or the symbolic batch.
    static func gemm(rows: ONNXDimension, input: String = "x", output: String = "y") throws -> Model {
        let onnx = ModelBuilder.model(
            nodes: [ModelBuilder.node("Gemm", [input, "w", "b"], [output], attributes: [ModelBuilder.intAttribute("transB", 1)])],
            inputs: [ModelBuilder.valueInfo(input, [rows, ONNXDimension(value: 4)])],
            outputs: [ModelBuilder.valueInfo(output, [rows, ONNXDimension(value: 2)])],
            initializers: [
                ModelBuilder.floatTensor("w", [2, 4], [1, 0, 0, 0, 0, 1, 0, 0]),
                ModelBuilder.floatTensor("b", [2], [0.5, -0.5]),
            ]
        )
        return try Model(onnx: onnx, name: "fixed")
    }

    /// Identity per input: `inputs` maps names to their dimensions (nil: the symbolic batch).
    static func identities(_ inputs: [(String, [Int64?])]) throws -> Model {
        let infos = inputs.map { name, dims in
            ModelBuilder.valueInfo(name, dims.map { $0.map { ONNXDimension(value: $0) } ?? ModelBuilder.batch })
        }
        let outputs = inputs.map { name, dims in
            ModelBuilder.valueInfo("\(name)_out", dims.map { $0.map { ONNXDimension(value: $0) } ?? ModelBuilder.batch })
        }
        let nodes = inputs.map { name, _ in ModelBuilder.node("Identity", [name], ["\(name)_out"], name: "id_\(name)") }
        return try Model(onnx: ModelBuilder.model(nodes: nodes, inputs: infos, outputs: outputs), name: "identities")
    }

    @Test func aTorchExportWithoutDynamicAxesHasItsBatchFixedAtOne() throws {
        let model = try Self.gemm(rows: ONNXDimension(value: 1))
        #expect(model.signature.inputs.first?.dims == [1, 4])
        #expect(model.fixedBatchSize == 1)
        let hint = try #require(model.fixedBatchHint)
        #expect(hint.hasPrefix("the batch dimension is fixed at 1 by the model's ONNX export (input 'x' has shape [1, 4])"))
        #expect(hint.contains("every request must have exactly 1 row and requests are not batched together"))
        #expect(hint.contains("torch.onnx.export(..., dynamic_axes={'x': {0: 'batch'}, 'y': {0: 'batch'}})"))
        #expect(hint.contains("tf2onnx/keras2onnx: a None batch dimension, e.g. input_signature=[tf.TensorSpec([None, 4], tf.float32, name='x')]"))
        #expect(hint.contains("skl2onnx: initial_types with None, e.g. [('x', FloatTensorType([None, 4]))]"))
        // It still runs, one row at a time.
        let output = try model.makeContext().run([Tensor(shape: Shape([1, 4]), floats: [3, 4, 5, 6])])
        #expect(output.first?.floats == [3.5, 3.5])
    }

    @Test func aBatchFixedAtEightSaysEightRows() throws {
        let model = try Self.gemm(rows: ONNXDimension(value: 8))
        #expect(model.fixedBatchSize == 8)
        #expect(model.fixedBatchHint?.contains("fixed at 8") == true)
        #expect(model.fixedBatchHint?.contains("exactly 8 rows") == true)
    }

    @Test func aDynamicBatchAxisIsNotFixed() throws {
        let model = try Self.gemm(rows: ModelBuilder.batch)
        #expect(model.signature.inputs.first?.dims == [-1, 4])
        #expect(model.fixedBatchSize == nil)
        #expect(model.fixedBatchHint == nil)
        // An unnamed dynamic dimension (no dim_param, no dim_value) is the batch axis too.
        #expect(try Self.gemm(rows: ONNXDimension()).fixedBatchSize == nil)
    }

    @Test func inputsMustAgreeOnAFixedFirstDimension() throws {
        #expect(try Self.identities([("a", [2, 4]), ("b", [2, 3])]).fixedBatchSize == 2)
        // Different first dimensions are not one batch axis.
        #expect(try Self.identities([("a", [1, 4]), ("b", [3, 4])]).fixedBatchSize == nil)
        // One dynamic input makes the batch dynamic.
        #expect(try Self.identities([("a", [1, 4]), ("b", [nil, 4])]).fixedBatchSize == nil)
        // A rank-1 input has no batch axis to fix.
        #expect(try Self.identities([("a", [4])]).fixedBatchSize == nil)
        #expect(try Self.identities([("a", [1, 4]), ("b", [1])]).fixedBatchSize == nil)
    }

    @Test func theHintQuotesNamesForPythonAndNamesEveryTensor() throws {
        let model = try Self.gemm(rows: ONNXDimension(value: 1), input: "it's", output: #"out\1"#)
        let hint = try #require(model.fixedBatchHint)
        #expect(hint.contains(#"dynamic_axes={'it\'s': {0: 'batch'}, 'out\\1': {0: 'batch'}}"#), "\(hint)")
        #expect(hint.contains(#"[('it\'s', FloatTensorType([None, 4]))]"#))
        // Many tensors: a comprehension instead of a long literal.
        let many = try Self.identities([("a", [1, 2]), ("b", [1, 2]), ("c", [1, 2])])
        #expect(many.fixedBatchHint?.contains("dynamic_axes={name: {0: 'batch'} for name in input_names + output_names}") == true)
    }
}
