import Foundation
import Inference
import ProtoWire
import Testing

/// The dense building blocks against onnxruntime on committed fixtures (Fixtures/ops, from
/// Tools/interop/models/exports.py --fixtures, kept fresh by Tools/check-fixtures): a two-input embedding + Concat +
/// LayerNormalization + Gelu network with reductions, Slice/Split/Expand/Min/Max/ConstantOfShape, and the ai.onnx.ml
/// Imputer and Binarizer.
@Suite struct DenseOpsTests {
    static let fixtures = ["ops/ops_embedding_concat_layernorm", "ops/ops_slice_split_expand_minmax",
                           "ops/ops_imputer_binarizer", "ops/ops_compare_where_shape", "ops/ops_int64"]

    @Test(arguments: fixtures, Fixtures.backends)
    func testOutputsMatchOnnxruntime(_ name: String, _ gemm: GEMMBackend) throws {
        let model = try Fixtures.model(name, gemm: gemm)
        let record = try Fixtures.record(name)
        #expect(model.signature.inputs.map(\.name) == record.inputs.map(\.name))
        #expect(model.signature.outputs.map(\.name) == record.outputs.map(\.name))
        let outputs = try model.makeContext(maxBatchSize: 16).run(record.inputs.map(\.tensor))
        for (output, expected) in zip(outputs, record.outputs) {
            TreeEnsembleTests.expectClose(output, expected.tensor, "\(name).\(expected.name)")
        }
    }

    /// Inputs by name, in any order, give the same outputs: the multi-input path of the native API and KServe.
    @Test func testInputsByName() throws {
        let name = "ops/ops_embedding_concat_layernorm"
        let model = try Fixtures.model(name)
        let record = try Fixtures.record(name)
        let context = model.makeContext(maxBatchSize: 16)
        let named = try context.run(Dictionary(uniqueKeysWithValues: record.inputs.reversed().map { ($0.name, $0.tensor) }))
        for expected in record.outputs {
            let output = try #require(named[expected.name])
            TreeEnsembleTests.expectClose(output, expected.tensor, "\(name).\(expected.name)")
        }
    }

    /// An embedding index outside the table is refused with the index and the range, not read.
    @Test func testGatherIndexOutsideTheTableIsInvalidData() throws {
        let model = try Fixtures.model("ops/ops_embedding_concat_layernorm")
        let context = model.makeContext()
        let dense = Tensor(shape: [1, 3], floats: [0, 0, 0])
        for bad: Int64 in [10, -11, .max, .min] {
            #expect(throws: InferenceError.invalidData("Gather index \(bad) is outside -10..<10")) {
                try context.run([dense, Tensor(shape: [1, 2], int64s: [1, bad])])
            }
        }
    }

    /// Hostile constants in Slice and Split are load errors or clamped, never an arithmetic trap.
    @Test func testExtremeSliceStepsAndSplitSizes() throws {
        func model(_ node: ONNXNode, _ initializers: [ONNXTensor], outputs: [String]) -> ONNXModel {
            ModelBuilder.model(
                nodes: [node], inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 6)])],
                outputs: outputs.map { ModelBuilder.valueInfo($0, [ModelBuilder.batch]) }, initializers: initializers)
        }
        for step in [Int64.max, Int64.min] {
            let slice = model(ModelBuilder.node("Slice", ["x", "s", "e", "a", "st"], ["y"]), [
                ModelBuilder.int64Tensor("s", [1], [step > 0 ? 0 : -1]), ModelBuilder.int64Tensor("e", [1], [step > 0 ? Int64.max : Int64.min]),
                ModelBuilder.int64Tensor("a", [1], [1]), ModelBuilder.int64Tensor("st", [1], [step]),
            ], outputs: ["y"])
            let loaded = try Model(onnxBytes: slice.serializedBytes(), name: "s", source: "s.onnx")
            let y = try loaded.makeContext().run([Tensor(shape: [1, 6], floats: [1, 2, 3, 4, 5, 6])])
            #expect(y[0].floats == [step > 0 ? 1 : 6])
        }
        let split = model(ModelBuilder.node("Split", ["x", "sizes"], ["a", "b"], attributes: [ModelBuilder.intAttribute("axis", 1)]),
                          [ModelBuilder.int64Tensor("sizes", [2], [Int64.max, 7])], outputs: ["a", "b"])
        #expect(throws: ModelLoadError.self) {
            _ = try Model(onnxBytes: split.serializedBytes(), name: "p", source: "p.onnx")
        }
    }
}
