import Logging
import Dispatch
import ProtoWire
import RPCCore
import Locks
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// The whole server over loopback: TensorwireServer on an ephemeral port, called through the Transport client.
@Suite(.serialized, .tags(.live))
struct EndToEndLiveTests {
    static func withServer(_ body: (TensorwireServer, ClientConnection) throws -> Void) throws {
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        try body(server, client)
    }

    static func digitsRequest(id: String, rows: Int = 1, seed: Int = 0) -> TensorwireV1.PredictRequest {
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        request.id = id
        request.inputs = [TensorwireV1.Tensor(name: "", shape: [Int64(rows), 64],
                                              floatData: (0..<(rows * 64)).map { Float(($0 + seed) % 16) })]
        return request
    }

    @Test func unaryPredictAnswersWithOutputsAndBatchTrailers() throws {
        try Self.withServer { _, client in
            let response = client.unary(path: "/tensorwire.v1.Inference/Predict",
                                        request: Self.digitsRequest(id: "a").serializedBytes())
            #expect(response.status.isOK, "\(response.status)")
            let decoded = try TensorwireV1.PredictResponse(serializedBytes: try #require(response.message))
            #expect(decoded.id == "a")
            #expect(decoded.outputs.count == 2)
            #expect(response.trailers.strings(forKey: "tw-batch-size") == ["1"])
            #expect(!response.trailers.strings(forKey: "tw-compute-us").isEmpty)
        }
    }

    @Test func errorsArriveAsStatuses() throws {
        try Self.withServer { _, client in
            var unknown = Self.digitsRequest(id: "x")
            unknown.model = "nope"
            let notFound = client.unary(path: "/tensorwire.v1.Inference/Predict", request: unknown.serializedBytes())
            #expect(notFound.status.code == .notFound)
            var badShape = Self.digitsRequest(id: "y")
            badShape.inputs[0].shape = [2, 64]
            let invalid = client.unary(path: "/tensorwire.v1.Inference/Predict", request: badShape.serializedBytes())
            #expect(invalid.status.code == .invalidArgument)
            #expect(invalid.status.message.contains("needs 128 elements, got 64"))
            let garbage = client.unary(path: "/tensorwire.v1.Inference/Predict", request: [0xFF, 0xFF])
            #expect(garbage.status.code == .internal)
            let missing = client.unary(path: "/tensorwire.v1.Inference/Nope", request: [])
            #expect(missing.status.code == .unimplemented)
            // The server still serves after all of that.
            let ok = client.unary(path: "/tensorwire.v1.Inference/Predict", request: Self.digitsRequest(id: "z").serializedBytes())
            #expect(ok.status.isOK)
        }
    }

    @Test func listAndGetModel() throws {
        try Self.withServer { _, client in
            let list = client.unary(path: "/tensorwire.v1.Inference/ListModels", request: [])
            let models = try TensorwireV1.ListModelsResponse(serializedBytes: try #require(list.message))
            #expect(models.models.map(\.name) == ["digits"])
            var get = TensorwireV1.GetModelRequest()
            get.model = "digits"
            let info = client.unary(path: "/tensorwire.v1.Inference/GetModel", request: get.serializedBytes())
            let decoded = try TensorwireV1.ModelInfo(serializedBytes: try #require(info.message))
            #expect(decoded.inputs.first?.shape == [-1, 64])
        }
    }

    /// Sends `requests` over one PredictStream, half-closes, and returns the responses and the final status.
    static func predictStream(_ client: ClientConnection, _ requests: [TensorwireV1.PredictRequest])
        -> (responses: [TensorwireV1.PredictResponse], status: Status?)
    {
        let received = Lock<[TensorwireV1.PredictResponse]>([])
        let finished = Lock<Status?>(nil)
        let done = DispatchSemaphore(value: 0)
        let call = client.makeCall(
            path: "/tensorwire.v1.Inference/PredictStream", kind: .bidirectionalStreaming,
            handlers: ClientCallHandlers(
                onMessage: { bytes in
                    if let response = try? TensorwireV1.PredictResponse(serializedBytes: bytes) {
                        received.withLock { $0.append(response) }
                    }
                },
                onFinish: { status, _ in
                    finished.withLock { $0 = status }
                    done.signal()
                }))
        for request in requests { call.send(request.serializedBytes()) }
        call.closeSend()
        #expect(done.wait(timeout: .now() + 60) == .success)
        return (received.withLock { $0 }, finished.withLock { $0 })
    }

    @Test func predictStreamAnswersInRequestOrderAndSurvivesABadMessage() throws {
        try Self.withServer { _, client in
            let requests = (0..<200).map { index in
                var request = Self.digitsRequest(id: "s\(index)", rows: 1 + index % 3, seed: index)
                if index == 50 { request.inputs[0].shape = [1, 3] }
                return request
            }
            let (responses, status) = Self.predictStream(client, requests)
            #expect(status?.isOK == true)
            #expect(responses.map(\.id) == requests.map(\.id))
            #expect(responses[50].error?.code == Int32(Status.Code.invalidArgument.rawValue))
            #expect(responses.enumerated().allSatisfy { $0.offset == 50 || ($0.element.error == nil && $0.element.outputs.count == 2) })
        }
    }

    /// Requests at or above RequestDecoding.offLoopThreshold decode on the decoding queue; the stream's in-flight
    /// check must not read the responder's loop-confined state from there (it trapped, killing the server, when a
    /// Spark partition streamed 256-row chunks of 64 floats).
    @Test func predictStreamOfRequestsDecodedOffTheLoop() throws {
        try Self.withServer { _, client in
            let requests = (0..<40).map { Self.digitsRequest(id: "big\($0)", rows: 300, seed: $0) }
            #expect(requests.allSatisfy { $0.serializedBytes().count >= RequestDecoding.offLoopThreshold })
            let (responses, status) = Self.predictStream(client, requests)
            #expect(status?.isOK == true)
            #expect(responses.map(\.id) == requests.map(\.id))
            #expect(responses.allSatisfy { $0.error == nil && $0.outputs.first { $0.name == "label" }?.int64Data.count == 300 })
        }
    }
}
