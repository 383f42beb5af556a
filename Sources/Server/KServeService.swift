public import Batching
public import Clocks
internal import Inference
internal import ProtoWire
public import RPCCore
public import TensorwireProto

/// The transport-independent core of `inference.GRPCInferenceService` (KServe v2 / Open Inference Protocol with
/// Triton's extensions). Inference is a second decoding of the native service's job: a `ModelInferRequest` becomes a
/// `tensorwire.v1.PredictRequest`, runs through the same `PredictService` (validation, conversions, the model's
/// batcher) and comes back as raw outputs. A value; any thread. Completions run on a batcher instance thread (or on
/// the caller's thread for requests refused before queueing).
public struct KServeService: Sendable {
    /// Reported by ServerMetadata.
    public static let serverName = "tensorwire"
    public static let serverVersion = "0.1.0"
    /// The protocol extensions this server implements (Triton's names). `statistics` makes perf_analyzer call
    /// ModelStatistics and report the server-side queue and compute times.
    public static let extensions = ["model_configuration", "model_repository", "statistics"]
    /// Reported as `platform` by ModelMetadata and ModelConfig (as GetModel does) and `backend` by ModelConfig.
    public static let platform = "onnx"
    public static let backend = "tensorwire"

    public let predict: PredictService
    var catalog: ModelCatalog { predict.catalog }

    public init(catalog: ModelCatalog) {
        self.predict = PredictService(catalog: catalog)
    }

    // MARK: Health and metadata

    public func serverReady() -> Bool { catalog.isReady }

    /// ModelReady: true when the version resolves to a loaded one; an unknown model or version is `false`, not an
    /// error (as Triton answers).
    public func modelReady(_ request: KServe.ModelRequest) -> Bool {
        (try? catalog.resolve(model: request.name, version: request.version)) != nil
    }

    public func serverMetadata() -> KServe.ServerMetadataResponse {
        var response = KServe.ServerMetadataResponse()
        response.name = Self.serverName
        response.version = Self.serverVersion
        response.extensions = Self.extensions
        return response
    }

    /// A version string must be empty or a whole number (Triton parses it as int64).
    static func checkVersion(_ version: String, model: String) throws(RPCError) {
        guard version.isEmpty || Int64(version) != nil else {
            throw RPCError(
                code: .invalidArgument,
                message: "failed to get model version from specified version string '\(version)' for model '\(model)'")
        }
    }

    /// The loaded version a request names, with its batcher.
    func resolve(_ name: String, _ version: String) throws(RPCError) -> (ModelCatalog.Version, Batcher) {
        try Self.checkVersion(version, model: name)
        return try catalog.resolve(model: name, version: version)
    }

    public func modelMetadata(_ request: KServe.ModelRequest) throws(RPCError) -> KServe.ModelMetadataResponse {
        let (_, batcher) = try resolve(request.name, request.version)
        let signature = batcher.model.signature
        var response = KServe.ModelMetadataResponse()
        response.name = request.name
        response.versions = (catalog.entry(request.name)?.readyVersions ?? []).map { $0.name }
        response.platform = Self.platform
        func metadata(_ tensor: TensorSignature) -> KServe.ModelMetadataResponse.TensorMetadata {
            .init(name: tensor.name, datatype: KServeTensors.name(of: tensor.dataType), shape: tensor.dims.map { Int64($0) })
        }
        response.inputs = signature.inputs.map(metadata)
        response.outputs = signature.outputs.map(metadata)
        return response
    }

