public import Batching
public import Clocks
internal import EventLoop
internal import Inference
internal import ProtoWire
public import RPCCore
public import TensorwireProto

/// The transport-independent core of `tensorwire.v1.Inference`: it validates a decoded request against the model's
/// signature, hands it to the model's batcher, and builds the response. Completions run on a batcher instance
/// thread (or on the caller's thread for requests refused before queueing, and for those the batcher computes
/// there, `Batcher.runLoneRequestOrWake`); the caller hops back to its loop.
public struct PredictService: Sendable {
    public let catalog: ModelCatalog

    public init(catalog: ModelCatalog) {
        self.catalog = catalog
    }

    /// Runs one request. `completion` is called exactly once. `received` (default: now) is when the request
    /// arrived; the version's statistics count the request's outcome and its time from then.
    public func predict(
        _ request: TensorwireV1.PredictRequest,
        deadline: MonotonicInstant?,
        cancellation: CancellationToken,
        received: MonotonicInstant? = nil, origin: RequestOrigin = .grpcNative,
        completion: @escaping @Sendable (Result<TensorwireV1.PredictResponse, RPCError>) -> Void
    ) {
        let (model, id, filter) = (request.model, request.id, request.outputs)
        predict(request, deadline: deadline, cancellation: cancellation, received: received, origin: origin,
                respond: { output, versionName, signature throws(RPCError) in
                    var response = TensorwireV1.PredictResponse()
                    response.model = model
                    response.version = versionName
                    response.id = id
                    response.outputs = try TensorConversion.outputs(
                        output.outputs, signature: signature, filter: filter, model: model)
                    response.batch = Self.batchInfo(output.facts)
                    return response
                }, completion: completion)
    }

    /// A Predict answer in its wire form, as the gRPC APIs send it: the encoded `PredictResponse`, and the version
    /// and batch facts it holds (for the trailers and the request log).
    public struct EncodedResponse: Sendable {
        public var bytes: [UInt8]
        public var version: String
        public var batch: TensorwireV1.BatchInfo
    }

    /// `predict`, answering with the response already encoded, written straight from the request's output tensors
    /// (`PredictResponseView`): the same bytes, without the response message in between.
    public func predictEncoded(
        _ request: TensorwireV1.PredictRequest,
        deadline: MonotonicInstant?,
        cancellation: CancellationToken,
        received: MonotonicInstant? = nil, origin: RequestOrigin = .grpcNative,
        completion: @escaping @Sendable (Result<EncodedResponse, RPCError>) -> Void
    ) {
        let (model, id, filter) = (request.model, request.id, request.outputs)
        predict(request, deadline: deadline, cancellation: cancellation, received: received, origin: origin,
                respond: { output, versionName, signature in
                    var view = PredictResponseView()
                    view.model = model
                    view.version = versionName
                    view.id = id
                    view.rows = output.rows
                    view.signature = signature
                    // Checked against the signature before the request was queued (`engineInputs`).
                    view.filter = filter
                    let batch = Self.batchInfo(output.facts)
                    view.batch = batch
                    return EncodedResponse(bytes: view.serializedBytes(), version: versionName, batch: batch)
                }, completion: completion)
    }

    /// How many times a request that resolved a version whose batcher was stopping (a swap won the race between
    /// its lookup and its submit) is resolved again: once is enough for one swap; a few cover swaps in a row.
    static let maxResubmits = 3

    private func predict<Response: Sendable>(
        _ request: TensorwireV1.PredictRequest, deadline: MonotonicInstant?, cancellation: CancellationToken,
        received: MonotonicInstant?, origin: RequestOrigin,
        respond: @escaping @Sendable (BatchOutput, String, [TensorSignature]) throws(RPCError) -> Response,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        let model = request.model
        let filter = request.outputs
        let query = Query(model: model, version: request.version, deadline: deadline, cancellation: cancellation,
                          received: received, origin: origin)
        run(query, resolved: nil, inputs: { batcher throws(RPCError) in
            try Self.engineInputs(request.inputs, model: model, outputs: filter, batcher: batcher)
        }, respond: respond, completion: completion)
    }

