public import Batching
public import Clocks
internal import EventLoop
internal import Inference
public import RPCCore
public import TensorwireProto

/// The transport-independent core of `tensorwire.v1.Inference`: it validates a decoded request against the model's
/// signature, hands it to the model's batcher, and builds the response. Completions run on a batcher instance
/// thread (or on the caller's thread for requests refused before queueing); the caller hops back to its loop.
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
        predict(request, deadline: deadline, cancellation: cancellation, received: received, origin: origin,
                resubmits: Self.maxResubmits, resolved: nil, completion: completion)
    }

    /// `predict` for a caller that has resolved the request's model and version already (KServe, which checks the
    /// request against the version's signature first): the lookup is not repeated.
    func predict(
        _ request: TensorwireV1.PredictRequest, resolved: (ModelCatalog.Version, Batcher),
        deadline: MonotonicInstant?, cancellation: CancellationToken, received: MonotonicInstant?,
        origin: RequestOrigin,
        completion: @escaping @Sendable (Result<TensorwireV1.PredictResponse, RPCError>) -> Void
    ) {
        predict(request, deadline: deadline, cancellation: cancellation, received: received, origin: origin,
                resubmits: Self.maxResubmits, resolved: resolved, completion: completion)
    }

    /// How many times a request that resolved a version whose batcher was stopping (a swap won the race between
    /// its lookup and its submit) is resolved again: once is enough for one swap; a few cover swaps in a row.
    static let maxResubmits = 3

    private func predict(
        _ request: TensorwireV1.PredictRequest, deadline: MonotonicInstant?, cancellation: CancellationToken,
        received: MonotonicInstant?, origin: RequestOrigin, resubmits: Int, resolved: (ModelCatalog.Version, Batcher)?,
        completion: @escaping @Sendable (Result<TensorwireV1.PredictResponse, RPCError>) -> Void
    ) {
        let answer = completion
        let version: ModelCatalog.Version
        let batcher: Batcher
        do throws(RPCError) {
            if let resolved {
                (version, batcher) = resolved
            } else {
                (version, batcher) = try catalog.resolve(model: request.model, version: request.version)
            }
        } catch {
            catalog.metrics?.recordUnresolved(origin, code: error.code)
            completion(.failure(error))
            return
        }
        // Statistics and metrics: every request that reached a loaded version counts as a success or a failure.
        let clock = catalog.clock
        let start = received ?? clock.now()
        let statistics = batcher.statistics
        let metrics = version.metrics
        metrics?.requestStarted()
        let completion: @Sendable (Result<TensorwireV1.PredictResponse, RPCError>) -> Void = { result in
            let nanoseconds = clock.now().nanoseconds(since: start)
            let succeeded = if case .success = result { true } else { false }
            statistics.recordRequest(succeeded: succeeded, nanoseconds: nanoseconds)
            if let metrics {
                                switch result {
                case .success(let response):
                    metrics.recordRequest(
                        origin, code: .ok, seconds: Double(nanoseconds) / 1e9,
                        queueMicroseconds: response.batch.map { Int(clamping: $0.queueUs) })
                case .failure(let error):
                    metrics.recordRequest(origin, code: error.code, seconds: Double(nanoseconds) / 1e9, queueMicroseconds: nil)
                }
            }
            completion(result)
        }
        let inputs: [Tensor]
        do throws(RPCError) {
            let signature = batcher.model.signature
            inputs = try TensorConversion.inputs(
                request.inputs, model: request.model, signature: signature.inputs,
                fixedBatchHint: batcher.model.fixedBatchHint)
            // Check the output filter before computing anything.
            _ = try TensorConversion.outputs([], signature: signature.outputs, filter: request.outputs, model: request.model)
        } catch {
            completion(.failure(error))
            return
        }
        let model = request.model
        let filter = request.outputs
        let id = request.id
        let versionName = String(version.number)
        let signature = batcher.model.signature.outputs
        let job = BatchJob(inputs: inputs, deadline: deadline, cancellation: cancellation) { result in
            switch result {
            case .success(let output):
                do throws(RPCError) {
                    var response = TensorwireV1.PredictResponse()
                    response.model = model
                    response.version = versionName
                    response.id = id
                    response.outputs = try TensorConversion.outputs(output.outputs, signature: signature, filter: filter, model: model)
                    response.batch = Self.batchInfo(output.facts)
                    completion(.success(response))
                } catch {
                    completion(.failure(error))
                }
            case .failure(let error):
                completion(.failure(Self.rpcError(error)))
            }
        }
        do {
            if let loop = EventLoop.current {
                // On an event loop: the batcher is woken once, at the end of the loop's pass, for every request the
                // pass handed it (they then share a batch instead of each waking an instance).
                try batcher.submit(job, wakeNow: false)
                loop.deferUntilSleep(batcher) { batcher.wakeIfQueued() }
            } else {
                try batcher.submit(job)
            }
        } catch {
            // A swap replaced the version between the lookup and the submit: its batcher no longer accepts, and a
            // new one serves. Run the request there (it was never queued, so nothing ran twice).
            if case .shuttingDown = error, resubmits > 0,
               let (_, replacement) = try? catalog.resolve(model: request.model, version: request.version),
               replacement !== batcher {
                metrics?.requestResubmitted()
                predict(request, deadline: deadline, cancellation: cancellation, received: start, origin: origin,
                        resubmits: resubmits - 1, resolved: nil, completion: answer)
                return
            }
            completion(.failure(Self.rpcError(error)))
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
