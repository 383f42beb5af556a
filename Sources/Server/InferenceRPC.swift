internal import Batching
internal import EventLoop
internal import HTTPTypes
internal import ProtoWire
public import RPCCore
internal import TensorwireProto
public import Transport

/// Registers `tensorwire.v1.Inference` (Predict, PredictStream, ListModels, GetModel) on a router: it decodes
/// requests, hands the call's deadline (on the one clock the loops and batchers share) and its cancellation to the
/// batcher, and encodes the answers.
/// Handlers start on a loop thread; batch completions arrive on instance threads and go back through `ServerCall`.
public enum InferenceRPC {
    public static let serviceName = "tensorwire.v1.Inference"
    /// Requests one PredictStream may have queued, computing or waiting for an earlier response. At the limit the
    /// stream stops reading (`ServerCall.pauseReading`): the transport withholds the stream's HTTP/2 flow-control
    /// credit, so the client stops at the stream window until responses go out. Reading also pauses while the
    /// client does not read its responses (the stream is not writable). A request beyond the limit would be answered
    /// in-stream with RESOURCE_EXHAUSTED, a last resort that pausing makes unreachable.
    public static let maxInFlightPerStream = 256

    public static func register(_ service: PredictService, on router: inout Router<ServerMethodHandler>) {
        router.register(MethodDescriptor(service: serviceName, method: "Predict", kind: .unary), handler: .unary { call, bytes in
            predict(service, call: call, bytes: bytes)
        })
        router.register(MethodDescriptor(service: serviceName, method: "PredictStream", kind: .bidirectionalStreaming),
                        handler: .bidirectionalStreaming { call in predictStream(service, call: call) })
        router.register(MethodDescriptor(service: serviceName, method: "ListModels", kind: .unary), handler: .unary { call, bytes in
            guard decode(TensorwireV1.ListModelsRequest.self, bytes, call: call) != nil else { return }
            call.respond(service.listModels().serializedBytes())
        })
        router.register(MethodDescriptor(service: serviceName, method: "GetModel", kind: .unary), handler: .unary { call, bytes in
            guard let request = decode(TensorwireV1.GetModelRequest.self, bytes, call: call) else { return }
            do throws(RPCError) {
                call.respond(try service.getModel(request).serializedBytes())
            } catch {
                call.finish(error: error)
            }
        })
    }

    /// Decodes a small request message on the calling thread; a malformed one ends the call with the status
    /// `RequestDecoding.error` gives (INTERNAL, as gRPC libraries answer, unless the cause is more precise).
    static func decode<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8], call: ServerCall) -> M? {
        do {
            return try M(serializedBytes: bytes)
        } catch {
            call.finish(error: RequestDecoding.error(error, decoding: "\(M.self)"))
            return nil
        }
    }

    /// The batching trailers' names: the size indexed (batch sizes come from a small set, so the encoder's table
    /// holds each one once), the two timings never (they differ on every call: `HeaderField.isIndexable`). Nil only
    /// if a name here were invalid (BatchTrailerTests).
    static let batchTrailerNames = NumericHeaderNames([
        ("tw-batch-size", true), ("tw-queue-us", false), ("tw-compute-us", false),
    ])

    /// A response's batch facts as trailers, carried as numbers (`ServerCall.respond(_:numericTrailers:)`).
    static func trailers(for batch: TensorwireV1.BatchInfo?) -> NumericHeaderFields? {
        guard let batch, let names = batchTrailerNames else { return nil }
        return NumericHeaderFields(names, UInt64(batch.batchSize), batch.queueUs, batch.computeUs)
    }

    static func predict(_ service: PredictService, call: ServerCall, bytes: [UInt8]) {
        RequestDecoding.decode(TensorwireV1.PredictRequest.self, bytes) { decoded in
            switch decoded {
            case .success(let request): predict(service, call: call, request: request)
            case .failure(let error):
                service.catalog.metrics?.recordUnresolved(.grpcNative, code: error.code)
                call.finish(error: error)
            }
        }
    }

    static func predict(
        _ service: PredictService, call: ServerCall, request: TensorwireV1.PredictRequest
    ) {
        let token = CancellationToken()
        call.onCancel { _ in token.cancel() }
        // The completion keeps the three strings it reports, not the request (its tensors).
        let (id, model, version) = (request.id, request.model, request.version)
        service.predictEncoded(request, deadline: call.deadline, cancellation: token) { result in
            switch result {
            case .success(let response):
                call.annotate {
                    $0 = RequestAnnotations(
                        api: "native", model: model, version: response.version, requestID: id, batch: response.batch)
                }
                call.respond(response.bytes, numericTrailers: trailers(for: response.batch))
            case .failure(let error):
                call.annotate {
                    $0 = RequestAnnotations(api: "native", model: model, version: version, requestID: id, batch: nil)
                }
                call.finish(error: error)
            }
        }
    }

    /// PredictStream: each request is its own batcher job, so one stream pipelines into batches; responses leave in
    /// request order, each echoing its request's `id`; a bad request gets an in-stream error response and the stream
    /// goes on; reading pauses (HTTP/2 flow control) at `maxInFlightPerStream` requests in flight.
    static func predictStream(_ service: PredictService, call: ServerCall) -> RequestObserver {
        let token = CancellationToken()
        call.onCancel { _ in token.cancel() }
        let responder = OrderedStreamResponder(
            call: call, maxInFlight: maxInFlightPerStream, cancellation: .init(cancel: { token.cancel() }))
        let errorResponse: @Sendable (TensorwireV1.PredictRequest?, RPCError) -> OrderedStreamResponder.Outcome = {
            request, error in
            var response = TensorwireV1.PredictResponse()
            response.model = request?.model ?? ""
            response.version = request?.version ?? ""
            response.id = request?.id ?? ""
            response.error = TensorwireV1.PredictError(code: Int32(error.code.rawValue), message: error.message)
            return .message(response.serializedBytes())
        }

        // One decoded request: to the batcher, unless the stream held too many when it arrived (`admitted`, read on
        // the loop: a large request decodes, and so gets here, on the decoding queue, where the responder's
        // loop-confined state must not be read).
        let submit: @Sendable (TensorwireV1.PredictRequest, Int, Bool) -> Void = { request, sequence, admitted in
            // Reading pauses at the limit, so this is only a last resort for messages already buffered.
            guard admitted else {
                let limit = RPCError(code: .resourceExhausted,
                                     message: "more than \(maxInFlightPerStream) requests in flight on this stream; wait for responses before sending more")
                responder.complete(sequence, errorResponse(request, limit))
                return
            }
            service.predictEncoded(request, deadline: call.deadline, cancellation: token) { result in
                switch result {
                case .success(let response): responder.complete(sequence, .message(response.bytes))
                case .failure(let error): responder.complete(sequence, errorResponse(request, error))
                }
            }
        }

        return RequestObserver(
            onMessage: { bytes in
                guard !responder.isFinished else { return }
                let sequence = responder.begin()
                let admitted = responder.inFlight <= maxInFlightPerStream
                // Large messages decode off the loop; the sequence number keeps the responses in request order.
                RequestDecoding.decode(TensorwireV1.PredictRequest.self, bytes, otherwise: .invalidArgument) { decoded in
                    switch decoded {
                    case .success(let request): submit(request, sequence, admitted)
                    case .failure(let error): responder.complete(sequence, errorResponse(nil, error))
                    }
                }
            },
            onEnd: { responder.endOfRequests() })
    }
}
