public import Crypto
internal import JSONWire
public import Logging

// The model repository: DIR/<model>/<version>/model.onnx (or model.onnx.sealed, docs/sealed-models.md), with an
// optional DIR/<model>/config.json. Files through RepositoryFiles (Glibc), JSON through JSONWire: the server links no
// Foundation (its libraries and ICU data were a third of the idle server's memory, docs/performance.md).

/// Which versions of a model are served (Triton's version_policy).
public enum VersionPolicy: Sendable, Equatable {
    /// The highest `count` versions (default: 1).
    case latest(count: Int)
    /// Every version directory.
    case all
    /// Exactly these versions; a missing one is reported as failed.
    case specific([Int])
}

/// The per-model knobs of config.json: batching (names as in Triton), instances and the version policy.
public struct ModelConfig: Sendable, Equatable {
    /// The most rows one batch may hold (a larger request is split).
    public var maxBatchSize: Int = 64
    /// How long a free instance may wait for a fuller batch (0: never wait).
    public var maxQueueDelayMicroseconds: Int = 0
    /// Batch sizes the batcher prefers to form, ascending.
    public var preferredBatchSizes: [Int] = []
    /// Queued requests beyond which new ones are refused with RESOURCE_EXHAUSTED.
    public var maxQueueSize: Int = 1024
    /// A deadline applied to requests that carry none (0: none).
    public var defaultTimeoutMicroseconds: Int = 0
    /// Instance threads, each with its own execution context.
    public var instances: Int = 1
    public var versionPolicy: VersionPolicy = .latest(count: 1)
    /// `sha256`: the SHA-256 (64 lower-case hex digits) every version's plaintext model must have; nil: any.
    public var sha256: String?
    /// `warmup`: the batch sizes a new version runs once on zeros before it serves; nil: every size the batcher
    /// may form (`Batcher.defaultWarmUpBatchSizes`); empty: no warm-up.
    public var warmupBatchSizes: [Int]? = nil
    /// `inline_max_weight_bytes`: a model whose constants (weights, folded and packed constants:
    /// `Model.constantBytes`) take at most this many bytes may compute a lone request on the event-loop thread that
    /// read it when an idle instance would run it at once as a batch of one (`Batcher.runLoneRequestOrWake`); 0:
    /// never.
    public var inlineMaxWeightBytes: Int = ModelConfig.defaultInlineMaxWeightBytes
    /// Not a config.json key: the server's `--inline-batches` (by default on when the process may run on one CPU
    /// only). A model that computes a lone request inline then also runs the requests a loop pass queued, batch by
    /// batch, on that loop thread (`Batcher.computesQueuedInline`) instead of handing them to an instance thread.
    public var inlineQueuedBatches = false

    public init() {}

    /// The default `inline_max_weight_bytes`: 256 KiB (digits, 25 KB of constants, qualifies; mlp-large never does).
    public static let defaultInlineMaxWeightBytes = 256 << 10
    /// The largest `inline_max_weight_bytes`: 1 GiB.
    public static let inlineMaxWeightBytesLimit = 1 << 30

    /// The largest `max_batch_size` (config.json and `--max-batch-size`): 2^20 rows.
    public static let maxBatchSizeLimit = 1 << 20
    /// The most `instances` (config.json and `--instances`): 256 threads per model version.
    public static let instancesLimit = 256
    /// The largest `max_queue_size` (config.json and `--max-queue-size`): 2^24 requests.
    public static let maxQueueSizeLimit = 1 << 24
    /// The largest `max_queue_delay_us` (config.json and `--max-queue-delay-us`): 60 s.
    public static let maxQueueDelayLimit = 60_000_000
    /// The largest `default_timeout_us` (config.json and `--default-timeout-us`): Int32.max ms.
    public static let defaultTimeoutLimit = Int(Int32.max) * 1000

    /// The keys config.json may hold.
    public static let keys = [
        "max_batch_size", "max_queue_delay_us", "preferred_batch_sizes", "max_queue_size", "default_timeout_us",
        "instances", "version_policy", "sha256", "warmup", "inline_max_weight_bytes",
    ]
    /// The most entries `warmup` may list.
    public static let warmupSizesLimit = 256

