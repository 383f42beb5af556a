public import Batching
public import Clocks
public import Crypto
public import Inference
internal import Locks
public import Logging
public import RPCCore
internal import TensorwireProto

/// The served models: every version the repository found, with one `Batcher` per ready version, and the facts
/// ListModels, GetModel and the KServe RPCs report.
///
/// The table changes at run time only through `load` and `unload` (explicit model control). It maps a model name to
/// an immutable `Entry`; a load or an unload replaces the entry whole under a `Lock`, and every lookup copies the
/// entry out (one uncontended lock and a retain on the Predict path), so a request works on a consistent snapshot
/// even while the model is replaced. Loads and unloads are serialised by a second lock held for their whole length;
/// batchers are started and drained outside the table lock. Any thread may call anything here, except that `load`,
/// `unload` and `shutdown` block (they compile models and join instance threads), so the RPC layer runs them off the
/// event loops.
public final class ModelCatalog: Sendable {
    /// One version of one model. Immutable and shared: a request's lookup takes one reference, not a copy of the
    /// version's fields (a struct cost ~500 instructions a Predict in copies and destroys, callgrind); a refresh that
    /// changes `reloadFailure` makes a new one (`withReloadFailure`).
    final class Version: Sendable {
        let number: Int
        /// `number` in decimal, as responses name the version (made once, not per request).
        let name: String
        let entry: ModelEntry
        let batcher: Batcher?
        /// Why this version does not serve (a load failure, or a batcher that could not start).
        let failureReason: String?
        /// Its metric children (nil without metrics).
        let metrics: VersionMetrics?
        /// Set on a serving version whose changed files failed to load or warm (a repository poll): why, while this
        /// one keeps serving.
        let reloadFailure: String?

        init(number: Int, entry: ModelEntry, batcher: Batcher?, failureReason: String?,
             metrics: VersionMetrics? = nil, reloadFailure: String? = nil) {
            self.number = number
            self.name = String(number)
            self.entry = entry
            self.batcher = batcher
            self.failureReason = failureReason
            self.metrics = metrics
            self.reloadFailure = reloadFailure
        }

        /// This version with `reason` as its reload failure (nil: none).
        func withReloadFailure(_ reason: String?) -> Version {
            Version(number: number, entry: entry, batcher: batcher, failureReason: failureReason, metrics: metrics,
                    reloadFailure: reason)
        }

        /// What GetModel, RepositoryIndex and the log report as its error: the load failure, or the failed reload.
        var reportedError: String? { batcher == nil ? (failureReason ?? "not loaded") : reloadFailure }
    }

    /// One model in the table. Immutable: a load or an unload installs a new one.
    struct Entry: Sendable {
        /// Sorted by number; empty while unloaded.
        let versions: [Version]
        /// Set while the model is not loaded: why (unloaded on request, or the reason its last load failed).
        let unloadedReason: String?

        var isLoaded: Bool { unloadedReason == nil }
        /// The version an empty version string selects: the highest ready one, else the highest.
        var defaultVersion: Version? {
            // A loop over indices, not `last(where:)`: no closure on the Predict path.
            var index = versions.endIndex
            while index > versions.startIndex {
                index -= 1
                if versions[index].batcher != nil { return versions[index] }
            }
            return versions.last
        }
        var readyVersions: [Version] { versions.filter { $0.batcher != nil } }
    }

    /// Where `load` finds models, and the defaults it applies (the server's batching flags).
    public struct Source: Sendable {
        /// A repository directory (`--models`), or nil for the built-in `digits` model.
        public var directory: String?
        public var defaults: ModelConfig
        /// Where load and unload lines go (component `models`).
        public var logger: Logger
        /// Every model's memory budget (`--max-model-bytes`; default `Model.defaultMaxModelBytes`, 1 GiB).
        public var maxModelBytes: Int
        /// The GEMM models compile for (`--gemm`; default the best this CPU runs).
        public var gemm: GEMMBackend
        /// The keys that open sealed models (`--model-keys`, `--model-keys-env`).
        public var modelKeys: ModelKeyRing

