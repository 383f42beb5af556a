internal import Batching
internal import Dispatch
internal import EventLoop
internal import ProtoWire
public import RPCCore
internal import TensorwireProto
public import Transport

/// Registers `inference.GRPCInferenceService` (KServe v2 / Open Inference Protocol and the Triton extensions that
/// tritonclient and perf_analyzer use) on a router: it decodes requests, hands inference to `KServeService` (the
/// same batchers as `tensorwire.v1.Inference`) and encodes the answers. Handlers start on a loop thread; batch
/// completions arrive on instance threads and go back through `ServerCall`.
public enum KServeRPC {
    public static let serviceName = "inference.GRPCInferenceService"
    /// Request header that makes ModelStreamInfer end the stream with a gRPC status at the first failed request
    /// instead of answering it in-band (Triton's opt-in behaviour).
    public static let streamErrorHeader = "triton_grpc_error"
    /// Where RepositoryModelLoad / RepositoryModelUnload run, one at a time (the catalog serialises them as well).
    static let modelControlQueue = DispatchQueue(label: "tensorwire.model-control")

    public static func register(_ service: KServeService, on router: inout Router<ServerMethodHandler>) {
        func unary<Request: ProtoMessage>(
            _ method: String, _ type: Request.Type, _ body: @escaping @Sendable (Request) throws(RPCError) -> [UInt8]
        ) {
            router.register(MethodDescriptor(service: serviceName, method: method, kind: .unary), handler: .unary { call, bytes in
                guard let request = InferenceRPC.decode(Request.self, bytes, call: call) else { return }
                do throws(RPCError) {
                    call.respond(try body(request))
                } catch {
                    call.finish(error: error)
                }
            })
        }
        unary("ServerLive", KServe.ServerLiveRequest.self) { _ in KServe.ServerLiveResponse(live: true).serializedBytes() }
        unary("ServerReady", KServe.ServerReadyRequest.self) { _ in
            KServe.ServerReadyResponse(ready: service.serverReady()).serializedBytes()
        }
        unary("ModelReady", KServe.ModelReadyRequest.self) { request in
            KServe.ModelReadyResponse(ready: service.modelReady(request)).serializedBytes()
        }
        unary("ServerMetadata", KServe.ServerMetadataRequest.self) { _ in service.serverMetadata().serializedBytes() }
        unary("ModelMetadata", KServe.ModelMetadataRequest.self) { request throws(RPCError) in
            try service.modelMetadata(request).serializedBytes()
        }
        unary("ModelConfig", KServe.ModelConfigRequest.self) { request throws(RPCError) in
            try service.modelConfig(request).serializedBytes()
        }
        unary("RepositoryIndex", KServe.RepositoryIndexRequest.self) { request in
            service.repositoryIndex(request).serializedBytes()
        }
        unary("ModelStatistics", KServe.ModelStatisticsRequest.self) { request throws(RPCError) in
            try service.modelStatistics(request).serializedBytes()
        }
        // Model control compiles models and drains batchers: that runs on `modelControlQueue`, never on a loop
        // thread, and the call is answered from there when it is done. Refusals are answered at once.
        func control(_ method: String, load: Bool, _ body: @escaping @Sendable (KServe.RepositoryModelRequest) throws(RPCError) -> Void) {
            router.register(MethodDescriptor(service: serviceName, method: method, kind: .unary), handler: .unary { call, bytes in
                guard let request = InferenceRPC.decode(KServe.RepositoryModelRequest.self, bytes, call: call) else { return }
                if let refusal = service.modelControlRefusal(request, load: load) {
                    call.finish(error: refusal)
                    return
                }
                modelControlQueue.async {
                    do throws(RPCError) {
                        try body(request)
                        call.respond(KServe.RepositoryModelLoadResponse().serializedBytes())
                    } catch {
                        call.finish(error: error)
                    }
                }
            })
        }
        control("RepositoryModelLoad", load: true) { request throws(RPCError) in try service.loadModel(request) }
        control("RepositoryModelUnload", load: false) { request throws(RPCError) in try service.unloadModel(request) }
        router.register(MethodDescriptor(service: serviceName, method: "ModelInfer", kind: .unary), handler: .unary { call, bytes in
            modelInfer(service, call: call, bytes: bytes)
        })
        router.register(MethodDescriptor(service: serviceName, method: "ModelStreamInfer", kind: .bidirectionalStreaming),
                        handler: .bidirectionalStreaming { call in modelStreamInfer(service, call: call) })
    }

