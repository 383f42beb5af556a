import Logging
import Dispatch
import ProtoWire
import RPCCore
import ServiceSupport
import Locks
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// `inference.GRPCInferenceService` over loopback: TensorwireServer with the built-in digits model on an ephemeral
/// port, called through the Transport client with the hand-written KServe messages.
@Suite(.serialized, .tags(.live))
struct KServeLiveTests {
    static let prefix = "/inference.GRPCInferenceService/"

    static func withServer(_ body: (ClientConnection) throws -> Void) throws {
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        try body(client)
    }

    static func call<Response: ProtoMessage>(
        _ client: ClientConnection, _ method: String, _ request: some ProtoMessage, as: Response.Type
    ) throws -> Response {
        let response = client.unary(path: prefix + method, request: request.serializedBytes())
        #expect(response.status.isOK, "\(method): \(response.status)")
        return try Response(serializedBytes: try #require(response.message))
    }

    /// Rows of small whole numbers, as little-endian FP32.
    static func digitsRequest(id: String, rows: Int = 1, datatype: String = "FP32") -> KServe.ModelInferRequest {
        var request = KServe.ModelInferRequest()
        request.modelName = "digits"
        request.id = id
        request.inputs = [.init(name: "X", datatype: datatype, shape: [Int64(rows), 64])]
        let values = (0..<(rows * 64)).map { Float($0 % 16) }
        switch datatype {
        case "FP64": request.rawInputContents = [values.flatMap { withUnsafeBytes(of: Double($0).bitPattern.littleEndian, Array.init) }]
        case "INT32": request.rawInputContents = [values.flatMap { withUnsafeBytes(of: Int32($0).littleEndian, Array.init) }]
        default: request.rawInputContents = [values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }]
        }
        return request
    }

    @Test func healthMetadataAndConfigAnswerWhatPerfAnalyzerReads() throws {
        try Self.withServer { client in
            #expect(try Self.call(client, "ServerLive", KServe.ServerLiveRequest(), as: KServe.ServerLiveResponse.self).live)
            #expect(try Self.call(client, "ServerReady", KServe.ServerReadyRequest(), as: KServe.ServerReadyResponse.self).ready)
            #expect(try Self.call(client, "ModelReady", KServe.ModelRequest(name: "digits"), as: KServe.ModelReadyResponse.self).ready)
            // Triton answers OK with ready=false for an unknown model.
            #expect(try !Self.call(client, "ModelReady", KServe.ModelRequest(name: "nope"), as: KServe.ModelReadyResponse.self).ready)

            let server = try Self.call(client, "ServerMetadata", KServe.ServerMetadataRequest(), as: KServe.ServerMetadataResponse.self)
            #expect(server.name == "tensorwire")
            #expect(server.extensions.contains("statistics"))

            let metadata = try Self.call(client, "ModelMetadata", KServe.ModelRequest(name: "digits"), as: KServe.ModelMetadataResponse.self)
            #expect(metadata.versions == ["1"])
            #expect(metadata.inputs == [.init(name: "X", datatype: "FP32", shape: [-1, 64])])
            #expect(metadata.outputs == [.init(name: "label", datatype: "INT64", shape: [-1]),
                                         .init(name: "probabilities", datatype: "FP32", shape: [-1, 10])])

            let response = try Self.call(client, "ModelConfig", KServe.ModelRequest(name: "digits"), as: KServe.ModelConfigResponse.self)
            let config = try #require(response.config)
            #expect(config.name == "digits")
            #expect(config.maxBatchSize > 0)
            #expect(config.input.map(\.dims) == [[64]])
            #expect(config.input.map(\.dataType) == [.fp32])
            #expect(config.output.map(\.dataType) == [.int64, .fp32])
            #expect(config.output.map(\.dims) == [[], [10]])
            #expect(config.dynamicBatching != nil)
            #expect(config.platform != "ensemble")

