// Sources/Server/RESTService.swift: the REST endpoints (KServe v2 HTTP and native /v1) on the gRPC services.

internal import Batching
public import Clocks
internal import Dispatch
internal import HTTPTypes
internal import Metrics
public import RPCCore
public import ServiceSupport
internal import TensorwireJSON
internal import TensorwireProto
public import Transport

/// The REST side of the server: `RESTRoute` picks the endpoint, the body is decoded from JSON (TensorwireJSON), and
/// the same services as gRPC answer (`PredictService`, `KServeService`: the same batchers, statistics and readiness
/// rule). Errors are `{"error": "…"}` with the HTTP status of their gRPC code (`httpStatus(for:)`); inference answers
/// carry the batching facts as `tw-batch-size`, `tw-queue-us` and `tw-compute-us` headers. A value; any thread.
public struct RESTService: Sendable {
    public let kserve: KServeService
    let predict: PredictService
    let health: HealthStatusBoard
    let clock: any MonotonicClock
    let metrics: ServerMetrics?
    /// The `--auth-keys` check, run before dispatch; nil: none.
    let authGate: AuthGate?

    /// Bodies of at least this many bytes are decoded off the event loop (JSON parses at a few hundred MB/s).
    static let offLoopThreshold = 16 << 10

    public init(
        kserve: KServeService, health: HealthStatusBoard, clock: any MonotonicClock, metrics: ServerMetrics? = nil,
        authGate: AuthGate? = nil
    ) {
        self.metrics = metrics
        self.authGate = authGate
        self.kserve = kserve
        self.predict = kserve.predict
        self.health = health
        self.clock = clock
    }

