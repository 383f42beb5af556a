public import Batching
public import Inference
import RPCCore
import TensorwireProto

/// The served models: every version the repository found, with one `Batcher` per ready version, and the facts
/// ListModels and GetModel report. Built once at start-up and immutable afterwards (the batchers own their threads);
/// any thread may read it.
public final class ModelCatalog: Sendable {
    /// One version of one model.
    struct Version: Sendable {
        let number: Int
        let entry: ModelEntry
        let batcher: Batcher?
        /// Why this version does not serve (a load failure, or a batcher that could not start).
        let failureReason: String?
    }

    let versionsByModel: [String: [Version]]
    /// Model names, sorted.
    public let modelNames: [String]
    let clock: any MonotonicClock

    /// Starts a batcher for every ready version of `repository`. A batcher that cannot start makes its version
    /// unavailable with the reason, as a model that failed to load does. `blasThreads` and `hooks` go to every
    /// `Batcher` (nil: BLAS threads × instances ≤ cores).
    public init(
        repository: ModelRepository, clock: any MonotonicClock = SystemMonotonicClock(), blasThreads: Int? = nil,
        hooks: BatcherHooks = BatcherHooks()
    ) {
        var versions: [String: [Version]] = [:]
        for entry in repository.entries {
            var batcher: Batcher?
            var failure = entry.failureReason
            if let model = entry.model {
                do {
                    batcher = try Batcher(
                        model: model, version: entry.version, config: entry.config, clock: clock, blasThreads: blasThreads,
                        hooks: hooks)
                } catch {
                    failure = error.description
                }
            }
            versions[entry.name, default: []].append(
                Version(number: entry.version, entry: entry, batcher: batcher, failureReason: failure))
        }
        self.versionsByModel = versions.mapValues { $0.sorted { $0.number < $1.number } }
        self.modelNames = versions.keys.sorted()
        self.clock = clock
    }

    /// True when every model has at least one ready version.
    public var allModelsReady: Bool {
        versionsByModel.values.allSatisfy { versions in versions.contains { $0.batcher != nil } }
    }

    /// The version a request names: `version` when not empty, else the highest ready one.
    /// NOT_FOUND for an unknown model or version; UNAVAILABLE for one that failed to load.
    func resolve(model name: String, version: String) throws(RPCError) -> (Version, Batcher) {
        guard let versions = versionsByModel[name] else {
            let known = modelNames.joined(separator: ", ")
            throw RPCError(code: .notFound, message: "unknown model \"\(name)\" (served models: \(known))")
        }
        let chosen: Version?
        if version.isEmpty {
            chosen = versions.last { $0.batcher != nil } ?? versions.last
        } else {
            chosen = versions.first { String($0.number) == version }
        }
        guard let chosen else {
            let known = versions.map { String($0.number) }.joined(separator: ", ")
            throw RPCError(code: .notFound, message: "model \"\(name)\" has no version \"\(version)\" (versions: \(known))")
        }
        guard let batcher = chosen.batcher else {
            let reason = chosen.failureReason ?? "not loaded"
            throw RPCError(code: .unavailable, message: "model \"\(name)\" version \(chosen.number) failed to load: \(reason)")
        }
        return (chosen, batcher)
    }

    /// GetModel's answer for `name`.
    func info(model name: String) throws(RPCError) -> TensorwireV1.ModelInfo {
        guard let versions = versionsByModel[name] else {
            throw RPCError(code: .notFound, message: "unknown model \"\(name)\" (served models: \(modelNames.joined(separator: ", ")))")
        }
        var info = TensorwireV1.ModelInfo()
        info.name = name
        info.platform = "onnx"
        info.versions = versions.map { version in
            var entry = TensorwireV1.ModelVersion()
            entry.version = String(version.number)
            entry.state = version.batcher != nil ? .ready : .failed
            entry.error = version.batcher == nil ? (version.failureReason ?? "") : ""
            return entry
        }
        let main = versions.last { $0.batcher != nil } ?? versions.last
        if let main {
            info.defaultVersion = String(main.number)
            info.state = main.batcher != nil ? .ready : .failed
            info.error = main.batcher == nil ? (main.failureReason ?? "") : ""
            if let model = main.entry.model {
                info.inputs = model.signature.inputs.map { Self.spec($0, isInput: true) }
                info.outputs = model.signature.outputs.map { Self.spec($0, isInput: false) }
            }
            let config = main.entry.config
            var batching = TensorwireV1.BatchingConfig()
            batching.maxBatchSize = UInt32(clamping: main.batcher?.policy.maxBatchSize ?? config.maxBatchSize)
            batching.maxQueueDelayUs = UInt64(clamping: config.maxQueueDelayMicroseconds)
            batching.preferredBatchSizes = config.preferredBatchSizes.map { UInt32(clamping: $0) }
            batching.maxQueueSize = UInt32(clamping: config.maxQueueSize)
            batching.defaultTimeoutUs = UInt64(clamping: config.defaultTimeoutMicroseconds)
            batching.instances = UInt32(clamping: config.instances)
            info.batching = batching
        }
        return info
    }

    static func spec(_ signature: TensorSignature, isInput: Bool) -> TensorwireV1.TensorSpec {
        var spec = TensorwireV1.TensorSpec()
        spec.name = signature.name
        spec.dtype = TensorConversion.wireType(of: signature.dataType)
        spec.shape = signature.dims.map { Int64($0) }
        if isInput { spec.acceptedDtypes = Array(TensorConversion.acceptedWireTypes(for: signature.dataType).dropFirst()) }
        return spec
    }

    /// Stops every batcher: queued work is finished (`drain`) or failed, and the instance threads are joined.
    public func shutdown(drain: Bool = true) {
        for versions in versionsByModel.values {
            for version in versions { version.batcher?.shutdown(drain: drain) }
        }
    }
}
