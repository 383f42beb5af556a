import Foundation
import Inference
import ProtoWire
import RPCCore
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// A model whose ONNX export fixed the batch dimension (input `[1, 4]`, as torch.onnx.export writes without
/// `dynamic_axes`), served from a repository beside the same graph with a dynamic batch axis: the fixed one answers
/// one row, and a request with two rows gets an INVALID_ARGUMENT that says the batch is fixed at 1 by the export and
/// how to re-export it, from Predict and from KServe ModelInfer alike.
@Suite(.serialized, .tags(.live))
struct FixedBatchEndToEndLiveTests {
    static let predictPath = "/tensorwire.v1.Inference/Predict"

    /// x[rows, 4] → Gemm(W[2, 4], b[2], transB=1) → y[rows, 2] as `.onnx` bytes; `rows` nil is the symbolic batch.
    static func onnxBytes(rows: Int64?) -> [UInt8] {
        let batch = rows.map { ONNXDimension(value: $0) } ?? ONNXDimension(param: "batch")
        func info(_ name: String, _ width: Int64) -> ONNXValueInfo {
            var info = ONNXValueInfo()
            info.name = name
            info.elementType = ONNXTensor.ElementType.float
            info.dims = [batch, ONNXDimension(value: width)]
            return info
        }
        func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> ONNXTensor {
            var tensor = ONNXTensor()
            tensor.name = name
            tensor.dims = dims
            tensor.dataType = ONNXTensor.ElementType.float
            tensor.floatData = values
            return tensor
        }
        var transB = ONNXAttribute()
        transB.name = "transB"
        transB.type = ONNXAttribute.Kind.int
        transB.i = 1
        var gemm = ONNXNode()
        gemm.opType = "Gemm"
        gemm.name = "fc"
        gemm.inputs = ["x", "w", "b"]
        gemm.outputs = ["y"]
        gemm.attributes = [transB]
        var model = ONNXModel()
        model.irVersion = 8
        model.producerName = "pytorch"
        model.producerVersion = "2.3.0"
        model.opsetImports = [ONNXOperatorSetID(domain: "", version: 17)]
        model.graph.nodes = [gemm]
        model.graph.inputs = [info("x", 4)]
        model.graph.outputs = [info("y", 2)]
        model.graph.initializers = [floats("w", [2, 4], [1, 0, 0, 0, 0, 1, 0, 0]), floats("b", [2], [0.5, -0.5])]
        return model.serializedBytes()
    }

    /// `fixed` (batch fixed at 1) and `dynamic` (the same graph, batch dynamic), version 1 each, in a temporary
    /// directory removed by `remove()`.
    struct Repository {
        let root: URL

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("fixed-batch-\(UUID().uuidString)")
            for (name, rows) in [("fixed", Int64?.some(1)), ("dynamic", nil)] {
                let directory = root.appendingPathComponent("\(name)/1")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                try Data(FixedBatchEndToEndLiveTests.onnxBytes(rows: rows)).write(to: directory.appendingPathComponent("model.onnx"))
            }
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    static func predict(_ model: String, rows: Int) -> TensorwireV1.PredictRequest {
        var request = TensorwireV1.PredictRequest()
        request.model = model
        request.inputs = [TensorwireV1.Tensor(name: "x", shape: [Int64(rows), 4], floatData: (0..<(rows * 4)).map { Float($0) })]
        return request
    }

    static func infer(_ model: String, rows: Int) -> KServe.ModelInferRequest {
        var request = KServe.ModelInferRequest()
        request.modelName = model
        request.inputs = [.init(name: "x", datatype: "FP32", shape: [Int64(rows), 4])]
        request.rawInputContents = [(0..<(rows * 4)).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }]
        return request
    }

    /// The parts every refusal of a wrong row count must carry: the shapes, the fixed size and the re-export advice.
    static func expectFixedBatchAdvice(_ message: String) {
        #expect(message.contains("expected shape [1, 4], got [2, 4]"), "\(message)")
        #expect(message.contains("the batch dimension is fixed at 1 by the model's ONNX export"), "\(message)")
        #expect(message.contains("exactly 1 row"), "\(message)")
        #expect(message.contains("torch.onnx.export(..., dynamic_axes={'x': {0: 'batch'}, 'y': {0: 'batch'}})"), "\(message)")
        #expect(message.contains("tf2onnx/keras2onnx: a None batch dimension"), "\(message)")
        #expect(message.contains("skl2onnx: initial_types with None"), "\(message)")
    }

    @Test func twoRowsToAFixedBatchModelAreRefusedWithTheReExportAdviceOnBothAPIs() throws {
        let repository = try Repository()
        defer { repository.remove() }
        try ModelControlLiveTests.withServer(["--models", repository.root.path]) { _, client in
            // One row: served (y = [x0 + 0.5, x1 - 0.5]).
            let one = client.unary(path: Self.predictPath, request: Self.predict("fixed", rows: 1).serializedBytes())
            #expect(one.status.isOK, "\(one.status)")
            let answer = try TensorwireV1.PredictResponse(serializedBytes: try #require(one.message))
            #expect(answer.outputs.first?.shape == [1, 2])
            #expect(answer.outputs.first?.floatData == [0.5, 0.5])

            // Two rows through Predict.
            let two = client.unary(path: Self.predictPath, request: Self.predict("fixed", rows: 2).serializedBytes())
            #expect(two.status.code == .invalidArgument)
            Self.expectFixedBatchAdvice(two.status.message)

            // Two rows through KServe ModelInfer.
            let kserve = ModelControlLiveTests.status(client, "ModelInfer", Self.infer("fixed", rows: 2))
            #expect(kserve.code == .invalidArgument)
            Self.expectFixedBatchAdvice(kserve.message)
            #expect(ModelControlLiveTests.status(client, "ModelInfer", Self.infer("fixed", rows: 1)).isOK)

            // The same graph with a dynamic batch axis takes both, and a wrong width gets no batch advice.
            let dynamic = client.unary(path: Self.predictPath, request: Self.predict("dynamic", rows: 2).serializedBytes())
            #expect(dynamic.status.isOK, "\(dynamic.status)")
            #expect(ModelControlLiveTests.status(client, "ModelInfer", Self.infer("dynamic", rows: 2)).isOK)
            var narrow = Self.predict("fixed", rows: 1)
            narrow.inputs[0].shape = [1, 3]
            narrow.inputs[0].floatData = [1, 2, 3]
            let width = client.unary(path: Self.predictPath, request: narrow.serializedBytes())
            #expect(width.status.code == .invalidArgument)
            #expect(width.status.message.contains("expected shape [1, 4], got [1, 3]"), "\(width.status.message)")
            #expect(!width.status.message.contains("dynamic_axes"), "\(width.status.message)")
        }
    }
}