    /// Parses config.json over `defaults` (the server's flags): a key the file sets wins, every other knob keeps its
    /// default, except that default preferred batch sizes above the file's `max_batch_size` are dropped. Unknown
    /// keys and values of the wrong type or range are errors naming the key, so a typo does not silently fall back
    /// to a default.
    public init(json bytes: [UInt8], file: String, defaults: ModelConfig = ModelConfig()) throws(ModelLoadError) {
        self = defaults
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(file: file, node: nil, op: nil, reason: reason) }
        // The strict reader: a problem is refused with its line and column.
        let value: ConfigValue
        do throws(JSONError) {
            var reader = JSONReader(bytes)
            value = try ConfigValue.read(&reader)
            try reader.finish()
        } catch {
            throw fail("not valid JSON: \(error)")
        }
        guard case .object(let dictionary) = value else { throw fail("the top level must be a JSON object") }
        for key in dictionary.keys.sorted() where !Self.keys.contains(key) {
            throw fail("unknown key '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
        }
        // Every integer has a cap (the command line's), so that no file can ask for a 2^62-row batch or a million
        // instance threads: a value over it is an error naming the key and the cap.
        func integer(_ key: String, minimum: Int, maximum: Int) throws(ModelLoadError) -> Int? {
            guard let value = dictionary[key] else { return nil }
            guard case .number(let number) = value, let whole = number.wholeValue else {
                throw fail("'\(key)' must be an integer in \(minimum)...\(maximum)")
            }
            guard whole >= Double(minimum) else {
                throw fail("'\(key)' must be an integer ≥ \(minimum)")
            }
            guard whole <= Double(maximum), let exact = Int(exactly: whole), exact <= maximum else {
                throw fail("'\(key)' is \(number.text), over the limit of \(maximum)")
            }
            return exact
        }
        if let value = try integer("max_batch_size", minimum: 1, maximum: Self.maxBatchSizeLimit) {
            maxBatchSize = value
        }
        if let value = try integer("max_queue_delay_us", minimum: 0, maximum: Self.maxQueueDelayLimit) {
            maxQueueDelayMicroseconds = value
        }
        if let value = try integer("max_queue_size", minimum: 1, maximum: Self.maxQueueSizeLimit) {
            maxQueueSize = value
        }
        if let value = try integer("default_timeout_us", minimum: 0, maximum: Self.defaultTimeoutLimit) {
            defaultTimeoutMicroseconds = value
        }
        if let value = try integer("instances", minimum: 1, maximum: Self.instancesLimit) { instances = value }
        if let value = try integer("inline_max_weight_bytes", minimum: 0, maximum: Self.inlineMaxWeightBytesLimit) {
            inlineMaxWeightBytes = value
        }
        if let value = dictionary["preferred_batch_sizes"] {
            guard case .array(let list) = value,
                  let sizes = Optional(list.compactMap(\.positiveInteger)), sizes.count == list.count
            else { throw fail("'preferred_batch_sizes' must be a list of integers ≥ 1") }
            preferredBatchSizes = sizes.sorted()
            if let largest = preferredBatchSizes.last, largest > maxBatchSize {
                throw fail("preferred batch size \(largest) exceeds max_batch_size \(maxBatchSize)")
            }
        } else {
            preferredBatchSizes.removeAll { $0 > maxBatchSize }
        }
        if let value = dictionary["version_policy"] {
            versionPolicy = try Self.versionPolicy(value, fail: fail)
        }
        if let value = dictionary["sha256"] {
            guard case .string(let text) = value, text.utf8.count == 64, Crypto.bytes(hex: text) != nil else {
                throw fail("'sha256' must be the model file's SHA-256 as 64 hex digits (sha256sum model.onnx)")
            }
            sha256 = text.lowercased()
        }
        if let value = dictionary["warmup"] {
            guard case .array(let list) = value, list.count <= Self.warmupSizesLimit,
                  let sizes = Optional(list.compactMap(\.positiveInteger)),
                  sizes.count == list.count, sizes.allSatisfy({ $0 >= 1 && $0 <= maxBatchSize })
            else {
                throw fail("'warmup' must be a list of at most \(Self.warmupSizesLimit) batch sizes in 1...\(maxBatchSize) "
                    + "(max_batch_size)")
            }
            warmupBatchSizes = Array(Set(sizes)).sorted()
        }
    }