    /// `tensors` converted for `batcher`'s model, after checking that it has every output named in `outputs` (so
    /// that a bad filter is refused before anything is computed).
    static func engineInputs(
        _ tensors: [TensorwireV1.Tensor], model: String, outputs: [String], batcher: Batcher
    ) throws(RPCError) -> [Tensor] {
        let signature = batcher.model.signature
        let inputs = try TensorConversion.inputs(
            tensors, model: model, signature: signature.inputs, fixedBatchHint: batcher.model.fixedBatchHint)
        try TensorConversion.checkOutputFilter(outputs, signature: signature.outputs, model: model)
        return inputs
    }

    /// What every API's request names and brings, apart from its tensors.
    struct Query: Sendable {
        var model: String
        var version: String
        var deadline: MonotonicInstant?
        var cancellation: CancellationToken
        /// When the request arrived (nil: now).
        var received: MonotonicInstant?
        var origin: RequestOrigin
    }

    /// The one path of every inference API: resolves the model (unless `resolved`), converts the request's tensors
    /// with `inputs` on the calling thread, hands them to the version's batcher, and on its instance thread turns
    /// the batch's rows into the API's response with `respond` (given the version's name and output signature).
    /// Statistics and metrics count every request that reached a loaded version. `completion` is called once.
    func run<Response: Sendable>(
        _ query: Query, resolved: (ModelCatalog.Version, Batcher)?, resubmits: Int = maxResubmits,
        inputs makeInputs: (Batcher) throws(RPCError) -> [Tensor],
        respond: @escaping @Sendable (BatchOutput, String, [TensorSignature]) throws(RPCError) -> Response,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        let version: ModelCatalog.Version
        let batcher: Batcher
        do throws(RPCError) {
            if let resolved {
                (version, batcher) = resolved
            } else {
                (version, batcher) = try catalog.resolve(model: query.model, version: query.version)
            }
        } catch {
            catalog.metrics?.recordUnresolved(query.origin, code: error.code)
            completion(.failure(error))
            return
        }
        // Statistics and metrics: every request that reached a loaded version counts as a success or a failure.
        let pending = PendingRequest(
            clock: catalog.clock, start: query.received ?? catalog.clock.now(), statistics: batcher.statistics,
            metrics: version.metrics, origin: query.origin, versionName: version.name,
            signature: batcher.model.signature.outputs, respond: respond, completion: completion)
        let metrics = version.metrics
        metrics?.requestStarted()
        let inputs: [Tensor]
        do throws(RPCError) {
            inputs = try makeInputs(batcher)
        } catch {
            pending.finish(.failure(error), facts: nil)
            return
        }
        let job = BatchJob(inputs: inputs, deadline: query.deadline, cancellation: query.cancellation,
                           completion: pending.complete)
        do {
            if let loop = EventLoop.current {
                // On an event loop: the batcher is woken once, at the end of the loop's pass, for every request the
                // pass handed it (they then share a batch instead of each waking an instance); a cheap model's lone
                // request that an idle instance would run at once is computed right there instead, with no hand-off
                // to the instance thread and back (docs/performance.md).
                try batcher.submit(job, wakeNow: false)
                loop.deferUntilSleep(batcher) { batcher.runLoneRequestOrWake() }
            } else {
                try batcher.submit(job)
            }
        } catch {
            // A swap replaced the version between the lookup and the submit: its batcher no longer accepts, and a
            // new one serves. Run the request there (it was never queued, so nothing ran twice).
            if case .shuttingDown = error, resubmits > 0,
               let (_, replacement) = try? catalog.resolve(model: query.model, version: query.version),
               replacement !== batcher {
                metrics?.requestResubmitted()
                var again = query
                again.received = pending.start
                run(again, resolved: nil, resubmits: resubmits - 1, inputs: makeInputs, respond: respond,
                    completion: completion)
                return
            }
            pending.finish(.failure(Self.rpcError(error)), facts: nil)
        }
    }

