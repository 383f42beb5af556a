import Batching
import Inference
import Testing
import TestSupport

/// Issue 25: a batch never holds more rows than one instance's share of the model's memory budget; a request larger
/// than that is split (as for max_batch_size) instead of allocating past the budget or failing.
@Suite(.tags(.live)) struct MemoryBudgetBatcherLiveTests {
    /// x[N, 1024] → Relu → y: 8 KiB of execution buffers per row, no weights.
    static func reluModel(maxModelBytes: Int) throws -> Model {
        var model = ONNXModel()
        model.irVersion = 8
        model.opsetImports = [ONNXOperatorSetID(domain: "", version: 17)]
        var node = ONNXNode()
        node.opType = "Relu"
        node.inputs = ["x"]
        node.outputs = ["y"]
        model.graph.nodes = [node]
        for (name, isInput) in [("x", true), ("y", false)] {
            var info = ONNXValueInfo()
            info.name = name
            info.elementType = 1
            info.dims = [ONNXDimension(param: "N"), ONNXDimension(value: 1024)]
            if isInput { model.graph.inputs.append(info) } else { model.graph.outputs.append(info) }
        }
        return try Model(onnx: model, name: "relu", maxModelBytes: maxModelBytes)
    }

    @Test func batchesAreCappedByEachInstancesShareOfTheBudget() throws {
        // Two instances, each with room for 5 rows of 8 KiB (and the fixed part of the buffers).
        let probe = try Self.reluModel(maxModelBytes: Model.defaultMaxModelBytes)
        #expect(probe.bufferBytesPerRow == 8192)
        let budget = 2 * (probe.fixedBufferBytes + 5 * 8192)
        let model = try Self.reluModel(maxModelBytes: budget)
        #expect(model.maxRows(instances: 2) == 5)
        let batcher = try Batcher(model: model, config: config(maxBatchSize: 64, instances: 2))
        defer { batcher.shutdown() }
        #expect(batcher.policy.maxBatchSize == 5)
        let rows = 23
        let values = (0..<(rows * 1024)).map { Float($0 % 11) - 5 }
        let completions = Completions()
        try batcher.submit(BatchJob(inputs: [Tensor(shape: [rows, 1024], floats: values)],
                                    completion: completions.handler(1)))
        #expect(completions.wait(1))
        let output = try #require(try completions[1]?.get())
        #expect(output.outputs[0].shape == [rows, 1024])
        #expect(output.outputs[0].floats == values.map { max($0, 0) })
        #expect(output.facts.batches == 5)
        #expect(output.facts.batchSize <= 5)
        #expect(batcher.computedRows == rows)
    }
}