        public init(
            directory: String?, defaults: ModelConfig = ModelConfig(), logger: Logger = .discarding,
            maxModelBytes: Int = Model.defaultMaxModelBytes, gemm: GEMMBackend = .preferred,
            modelKeys: ModelKeyRing = .empty
        ) {
            self.directory = directory
            self.defaults = defaults
            self.logger = logger
            self.maxModelBytes = maxModelBytes
            self.gemm = gemm
            self.modelKeys = modelKeys
        }
    }

    struct Table {
        var models: [String: Entry] = [:] {
            didSet { recent = nil }
        }
        /// The entry the last lookup found, dropped by any change to `models`: requests name the same model again
        /// and again, and hashing the name for the table cost each ~300 instructions (callgrind).
        var recent: (name: String, entry: Entry)?
        /// Set by `shutdown`: no more loads.
        var closed = false
        /// Set by `beginDraining`: the server is about to stop, so it is not ready.
        var draining = false
    }

    let table: Lock<Table>
    /// Held for the whole of a load, an unload, a refresh or the shutdown, so they never interleave.
    let controlLock = Lock<Int>(0)
    private let changeHandler = Lock<(@Sendable (ModelCatalog) -> Void)?>(nil)
    /// Poll mode: how RepositoryModelLoad rescans one model (the server's `RepositoryPoller`); nil otherwise.
    private let rescanHandler = Lock<(@Sendable (String) -> RPCError?)?>(nil)

    /// Poll mode: installs how RepositoryModelLoad rescans one model.
    func setRescanHandler(_ handler: @escaping @Sendable (String) -> RPCError?) {
        rescanHandler.withLock { $0 = handler }
    }

    /// The rescan of `setRescanHandler`, if any.
    var rescanModel: (@Sendable (String) -> RPCError?)? { rescanHandler.withLock { $0 } }
    let clock: any MonotonicClock
    let blasThreads: Int?
    let hooks: BatcherHooks
    /// Whether RepositoryModelLoad / RepositoryModelUnload are served.
    public let modelControl: ModelControlMode
    /// `--strict-readiness`: the server is ready only when every loaded model has a ready version (a model that
    /// failed to load makes the whole server not ready). Off: failed models are reported per model only.
    public let strictReadiness: Bool
    /// Where `load` reads models from.
    public let source: Source
    /// The server's metrics (each version's children are made when it loads), or nil.
    let metrics: ServerMetrics?

    /// Starts a batcher for every ready version of `repository`. A batcher that cannot start makes its version
    /// unavailable with the reason, as a model that failed to load does. `blasThreads` and `hooks` go to every
    /// `Batcher` (nil: BLAS threads × instances ≤ cores). With `modelControl` `.explicit`, `load` and `unload`
    /// change the table later, reading models from `source` (default: the repository's directory, or the built-in
    /// model).
    public init(
        repository: ModelRepository, clock: any MonotonicClock = SystemMonotonicClock(), blasThreads: Int? = nil,
        hooks: BatcherHooks = BatcherHooks(), modelControl: ModelControlMode = .none, source: Source? = nil,
        strictReadiness: Bool = false, metrics: ServerMetrics? = nil
    ) {
        self.metrics = metrics
        self.strictReadiness = strictReadiness
        self.clock = clock
        self.blasThreads = blasThreads
        self.hooks = hooks
        self.modelControl = modelControl
        let source = source ?? Source(directory: repository.directory == "builtin" ? nil : repository.directory)
        self.source = source
        var grouped: [String: [ModelEntry]] = [:]
        for entry in repository.entries { grouped[entry.name, default: []].append(entry) }
        var models: [String: Entry] = [:]
        for (name, entries) in grouped {
            models[name] = Entry(
                versions: Self.startVersions(entries, clock: clock, blasThreads: blasThreads, hooks: hooks, metrics: metrics,
                                             logger: source.logger),
                unloadedReason: nil)
        }
        self.table = Lock(Table(models: models))
    }