    /// Accepts "latest", "all", {"latest": {"num_versions": n}}, {"latest": n}, {"all": {}},
    /// {"specific": {"versions": [..]}} and {"specific": [..]}.
    static func versionPolicy(_ value: ConfigValue, fail: (String) -> ModelLoadError) throws(ModelLoadError) -> VersionPolicy {
        let usage = "'version_policy' must be \"latest\", \"all\", {\"latest\": {\"num_versions\": N}} or "
            + "{\"specific\": {\"versions\": [...]}}"
        if case .string(let name) = value {
            switch name {
            case "latest": return .latest(count: 1)
            case "all": return .all
            default: throw fail(usage)
            }
        }
        guard case .object(let object) = value, object.count == 1, let (kind, body) = object.first else {
            throw fail(usage)
        }
        switch kind {
        case "all":
            return .all
        case "latest":
            if let count = body.positiveInteger ?? body.member("num_versions")?.positiveInteger {
                return .latest(count: count)
            }
            if case .object(let inner) = body, inner.isEmpty { return .latest(count: 1) }
            throw fail(usage)
        case "specific":
            let listed = if case .array = body { body } else { body.member("versions") }
            guard case .array(let list)? = listed, !list.isEmpty else { throw fail(usage) }
            let versions = list.compactMap(\.positiveInteger)
            guard versions.count == list.count else { throw fail("'version_policy' versions must be integers ≥ 1") }
            return .specific(versions.sorted())
        default:
            throw fail(usage)
        }
    }
}

/// A config.json value, read whole with JSONWire's strict reader (its depth limit bounds the nesting). Objects keep
/// the last of repeated keys.
enum ConfigValue {
    case object([String: ConfigValue])
    case array([ConfigValue])
    case number(JSONNumberValue)
    case string(String)
    case bool(Bool)
    case null

    static func read(_ reader: inout JSONReader) throws(JSONError) -> ConfigValue {
        switch try reader.peekKind() {
        case .object:
            var members: [String: ConfigValue] = [:]
            try reader.readObject { (reader, key) throws(JSONError) in members[key] = try read(&reader) }
            return .object(members)
        case .array:
            var elements: [ConfigValue] = []
            try reader.readArray { (reader) throws(JSONError) in elements.append(try read(&reader)) }
            return .array(elements)
        case .string: return .string(try reader.readString())
        case .bool: return .bool(try reader.readBool())
        case .null:
            _ = try reader.readNullIfPresent()
            return .null
        case .number: return .number(try reader.readNumberValue())
        }
    }

    /// A member of an object (nil for anything else).
    func member(_ key: String) -> ConfigValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// A JSON number equal to an integer ≥ 1 (`true` is not 1).
    var positiveInteger: Int? {
        guard case .number(let number) = self, let whole = number.wholeValue, whole >= 1 else { return nil }
        return Int(exactly: whole)
    }
}

extension JSONNumberValue {
    /// The value when it has no fractional part (2.0 counts), as a double for range checks.
    var wholeValue: Double? {
        switch self {
        case .int64(let value): Double(value)
        case .uint64(let value): Double(value)
        case .double(let value): value.rounded() == value ? value : nil
        }
    }

    /// The number as a message shows it.
    var text: String {
        switch self {
        case .int64(let value): "\(value)"
        case .uint64(let value): "\(value)"
        case .double(let value): "\(value)"
        }
    }
}

/// One version of one model in a repository: ready with its compiled model, or failed with the reason.
public struct ModelEntry: Sendable {
    public enum State: Sendable {
        case ready(Model)
        case failed(reason: String)
    }