            let index = try Self.call(client, "RepositoryIndex", KServe.RepositoryIndexRequest(), as: KServe.RepositoryIndexResponse.self)
            #expect(index.models.map { "\($0.name) \($0.version) \($0.state)" } == ["digits 1 READY"])
        }
    }

    @Test func modelInferAnswersRawOutputsInRequestedOrderWithTheIdEchoed() throws {
        try Self.withServer { client in
            for datatype in ["FP32", "FP64", "INT32"] {
                var request = Self.digitsRequest(id: "req-\(datatype)", rows: 3, datatype: datatype)
                request.outputs = [.init(name: "probabilities"), .init(name: "label")]
                request.parameters = [.init(key: "triton_enable_empty_final_response", value: .init(.bool(true)))]
                let answer = client.unary(path: Self.prefix + "ModelInfer", request: request.serializedBytes())
                #expect(answer.status.isOK, "\(answer.status)")
                #expect(answer.trailers.strings(forKey: "tw-batch-size").count == 1)
                let response = try KServe.ModelInferResponse(serializedBytes: try #require(answer.message))
                #expect(response.id == "req-\(datatype)")
                #expect(response.modelName == "digits")
                #expect(response.modelVersion == "1")
                #expect(response.outputs.map(\.name) == ["probabilities", "label"])
                #expect(response.outputs.map(\.datatype) == ["FP32", "INT64"])
                #expect(response.outputs.map(\.shape) == [[3, 10], [3]])
                #expect(response.outputs.allSatisfy { $0.contents == nil })
                #expect(response.rawOutputContents.map(\.count) == [3 * 10 * 4, 3 * 8])
                // Each row of probabilities sums to 1.
                let probabilities = try #require(response.rawOutputContents.first).withUnsafeBytes { raw in
                    (0..<30).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                }
                for row in 0..<3 {
                    #expect(abs(probabilities[(row * 10)..<(row * 10 + 10)].reduce(0, +) - 1) < 1e-4)
                }
            }
        }
    }

    @Test func typedContentsAreAcceptedAndRawAlongsideThemIsRefused() throws {
        try Self.withServer { client in
            var request = KServe.ModelInferRequest()
            request.modelName = "digits"
            var input = KServe.ModelInferRequest.InferInputTensor(name: "X", datatype: "FP32", shape: [2, 64])
            var contents = KServe.InferTensorContents()
            contents.fp32Contents = (0..<128).map { Float($0 % 16) }
            input.contents = contents
            request.inputs = [input]
            let response = try Self.call(client, "ModelInfer", request, as: KServe.ModelInferResponse.self)
            #expect(response.rawOutputContents.count == 2)

            request.rawInputContents = [[UInt8](repeating: 0, count: 512)]
            let both = client.unary(path: Self.prefix + "ModelInfer", request: request.serializedBytes())
            #expect(both.status.code == .invalidArgument)
            #expect(both.status.message.contains("contents field must not be specified"))

            // Data in a typed field the datatype does not use.
            request.rawInputContents = []
            request.inputs[0].contents?.fp32Contents = []
            request.inputs[0].contents?.int64Contents = Array(repeating: 1, count: 128)
            let stray = client.unary(path: Self.prefix + "ModelInfer", request: request.serializedBytes())
            #expect(stray.status.code == .invalidArgument)
            #expect(stray.status.message.contains("int64_contents"))
        }
    }

    @Test func errorsCarryTritonsStatuses() throws {
        try Self.withServer { client in
            func status(_ method: String, _ request: some ProtoMessage) -> Status {
                client.unary(path: Self.prefix + method, request: request.serializedBytes()).status
            }
            var unknown = Self.digitsRequest(id: "u")
            unknown.modelName = "nope"
            #expect(status("ModelInfer", unknown).code == .notFound)
            #expect(status("ModelMetadata", KServe.ModelRequest(name: "nope")).code == .notFound)
            #expect(status("ModelConfig", KServe.ModelRequest(name: "digits", version: "7")).code == .notFound)
            #expect(status("ModelMetadata", KServe.ModelRequest(name: "digits", version: "one")).code == .invalidArgument)

            var wrongShape = Self.digitsRequest(id: "s")
            wrongShape.inputs[0].shape = [1, 63]
            wrongShape.rawInputContents = [[UInt8](repeating: 0, count: 63 * 4)]
            let shape = status("ModelInfer", wrongShape)
            #expect(shape.code == .invalidArgument)
            #expect(shape.message.contains("expected shape"))

            var wrongType = Self.digitsRequest(id: "t")
            wrongType.inputs[0].datatype = "BOOL"
            wrongType.rawInputContents = [[UInt8](repeating: 1, count: 64)]
            let type = status("ModelInfer", wrongType)
            #expect(type.code == .invalidArgument)
            #expect(type.message.contains("accepts FP32"))

            var unknownType = Self.digitsRequest(id: "t")
            unknownType.inputs[0].datatype = "FLOAT"
            #expect(status("ModelInfer", unknownType).code == .invalidArgument)

            var short = Self.digitsRequest(id: "b")
            short.rawInputContents = [[0, 0, 0]]
            let bytes = status("ModelInfer", short)
            #expect(bytes.code == .invalidArgument)
            #expect(bytes.message.contains("raw_input_contents holds 3 bytes"))

            var missing = Self.digitsRequest(id: "m")
            missing.rawInputContents = []
            #expect(status("ModelInfer", missing).message.contains("unable to find data for input tensor 'X'"))

            var badBytes = Self.digitsRequest(id: "z")
            badBytes.inputs[0].datatype = "BYTES"
            badBytes.rawInputContents = [[9, 0, 0, 0, 1]]
            #expect(status("ModelInfer", badBytes).code == .invalidArgument)

            // Model control is refused without --model-control explicit (ModelControlLiveTests covers the rest).
            #expect(status("RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: "digits")).code == .unavailable)
            #expect(status("RepositoryModelUnload", KServe.RepositoryModelRequest(modelName: "digits")).code == .unavailable)
            #expect(status("ModelStatistics", KServe.ModelRequest(name: "nope")).code == .notFound)
            #expect(status("ModelStatistics", KServe.ModelRequest(name: "digits", version: "x")).code == .invalidArgument)
            #expect(status("ModelStatistics", KServe.ModelRequest(name: "digits", version: "7")).code == .notFound)
            #expect(client.unary(path: Self.prefix + "ModelInfer", request: [0xFF, 0xFF]).status.code == .internal)
            // Still serving.
            #expect(status("ModelInfer", Self.digitsRequest(id: "ok")).isOK)
        }
    }

    static func stream(
        _ client: ClientConnection, _ requests: [[UInt8]], metadata: Metadata = Metadata()
    ) throws -> ([KServe.ModelStreamInferResponse], Status?) {
        let received = Lock<[KServe.ModelStreamInferResponse]>([])
        let finished = Lock<Status?>(nil)
        let done = DispatchSemaphore(value: 0)
        let call = client.makeCall(
            path: prefix + "ModelStreamInfer", kind: .bidirectionalStreaming, metadata: metadata,
            handlers: ClientCallHandlers(
                onMessage: { bytes in
                    if let response = try? KServe.ModelStreamInferResponse(serializedBytes: bytes) {
                        received.withLock { $0.append(response) }
                    }
                },
                onFinish: { status, _ in
                    finished.withLock { $0 = status }
                    done.signal()
                }))
        for request in requests { call.send(request) }
        call.closeSend()
        #expect(done.wait(timeout: .now() + 60) == .success)
        return (received.withLock { $0 }, finished.withLock { $0 })
    }

    @Test func modelStreamInferAnswersInOrderWithInBandErrors() throws {
        try Self.withServer { client in
            var requests: [[UInt8]] = []
            var ids: [String] = []
            for index in 0..<120 {
                var request = Self.digitsRequest(id: "s\(index)", rows: 1 + index % 3)
                if index == 40 { request.inputs[0].shape = [1, 3] }
                if index == 41 { request.modelName = "nope" }
                request.parameters = [.init(key: "triton_enable_empty_final_response", value: .init(.bool(true)))]
                requests.append(request.serializedBytes())
                ids.append(request.id)
            }
            requests.insert([0xFF], at: 60)
            ids.insert("", at: 60)
            let (responses, status) = try Self.stream(client, requests)
            #expect(status?.isOK == true)
            #expect(responses.map { $0.inferResponse?.id ?? "?" } == ids)
            #expect(responses[40].errorMessage.contains("expected shape"))
            #expect(responses[41].errorMessage.contains("unknown model"))
            #expect(!responses[60].errorMessage.isEmpty)
            let good = responses.enumerated().filter { ![40, 41, 60].contains($0.offset) }.map(\.element)
            #expect(good.allSatisfy { $0.errorMessage.isEmpty && $0.inferResponse?.rawOutputContents.count == 2 })
            #expect(good.allSatisfy {
                $0.inferResponse?.parameters == [.init(key: "triton_final_response", value: .init(.bool(true)))]
            })
        }
    }

    @Test func tritonGrpcErrorHeaderEndsTheStreamAtTheFirstFailure() throws {
        try Self.withServer { client in
            var bad = Self.digitsRequest(id: "bad")
            bad.inputs[0].shape = [1, 3]
            let requests = [Self.digitsRequest(id: "a").serializedBytes(), bad.serializedBytes(),
                            Self.digitsRequest(id: "c").serializedBytes()]
            var metadata = Metadata()
            try metadata.addString("true", forKey: "triton_grpc_error")
            let (responses, status) = try Self.stream(client, requests, metadata: metadata)
            #expect(responses.map { $0.inferResponse?.id } == ["a"])
            #expect(status?.code == .invalidArgument)
        }
    }

    @Test func theServiceResolvesThroughReflection() throws {
        let responder = try ReflectionResponder(servedServices: [KServeRPC.serviceName])
        let response = responder.respond(to: .init(.fileContainingSymbol("inference.GRPCInferenceService")))
        guard case .fileDescriptorResponse(let files) = response.messageResponse else {
            Issue.record("no file descriptor response: \(response)")
            return
        }
        #expect(files.fileDescriptorProto.count >= 2)
    }

    @Test func inferRequestDecodesUnpackedShapesAndMapsAndRoundTrips() throws {
        var request = Self.digitsRequest(id: "x", rows: 2)
        request.parameters = [.init(key: "b", value: .init(.bool(false))), .init(key: "d", value: .init(.double(0)))]
        request.outputs = [.init(name: "label")]
        let bytes = request.serializedBytes()
        #expect(try KServe.ModelInferRequest(serializedBytes: bytes) == request)
        // shape [2, 64] written unpacked (field 3, varint) inside an input tensor decodes the same.
        let tensor = ProtoWriterProbe.unpackedInputTensor(name: "X", datatype: "FP32", shape: [2, 64])
        let decoded = try KServe.ModelInferRequest.InferInputTensor(serializedBytes: tensor)
        #expect(decoded.shape == [2, 64])
    }
}

/// Hand-assembled wire bytes for decoder checks.
enum ProtoWriterProbe {
    static func unpackedInputTensor(name: String, datatype: String, shape: [Int64]) -> [UInt8] {
        var bytes: [UInt8] = [0x0A, UInt8(name.utf8.count)] + Array(name.utf8)
        bytes += [0x12, UInt8(datatype.utf8.count)] + Array(datatype.utf8)
        for dim in shape {
            bytes.append(0x18)
            var value = UInt64(bitPattern: dim)
            while value >= 0x80 {
                bytes.append(UInt8(value & 0x7F) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }
        return bytes
    }
}
