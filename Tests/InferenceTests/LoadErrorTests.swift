import Inference
import ProtoWire
import Testing

/// A model that cannot run is a load error naming the file, the node, the operator and the reason — never a crash.
@Suite struct LoadErrorTests {
    func loadError(_ model: ONNXModel, file: String = "model.onnx") -> ModelLoadError? {
        do {
            _ = try Model(onnxBytes: model.serializedBytes(), name: "m", source: file)
            return nil
        } catch {
            return error
        }
    }

    @Test func testUnsupportedOperatorNamesNodeOperatorAndSupportedList() {
        var model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0, 1], bias: [0, 0], activation: "Relu")
        model.graph.nodes[1].opType = "Mish"
        let error = loadError(model, file: "models/m/1/model.onnx")
        #expect(error?.file == "models/m/1/model.onnx")
        #expect(error?.node == "act")
        #expect(error?.op == "Mish")
        #expect(error?.reason.contains("Gemm, MatMul") == true)
        #expect(error?.description.hasPrefix("models/m/1/model.onnx: node 'act' (Mish): operator 'Mish'") == true)
    }

    /// In memory there is no folder to read external data from (ExternalDataTests covers files on disk).
    @Test func testExternalDataInitializerIsRefusedInMemory() {
        var model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0, 1], bias: [0, 0])
        model.graph.initializers[0].isExternal = true
        model.graph.initializers[0].floatData = []
        #expect(loadError(model)?.reason.contains("its data is in an external file") == true)
    }

    @Test func testInitializerWithWrongValueCountIsRefused() {
        let model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0], bias: [0, 0])
        #expect(loadError(model)?.reason.contains("holds 3 values for shape [2, 2] (4 expected)") == true)
    }

    @Test func testNonBatchDynamicDimensionIsRefused() {
        var model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0, 1], bias: [0, 0])
        model.graph.inputs[0].dims = [ModelBuilder.batch, ONNXDimension(param: "features")]
        let error = loadError(model)
        #expect(error?.reason.contains("dimension 1 is dynamic (features)") == true)
    }

    @Test func testShapeMismatchNamesTheNode() {
        var model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0, 1], bias: [0, 0])
        model.graph.inputs[0].dims = [ModelBuilder.batch, ONNXDimension(value: 3)]
        let error = loadError(model)
        #expect(error?.node == "fc")
        #expect(error?.reason.contains("A has 3 columns but B has 2 rows") == true)
    }

    @Test func testUnsupportedOpsetAndMissingValue() {
        var model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0, 1], bias: [0, 0])
        model.opsetImports = [ONNXOperatorSetID(domain: "", version: 3)]
        #expect(loadError(model)?.reason.contains("opset 3 is not supported") == true)
        model = ModelBuilder.gemm(k: 2, n: 2, weights: [1, 0, 0, 1], bias: [0, 0])
        model.graph.nodes[0].inputs[1] = "missing"
        #expect(loadError(model)?.reason.contains("'missing' is not produced by any node") == true)
    }

    @Test func testFixedReshapeOfBatchedValueIsRefused() {
        let model = ModelBuilder.model(
            nodes: [ModelBuilder.node("Reshape", ["x", "shape"], ["y"], name: "flatten")],
            inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 4)])],
            outputs: [ModelBuilder.valueInfo("y", [])],
            initializers: [ModelBuilder.int64Tensor("shape", [2], [2, 2])]
        )
        #expect(loadError(model)?.reason.contains("cannot keep the batch dimension") == true)
    }

    @Test func testTruncatedFilesFailCleanly() throws {
        let bytes = try Fixtures.bytes("torch_mlp.onnx")
        for length in stride(from: 0, to: bytes.count, by: 97) {
            #expect(throws: ModelLoadError.self) {
                _ = try Model(onnxBytes: Array(bytes[..<length]), name: "t", source: "t.onnx")
            }
        }
    }

    /// Random byte mutations of real models load or fail with a ModelLoadError; none crashes, and every model that
    /// loads also runs.
    @Test(arguments: ["torch_mlp", "sklearn_pipeline_strings", "keras_nhwc_image"])
    func testMutatedModelsNeverCrash(_ name: String) throws {
        let original = try Fixtures.bytes(name + ".onnx")
        let record = try Fixtures.record(name)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var loaded = 0
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + next() % 4) {
                bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next())
            }
            guard let model = try? Model(onnxBytes: bytes, name: "m", source: "m.onnx") else { continue }
            loaded += 1
            _ = try? model.makeContext(maxBatchSize: 2).run(record.inputs.map(\.tensor))
        }
        #expect(loaded >= 0)
    }
}