    public let name: String
    /// The version number (≥ 1; 0 when the failure concerns the whole model, e.g. a bad config.json).
    public let version: Int
    public let config: ModelConfig
    public let state: State
    /// Whether the version was read from `model.onnx.sealed`.
    public internal(set) var sealed = false
    /// The SHA-256 of the plaintext model file (64 hex digits); "" when it was not read.
    public internal(set) var sha256 = ""

    public var model: Model? {
        if case .ready(let model) = state { return model }
        return nil
    }

    public var failureReason: String? {
        if case .failed(let reason) = state { return reason }
        return nil
    }
    public init(
        name: String, version: Int, config: ModelConfig, state: State, sealed: Bool = false, sha256: String = ""
    ) {
        self.name = name
        self.version = version
        self.config = config
        self.state = state
        self.sealed = sealed
        self.sha256 = sha256
    }
}

/// The models of a directory, loaded once at start-up. A model that fails to load is reported (a log line and an
/// entry with the reason) while the others serve. Immutable after loading; share it freely.
public struct ModelRepository: Sendable {
    public let directory: String
    /// Every (model, version) considered, sorted by name then version.
    public let entries: [ModelEntry]

    public init(directory: String, entries: [ModelEntry]) {
        self.directory = directory
        self.entries = entries
    }

    /// The entries that loaded.
    public var readyEntries: [ModelEntry] { entries.filter { $0.model != nil } }

    /// The ready model called `name`: `version` if given, else the highest ready version.
    public func model(named name: String, version: Int? = nil) -> ModelEntry? {
        entries.filter { $0.name == name && $0.model != nil && (version == nil || $0.version == version) }
            .max { $0.version < $1.version }
    }

    /// The built-in repository: `digits` version 1 with `config` (the server's defaults), compiled for `gemm`.
    public static func builtin(config: ModelConfig = ModelConfig(), gemm: GEMMBackend = .preferred) -> ModelRepository {
        let state: ModelEntry.State
        do {
            state = .ready(try BuiltinModels.digits(gemm: gemm))
        } catch {
            state = .failed(reason: error.description)
        }
        return ModelRepository(directory: "builtin", entries: [
            ModelEntry(name: "digits", version: 1, config: config, state: state,
                       sha256: BuiltinModels.digitsSHA256)
        ])
    }

    /// Loads `DIR/<model>/<version>/model.onnx` for every model directory, each with its config.json over
    /// `defaults`. Throws when `directory` cannot be listed or is one model's folder rather than a repository;
    /// per-model failures become failed entries and log lines, and files beside the model folders are reported.
    /// `maxModelBytes` is every model's memory budget (`--max-model-bytes`, default `Model.defaultMaxModelBytes`);
    /// `gemm` the GEMM every model compiles for (`--gemm`); `keys` open sealed models (`--model-keys`).
    public static func load(
        directory: String, defaults: ModelConfig = ModelConfig(), logger: Logger = .standardError(component: "models"),
        maxModelBytes: Int = Model.defaultMaxModelBytes, gemm: GEMMBackend = .preferred, keys: ModelKeyRing = .empty
    ) throws(ModelLoadError) -> ModelRepository {
        let names = try listRepository(directory)
        if let hint = modelFolderHint(directory, contents: names) {
            throw ModelLoadError(file: directory, node: nil, op: nil, reason: hint)
        }
        var entries: [ModelEntry] = []
        var modelFolders = 0
        for name in names where !name.hasPrefix(".") {
            let path = RepositoryFiles.join(directory, name)
            guard isDirectory(path) else {
                logger.warning("\(path): not a model folder, skipped (a model lives at "
                    + "\(directory)/<model>/<version>/model.onnx\(looseFileAdvice(name, repository: directory)))")
                continue
            }
            modelFolders += 1
            entries += loadModel(named: name, directory: directory, defaults: defaults, logger: logger,
                                 maxModelBytes: maxModelBytes, gemm: gemm, keys: keys)
        }
        if modelFolders == 0 {
            logger.warning("the model repository \(directory) holds no model folders: nothing to serve "
                + "(expected \(directory)/<model>/<version>/model.onnx)")
        }
        return ModelRepository(directory: directory, entries: entries)
    }

