import Inference
import ProtoWire
import Testing

/// The batch size as a value (Shape → Gather → Unsqueeze → Concat → Reshape, as the TorchScript exporter writes
/// `x.view(x.size(0), -1)` and Keras's Flatten on the torch backend does), and casts to integer types narrower than
/// int64 (Keras casts ids to int32).
@Suite struct ShapePlumbingTests {
    static let dims = [ModelBuilder.batch, ONNXDimension(value: 2), ONNXDimension(value: 3)]

    /// x[N, 2, 3] → Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [6])) + `extra` nodes.
    static func flattenModel(extra: [ONNXNode] = [], outputs: [ONNXValueInfo]? = nil) -> ONNXModel {
        ModelBuilder.model(
            nodes: [
                ModelBuilder.node("Shape", ["x"], ["shape"]),
                ModelBuilder.node("Gather", ["shape", "zero"], ["n"], attributes: [ModelBuilder.intAttribute("axis", 0)]),
                ModelBuilder.node("Cast", ["n"], ["n32"], name: "to_int32",
                                  attributes: [ModelBuilder.intAttribute("to", Int64(ONNXTensor.ElementType.int32))]),
                ModelBuilder.node("Unsqueeze", ["n32", "axes"], ["n1"]),
                ModelBuilder.node("Cast", ["n1"], ["n64"], name: "to_int64",
                                  attributes: [ModelBuilder.intAttribute("to", Int64(ONNXTensor.ElementType.int64))]),
                ModelBuilder.node("Concat", ["n64", "six"], ["target"], attributes: [ModelBuilder.intAttribute("axis", 0)]),
                ModelBuilder.node("Reshape", ["x", "target"], ["y"]),
            ] + extra,
            inputs: [ModelBuilder.valueInfo("x", dims)],
            outputs: outputs ?? [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 6)])],
            initializers: [ModelBuilder.int64Tensor("zero", [], [0]), ModelBuilder.int64Tensor("axes", [1], [0]),
                           ModelBuilder.int64Tensor("six", [1], [6])])
    }

    @Test func testShapeOfTheBatchFeedsReshape() throws {
        let model = try Model(onnx: Self.flattenModel(), name: "flatten")
        #expect(model.signature.outputs.first?.dims == [-1, 6])
        let x = (0..<18).map { Float($0) }
        let y = try model.makeContext(maxBatchSize: 4).run([Tensor(shape: [3, 2, 3], floats: x)])
        #expect(y.first?.shape == [3, 6])
        #expect(y.first?.floats == x)
    }

    /// The batch size is known only at run time: arithmetic on it, or returning it, is a load error that says so,
    /// never a computation on the placeholder.
    @Test func testOtherUsesOfTheBatchSizeAreRefused() throws {
        let doubled = Self.flattenModel(
            extra: [ModelBuilder.node("Mul", ["target", "two"], ["twice"]),
                    ModelBuilder.node("Reshape", ["x", "twice"], ["z"])],
            outputs: [ModelBuilder.valueInfo("z", [ModelBuilder.batch, ONNXDimension(value: 6)])])
        var withTwo = doubled
        withTwo.graph.initializers.append(ModelBuilder.int64Tensor("two", [2], [2, 1]))
        #expect { try Model(onnx: withTwo, name: "doubled") } throws: { error in
            "\(error)".contains("holds the batch size")
        }
        let asOutput = Self.flattenModel(outputs: [ModelBuilder.valueInfo("shape", [ONNXDimension(value: 3)],
                                                                          elementType: ONNXTensor.ElementType.int64)])
        #expect { try Model(onnx: asOutput, name: "shape") } throws: { error in
            "\(error)".contains("holds the batch size")
        }
    }

    /// Casts to int32, int16, int8, uint8, uint16 and uint32 keep the low bits with the type's sign (values are
    /// int64 inside the engine); floats are truncated toward zero first.
    @Test func testNarrowIntegerCastsWrap() throws {
        let dims = [ModelBuilder.batch]
        let targets: [(Int32, [Int64])] = [
            (ONNXTensor.ElementType.int32, [1, -1, 2_147_483_647, -2_147_483_648, 3, 0, -2]),
            (ONNXTensor.ElementType.int8, [1, -1, -1, 0, 3, 0, -2]),
            (ONNXTensor.ElementType.uint8, [1, 255, 255, 0, 3, 0, 254]),
            (ONNXTensor.ElementType.uint16, [1, 65535, 65535, 0, 3, 0, 65534]),
            (ONNXTensor.ElementType.int16, [1, -1, -1, 0, 3, 0, -2]),
            (ONNXTensor.ElementType.uint32, [1, 4_294_967_295, 2_147_483_647, 2_147_483_648, 3, 0, 4_294_967_294]),
        ]
        let input: [Int64] = [1, -1, 2_147_483_647, 2_147_483_648, 1 << 32 | 3, 1 << 40, -2]
        for (code, expected) in targets {
            let model = try Model(onnx: ModelBuilder.model(
                nodes: [ModelBuilder.node("Cast", ["x"], ["y"], attributes: [ModelBuilder.intAttribute("to", Int64(code))])],
                inputs: [ModelBuilder.valueInfo("x", dims, elementType: ONNXTensor.ElementType.int64)],
                outputs: [ModelBuilder.valueInfo("y", dims, elementType: code)]), name: "cast")
            let y = try model.makeContext(maxBatchSize: 8).run([Tensor(shape: [input.count], int64s: input)])
            #expect(y.first?.int64s == expected, "to \(code)")
        }
        let fromFloat = try Model(onnx: ModelBuilder.model(
            nodes: [ModelBuilder.node("Cast", ["x"], ["y"], attributes: [
                ModelBuilder.intAttribute("to", Int64(ONNXTensor.ElementType.int32))])],
            inputs: [ModelBuilder.valueInfo("x", dims)],
            outputs: [ModelBuilder.valueInfo("y", dims, elementType: ONNXTensor.ElementType.int32)]), name: "f2i")
        let y = try fromFloat.makeContext(maxBatchSize: 4).run([Tensor(shape: [4], floats: [2.9, -2.9, 7, .nan])])
        #expect(y.first?.int64s == [2, -2, 7, 0])
    }
}
