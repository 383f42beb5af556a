import Inference
import ProtoWire
import Testing

/// The GEMM with its fused epilogue against a naive loop, at sizes that exercise the SIMD tail and sgemv.
@Suite struct KernelTests {
    @Test(arguments: [(1, 3, 5), (4, 17, 9), (33, 8, 64), (2, 1023, 3)])
    func testDenseWithFusedBiasAndReluMatchesNaive(_ sizes: (Int, Int, Int)) throws {
        let (rows, k, n) = sizes
        var seed: UInt32 = 7
        func random() -> Float {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return Float(seed >> 8) / Float(1 << 24) - 0.5
        }
        let weights = (0..<(n * k)).map { _ in random() }  // [n, k] as torch stores it
        let bias = (0..<n).map { _ in random() }
        let input = (0..<(rows * k)).map { _ in random() }
        let model = try Model(onnx: ModelBuilder.gemm(k: k, n: n, weights: weights, bias: bias, activation: "Relu"),
                              name: "gemm")
        #expect(model.stepCount == 1)
        let output = try model.makeContext(maxBatchSize: rows).run([Tensor(shape: [rows, k], floats: input)])
        let values = try #require(output.first?.floats)
        for row in 0..<rows {
            for column in 0..<n {
                var sum = bias[column]
                for i in 0..<k { sum += input[row * k + i] * weights[column * k + i] }
                let expected = max(sum, 0)
                #expect(abs(values[row * n + column] - expected) <= 1e-5 + 1e-4 * abs(expected))
            }
        }
    }

    @Test func testContextGrowsForLargerBatchesAndReusesBuffers() throws {
        let model = try Model(onnx: ModelBuilder.gemm(k: 2, n: 2, weights: [1, 2, 3, 4], bias: [1, -1],
                                                      activation: "Sigmoid"), name: "g")
        let context = model.makeContext(maxBatchSize: 1)
        let small = try context.run([Tensor(shape: [1, 2], floats: [1, 1])])
        let large = try context.run([Tensor(shape: [3, 2], floats: [1, 1, 0, 0, 1, 1])])
        #expect(context.maxBatchSize == 3)
        #expect(small[0].floats.map { Array($0[0..<2]) } == large[0].floats.map { Array($0[0..<2]) })
        #expect(large[0].floats.map { Array($0[4..<6]) } == small[0].floats)
    }

    @Test func testTensorValidatesElementCount() {
        #expect(Tensor(shape: [2, 3], storage: .float32([1, 2, 3])) == nil)
        #expect(Tensor(shape: [2, 3], storage: .int64([1, 2, 3, 4, 5, 6]))?.dataType == .int64)
        #expect(Shape([2, -1]).elementCount == nil)
        #expect(Shape([Int.max, 2]).elementCount == nil)
        #expect(DataType.string.kserveName == "BYTES")
    }

    @Test func testModelsAreSharedAcrossThreadsWithOneContextEach() async throws {
        let model = try Fixtures.model("torch_mlp")
        let record = try Fixtures.record("torch_mlp")
        let expected = record.outputs[0].tensor
        let inputs = record.inputs.map(\.tensor)
        try await withThrowingTaskGroup(of: Tensor.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let context = model.makeContext(maxBatchSize: 8)
                    var last: Tensor?
                    for _ in 0..<50 { last = try context.run(inputs)[0] }
                    return try #require(last)
                }
            }
            for try await output in group { Fixtures.expectClose(output, expected, "threaded") }
        }
    }
}