    static func startVersions(
        _ entries: [ModelEntry], clock: any MonotonicClock, blasThreads: Int?, hooks: BatcherHooks,
        metrics: ServerMetrics?, logger: Logger
    ) -> [Version] {
        entries.map { entry in
            var batcher: Batcher?
            var failure = entry.failureReason
            let versionMetrics = metrics?.version(model: entry.name, version: entry.version)
            if let model = entry.model {
                var hooks = hooks
                if let versionMetrics {
                    let outer = hooks.afterBatch
                    hooks.afterBatch = { rows, nanoseconds in
                        versionMetrics.recordBatch(rows: rows, computeNanoseconds: nanoseconds)
                        outer?(rows, nanoseconds)
                    }
                }
                let sizes = entry.config.warmupBatchSizes ?? Batcher.defaultWarmUpBatchSizes(
                    maxBatchSize: entry.config.maxBatchSize, preferred: entry.config.preferredBatchSizes)
                do throws(BatchError) {
                    let started = try Batcher(
                        model: model, version: entry.version, config: entry.config, clock: clock, blasThreads: blasThreads,
                        hooks: hooks, logger: logger, warmUpBatchSizes: sizes)
                    // Served only once warm: every instance ran each warm-up size (ModelCatalog+Refresh.swift).
                    if let warmUpFailure = started.waitUntilWarm() {
                        started.shutdown(drain: false)
                        failure = "\(model.source): \(warmUpFailure)"
                        logger.error("model \(entry.name) version \(entry.version): FAILED: \(failure ?? "")")
                    } else {
                        batcher = started
                    }
                } catch {
                    failure = error.description
                }
            }
            metrics?.recordLoad(model: entry.name, version: entry.version, succeeded: batcher != nil)
            return Version(number: entry.version, entry: entry, batcher: batcher, failureReason: failure,
                           metrics: versionMetrics)
        }.sorted { $0.number < $1.number }
    }

    // MARK: Lookups (snapshots)

    /// The table entry of `name` now.
    func entry(_ name: String) -> Entry? {
        table.withLock { table in
            if let recent = table.recent, recent.name == name { return recent.entry }
            let found = table.models[name]
            if let found { table.recent = (name, found) }
            return found
        }
    }

    /// Every entry now, by name.
    func snapshot() -> [String: Entry] {
        table.withLock { $0.models }
    }

    /// Names in the table (loaded, failed and unloaded models), sorted.
    public var modelNames: [String] { snapshot().keys.sorted() }

    /// Names of the loaded models, sorted.
    public var loadedModelNames: [String] { snapshot().filter { $0.value.isLoaded }.keys.sorted() }

    /// The versions of every loaded model.
    var versionsByModel: [String: [Version]] { snapshot().filter { $0.value.isLoaded }.mapValues(\.versions) }

    /// True when every loaded model has at least one ready version (an unloaded model does not count: it was
    /// unloaded on request, or its load was refused and reported to the caller).
    public var allModelsReady: Bool {
        snapshot().values.allSatisfy { !$0.isLoaded || $0.versions.contains { $0.batcher != nil } }
    }

    /// Whether the server as a whole is ready (health "", KServe ServerReady). By default it is, once the start-up
    /// loads are done: a model that failed to load is reported by ModelReady, GetModel and the log while the others
    /// serve, so one bad model does not keep a pod out of its Service. With `strictReadiness`, `allModelsReady`.
    public var isReady: Bool {
        let (closed, draining) = table.withLock { ($0.closed, $0.draining) }
        guard !closed, !draining else { return false }
        return strictReadiness ? allModelsReady : true
    }

    /// The server is stopping: readiness turns false (load balancers move traffic away) while requests are still
    /// served, before the transport stops accepting. Any thread.
    public func beginDraining() {
        table.withLock { $0.draining = true }
        notifyChange()
    }