    /// One request from its submit to its answer: what finishing it takes (the clock and start for its time, the
    /// statistics and metrics it counts in, the API's response builder and completion), in one object that the
    /// batch job's completion holds. Two closures (a finish and the job's completion) cost two contexts to
    /// allocate and, after the answer, a chain of releases (docs/performance.md, "Fewer objects per Predict").
    final class PendingRequest<Response: Sendable>: Sendable {
        let clock: any MonotonicClock
        let start: MonotonicInstant
        let statistics: BatchStatistics
        let metrics: VersionMetrics?
        let origin: RequestOrigin
        let versionName: String
        let signature: [TensorSignature]
        let respond: @Sendable (BatchOutput, String, [TensorSignature]) throws(RPCError) -> Response
        let completion: @Sendable (Result<Response, RPCError>) -> Void

        init(
            clock: any MonotonicClock, start: MonotonicInstant, statistics: BatchStatistics, metrics: VersionMetrics?,
            origin: RequestOrigin, versionName: String, signature: [TensorSignature],
            respond: @escaping @Sendable (BatchOutput, String, [TensorSignature]) throws(RPCError) -> Response,
            completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
        ) {
            self.clock = clock
            self.start = start
            self.statistics = statistics
            self.metrics = metrics
            self.origin = origin
            self.versionName = versionName
            self.signature = signature
            self.respond = respond
            self.completion = completion
        }

        /// The batch job's completion: the API's response from the request's rows, or the batcher's error.
        @Sendable func complete(_ result: Result<BatchOutput, BatchError>) {
            switch result {
            case .success(let output):
                do throws(RPCError) {
                    finish(.success(try respond(output, versionName, signature)), facts: output.facts)
                } catch {
                    finish(.failure(error), facts: output.facts)
                }
            case .failure(let error):
                finish(.failure(PredictService.rpcError(error)), facts: nil)
            }
        }

        /// Counts the outcome and its time, then calls the completion.
        func finish(_ result: Result<Response, RPCError>, facts: BatchFacts?) {
            let nanoseconds = clock.now().nanoseconds(since: start)
            let succeeded = if case .success = result { true } else { false }
            statistics.recordRequest(succeeded: succeeded, nanoseconds: nanoseconds)
            if let metrics {
                switch result {
                case .success:
                    metrics.recordRequest(
                        origin, code: .ok, seconds: Double(nanoseconds) / 1e9,
                        queueMicroseconds: facts.map { Int(clamping: UInt64(clamping: $0.queueMicroseconds)) })
                case .failure(let error):
                    metrics.recordRequest(origin, code: error.code, seconds: Double(nanoseconds) / 1e9, queueMicroseconds: nil)
                }
            }
            completion(result)
        }
    }

    static func batchInfo(_ facts: BatchFacts) -> TensorwireV1.BatchInfo {
        var info = TensorwireV1.BatchInfo()
        info.batchSize = UInt32(clamping: facts.batchSize)
        info.batchRequests = UInt32(clamping: facts.requestCount)
        info.queueUs = UInt64(clamping: facts.queueMicroseconds)
        info.computeUs = UInt64(clamping: facts.computeMicroseconds)
        return info
    }

    /// The gRPC status for a batcher outcome.
    static func rpcError(_ error: BatchError) -> RPCError {
        switch error {
        case .queueFull:
            return RPCError(code: .resourceExhausted, message: error.description)
        case .deadlineExceeded:
            return RPCError(code: .deadlineExceeded, message: error.description)
        case .cancelled:
            return RPCError(code: .cancelled, message: error.description)
        case .shuttingDown:
            return RPCError(code: .unavailable, message: error.description)
        case .invalidInput:
            return RPCError(code: .invalidArgument, message: error.description)
        case .inference(let inner):
            switch inner {
            case .inputCount, .dataType, .shape, .batchMismatch, .batchTooLarge, .invalidData:
                return RPCError(code: .invalidArgument, message: error.description)
            }
        case .internalError:
            return RPCError(code: .internal, message: error.description)
        }
    }

    /// ListModels' answer.
    public func listModels() -> TensorwireV1.ListModelsResponse {
        var response = TensorwireV1.ListModelsResponse()
        response.models = catalog.modelNames.compactMap { try? catalog.info(model: $0) }
        return response
    }

    /// GetModel's answer.
    public func getModel(_ request: TensorwireV1.GetModelRequest) throws(RPCError) -> TensorwireV1.ModelInfo {
        try catalog.info(model: request.model)
    }
}
