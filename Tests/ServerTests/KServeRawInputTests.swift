import Inference
import RPCCore
import Testing
import TensorwireProto

@testable import Server

/// `KServeTensors.rawFloat32Input`, the direct path for the usual ModelInfer (one FP32 input in raw_input_contents):
/// where it answers, it answers what `wireInputs` and `TensorConversion` make of the same request; everything else
/// it declines, so the general path (and its precise refusals) handles it.
@Suite struct KServeRawInputTests {
    static let signature = [TensorSignature(name: "X", dataType: .float32, dims: [-1, 4])]

    static func request(name: String = "X", datatype: String = "FP32", shape: [Int64] = [2, 4],
                        values: [Float] = (0..<8).map { Float($0) * 0.5 - 1 }) -> KServe.ModelInferRequest {
        var request = KServe.ModelInferRequest()
        request.modelName = "m"
        request.inputs = [.init(name: name, datatype: datatype, shape: shape)]
        request.rawInputContents = [values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }]
        return request
    }

    static func general(_ request: KServe.ModelInferRequest) throws -> [Tensor] {
        let wire = try KServeTensors.wireInputs(request, model: "m", signature: signature, fixedBatchHint: nil)
        return try TensorConversion.inputs(wire, model: "m", signature: signature, fixedBatchHint: nil)
    }

    @Test func theDirectPathAnswersWhatTheGeneralPathAnswers() throws {
        let cases = [
            Self.request(), Self.request(name: ""), Self.request(shape: [1, 4], values: [1, 2, 3, .nan]),
            Self.request(shape: [3, 4], values: (0..<12).map { Float($0) * 1e30 }),
        ]
        for request in cases {
            let direct = try #require(KServeTensors.rawFloat32Input(request, signature: Self.signature))
            let general = try Self.general(request)
            #expect(direct.map(\.shape) == general.map(\.shape))
            #expect(direct.map { $0.floats?.map(\.bitPattern) } == general.map { $0.floats?.map(\.bitPattern) })
        }
    }

    /// The output filter check both input paths run before queueing: known names and no filter pass, an unknown
    /// name is INVALID_ARGUMENT naming the model's outputs.
    @Test func theOutputFilterCheckRefusesUnknownNames() throws {
        let outputs = [TensorSignature(name: "label", dataType: .int64, dims: [-1]),
                       TensorSignature(name: "probabilities", dataType: .float32, dims: [-1, 10])]
        try TensorConversion.checkOutputFilter([], signature: outputs, model: "m")
        try TensorConversion.checkOutputFilter(["probabilities", "label"], signature: outputs, model: "m")
        do {
            try TensorConversion.checkOutputFilter(["label", "nope"], signature: outputs, model: "m")
            Issue.record("an unknown output was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "model m has no output \"nope\" (its outputs: label, probabilities)")
        }
    }

    @Test func littleEndianBytesBecomeTheirFloats() {
        let values: [Float] = [0, -1.5, .pi, .infinity, -.greatestFiniteMagnitude, .leastNonzeroMagnitude]
        let bytes = values.flatMap { value -> [UInt8] in
            let bits = value.bitPattern
            return [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
        }
        #expect(TensorConversion.littleEndianFloats(bytes, count: values.count).map(\.bitPattern)
            == values.map(\.bitPattern))
        // Never reads past the bytes it was given, whatever the count says.
        #expect(TensorConversion.littleEndianFloats(bytes, count: values.count + 5).count == values.count)
        #expect(TensorConversion.littleEndianFloats(Array(bytes.prefix(7)), count: 2).map(\.bitPattern) == [0])
        #expect(TensorConversion.littleEndianFloats([], count: 3).isEmpty)
    }

    @Test func everythingElseIsLeftToTheGeneralPath() {
        var typed = Self.request()
        typed.rawInputContents = []
        typed.inputs[0].contents = KServe.InferTensorContents()
        var twoRaw = Self.request()
        twoRaw.rawInputContents.append([0, 0, 0, 0])
        let declined: [KServe.ModelInferRequest] = [
            Self.request(name: "Y"), Self.request(datatype: "FP64"), Self.request(datatype: "BF16"),
            Self.request(shape: [8]), Self.request(shape: [2, 3]), Self.request(shape: [0, 4], values: []),
            Self.request(shape: [3, 4]), Self.request(shape: [-2, 4]), typed, twoRaw,
        ]
        for request in declined {
            #expect(KServeTensors.rawFloat32Input(request, signature: Self.signature) == nil)
        }
        let twoInputs = [Self.signature[0], TensorSignature(name: "Z", dataType: .float32, dims: [-1, 4])]
        #expect(KServeTensors.rawFloat32Input(Self.request(), signature: twoInputs) == nil)
        let doubles = [TensorSignature(name: "X", dataType: .float64, dims: [-1, 4])]
        #expect(KServeTensors.rawFloat32Input(Self.request(), signature: doubles) == nil)
    }
}
