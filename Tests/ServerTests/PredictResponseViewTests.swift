import Batching
import Inference
import ProtoWire
import Testing
import TensorwireProto
import TestSupport

@testable import Server

/// The Predict response written straight from the output tensors (`PredictResponseView`, what the gRPC Predict and
/// PredictStream send) holds exactly the bytes of the response message the other APIs build with
/// `TensorConversion.outputs`: every storage kind, empty and multi-dimensional shapes, output filters, with and
/// without batch facts, and responses past the one-pass encoder's 1 KiB.
@Suite struct PredictResponseViewTests {
    static let signature = [
        TensorSignature(name: "probabilities", dataType: .float32, dims: [-1, 3]),
        TensorSignature(name: "label", dataType: .int64, dims: [-1]),
        TensorSignature(name: "scores", dataType: .float64, dims: [-1, 2]),
        TensorSignature(name: "class", dataType: .string, dims: [-1]),
    ]

    static func outputs(rows: Int, seed: UInt64) -> [Tensor] {
        var generator = SplitMix64(seed: seed)
        let floats = (0..<(rows * 3)).map { _ in Float.random(in: -1e6...1e6, using: &generator) }
        let labels = (0..<rows).map { _ in Int64.random(in: Int64.min...Int64.max, using: &generator) }
        let doubles = (0..<(rows * 2)).map { _ in Double.random(in: -1...1, using: &generator) }
        let names = (0..<rows).map { "class-\($0)-" + String(repeating: "x", count: $0 % 20) }
        return [
            Tensor(shape: Shape([rows, 3]), floats: floats),
            Tensor(shape: Shape([rows]), int64s: labels),
            Tensor(shape: Shape([rows, 2]), doubles: doubles),
            Tensor(shape: Shape([rows]), strings: names),
        ]
    }

    static func expected(
        _ outputs: [Tensor], filter: [String], batch: TensorwireV1.BatchInfo?
    ) throws -> [UInt8] {
        var response = TensorwireV1.PredictResponse()
        response.model = "model-a"
        response.version = "12"
        response.id = "request-7"
        response.outputs = try TensorConversion.outputs(outputs, signature: signature, filter: filter, model: "model-a")
        response.batch = batch
        return response.serializedBytes()
    }

    static func view(_ rows: OutputRows, filter: [String], batch: TensorwireV1.BatchInfo?) -> [UInt8] {
        var view = PredictResponseView()
        view.model = "model-a"
        view.version = "12"
        view.id = "request-7"
        view.rows = rows
        view.signature = signature
        view.filter = filter
        view.batch = batch
        return view.serializedBytes()
    }

    @Test func theViewWritesTheResponseMessagesBytes() throws {
        #expect(MemoryLayout<Int>.size == MemoryLayout<Int64>.size)
        var batch = TensorwireV1.BatchInfo()
        batch.batchSize = 16
        batch.batchRequests = 9
        batch.queueUs = 1234
        batch.computeUs = 56
        let filters: [[String]] = [[], ["label"], ["class", "probabilities"], ["scores"]]
        // 0 rows (empty data fields), 1, a few, and 60 (over 1 KiB: the two-pass encoder); each as the request's
        // own tensors, and as rows 2..<2+rows of a batch of rows + 5 that it shared.
        for rows in [0, 1, 3, 60] {
            let outputs = Self.outputs(rows: rows, seed: UInt64(rows) + 1)
            let batchOutputs = Self.outputs(rows: rows + 5, seed: UInt64(rows) + 100)
            let shared = try #require(OutputRows(tensors: batchOutputs, firstRow: 2, rowCount: rows))
            #expect(shared.copied().map(\.shape.dims) == outputs.map(\.shape.dims))
            for (form, own) in [(OutputRows(whole: outputs), outputs), (shared, shared.copied())] {
                for filter in filters {
                    for facts in [nil, batch] {
                        let bytes = Self.view(form, filter: filter, batch: facts)
                        #expect(bytes == (try Self.expected(own, filter: filter, batch: facts)),
                                "rows \(rows), whole \(form.isWhole), filter \(filter), batch \(facts != nil)")
                        // And it decodes as the response it stands for.
                        let decoded = try TensorwireV1.PredictResponse(serializedBytes: bytes)
                        #expect(decoded.outputs.count == (filter.isEmpty ? 4 : filter.count))
                    }
                }
            }
        }
        #expect(Self.view(OutputRows(whole: Self.outputs(rows: 60, seed: 1)), filter: [], batch: nil).count > 1024)
    }

    /// Fewer output tensors than the signature names (a model whose outputs were cut short) pairs them by position
    /// and stops at the shorter, as `TensorConversion.outputs` does.
    @Test func outputsArePairedWithTheSignatureByPosition() throws {
        let outputs = Array(Self.outputs(rows: 2, seed: 9).prefix(2))
        #expect(Self.view(OutputRows(whole: outputs), filter: [], batch: nil)
                == (try Self.expected(outputs, filter: [], batch: nil)))
    }
}