    /// ModelConfig: what perf_analyzer and tritonclient read (kserve-v2.md section 7). With `max_batch_size > 0`
    /// the dims leave out the leading batch dimension.
    public func modelConfig(_ request: KServe.ModelRequest) throws(RPCError) -> KServe.ModelConfigResponse {
        let (version, batcher) = try resolve(request.name, request.version)
        let signature = batcher.model.signature
        let config = version.entry.config
        let batching = batcher.rowBatchable
        var model = KServe.ModelConfig()
        model.name = request.name
        model.platform = Self.platform
        model.backend = Self.backend
        model.maxBatchSize = batching ? Int32(clamping: batcher.policy.maxBatchSize) : 0
        func dims(_ tensor: TensorSignature) -> [Int64] {
            (batching ? Array(tensor.dims.dropFirst()) : tensor.dims).map { Int64($0) }
        }
        model.input = signature.inputs.map { tensor in
            var input = KServe.ModelInput()
            input.name = tensor.name
            input.dataType = KServeTensors.configType(of: tensor.dataType)
            input.dims = dims(tensor)
            return input
        }
        model.output = signature.outputs.map { tensor in
            var output = KServe.ModelOutput()
            output.name = tensor.name
            output.dataType = KServeTensors.configType(of: tensor.dataType)
            output.dims = dims(tensor)
            return output
        }
        var group = KServe.ModelInstanceGroup()
        group.name = request.name
        group.count = Int32(clamping: batcher.instances)
        group.kind = .cpu
        model.instanceGroup = [group]
        switch config.versionPolicy {
        case .latest(let count): model.versionPolicy = .init(.latest(.init(numVersions: UInt32(clamping: count))))
        case .all: model.versionPolicy = .init(.all(.init()))
        case .specific(let versions): model.versionPolicy = .init(.specific(.init(versions: versions.map { Int64($0) })))
        }
        if batching {
            var dynamic = KServe.ModelDynamicBatching()
            dynamic.preferredBatchSize = batcher.policy.preferredBatchSizes.map { Int32(clamping: $0) }
            dynamic.maxQueueDelayMicroseconds = UInt64(clamping: batcher.policy.maxQueueDelayMicroseconds)
            // PredictStream and ModelStreamInfer answer in request order.
            dynamic.preserveOrdering = true
            var queue = KServe.ModelQueuePolicy()
            queue.defaultTimeoutMicroseconds = UInt64(clamping: batcher.defaultTimeoutMicroseconds)
            queue.maxQueueSize = UInt32(clamping: batcher.maxQueueSize)
            dynamic.defaultQueuePolicy = queue
            model.dynamicBatching = dynamic
        }
        var response = KServe.ModelConfigResponse()
        response.config = model
        return response
    }

    /// RepositoryIndex: every version of every model in the table, READY or UNAVAILABLE with the reason (an
    /// unloaded model is one row without a version, UNAVAILABLE, reason "unloaded" or why its load failed); with
    /// explicit model control also every repository model never loaded, as a row with only its name (as Triton
    /// lists them). `ready`: only ready versions. The repository name is ignored: there is one repository.
    public func repositoryIndex(_ request: KServe.RepositoryIndexRequest) -> KServe.RepositoryIndexResponse {
        var response = KServe.RepositoryIndexResponse()
        let table = catalog.snapshot()
        var names = Set(table.keys)
        if catalog.modelControl == .explicit { names.formUnion(catalog.repositoryModelNames()) }
        for name in names.sorted() {
            guard let entry = table[name] else {
                if !request.ready { response.models.append(.init(name: name)) }
                continue
            }
            guard entry.isLoaded else {
                if !request.ready {
                    response.models.append(.init(name: name, state: "UNAVAILABLE", reason: entry.unloadedReason ?? "unloaded"))
                }
                continue
            }
            for version in entry.versions {
                let ready = version.batcher != nil
                if request.ready && !ready { continue }
                response.models.append(.init(
                    name: name, version: version.name, state: ready ? "READY" : "UNAVAILABLE",
                    reason: version.reportedError ?? ""))
            }
        }
        return response
    }

    /// Why RepositoryModelLoad / RepositoryModelUnload are refused, or nil when the server runs with explicit
    /// model control. Refused with UNAVAILABLE, as Triton does outside its explicit mode.
    public func modelControlRefusal(_ request: KServe.RepositoryModelRequest, load: Bool) -> RPCError? {
        guard catalog.modelControl != .explicit else { return nil }
        if catalog.modelControl == .poll {
            // Poll mode: a load rescans the model now; the repository decides what is loaded, so no unload.
            guard !load else { return nil }
            return RPCError(
                code: .unavailable,
                message: "explicit model unload of '\(request.modelName)' is not allowed in poll mode: remove its folder "
                    + "from the repository (it unloads at the next poll), or start with --model-control explicit")
        }
        return RPCError(
            code: .unavailable,
            message: "explicit model \(load ? "load" : "unload") of '\(request.modelName)' is not allowed: start "
                + "tensorwire-server with --model-control explicit to load and unload models at run time "
                + "(model control mode is \"\(catalog.modelControl.rawValue)\")")
    }

    /// RepositoryModelLoad: loads (or reloads) the model from the repository directory. Blocks while the model
    /// compiles; call it off the event loops. Parameters (Triton's `config` and file overrides) are refused.
    public func loadModel(_ request: KServe.RepositoryModelRequest) throws(RPCError) {
        if let refusal = modelControlRefusal(request, load: true) { throw refusal }
        if let parameter = request.parameters.first {
            throw RPCError(
                code: .invalidArgument,
                message: "load parameter '\(parameter.key)' is not supported: tensorwire loads models from the repository directory as they are")
        }
        if catalog.modelControl == .poll, let rescan = catalog.rescanModel {
            if let error = rescan(request.modelName) { throw error }
            return
        }
        try catalog.load(model: request.modelName)
    }

