import DecoderFuzzing
import HTTP2
import Inference
internal import HTTPTypes
internal import TensorwireJSON
internal import TensorwireProto

/// The decoders `tensorwire-fuzz` drives, one per libFuzzer campaign (`Tools/fuzz/run TARGET`). Each must return
/// normally on any input: a thrown error is a rejection, a trap or a sanitizer report is a finding.
enum FuzzTarget: String, CaseIterable {
    /// Every protobuf message Tensorwire accepts from the network, with an encode/decode round trip.
    case proto
    /// An ONNX model file: the ONNX protobuf decoder and the graph compiler, under an 8 MiB memory budget.
    case onnx
    /// A model's config.json: the strict RFC 8259 syntax check, then the key and range checks.
    case config
    /// HTTP/2 through nghttp2's callbacks: a server session fed client bytes, or a client session fed server bytes.
    case http2
    /// HTTP/1.1 requests through our pre-scan and libhttp-parser, in random reads and whole (HTTP1Fuzzing).
    case http1
    /// The REST JSON bodies: KServe v2 inference requests (JSON and binary) and responses, proto3 JSON, repository.
    case json

    /// Runs one input. Returns 1 when the decoder accepted it, else 0.
    func run(_ bytes: UnsafeRawBufferPointer) -> Int {
        switch self {
        case .proto: DecoderFuzzing.decodeAll(bytes)
        case .onnx: ONNXFuzzing.load(bytes)
        case .config: ConfigFuzzing.parse(bytes)
        case .http2: HTTP2Fuzzing.run(bytes)
        case .http1: HTTP1Fuzzing.run(bytes)
        case .json: JSONFuzzing.run(bytes)
        }
    }
}

enum ONNXFuzzing {
    /// Small, so that a fuzzed shape or initializer cannot make one execution allocate gigabytes.
    static let maxModelBytes = 8 << 20

    static func load(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let model = try? Model(onnxBytes: [UInt8](bytes), name: "fuzz", source: "fuzz.onnx",
                                     maxModelBytes: maxModelBytes)
        else { return 0 }
        precondition(model.constantBytes <= maxModelBytes, "model constants exceed the memory budget")
        return 1
    }
}

enum ConfigFuzzing {
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let config = try? ModelConfig(json: [UInt8](bytes), file: "config.json") else { return 0 }
        precondition(config.maxBatchSize >= 0 && config.maxBatchSize <= ModelConfig.maxBatchSizeLimit,
                     "max_batch_size out of range: \(config.maxBatchSize)")
        precondition(config.instances >= 1 && config.instances <= ModelConfig.instancesLimit,
                     "instances out of range: \(config.instances)")
        return 1
    }
}

/// Input layout: byte 0 chooses the role (bit 0: client), how the rest is split into reads (bits 1-3: a read size of
/// 2^(n+2) bytes, 0: all at once) and how much the session sends back (bit 4: answer every request / send a
/// request). The rest is what the peer sends: after the client preface for a server session, from the start for
/// a client session (whose request is already queued).
enum HTTP2Fuzzing {
    static let clientPreface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func run(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let mode = bytes.first else { return 0 }
        let client = mode & 1 != 0
        let split = Int(mode >> 1) & 7
        let talk = mode & 0x10 != 0
        let chunk = split == 0 ? Int.max : 1 << (split + 2)
        var configuration = HTTP2Session.Configuration()
        configuration.initialWindowSize = 1 << 16
        configuration.maxConcurrentStreams = 16
        guard let session = try? HTTP2Session(role: client ? .client : .server, configuration: configuration)
        else { return 0 }
        var output: [UInt8] = []
        var peer: [UInt8] = []
        if client {
            _ = try? session.sendRequest(headers: [
                HeaderField(":method", "POST"), HeaderField(":scheme", "http"),
                HeaderField(":path", "/tensorwire.v1.Inference/Predict"), HeaderField(":authority", "fuzz"),
                HeaderField("content-type", "application/grpc"), HeaderField("te", "trailers"),
            ], endStream: !talk)
        } else {
            peer = clientPreface
        }
        peer.append(contentsOf: bytes.dropFirst())
        var accepted = 1
        var offset = 0
        drain(session, &output)
        while offset < peer.count {
            let end = offset + min(chunk, peer.count - offset)
            let events: [HTTP2Event]
            do {
                events = try peer[offset..<end].withUnsafeBytes { try session.receive($0) }
            } catch {
                accepted = 0
                drain(session, &output)
                break
            }
            offset = end
            handle(events, session: session, client: client, talk: talk)
            drain(session, &output)
            if !session.isActive { break }
        }
        _ = session.isActive
        _ = session.openStreamCount
        _ = session.queuedOutboundBytes
        return accepted
    }