    /// The names of the models in the table with no ready version (their load failed), sorted.
    public var failedModelNames: [String] {
        snapshot().filter { $0.value.isLoaded && !$0.value.versions.contains { $0.batcher != nil } }.keys.sorted()
    }

    /// Every model version and its state (READY, FAILED, UNLOADED) with its queue depth when it serves: the
    /// metrics' scrape-time gauges.
    func versionStates() -> [(model: String, version: String, state: String, queued: Int?)] {
        Self.versionStates(of: table.withLock { $0.models })
    }

    /// `versionStates()` for a scraper that must not hold the catalog itself: a closure over the table alone. (A
    /// weak reference to the catalog, which the metrics registry kept before, gives it a side table, and every
    /// retain and release of the catalog on the request path then takes the runtime's slow path.)
    var versionStatesReader: @Sendable () -> [(model: String, version: String, state: String, queued: Int?)] {
        let table = self.table
        return { Self.versionStates(of: table.withLock { $0.models }) }
    }

    private static func versionStates(
        of models: [String: Entry]
    ) -> [(model: String, version: String, state: String, queued: Int?)] {
        var states: [(model: String, version: String, state: String, queued: Int?)] = []
        for (name, entry) in models.sorted(by: { $0.key < $1.key }) {
            guard entry.isLoaded else {
                states.append((name, "", "UNLOADED", nil))
                continue
            }
            for version in entry.versions {
                if let batcher = version.batcher {
                    states.append((name, version.name, "READY", batcher.queuedRequests))
                } else {
                    states.append((name, version.name, "FAILED", nil))
                }
            }
        }
        return states
    }

    /// Every model version for the start-up log: its state (READY, or FAILED with the reason, or UNLOADED) and the
    /// GEMM its dense layers run on.
    func versionSummaries() -> [(model: String, version: String, state: String, gemm: String?)] {
        // READY lines carry the file's digest, and say when it was sealed.
        func ready(_ version: Version) -> String {
            version.entry.sha256.isEmpty
                ? "READY" : "READY (\(version.entry.sealed ? "sealed " : "")sha256=\(version.entry.sha256))"
        }
        var lines: [(model: String, version: String, state: String, gemm: String?)] = []
        for (name, entry) in snapshot().sorted(by: { $0.key < $1.key }) {
            guard entry.isLoaded else {
                lines.append((name, "-", "UNLOADED (\(entry.unloadedReason ?? "unloaded"))", nil))
                continue
            }
            for version in entry.versions {
                if let batcher = version.batcher {
                    lines.append((name, version.name, ready(version), "\(batcher.model.gemm)"))
                } else {
                    lines.append((name, version.name, "FAILED (\(version.failureReason ?? "failed"))", nil))
                }
            }
        }
        return lines
    }

    /// The names of the models with at least one ready version, sorted.
    public var readyModelNames: [String] {
        snapshot().filter { $0.value.isLoaded && $0.value.versions.contains { $0.batcher != nil } }.keys.sorted()
    }

    /// Calls `handler` with the catalog (on the thread that loaded or unloaded) after every change to the table, e.g.
    /// to keep the health status of "" in step with `allModelsReady`. The catalog is passed, so the handler need not
    /// capture it (a weak capture would give the catalog a side table: see `versionStatesReader`).
    public func onChange(_ handler: @escaping @Sendable (ModelCatalog) -> Void) {
        changeHandler.withLock { $0 = handler }
    }

    private func unknownModel(_ name: String) -> RPCError {
        let known = loadedModelNames.joined(separator: ", ")
        return RPCError(code: .notFound, message: "unknown model \"\(name)\" (served models: \(known))")
    }

