import Inference
import Testing

/// The run paths that skip work per batch: a single input read where it lies (not copied into its slot), GEMMs that
/// accumulate onto bias rows written first, and ArgMax along a contiguous axis.
@Suite struct ExecutionContextTests {
    @Test func testInputReturnedAsOutputSurvivesTheRun() throws {
        // y = Identity(x) aliases the input; z = Relu(x) reads it. Both must see the caller's values, run after run.
        let dims = [ModelBuilder.batch, ONNXDimension(value: 3)]
        let onnx = ModelBuilder.model(
            nodes: [ModelBuilder.node("Identity", ["x"], ["y"]), ModelBuilder.node("Relu", ["x"], ["z"])],
            inputs: [ModelBuilder.valueInfo("x", dims)],
            outputs: [ModelBuilder.valueInfo("y", dims), ModelBuilder.valueInfo("z", dims)]
        )
        let context = try Model(onnx: onnx, name: "identity").makeContext(maxBatchSize: 2)
        for rows in [2, 1, 4] {
            let input = (0..<(rows * 3)).map { Float($0 * rows) - 4 }
            let outputs = try context.run([Tensor(shape: Shape([rows, 3]), floats: input)])
            #expect(outputs.count == 2)
            #expect(outputs[0].floats == input)
            #expect(outputs[1].floats == input.map { max($0, 0) })
        }
    }

    @Test(arguments: [1, 2, 3, 5, 17, 64])
    func testGemmWithBiasMatchesReferenceAtEveryBatchSize(_ rows: Int) throws {
        // Bias rows are laid down by doubling copies; odd and power-of-two row counts end the doubling differently.
        let k = 7, n = 10
        let weights = (0..<(n * k)).map { Float(($0 * 37) % 11) / 8 - 0.6 }  // [n, k] (transB)
        let bias = (0..<n).map { Float($0) / 4 - 1 }
        let model = try Model(onnx: ModelBuilder.gemm(k: k, n: n, weights: weights, bias: bias, activation: "Relu"),
                              name: "gemm")
        let input = (0..<(rows * k)).map { Float(($0 * 13) % 17) / 5 - 1.5 }
        let output = try #require(model.makeContext().run([Tensor(shape: Shape([rows, k]), floats: input)]).first)
        let values = try #require(output.floats)
        for row in 0..<rows {
            for column in 0..<n {
                var sum = Double(bias[column])
                for i in 0..<k { sum += Double(input[row * k + i]) * Double(weights[column * k + i]) }
                let expected = max(sum, 0)
                let actual = Double(values[row * n + column])
                #expect(abs(actual - expected) <= 1e-5 + 1e-4 * abs(expected), "row \(row) column \(column)")
            }
        }
    }

    @Test(arguments: [false, true])
    func testArgMaxTiesFollowSelectLastIndex(_ selectLast: Bool) throws {
        let dims = [ModelBuilder.batch, ONNXDimension(value: 4)]
        let onnx = ModelBuilder.model(
            nodes: [ModelBuilder.node("ArgMax", ["x"], ["y"], attributes: [
                ModelBuilder.intAttribute("axis", 1), ModelBuilder.intAttribute("keepdims", 0),
                ModelBuilder.intAttribute("select_last_index", selectLast ? 1 : 0),
            ])],
            inputs: [ModelBuilder.valueInfo("x", dims)],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch], elementType: 7)],
            opset: 13
        )
        let input: [Float] = [
            1, 3, 3, 0,
            5, 5, 5, 5,
            -1, -2, -3, -4,
            0, .nan, 2, 1,
        ]
        let output = try Model(onnx: onnx, name: "argmax").makeContext(maxBatchSize: 4)
            .run([Tensor(shape: [4, 4], floats: input)])
        // NaN never compares greater, as in onnxruntime's CPU kernel.
        #expect(output.first?.int64s == (selectLast ? [2, 3, 0, 2] : [1, 0, 0, 2]))
    }
}
