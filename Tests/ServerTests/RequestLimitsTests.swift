// Tests/ServerTests/RequestLimitsTests.swift: requests that would cost far more to decode than their size are
// refused (issue 25, finding 1), large requests decode off the event loop and still answer, and a request with
// invalid UTF-8 is INVALID_ARGUMENT, not INTERNAL.

import Logging
import ProtoWire
import RPCCore
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

@Suite(.serialized, .tags(.live))
struct RequestLimitsLiveTests {
    /// `count` empty entries of length-delimited field `field` after `prefix`: two wire bytes each.
    static func emptyEntries(field: Int, count: Int) -> [UInt8] {
        Array(repeating: [UInt8((field << 3) | 2), 0], count: count).flatMap { $0 }
    }

    @Test func amplifyingRequestsAreResourceExhaustedAndTheServerServesOn() throws {
        try EndToEndLiveTests.withServer { (_: TensorwireServer, client: ClientConnection) throws in
            // 40,000 empty inputs: 80 KB on the wire (decoded off the loop), ~5.4 MB as Tensors before the fix.
            let predict = client.unary(
                path: "/tensorwire.v1.Inference/Predict", request: Array("\u{0A}\u{06}digits".utf8) + Self.emptyEntries(field: 3, count: 40_000),
                timeout: .seconds(30))
            #expect(predict.status.code == .resourceExhausted, "\(predict.status)")
            #expect(predict.status.message.contains("too many empty repeated elements"))
            // The same on a small message (decoded on the loop) and for KServe inputs and parameters.
            let small = client.unary(
                path: "/tensorwire.v1.Inference/Predict", request: Self.emptyEntries(field: 3, count: 5_000), timeout: .seconds(30))
            #expect(small.status.code == .resourceExhausted)
            let infer = client.unary(
                path: "/inference.GRPCInferenceService/ModelInfer", request: Self.emptyEntries(field: 5, count: 40_000),
                timeout: .seconds(30))
            #expect(infer.status.code == .resourceExhausted)
            // The server still answers a valid request.
            let valid = client.unary(
                path: "/tensorwire.v1.Inference/Predict", request: EndToEndLiveTests.digitsRequest(id: "ok").serializedBytes(),
                timeout: .seconds(30))
            #expect(valid.status.isOK)
        }
    }

    @Test func largeRequestsDecodeOffTheLoopAndAnswer() throws {
        try EndToEndLiveTests.withServer { (_: TensorwireServer, client: ClientConnection) throws in
            let request = EndToEndLiveTests.digitsRequest(id: "big", rows: 400)  // 400 x 64 floats: ~100 KB
            let bytes = request.serializedBytes()
            #expect(bytes.count >= RequestDecoding.offLoopThreshold)
            let response = client.unary(path: "/tensorwire.v1.Inference/Predict", request: bytes, timeout: .seconds(30))
            #expect(response.status.isOK, "\(response.status)")
            let decoded = try TensorwireV1.PredictResponse(serializedBytes: try #require(response.message))
            #expect(decoded.id == "big")
            #expect(decoded.outputs.first?.shape.first == 400)
        }
    }

    @Test func invalidUTF8InAParameterKeyIsInvalidArgument() throws {
        try EndToEndLiveTests.withServer { (_: TensorwireServer, client: ClientConnection) throws in
            // ModelInferRequest { model_name: "digits", parameters: { key: "\xFF\xFE" } }
            let entry: [UInt8] = [0x0A, 0x02, 0xFF, 0xFE]
            let bytes: [UInt8] = [0x0A, 0x06] + Array("digits".utf8) + [0x22, UInt8(entry.count)] + entry
            let response = client.unary(path: "/inference.GRPCInferenceService/ModelInfer", request: bytes, timeout: .seconds(30))
            #expect(response.status.code == .invalidArgument, "\(response.status)")
        }
    }

    @Test func decodeErrorsMapToPreciseStatuses() {
        #expect(RequestDecoding.error(WireDecodingError.decodedSizeExceedsBudget(wireBytes: 10, budget: 4176), decoding: "X").code
            == .resourceExhausted)
        #expect(RequestDecoding.error(WireDecodingError.invalidUTF8(field: 1), decoding: "X").code == .invalidArgument)
        #expect(RequestDecoding.error(WireDecodingError.truncated, decoding: "X").code == .internal)
        #expect(RequestDecoding.error(WireDecodingError.truncated, decoding: "X", otherwise: .invalidArgument).code
            == .invalidArgument)
    }
}