    /// The version a request names: `version` when not empty, else the highest ready one.
    /// NOT_FOUND for an unknown model or version; UNAVAILABLE for one that failed to load or is unloaded.
    func resolve(model name: String, version: String) throws(RPCError) -> (Version, Batcher) {
        guard let entry = entry(name) else { throw unknownModel(name) }
        guard entry.isLoaded else {
            throw RPCError(code: .unavailable, message: "model \"\(name)\" is not loaded (\(entry.unloadedReason ?? "unloaded")); "
                + "load it with RepositoryModelLoad")
        }
        let chosen: Version?
        if version.isEmpty {
            chosen = entry.defaultVersion
        } else {
            chosen = entry.versions.first { $0.name == version }
        }
        guard let chosen else {
            let known = entry.versions.map { $0.name }.joined(separator: ", ")
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
        guard let entry = entry(name) else { throw unknownModel(name) }
        var info = TensorwireV1.ModelInfo()
        info.name = name
        info.platform = "onnx"
        guard entry.isLoaded else {
            info.state = .unloaded
            info.error = entry.unloadedReason ?? ""
            return info
        }
        info.versions = entry.versions.map { version in
            var state = TensorwireV1.ModelVersion()
            state.version = version.name
            state.state = version.batcher != nil ? .ready : .failed
            state.error = version.reportedError ?? ""
            if version.batcher != nil {
                state.sealed = version.entry.sealed
                state.sha256 = version.entry.sha256
            }
            return state
        }
        if let main = entry.defaultVersion {
            info.defaultVersion = main.name
            info.state = main.batcher != nil ? .ready : .failed
            info.error = main.reportedError ?? ""
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

    // MARK: Model control

    /// Model names the source offers (the repository's model directories, or `digits`), sorted; empty when the
    /// directory cannot be listed.
    public func repositoryModelNames() -> [String] {
        guard let directory = source.directory else { return ["digits"] }
        let names = RepositoryFiles.contents(ofDirectory: directory) ?? []
        return names.filter { !$0.hasPrefix(".") && Self.isDirectory(directory + "/" + $0) }.sorted()
    }

    /// Loads `name` from the source with all the versions its version policy selects, starts their batchers and
    /// installs them; an already loaded model is replaced (its old batchers drain afterwards, so no accepted request
    /// is lost). A model that is not in the source is NOT_FOUND; a bad name INVALID_ARGUMENT; a model with a version
    /// that fails to load (bad config.json, a missing or invalid model.onnx) INVALID_ARGUMENT with every reason
    /// (file, node, operator) — nothing of it is installed: the model stays unloaded, with the reason, or, when it
    /// was loaded, keeps serving its previous versions (as Triton keeps a model whose reload fails).
    ///
    /// `keepFailures` (start-up, `--load-model`): a failed model is installed with its failed versions, as the
    /// server does for `--models` in mode none, and nothing is thrown for it.
    public func load(model name: String, keepFailures: Bool = false) throws(RPCError) {
        try controlLock.withLock { (_: inout Int) throws(RPCError) -> Void in
            guard !table.withLock({ $0.closed }) else {
                throw RPCError(code: .unavailable, message: "cannot load model '\(name)': the server is shutting down")
            }
            let entries = try readEntries(name)
            let versions = Self.startVersions(entries, clock: clock, blasThreads: blasThreads, hooks: hooks, metrics: metrics,
                                              logger: source.logger)
            let failures = versions.filter { $0.batcher == nil }
            if !failures.isEmpty && !keepFailures {
                for version in versions { version.batcher?.shutdown(drain: false) }
                let reasons = failures.map { version in
                    (version.number == 0 ? "" : "version \(version.number): ") + (version.failureReason ?? "failed")
                }.joined(separator: "; ")
                table.withLock { table in
                    if table.models[name]?.isLoaded != true {
                        table.models[name] = Entry(versions: [], unloadedReason: "load failed: \(reasons)")
                    }
                }
                notifyChange()
                throw RPCError(code: .invalidArgument, message: "load failed for model '\(name)': \(reasons)")
            }
            let previous = table.withLock { table in
                defer { table.models[name] = Entry(versions: versions, unloadedReason: nil) }
                return table.models[name]
            }
            source.logger.info("model \(name): loaded (versions \(versions.map { $0.name }.joined(separator: ", ")))")
            notifyChange()
            for version in previous?.versions ?? [] { version.batcher?.shutdown(drain: true) }
        }
    }

    /// Start-up in explicit mode (`--load-model`): checks that the repository directory can be listed, then loads
    /// each name (`*`: every repository model) keeping failures, as mode none does. An unknown name or an unreadable
    /// directory is an error, so a typo stops the server instead of serving without the model.
    public func loadStartupModels(_ names: [String]) throws(RPCError) {
        guard modelControl == .explicit else { return }
        if let directory = source.directory, !Self.isDirectory(directory) {
            throw RPCError(code: .notFound, message: "the model repository \(directory) is not a readable directory")
        }
        var expanded: [String] = []
        for name in names {
            for item in name == "*" ? repositoryModelNames() : [name] where !expanded.contains(item) { expanded.append(item) }
        }
        for name in expanded { try load(model: name, keepFailures: true) }
    }

    /// Unloads `name`: it leaves the table at once (new requests get UNAVAILABLE, naming RepositoryModelLoad), then
    /// its batchers drain: queued requests finish, a request that raced the unload into a stopping batcher fails
    /// with UNAVAILABLE. Returns when the batchers have stopped. NOT_FOUND for a model neither in the table nor in
    /// the source; unloading a model that is not loaded succeeds (nothing to do).
    public func unload(model name: String) throws(RPCError) {
        try controlLock.withLock { (_: inout Int) throws(RPCError) -> Void in
            let previous = table.withLock { table -> Entry? in
                guard let current = table.models[name], current.isLoaded else { return nil }
                table.models[name] = Entry(versions: [], unloadedReason: "unloaded")
                return current
            }
            guard let previous else {
                guard entry(name) != nil || repositoryModelNames().contains(name) else { throw unknownModel(name) }
                return
            }
            notifyChange()
            for version in previous.versions { version.batcher?.shutdown(drain: true) }
            metrics?.remove(model: name)
            source.logger.info("model \(name): unloaded")
        }
    }

    func notifyChange() {
        changeHandler.withLock { $0 }?(self)
    }

    /// The entries of one model of the source, as `ModelRepository.load` makes them for a whole directory: its
    /// config.json over the defaults, the versions its version policy selects, each ready or failed with a reason.
    /// Errors for a name that is not one directory of the repository.
    private func readEntries(_ name: String) throws(RPCError) -> [ModelEntry] {
        guard let directory = source.directory else {
            guard name == "digits" else {
                throw RPCError(code: .notFound, message: "model '\(name)' is not in the repository (the built-in repository has: digits)")
            }
            return ModelRepository.builtin(config: source.defaults, gemm: source.gemm).entries
        }
        // The name comes from the network: one path component, nothing that climbs out of the repository.
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), !name.contains("\0"), name.utf8.count <= 255 else {
            throw RPCError(code: .invalidArgument, message: "'\(name)' is not a model name (one directory name of the repository)")
        }
        let modelDirectory = directory + "/" + name
        guard Self.isDirectory(modelDirectory) else {
            let known = repositoryModelNames().joined(separator: ", ")
            throw RPCError(code: .notFound, message: "model '\(name)' is not in the repository \(directory) (models: \(known))")
        }
        return ModelRepository.loadModel(
            named: name, directory: directory, defaults: source.defaults, logger: source.logger,
            maxModelBytes: source.maxModelBytes, gemm: source.gemm, keys: source.modelKeys)
    }

    static func isDirectory(_ path: String) -> Bool { RepositoryFiles.isDirectory(path) }

    /// Stops every batcher: queued work is finished (`drain`) or failed, and the instance threads are joined.
    /// Waits for a load or unload in progress; later loads are refused.
    public func shutdown(drain: Bool = true) {
        controlLock.withLock { _ in
            let entries = table.withLock { table in
                table.closed = true
                return table.models
            }
            for entry in entries.values {
                for version in entry.versions { version.batcher?.shutdown(drain: drain) }
            }
        }
    }
}