    /// The transport's entry point.
    public var handler: HTTPRequestHandler {
        HTTPRequestHandler { request, responder in self.handle(request, responder) }
    }

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let route: RESTRoute
        do {
            route = try RESTRoute.match(method: request.method, path: request.path)
        } catch {
            var response = Self.errorResponse(status: error.status, message: error.message)
            if !error.allowed.isEmpty { response.headers.append(HeaderField("allow", error.allowed.joined(separator: ", "))) }
            responder.respond(response)
            return
        }
        if let authGate, let refusal = authGate.refusal(route, request) {
            responder.annotate { $0.statusName = HTTPStatusMapping.statusName(forHTTPStatus: refusal.status) }
            responder.respond(refusal)
            return
        }
        switch route {
        case .metrics:
            guard let metrics else {
                responder.respond(Self.errorResponse(status: 404, message: "metrics are off"))
                return
            }
            Self.scrape(metrics, accept: request.header("accept"), responder)
        case .serverLive:
            responder.respond(Self.json(200, Self.flag("live", true)))
        case .serverReady:
            // The gRPC health rule: NOT_SERVING while models are missing (--strict-readiness) or shutting down.
            let serving = (try? health.check("").get()) == .serving
            responder.respond(Self.json(serving ? 200 : 503, Self.flag("ready", serving)))
        case .serverMetadata:
            responder.respond(Self.json(200, KServeHTTP.encodeServerMetadata(kserve.serverMetadata())))
        case .modelReady(let model, let version):
            var request = KServe.ModelRequest()
            request.name = model
            request.version = version ?? ""
            let ready = kserve.modelReady(request)
            responder.respond(Self.json(ready ? 200 : 400, Self.flag("ready", ready)))
        case .modelMetadata(let model, let version):
            answer(responder) { () throws(RPCError) in
                KServeHTTP.encodeModelMetadata(try kserve.modelMetadata(Self.modelRequest(model, version)))
            }
        case .modelConfig(let model, let version):
            answer(responder) { () throws(RPCError) in
                KServeHTTP.encodeModelConfig(try kserve.modelConfig(Self.modelRequest(model, version)).config ?? KServe.ModelConfig())
            }
        case .modelStatistics(let model, let version):
            answer(responder) { () throws(RPCError) in
                var request = KServe.ModelStatisticsRequest()
                request.name = model ?? ""
                request.version = version ?? ""
                return KServeHTTP.encodeModelStatistics(try kserve.modelStatistics(request))
            }
        case .repositoryIndex:
            do throws(KServeHTTPError) {
                let index = try KServeHTTP.decodeRepositoryIndexRequest(body: request.body)
                responder.respond(Self.json(200, KServeHTTP.encodeRepositoryIndex(kserve.repositoryIndex(index))))
            } catch {
                responder.respond(Self.errorResponse(status: 400, message: error.message))
            }
        case .repositoryLoad(let model), .repositoryUnload(let model):
            let load = if case .repositoryLoad = route { true } else { false }
            modelControl(model: model, load: load, body: request.body, responder)
        case .infer(let model, let version):
            infer(model: model, version: version, request, responder)
        case .predict(let model, let version):
            nativePredict(model: model, version: version, request, responder)
        case .listModels:
            responder.respond(Self.json(200, predict.listModels().jsonUTF8()))
        case .getModel(let model):
            answer(responder) { () throws(RPCError) in
                var request = TensorwireV1.GetModelRequest()
                request.model = model
                return try predict.getModel(request).jsonUTF8()
            }
        }
    }

    /// The exposition in the format the scraper asked for, rendered off the loop (a large registry takes a
    /// millisecond or more).
    static func scrape(_ metrics: ServerMetrics, accept: String?, _ responder: HTTPResponder) {
        let format = ExpositionFormat.negotiate(accept: accept)
        RequestDecoding.queue.async {
            responder.respond(HTTPResponse(
                status: 200, headers: [HeaderField("content-type", format.contentType)],
                body: metrics.registry.exposition(format)))
        }
    }

    /// The handler of `--metrics-port`: `GET /metrics` and nothing else.
    public static func metricsOnly(_ metrics: ServerMetrics, authGate: AuthGate? = nil) -> HTTPRequestHandler {
        HTTPRequestHandler { request, responder in
            guard request.path == "/metrics", request.method == "GET" || request.method == "HEAD" else {
                responder.respond(errorResponse(status: 404, message: "this port serves GET /metrics only"))
                return
            }
            if let authGate, let refusal = authGate.refusal(.metrics, request) {
                responder.respond(refusal)
                return
            }
            scrape(metrics, accept: request.header("accept"), responder)
        }
    }

    // MARK: Inference

    private func infer(model: String, version: String?, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let jsonLength: Int?
        if let text = request.header("inference-header-content-length") {
            guard let length = Int(text), length >= 0, length <= request.body.count else {
                responder.respond(Self.errorResponse(
                    status: 400, message: "Inference-Header-Content-Length \(text.prefix(40)) is not a length within "
                        + "the body (\(request.body.count) bytes)"))
                return
            }
            jsonLength = length
        } else {
            jsonLength = nil
        }
        let body = request.body
        offLoop(size: body.count) { [self] in
            let decoded: KServe.ModelInferRequest
            do throws(KServeHTTPError) {
                decoded = try KServeHTTP.decodeInferRequest(
                    body: body, jsonLength: jsonLength, modelName: model, modelVersion: version ?? "")
            } catch {
                refuseUndecoded(responder, origin: .httpKServe, Self.errorResponse(status: 400, message: error.message))
                return
            }
            let token = CancellationToken()
            responder.onCancel { token.cancel() }
            kserve.infer(decoded, deadline: nil, cancellation: token, origin: .httpKServe) { result in
                switch result {
                case .success(let (response, batch)):
                    responder.annotate {
                        $0 = RequestAnnotations(
                            api: "kserve", model: response.modelName, version: response.modelVersion,
                            requestID: decoded.id, batch: batch)
                    }
                    let encoded: KServeHTTPBody
                    do throws(KServeHTTPError) {
                        encoded = try KServeHTTP.encodeInferResponse(response, outputs: KServeOutputChoice(request: decoded))
                    } catch {
                        responder.respond(Self.errorResponse(status: 400, message: error.message))
                        return
                    }
                    var headers = Self.batchHeaders(batch)
                    if let jsonLength = encoded.jsonLength {
                        headers.append(HeaderField("content-type", "application/octet-stream"))
                        headers.append(HeaderField("inference-header-content-length", String(jsonLength)))
                    } else {
                        headers.append(HeaderField("content-type", "application/json"))
                    }
                    responder.respond(HTTPResponse(status: 200, headers: headers, body: encoded.bytes))
                case .failure(let error):
                    responder.annotate {
                        $0 = RequestAnnotations(
                            api: "kserve", model: model, version: version ?? "", requestID: decoded.id, batch: nil)
                        $0.statusName = error.code.name
                    }
                    Self.fail(responder, error)
                }
            }
        }
    }

    private func nativePredict(model: String, version: String?, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let body = request.body
        let received = clock.now()
        offLoop(size: body.count) { [self] in
            var decoded: TensorwireV1.PredictRequest
            do {
                decoded = try TensorwireV1.PredictRequest(jsonUTF8: body)
            } catch {
                refuseUndecoded(responder, origin: .httpNative, Self.errorResponse(status: 400, message: "the body is not a PredictRequest in JSON: \(error)"))
                return
            }
            // The URL names the model; the body may leave it out and must agree when it does not.
            guard decoded.model.isEmpty || decoded.model == model else {
                responder.respond(Self.errorResponse(
                    status: 400, message: "the body names model '\(decoded.model)' but the URL names '\(model)'"))
                return
            }
            if let version, !decoded.version.isEmpty, decoded.version != version {
                responder.respond(Self.errorResponse(
                    status: 400, message: "the body names version '\(decoded.version)' but the URL names '\(version)'"))
                return
            }
            decoded.model = model
            if let version { decoded.version = version }
            let token = CancellationToken()
            responder.onCancel { token.cancel() }
            let requestID = decoded.id
            predict.predict(decoded, deadline: nil, cancellation: token, received: received, origin: .httpNative) { result in
                switch result {
                case .success(let response):
                    responder.annotate {
                        $0 = RequestAnnotations(
                            api: "native", model: response.model, version: response.version, requestID: requestID,
                            batch: response.batch)
                    }
                    var headers = Self.batchHeaders(response.batch)
                    headers.append(HeaderField("content-type", "application/json"))
                    responder.respond(HTTPResponse(status: 200, headers: headers, body: response.jsonUTF8()))
                case .failure(let error):
                    responder.annotate {
                        $0 = RequestAnnotations(
                            api: "native", model: model, version: version ?? "", requestID: requestID, batch: nil)
                        $0.statusName = error.code.name
                    }
                    Self.fail(responder, error)
                }
            }
        }
    }

    /// Runs `work` here for small bodies, on the decoding queue for large ones.
    private func offLoop(size: Int, _ work: @escaping @Sendable () -> Void) {
        if size >= Self.offLoopThreshold { RequestDecoding.queue.async(execute: work) } else { work() }
    }

    // MARK: Model control

    private func modelControl(model: String, load: Bool, body: [UInt8], _ responder: HTTPResponder) {
        let request: KServe.RepositoryModelRequest
        do throws(KServeHTTPError) {
            request = try KServeHTTP.decodeRepositoryModelRequest(body: body, modelName: model)
        } catch {
            responder.respond(Self.errorResponse(status: 400, message: error.message))
            return
        }
        if let refusal = kserve.modelControlRefusal(request, load: load) {
            Self.fail(responder, refusal)
            return
        }
        let kserve = self.kserve
        let control = request
        KServeRPC.modelControlQueue.async {
            do throws(RPCError) {
                if load { try kserve.loadModel(control) } else { try kserve.unloadModel(control) }
                responder.respond(HTTPResponse(status: 200))
            } catch {
                Self.fail(responder, error)
            }
        }
    }

    // MARK: Answers

    private func answer(_ responder: HTTPResponder, _ body: () throws(RPCError) -> [UInt8]) {
        do throws(RPCError) {
            responder.respond(Self.json(200, try body()))
        } catch {
            Self.fail(responder, error)
        }
    }

    static func modelRequest(_ model: String, _ version: String?) -> KServe.ModelRequest {
        var request = KServe.ModelRequest()
        request.name = model
        request.version = version ?? ""
        return request
    }

    /// `{"live":true}`, `{"ready":false}`: the health answers.
    static func flag(_ name: String, _ value: Bool) -> [UInt8] {
        Array("{\"\(name)\":\(value)}".utf8)
    }

    static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: [HeaderField("content-type", "application/json")], body: body)
    }

    /// Answers a body that does not decode (400, INVALID_ARGUMENT) and counts it for `origin` with no model.
    func refuseUndecoded(_ responder: HTTPResponder, origin: RequestOrigin, _ response: HTTPResponse) {
        kserve.catalog.metrics?.recordUnresolved(origin, code: .invalidArgument)
        responder.annotate {
            $0.api = origin.api
            $0.statusName = Status.Code.invalidArgument.name
        }
        responder.respond(response)
    }

    /// Answers with `error` and records its gRPC status name for the request's summary.
    static func fail(_ responder: HTTPResponder, _ error: RPCError) {
        responder.annotate { $0.statusName = error.code.name }
        responder.respond(errorResponse(error))
    }

    static func errorResponse(_ error: RPCError) -> HTTPResponse {
        errorResponse(status: httpStatus(for: error.code), message: error.message)
    }

    static func errorResponse(status: Int, message: String) -> HTTPResponse {
        json(status, KServeHTTP.encodeError(message))
    }

    /// The batching facts of an inference answer as headers (absent when the request never reached a batch).
    static func batchHeaders(_ batch: TensorwireV1.BatchInfo?) -> [HeaderField] {
        guard let batch else { return [] }
        return [
            HeaderField("tw-batch-size", String(batch.batchSize)),
            HeaderField("tw-queue-us", String(batch.queueUs), isIndexable: false),
            HeaderField("tw-compute-us", String(batch.computeUs), isIndexable: false),
        ]
    }

    /// The HTTP status of a gRPC code, as Google's API guidelines and grpc-gateway map them (Triton answers its
    /// errors 400 and unknown models 400 too; we keep the finer mapping so a client can tell NOT_FOUND apart).
    public static func httpStatus(for code: Status.Code) -> Int {
        switch code {
        case .ok: 200
        case .cancelled: 499
        case .invalidArgument, .failedPrecondition, .outOfRange: 400
        case .deadlineExceeded: 504
        case .notFound: 404
        case .alreadyExists, .aborted: 409
        case .permissionDenied: 403
        case .unauthenticated: 401
        case .resourceExhausted: 429
        case .unimplemented: 501
        case .unavailable: 503
        default: 500
        }
    }
}