/// The ModelInfer response written straight from the output tensors (`ModelInferResponseView`, what gRPC ModelInfer
/// sends) holds exactly the bytes of the `ModelInferResponse` the HTTP API and the stream build with
/// `KServeTensors.fillRawOutput`: outputs in the requested order (or all in model order), each datatype, raw
/// contents in the same order.
@Suite struct KServeInferResponseViewTests {
    static func expected(_ outputs: [Tensor], requested: [String]) -> [UInt8] {
        let signature = PredictResponseViewTests.signature
        var answer = KServe.ModelInferResponse()
        answer.modelName = "model-a"
        answer.modelVersion = "3"
        answer.id = "infer-1"
        let order = requested.isEmpty
            ? Array(signature.indices)
            : requested.compactMap { name in signature.firstIndex { $0.name == name } }
        for index in order where outputs.indices.contains(index) {
            answer.outputs.append(KServe.ModelInferResponse.InferOutputTensor())
            answer.rawOutputContents.append(KServeTensors.fillRawOutput(
                &answer.outputs[answer.outputs.count - 1], name: signature[index].name, from: outputs[index]))
        }
        return answer.serializedBytes()
    }

    static func view(_ rows: OutputRows, requested: [String]) -> [UInt8] {
        var view = ModelInferResponseView()
        view.modelName = "model-a"
        view.modelVersion = "3"
        view.id = "infer-1"
        view.rows = rows
        view.signature = PredictResponseViewTests.signature
        view.requested = requested
        return view.serializedBytes()
    }

    @Test func theViewWritesTheResponseMessagesBytes() throws {
        let orders: [[String]] = [[], ["label"], ["class", "probabilities"], ["scores", "label", "label"], ["absent"]]
        for rows in [0, 1, 3, 60] {
            let outputs = PredictResponseViewTests.outputs(rows: rows, seed: UInt64(rows) + 11)
            let batchOutputs = PredictResponseViewTests.outputs(rows: rows + 4, seed: UInt64(rows) + 200)
            let shared = try #require(OutputRows(tensors: batchOutputs, firstRow: 4, rowCount: rows))
            for (form, own) in [(OutputRows(whole: outputs), outputs), (shared, shared.copied())] {
                for requested in orders {
                    let bytes = Self.view(form, requested: requested)
                    #expect(bytes == Self.expected(own, requested: requested),
                            "rows \(rows), whole \(form.isWhole), requested \(requested)")
                    let decoded = try KServe.ModelInferResponse(serializedBytes: bytes)
                    #expect(decoded.outputs.count == decoded.rawOutputContents.count)
                }
            }
        }
        // Fewer tensors than the signature names: paired by position, the rest left out.
        let short = Array(PredictResponseViewTests.outputs(rows: 2, seed: 5).prefix(1))
        #expect(Self.view(OutputRows(whole: short), requested: []) == Self.expected(short, requested: []))
        #expect(Self.view(OutputRows(whole: short), requested: ["label"]) == Self.expected(short, requested: ["label"]))
    }
}