    /// The names in the repository directory, or an error that says plainly why it cannot be listed.
    static func listRepository(_ directory: String) throws(ModelLoadError) -> [String] {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(file: directory, node: nil, op: nil, reason: reason) }
        guard let kind = RepositoryFiles.kind(directory) else {
            throw fail("the model repository does not exist (--models takes a folder holding <model>/<version>/model.onnx)")
        }
        guard kind == .directory else {
            throw fail("is a file, not a model repository folder (--models takes a folder holding "
                + "<model>/<version>/model.onnx)")
        }
        guard let names = RepositoryFiles.contents(ofDirectory: directory) else {
            throw fail("the model repository folder cannot be read (permission denied?)")
        }
        return names.sorted()
    }

    /// When `directory` is one model's folder (it holds `<version>/model.onnx`, `model.onnx` or `config.json`
    /// itself) rather than a repository of model folders: what to pass instead.
    static func modelFolderHint(_ directory: String, contents: [String]) -> String? {
        let versionFolder = contents.first { name in
            Int(name) != nil && presentModelFile(in: RepositoryFiles.join(directory, name)) != nil
        }
        let loose = contents.first { $0 == modelFileName || $0 == sealedModelFileName }
        let found = versionFolder.map { "\($0)/\(presentModelFile(in: RepositoryFiles.join(directory, $0)) ?? modelFileName)" }
            ?? loose ?? (contents.contains("config.json") ? "config.json" : nil)
        guard let found else { return nil }
        let standardized = RepositoryFiles.standardized(directory)
        let name = RepositoryFiles.lastComponent(standardized)
        let parent = RepositoryFiles.parent(standardized)
        return "looks like one model's folder (it holds \(found)), not a repository of model folders: "
            + "pass its parent, --models \(parent), to serve it as model '\(name)'"
    }

    /// Advice for a file found where a model folder was expected, e.g. `iris.onnx` at the repository's top.
    static func looseFileAdvice(_ file: String, repository: String) -> String {
        let (stem, fileExtension) = RepositoryFiles.splitExtension(RepositoryFiles.lastComponent(file))
        switch fileExtension.lowercased() {
        case "onnx": return "; move it to \(repository)/\(stem)/1/model.onnx"
        default: return ""
        }
    }

    /// Advice for a model folder without any `<version>/model.onnx`, from what it holds.
    static func missingVersionAdvice(modelDirectory: String, contents: [String]) -> String {
        let visible = contents.filter { !$0.hasPrefix(".") && $0 != "config.json" && $0 != "config.pbtxt" }.sorted()
        let found = visible.isEmpty
            ? "it is empty" : "found: " + visible.prefix(8).joined(separator: ", ") + (visible.count > 8 ? ", …" : "")
        var advice: [String] = []
        for name in visible {
            let path = RepositoryFiles.join(modelDirectory, name)
            let lower = name.lowercased()
            if isDirectory(path) {
                let inside = (RepositoryFiles.contents(ofDirectory: path) ?? []).filter { !$0.hasPrefix(".") }.sorted()
                if let version = Int(name) {
                    if version < 1 {
                        advice.append("version folders are numbered from 1 (rename \(name)/ to 1/)")
                    } else if let onnx = inside.first(where: { $0.lowercased().hasSuffix(".onnx") }) {
                        advice.append("rename \(name)/\(onnx) to \(name)/model.onnx")
                    } else if let sealed = inside.first(where: { $0.lowercased().hasSuffix(".sealed") }) {
                        advice.append("rename \(name)/\(sealed) to \(name)/model.onnx.sealed")
                    } else {
                        advice.append("\(name)/ has no model.onnx or model.onnx.sealed")
                    }
                } else if inside.contains("model.onnx") {
                    advice.append("version folders are whole numbers: rename \(name)/ to 1/")
                }
            } else if lower.hasSuffix(".onnx") {
                advice.append("move \(name) to \(modelDirectory)/1/model.onnx")
            } else if lower.hasSuffix(".onnx.sealed") {
                advice.append("move \(name) to \(modelDirectory)/1/model.onnx.sealed")
            } else if lower.hasSuffix(".pkl") || lower.hasSuffix(".pickle") || lower.hasSuffix(".joblib") {
                advice.append("Tensorwire serves ONNX, not pickles: convert \(name) with skl2onnx (scikit-learn) or "
                    + "onnxmltools (XGBoost, LightGBM) and save it as 1/model.onnx")
            } else if lower.hasSuffix(".pt") || lower.hasSuffix(".pth") {
                advice.append("Tensorwire serves ONNX: export \(name) with torch.onnx.export to 1/model.onnx")
            } else if lower.hasSuffix(".h5") || lower.hasSuffix(".keras") || lower == "saved_model.pb" {
                advice.append("Tensorwire serves ONNX: convert \(name) with tf2onnx to 1/model.onnx")
            }
        }
        if advice.isEmpty { advice.append("put the model at \(modelDirectory)/1/model.onnx") }
        return "\(found); " + advice.joined(separator: "; ")
    }

    /// The entries of one model, `DIR/<name>/`: its config.json over `defaults`, then every version its version
    /// policy selects, each ready or failed with the reason (a failure of the whole model is version 0). `load` runs
    /// this for every model directory; explicit model control runs it for one. `maxModelBytes` is the model's memory
    /// budget (`--max-model-bytes`): a model whose constants and one batch row of buffers per instance do not fit
    /// is a failed entry naming the budget. `gemm`: the GEMM the versions compile for (`--gemm`). `keys`: the keys
    /// that open `model.onnx.sealed` files (`--model-keys`); a sealed version whose key is missing, or whose file
    /// does not authenticate, is a failed entry naming the cause, and so is a version whose plaintext does not have
    /// the SHA-256 config.json pins. `onlyVersions`: load just these of the selected versions (nil: all).
    public static func loadModel(
        named name: String, directory: String, defaults: ModelConfig = ModelConfig(),
        logger: Logger = .standardError(component: "models"), maxModelBytes: Int = Model.defaultMaxModelBytes,
        gemm: GEMMBackend = .preferred, keys: ModelKeyRing = .empty, onlyVersions: Set<Int>? = nil
    ) -> [ModelEntry] {
        var entries: [ModelEntry] = []
        let modelDirectory = RepositoryFiles.join(directory, name)
        func failed(_ version: Int, _ config: ModelConfig, _ reason: String) {
            logger.error("model \(name)\(version == 0 ? "" : " version \(version)"): FAILED: \(reason)")
            entries.append(ModelEntry(name: name, version: version, config: config, state: .failed(reason: reason)))
        }
        let contents = (RepositoryFiles.contents(ofDirectory: modelDirectory) ?? []).sorted()
        var config = defaults
        let configPath = RepositoryFiles.join(modelDirectory, "config.json")
        if contents.contains("config.pbtxt") {
            let pbtxt = RepositoryFiles.join(modelDirectory, "config.pbtxt")
            logger.warning("\(pbtxt) is Triton's format and is not read; Tensorwire reads \(configPath) "
                + "(keys: \(ModelConfig.keys.joined(separator: ", ")))")
        }
        if RepositoryFiles.exists(configPath) {
            do throws(ModelLoadError) {
                config = try ModelConfig(json: ModelConfig.readFile(configPath), file: configPath, defaults: defaults)
            } catch {
                failed(0, config, error.description)
                return entries
            }
        }
        let available = contents.compactMap { entry -> Int? in
            guard let version = Int(entry), version >= 1,
                  presentModelFile(in: RepositoryFiles.join(modelDirectory, entry)) != nil
            else { return nil }
            return version
        }.sorted()
        let selected: [Int]
        switch config.versionPolicy {
        case .latest(let count): selected = Array(available.suffix(count))
        case .all: selected = available
        case .specific(let versions): selected = versions
        }
        if selected.isEmpty {
            failed(0, config, "\(modelDirectory) has no <version>/model.onnx or <version>/model.onnx.sealed ("
                + missingVersionAdvice(modelDirectory: modelDirectory, contents: contents) + ")")
            return entries
        }
        // `onlyVersions` (a repository poll): the selected versions whose files changed; the others keep serving.
        for version in selected where onlyVersions?.contains(version) ?? true {
            let versionDirectory = RepositoryFiles.join(modelDirectory, "\(version)")
            guard available.contains(version) else {
                failed(version, config, "\(versionDirectory)/\(modelFileName) does not exist (version_policy names version "
                    + "\(version))")
                continue
            }
            do throws(ModelLoadError) {
                var file = try ModelFile.read(versionDirectory: versionDirectory, keys: keys, maxModelBytes: maxModelBytes)
                defer {
                    // The plaintext of a sealed model lives only as long as its compilation (docs/sealed-models.md).
                    if file.sealed, !Crypto.cleanse(&file.bytes) {
                        logger.warning("model \(name) version \(version): the decrypted model buffer was shared and could "
                            + "not be zeroed")
                    }
                }
                if let pinned = config.sha256, pinned != file.sha256 {
                    throw ModelLoadError(file: file.path, node: nil, op: nil,
                                         reason: "the model's SHA-256 is \(file.sha256), but config.json pins \(pinned)")
                }
                // A plain file may keep its weights in external data beside it; a sealed one must embed them.
                let model = try Model(onnxBytes: file.bytes, name: name, source: file.path, gemm: gemm,
                                      maxModelBytes: maxModelBytes,
                                      externalDataDirectory: file.sealed ? nil : versionDirectory)
                if config.sha256 != nil, !model.externalDataFiles.isEmpty {
                    throw ModelLoadError(file: file.path, node: nil, op: nil,
                                         reason: "config.json's sha256 pins this file only, and the model reads its "
                                            + "weights from \(model.externalDataFiles.joined(separator: ", ")); embed "
                                            + "the weights to pin them, or drop the pin")
                }
                try checkInstancesFit(model, config: config, file: file.path)
                logger.info("model \(name) version \(version): READY (\(file.sealed ? "sealed " : "")sha256=\(file.sha256), "
                    + "\(model.signature.inputs.count) input(s), \(model.signature.outputs.count) output(s), "
                    + "\(model.stepCount) steps, GEMM \(model.gemm)"
                    + (model.externalDataFiles.isEmpty ? "" : ", weights in \(model.externalDataFiles.joined(separator: ", "))")
                    + ")")
                if let hint = model.fixedBatchHint { logger.warning("model \(name) version \(version): \(hint)") }
                entries.append(ModelEntry(name: name, version: version, config: config, state: .ready(model),
                                          sealed: file.sealed, sha256: file.sha256))
            } catch {
                failed(version, config, error.description)
            }
        }
        return entries
    }

    /// Throws when `config.instances` contexts of one batch row each do not fit the model's memory budget beside
    /// its constants.
    static func checkInstancesFit(_ model: Model, config: ModelConfig, file: String) throws(ModelLoadError) {
        guard model.maxRows(instances: config.instances) < 1 else { return }
        let (perRow, overflow) = model.bufferBytesPerRow.addingReportingOverflow(model.fixedBufferBytes)
        let need = overflow ? "more than \(Int.max)" : "\(perRow)"
        throw ModelLoadError(
            file: file, node: nil, op: nil,
            reason: "\(config.instances) instance(s) × \(need) bytes of execution buffers for one batch row, beside "
                + "\(model.constantBytes) bytes of constants, exceed the model memory budget of \(model.maxModelBytes) "
                + "bytes (--max-model-bytes); lower 'instances' or raise the budget")
    }

    static func isDirectory(_ path: String) -> Bool { RepositoryFiles.isDirectory(path) }

    /// A version folder's plain model file.
    public static let modelFileName = "model.onnx"
    /// A version folder's sealed model file (docs/sealed-models.md).
    public static let sealedModelFileName = "model.onnx.sealed"

    /// The model file a version folder holds (`model.onnx` or `model.onnx.sealed`; the plain one when both are
    /// there, so that the version is found and its load names the conflict), or nil.
    static func presentModelFile(in versionDirectory: String) -> String? {
        [modelFileName, sealedModelFileName].first { RepositoryFiles.exists(versionDirectory + "/" + $0) }
    }
}

