import Foundation
import Inference
import Testing

/// The softmax and activation kernels that loop without calls (so they vectorise) against double-precision
/// references, over the ranges a classifier's scores and the engine's tolerance (1e-4 relative + 1e-5 absolute)
/// care about.
@Suite struct SoftmaxKernelTests {
    static func model(_ op: String, columns: Int) -> ONNXModel {
        let dims = [ModelBuilder.batch, ONNXDimension(value: Int64(columns))]
        return ModelBuilder.model(
            nodes: [ModelBuilder.node(op, ["x"], ["y"], attributes: [ModelBuilder.intAttribute("axis", 1)])],
            inputs: [ModelBuilder.valueInfo("x", dims)], outputs: [ModelBuilder.valueInfo("y", dims)]
        )
    }

    @Test(arguments: [1, 3, 10, 17, 64])
    func testSoftmaxRowsMatchDoublePrecision(_ columns: Int) throws {
        let softmax = try Model(onnx: Self.model("Softmax", columns: columns), name: "softmax")
        var seed: UInt32 = 11
        func random() -> Float {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return Float(seed >> 8) / Float(1 << 24) - 0.5
        }
        // Rows of small scores, of wide ones (±100: many exponentials underflow), and with -inf and huge values.
        let scales: [Float] = [1, 10, 200]
        var input: [Float] = []
        for scale in scales { for _ in 0..<(3 * columns) { input.append(random() * scale) } }
        if columns > 1 {
            var special = (0..<columns).map { Float($0) }
            special[0] = -.infinity
            special[columns - 1] = 3e38
            input += special
        }
        let rows = input.count / columns
        let output = try softmax.makeContext(maxBatchSize: rows).run([Tensor(shape: [rows, columns], floats: input)])
        let values = try #require(output.first?.floats)
        for row in 0..<rows {
            let x = input[(row * columns)..<((row + 1) * columns)].map(Double.init)
            let maximum = x.max() ?? 0
            let exponentials = x.map { $0 == -.infinity ? 0 : exp($0 - maximum) }
            let sum = exponentials.reduce(0, +)
            for column in 0..<columns {
                let expected = exponentials[column] / sum
                let actual = Double(values[row * columns + column])
                #expect(abs(actual - expected) <= 1e-5 + 1e-4 * abs(expected), "row \(row) column \(column)")
            }
        }
    }

    @Test func testStandaloneReluKeepsSignsAndZeroes() throws {
        let relu = try Model(onnx: Self.model("Relu", columns: 19), name: "relu")
        let input = (0..<(19 * 3)).map { Float($0 % 7) - 3.5 }
        let output = try relu.makeContext(maxBatchSize: 3).run([Tensor(shape: [3, 19], floats: input)])
        #expect(try #require(output.first?.floats) == input.map { max($0, 0) })
    }
}