    /// RepositoryModelUnload: unloads the model once its queued requests finish. Blocks until they have; call it off
    /// the event loops.
    public func unloadModel(_ request: KServe.RepositoryModelRequest) throws(RPCError) {
        if let refusal = modelControlRefusal(request, load: false) { throw refusal }
        try catalog.unload(model: request.modelName)
    }

    /// ModelStatistics: one entry per ready version of the named model (every loaded model when the name is
    /// empty; only `version` when it is set), with the counters of the version's batcher (`BatchStatistics`).
    /// NOT_FOUND for an unknown model or version; UNAVAILABLE for a model that is not loaded.
    public func modelStatistics(_ request: KServe.ModelStatisticsRequest) throws(RPCError) -> KServe.ModelStatisticsResponse {
        try Self.checkVersion(request.version, model: request.name)
        var selected: [(String, ModelCatalog.Version)] = []
        if request.name.isEmpty {
            for (name, entry) in catalog.snapshot().sorted(by: { $0.key < $1.key }) where entry.isLoaded {
                for version in entry.readyVersions where request.version.isEmpty || version.name == request.version {
                    selected.append((name, version))
                }
            }
        } else if request.version.isEmpty {
            guard let entry = catalog.entry(request.name) else {
                throw RPCError(code: .notFound, message: "requested model '\(request.name)' is not found")
            }
            guard entry.isLoaded else {
                throw RPCError(code: .unavailable, message: "requested model '\(request.name)' is not loaded (\(entry.unloadedReason ?? "unloaded"))")
            }
            selected = entry.readyVersions.map { (request.name, $0) }
        } else {
            let (version, _) = try catalog.resolve(model: request.name, version: request.version)
            selected = [(request.name, version)]
        }
        var response = KServe.ModelStatisticsResponse()
        for (name, version) in selected {
            guard let batcher = version.batcher else { continue }
            response.modelStats.append(Self.statistics(batcher.statistics.snapshot(), name: name, version: version.number))
        }
        return response
    }

    static func statistics(_ snapshot: BatchStatistics.Snapshot, name: String, version: Int) -> KServe.ModelStatistics {
        func duration(_ value: BatchStatistics.Duration) -> KServe.StatisticDuration {
            KServe.StatisticDuration(count: value.count, ns: value.nanoseconds)
        }
        var stats = KServe.ModelStatistics()
        stats.name = name
        stats.version = String(version)
        stats.lastInference = snapshot.lastInferenceMilliseconds
        stats.inferenceCount = snapshot.inferenceCount
        stats.executionCount = snapshot.executionCount
        stats.inferenceStats.success = duration(snapshot.success)
        stats.inferenceStats.fail = duration(snapshot.fail)
        stats.inferenceStats.queue = duration(snapshot.queue)
        stats.inferenceStats.computeInput = duration(snapshot.computeInput)
        stats.inferenceStats.computeInfer = duration(snapshot.computeInfer)
        stats.inferenceStats.computeOutput = duration(snapshot.computeOutput)
        stats.batchStats = snapshot.batchSizes.map { size in
            var batch = KServe.InferBatchStatistics()
            batch.batchSize = UInt64(clamping: size.batchSize)
            batch.computeInput = duration(size.computeInput)
            batch.computeInfer = duration(size.computeInfer)
            batch.computeOutput = duration(size.computeOutput)
            return batch
        }
        return stats
    }

    // MARK: Inference

    /// Runs one ModelInferRequest through the model's batcher. `completion` is called exactly once, with the
    /// response (raw outputs in the requested order, `id` echoed) and the batch facts, or with the error.
    public func infer(
        _ request: KServe.ModelInferRequest,
        deadline: MonotonicInstant?,
        cancellation: CancellationToken, origin: RequestOrigin = .grpcKServe,
        completion: @escaping @Sendable (Result<(KServe.ModelInferResponse, TensorwireV1.BatchInfo?), RPCError>) -> Void
    ) {
        let (model, id, requested) = (request.modelName, request.id, request.outputs.map(\.name))
        infer(request, requested: requested, deadline: deadline, cancellation: cancellation, origin: origin,
              respond: { output, versionName, signature in
                  var answer = KServe.ModelInferResponse()
                  answer.modelName = model
                  answer.modelVersion = versionName
                  answer.id = id
                  // Requested outputs come back in the requested order; none requested means all, in model order.
                  let order = requested.isEmpty
                      ? Array(signature.indices)
                      : requested.compactMap { name in signature.firstIndex { $0.name == name } }
                  answer.outputs.reserveCapacity(order.count)
                  answer.rawOutputContents.reserveCapacity(order.count)
                  for index in order where output.outputs.indices.contains(index) {
                      answer.outputs.append(KServe.ModelInferResponse.InferOutputTensor())
                      answer.rawOutputContents.append(KServeTensors.fillRawOutput(
                          &answer.outputs[answer.outputs.count - 1], name: signature[index].name,
                          from: output.outputs[index]))
                  }
                  return (answer, PredictService.batchInfo(output.facts))
              }, completion: completion)
    }