/// One version's model file read into memory, plain or sealed, with what the repository reports about it.
struct ModelFile {
    /// The plaintext ONNX bytes; zeroed by the loader once the model compiled when `sealed`.
    var bytes: [UInt8]
    /// The file read, for messages.
    let path: String
    let sealed: Bool
    /// SHA-256 of `bytes`, 64 hex digits.
    let sha256: String

    /// Reads `model.onnx` or opens `model.onnx.sealed` with `keys` (never both: a folder holding both is an error,
    /// since a plaintext copy beside a sealed model defeats sealing, and which one serves would be a guess). A file
    /// over `maxModelBytes` is refused before it is read.
    static func read(versionDirectory: String, keys: ModelKeyRing, maxModelBytes: Int) throws(ModelLoadError) -> ModelFile {
        let plainPath = versionDirectory + "/" + ModelRepository.modelFileName
        let sealedPath = versionDirectory + "/" + ModelRepository.sealedModelFileName
        if RepositoryFiles.exists(sealedPath) {
            guard !RepositoryFiles.exists(plainPath) else {
                throw ModelLoadError(file: versionDirectory, node: nil, op: nil,
                                     reason: "holds both \(ModelRepository.modelFileName) and "
                                        + "\(ModelRepository.sealedModelFileName); keep one (a plaintext copy beside a sealed "
                                        + "model defeats the sealing)")
            }
            do throws(SealedModelError) {
                let unsealed = try SealedModelFile.unseal(path: sealedPath, keys: keys, maxPlaintextBytes: maxModelBytes)
                return ModelFile(bytes: unsealed.plaintext, path: sealedPath, sealed: true,
                                 sha256: Crypto.hex(unsealed.sha256))
            } catch {
                throw ModelLoadError(file: sealedPath, node: nil, op: nil, reason: error.description)
            }
        }
        let bytes = try readPlain(path: plainPath, maxModelBytes: maxModelBytes)
        return ModelFile(bytes: bytes, path: plainPath, sealed: false, sha256: Crypto.hex(Crypto.sha256(bytes)))
    }