    static func modelInfer(_ service: KServeService, call: ServerCall, bytes: [UInt8]) {
        RequestDecoding.decode(KServe.ModelInferRequest.self, bytes) { decoded in
            switch decoded {
            case .success(let request): modelInfer(service, call: call, request: request)
            case .failure(let error):
                service.catalog.metrics?.recordUnresolved(.grpcKServe, code: error.code)
                call.finish(error: error)
            }
        }
    }

    static func modelInfer(
        _ service: KServeService, call: ServerCall, request: KServe.ModelInferRequest
    ) {
        let token = CancellationToken()
        call.onCancel { _ in token.cancel() }
        // The completion keeps the three strings it reports, not the request (its tensors and raw contents).
        let (id, model, version) = (request.id, request.modelName, request.modelVersion)
        service.inferEncoded(request, deadline: call.deadline, cancellation: token) { result in
            switch result {
            case .success(let response):
                call.annotate {
                    $0 = RequestAnnotations(
                        api: "kserve", model: model, version: response.version, requestID: id, batch: response.batch)
                }
                call.respond(response.bytes, numericTrailers: InferenceRPC.trailers(for: response.batch))
            case .failure(let error):
                call.annotate {
                    $0 = RequestAnnotations(api: "kserve", model: model, version: version, requestID: id, batch: nil)
                }
                call.finish(error: error)
            }
        }
    }

    /// ModelStreamInfer: each request is its own batcher job, so one stream pipelines into batches; responses leave
    /// in request order (the same ordering state as PredictStream). A failed request is answered in-band with
    /// `error_message` and its `id`, and the stream goes on — unless the client opened the stream with
    /// `triton_grpc_error: true`, when the first failure ends the stream with its status.
    static func modelStreamInfer(_ service: KServeService, call: ServerCall) -> RequestObserver {
        let token = CancellationToken()
        call.onCancel { _ in token.cancel() }
        let errorsEndStream = call.metadata.strings(forKey: streamErrorHeader).contains { $0.lowercased() == "true" }
        let responder = OrderedStreamResponder(
            call: call, maxInFlight: InferenceRPC.maxInFlightPerStream, cancellation: .init(cancel: { token.cancel() }))
        /// A failed request's answer: in-band, or the stream-ending status.
        let failure: @Sendable (String, RPCError) -> OrderedStreamResponder.Outcome = { id, error in
            if errorsEndStream { return .endStream(error) }
            var response = KServe.ModelStreamInferResponse()
            response.errorMessage = error.message
            var inner = KServe.ModelInferResponse()
            inner.id = id
            response.inferResponse = inner
            return .message(response.serializedBytes())
        }

        // One decoded request: to the batcher, unless the stream held too many when it arrived (`admitted`, read on
        // the loop, as in InferenceRPC.predictStream: a large request gets here on the decoding queue).
        let submit: @Sendable (KServe.ModelInferRequest, Int, Bool) -> Void = { request, sequence, admitted in
            // Reading pauses at the limit, so this is only a last resort for messages already buffered.
            guard admitted else {
                let limit = RPCError(
                    code: .resourceExhausted,
                    message: "more than \(InferenceRPC.maxInFlightPerStream) requests in flight on this stream; wait for responses before sending more")
                responder.complete(sequence, failure(request.id, limit))
                return
            }
            // Triton marks every stream response final when the client asks for final-response flags
            // (perf_analyzer does); a non-decoupled model answers each request with exactly one response.
            let flagFinal = request.parameters.last { $0.key == "triton_enable_empty_final_response" }?.value.choice == .bool(true)
            let id = request.id
            service.infer(request, deadline: call.deadline, cancellation: token) { result in
                switch result {
                case .success(var (response, _)):
                    if flagFinal {
                        response.parameters.append(KServe.ParameterEntry(key: "triton_final_response", value: .init(.bool(true))))
                    }
                    var message = KServe.ModelStreamInferResponse()
                    message.inferResponse = response
                    responder.complete(sequence, .message(message.serializedBytes()))
                case .failure(let error):
                    responder.complete(sequence, failure(id, error))
                }
            }
        }

        return RequestObserver(
            onMessage: { bytes in
                guard !responder.isFinished else { return }
                let sequence = responder.begin()
                let admitted = responder.inFlight <= InferenceRPC.maxInFlightPerStream
                // Large messages decode off the loop; the sequence number keeps the responses in request order.
                RequestDecoding.decode(KServe.ModelInferRequest.self, bytes, otherwise: .invalidArgument) { decoded in
                    switch decoded {
                    case .success(let request): submit(request, sequence, admitted)
                    case .failure(let error): responder.complete(sequence, failure("", error))
                    }
                }
            },
            onEnd: { responder.endOfRequests() })
    }
}