    /// `infer`, answering with the response already encoded, written straight from the request's output tensors
    /// (`ModelInferResponseView`): the same bytes, without the response message in between.
    public func inferEncoded(
        _ request: KServe.ModelInferRequest,
        deadline: MonotonicInstant?,
        cancellation: CancellationToken, origin: RequestOrigin = .grpcKServe,
        completion: @escaping @Sendable (Result<PredictService.EncodedResponse, RPCError>) -> Void
    ) {
        let (model, id, requested) = (request.modelName, request.id, request.outputs.map(\.name))
        infer(request, requested: requested, deadline: deadline, cancellation: cancellation, origin: origin,
              respond: { output, versionName, signature in
                  var view = ModelInferResponseView()
                  view.modelName = model
                  view.modelVersion = versionName
                  view.id = id
                  view.rows = output.rows
                  view.signature = signature
                  view.requested = requested
                  return PredictService.EncodedResponse(
                      bytes: view.serializedBytes(), version: versionName, batch: PredictService.batchInfo(output.facts))
              }, completion: completion)
    }

    /// A request's tensors: already the engine's (the common one-FP32-input case), or tensorwire.v1 ones for
    /// `TensorConversion` to check and convert.
    private enum InferInputs {
        case engine([Tensor])
        case wire([TensorwireV1.Tensor])
    }

    /// `requested`: the request's output names (its `outputs`), which the wrappers' responders also read.
    private func infer<Response: Sendable>(
        _ request: KServe.ModelInferRequest, requested: [String], deadline: MonotonicInstant?,
        cancellation: CancellationToken,
        origin: RequestOrigin,
        respond: @escaping @Sendable (BatchOutput, String, [TensorSignature]) throws(RPCError) -> Response,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        let inputs: InferInputs
        let received = catalog.clock.now()
        var resolved: Batcher?
        var resolvedMetrics: VersionMetrics?
        let found: (ModelCatalog.Version, Batcher)
        do throws(RPCError) {
            let (version, batcher) = try resolve(request.modelName, request.modelVersion)
            found = (version, batcher)
            resolved = batcher
            resolvedMetrics = version.metrics
            try KServeTensors.checkParameters(request)
            if let direct = KServeTensors.rawFloat32Input(request, signature: batcher.model.signature.inputs) {
                inputs = .engine(direct)
            } else {
                inputs = .wire(try KServeTensors.wireInputs(
                    request, model: request.modelName, signature: batcher.model.signature.inputs,
                    fixedBatchHint: batcher.model.fixedBatchHint))
            }
        } catch {
            // A request refused here reached the version (when it resolved): count it as a failure.
            resolved?.statistics.recordRequest(succeeded: false, nanoseconds: catalog.clock.now().nanoseconds(since: received))
            if let metrics = resolvedMetrics {
                metrics.recordRefused(
                    origin, code: error.code, seconds: Double(catalog.clock.now().nanoseconds(since: received)) / 1e9)
            } else {
                catalog.metrics?.recordUnresolved(origin, code: error.code)
            }
            completion(.failure(error))
            return
        }
        let model = request.modelName
        let query = PredictService.Query(
            model: model, version: request.modelVersion, deadline: deadline, cancellation: cancellation,
            received: received, origin: origin)
        // Straight between KServe's tensors and the engine's: no tensorwire.v1 request or response in between.
        predict.run(query, resolved: found, inputs: { batcher throws(RPCError) in
            switch inputs {
            case .engine(let tensors):
                // Check the output filter before computing anything, as for converted inputs.
                try TensorConversion.checkOutputFilter(
                    requested, signature: batcher.model.signature.outputs, model: model)
                return tensors
            case .wire(let tensors):
                return try PredictService.engineInputs(tensors, model: model, outputs: requested, batcher: batcher)
            }
        }, respond: respond, completion: completion)
    }
}