    /// The bytes of a plain `.onnx` file no larger than `maxModelBytes`.
    static func readPlain(path: String, maxModelBytes: Int) throws(ModelLoadError) -> [UInt8] {
        if let size = RepositoryFiles.size(path), size > Int64(maxModelBytes) {
            throw ModelLoadError(file: path, node: nil, op: nil,
                                 reason: "the file is \(size) bytes, over the model memory budget of "
                                    + "\(maxModelBytes) bytes (--max-model-bytes)")
        }
        // Read with the budget as the bound too: a file that grows after the size check is not read past it.
        guard RepositoryFiles.kind(path) == .file, let data = RepositoryFiles.read(path, maxBytes: maxModelBytes) else {
            throw ModelLoadError(file: path, node: nil, op: nil, reason: "the file cannot be read")
        }
        return data
    }
}

extension Model {
    /// Reads and compiles a `.onnx` file; errors name `path`.
    /// `maxModelBytes`: the model's memory budget (see `init(onnxBytes:…)`); a file larger than it is refused
    /// before it is read.
    public convenience init(
        contentsOf path: String, name: String, gemm: GEMMBackend = .preferred,
        maxModelBytes: Int = Model.defaultMaxModelBytes
    ) throws(ModelLoadError) {
        let bytes = try ModelFile.readPlain(path: path, maxModelBytes: maxModelBytes)
        let folder = RepositoryFiles.parent(path)
        try self.init(onnxBytes: bytes, name: name, source: path, gemm: gemm, maxModelBytes: maxModelBytes,
                      externalDataDirectory: folder)
    }
}