    /// What the transport does with events: hands back flow-control credit and, when `talk`, answers requests.
    static func handle(_ events: [HTTP2Event], session: HTTP2Session, client: Bool, talk: Bool) {
        for event in events {
            switch event {
            case .headers(let streamID, _, let kind, let endStream):
                guard talk, !client, kind == .request else { continue }
                _ = try? session.sendResponseHeaders(streamID: streamID, headers: [
                    HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"),
                ])
                _ = try? session.sendData(streamID: streamID, [0, 0, 0, 0, 2, 8, 1])
                if endStream {
                    _ = try? session.finish(streamID: streamID, trailers: [HeaderField("grpc-status", "0")])
                }
            case .data(let streamID, let bytes, let endStream):
                session.consume(streamID: streamID, count: bytes.count)
                if talk && endStream && !client {
                    _ = try? session.finish(streamID: streamID, trailers: [HeaderField("grpc-status", "0")])
                }
                if talk && client && !bytes.isEmpty && !endStream {
                    _ = try? session.sendData(streamID: streamID, [0, 0, 0, 0, 0])
                }
            case .ping(_, let ack):
                if talk && !ack { _ = try? session.sendPing(opaqueData: 7) }
            case .goAway, .streamClosed, .settings:
                continue
            }
        }
    }

    static func drain(_ session: HTTP2Session, _ output: inout [UInt8]) {
        output.removeAll(keepingCapacity: true)
        _ = try? session.drainOutput(into: &output)
    }
}

/// Input layout: byte 0 picks the decoder, the rest is the body. 0: a KServe v2 inference request, all JSON;
/// 1: the same with a binary part, bytes 1-2 (little-endian) giving the JSON header's length; 2: a proto3 JSON
/// PredictRequest; 3: a proto3 JSON ModelInfo; 4: the repository request bodies. A decoded inference request is
/// echoed back as a response (its inputs as outputs, as JSON and as binary) and must encode without trapping; a
/// decoded proto3 message must survive its own JSON.
enum JSONFuzzing {
    static func run(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let mode = bytes.first else { return 0 }
        let body = [UInt8](bytes.dropFirst())
        switch mode % 5 {
        case 0, 1:
            var jsonLength: Int?
            var payload = body
            if mode % 5 == 1 {
                guard body.count >= 2 else { return 0 }
                jsonLength = Int(body[0]) | Int(body[1]) << 8
                payload = Array(body.dropFirst(2))
            }
            guard let request = try? KServeHTTP.decodeInferRequest(
                body: payload, jsonLength: jsonLength, modelName: "m", modelVersion: "1")
            else { return 0 }
            precondition(request.rawInputContents.count == request.inputs.count, "an input without data")
            var response = KServe.ModelInferResponse()
            response.id = request.id
            response.parameters = request.parameters
            for input in request.inputs {
                var output = KServe.ModelInferResponse.InferOutputTensor()
                output.name = input.name
                output.datatype = input.datatype
                output.shape = input.shape
                response.outputs.append(output)
            }
            response.rawOutputContents = request.rawInputContents
            for binary in [false, true] {
                let choice = KServeOutputChoice(binaryByDefault: binary)
                if let body = try? KServeHTTP.encodeInferResponse(response, outputs: choice), let length = body.jsonLength {
                    precondition(length <= body.bytes.count, "a JSON header longer than its body")
                }
            }
            return 1
        case 2:
            return roundTrip(TensorwireV1.PredictRequest.self, body)
        case 3:
            return roundTrip(TensorwireV1.ModelInfo.self, body)
        default:
            let index = try? KServeHTTP.decodeRepositoryIndexRequest(body: body)
            let load = try? KServeHTTP.decodeRepositoryModelRequest(body: body, modelName: "m")
            return index == nil && load == nil ? 0 : 1
        }
    }

    /// Decodes `body`; an accepted message must read back from its own JSON and write the same JSON again.
    static func roundTrip<M: ProtoJSONMessage>(_ type: M.Type, _ body: [UInt8]) -> Int {
        guard let message = try? M(jsonUTF8: body) else { return 0 }
        let json = message.jsonUTF8()
        guard let again = try? M(jsonUTF8: json) else { preconditionFailure("our own JSON was refused") }
        precondition(again.jsonUTF8() == json, "JSON changed on a second round trip")
        return 1
    }
}
