// Sources/Server/ModelCatalog+Refresh.swift: live model updates, as a repository poll or SIGHUP finds them.

internal import Batching
internal import Inference
internal import Locks
internal import Logging

// The zero-downtime swap. A refresh loads, compiles and warms the versions whose files changed (new batchers, not
// yet served), then installs the model's new entry in one step under the table lock: from then on requests resolve
// to the new versions. The versions it replaced drain afterwards: what is queued on them finishes on them, and a
// request that resolved an old version a moment before the swap and found its batcher stopping is sent again to the
// new one (PredictService). A version that fails to load or warm serves nothing and is reported; the versions it
// would have replaced keep serving.

extension ModelCatalog {
    /// The versions a version policy serves out of the `available` ones (ascending).
    static func selectedVersions(_ policy: VersionPolicy, available: [Int]) -> [Int] {
        switch policy {
        case .latest(let count): Array(available.sorted().suffix(max(0, count)))
        case .all: available.sorted()
        case .specific(let versions): versions.sorted()
        }
    }

    /// Which served versions stay when the policy drops them: all of them while no selected version is ready (a
    /// removed or replaced version serves until another is ready), else as many of the highest as selected versions
    /// failed, so a failed new version leaves its predecessor serving.
    static func retainedVersions(dropped: [Int], selected: Int, readySelected: Int) -> [Int] {
        let keep = readySelected == 0 ? dropped.count : max(0, selected - readySelected)
        return Array(dropped.sorted().suffix(keep))
    }

    /// Brings model `name` in line with its folder, whose content is now `content` (`previous`: the content last
    /// acted on, nil when none): loads and warms the selected versions whose files changed or that do not serve,
    /// swaps them in, then drains what they replace. Returns the failures ("version N: reason"), empty when every
    /// selected version serves. Blocks for the loads; any thread but a loop thread (the poller's queue).
    func refresh(model name: String, content: ModelContent, previous: ModelContent?) -> [String] {
        controlLock.withLock { _ -> [String] in
            guard let directory = source.directory, !table.withLock({ $0.closed || $0.draining }) else { return [] }
            let logger = source.logger
            let current = entry(name)
            var serving: [Int: Version] = [:]
            for version in current?.versions ?? [] where version.batcher != nil { serving[version.number] = version }

            // config.json first: its version policy decides what to load, and a bad one changes nothing.
            var config = source.defaults
            let configPath = directory + "/" + name + "/" + RepositoryScanner.configFileName
            if content.config != nil {
                do throws(ModelLoadError) {
                    config = try ModelConfig(json: ModelConfig.readFile(configPath), file: configPath,
                                             defaults: source.defaults)
                } catch {
                    let reason = error.description
                    logger.error("model \(name): FAILED to reload, still serving "
                        + "\(Self.names(serving.keys.sorted())): \(reason)")
                    metrics?.recordLoad(model: name, version: 0, succeeded: false)
                    let failed = Version(
                        number: 0, entry: ModelEntry(name: name, version: 0, config: config, state: .failed(reason: reason)),
                        batcher: nil, failureReason: reason)
                    install(name, Array(serving.values) + [failed], replacing: current)
                    return [reason]
                }
            }
            let selected = Self.selectedVersions(config.versionPolicy, available: content.versionNumbers)
            let changed = content.changedVersions(since: previous)
            let toLoad = Set(selected.filter { changed.contains($0) || serving[$0] == nil })
            var fresh: [Int: Version] = [:]
            if !toLoad.isEmpty {
                let entries = ModelRepository.loadModel(
                    named: name, directory: directory, defaults: source.defaults, logger: logger,
                    maxModelBytes: source.maxModelBytes, gemm: source.gemm, keys: source.modelKeys, onlyVersions: toLoad)
                for version in Self.startVersions(
                    entries, clock: clock, blasThreads: blasThreads, hooks: hooks, metrics: metrics, logger: logger)
                {
                    fresh[version.number] = version
                }
            }

            var versions: [Version] = []
            var failures: [String] = []
            var readySelected = 0
            for number in selected {
                if let new = fresh[number], new.batcher != nil {
                    versions.append(new)
                    readySelected += 1
                } else if let new = fresh[number] {
                    let reason = new.failureReason ?? "failed"
                    failures.append("version \(number): \(reason)")
                    if let old = serving[number] {
                        // Its files changed and the new ones failed: the old ones keep serving, with the reason.
                        versions.append(old.withReloadFailure(
                            "the new files failed to load; still serving the previous ones: \(reason)"))
                        readySelected += 1
                    } else {
                        versions.append(new)
                    }
                } else if let old = serving[number] {
                    versions.append(old.reloadFailure == nil ? old : old.withReloadFailure(nil))
                    readySelected += 1
                }
            }
            if let whole = fresh[0] {
                // The model as a whole failed (e.g. config.json changed again under the load).
                failures.append(whole.failureReason ?? "failed")
                versions.append(whole)
            }
            if selected.isEmpty, fresh[0] == nil {
                let reason = "\(directory)/\(name) has no <version>/model.onnx"
                failures.append(reason)
                versions.append(Version(
                    number: 0, entry: ModelEntry(name: name, version: 0, config: config, state: .failed(reason: reason)),
                    batcher: nil, failureReason: reason))
            }
            let dropped = serving.keys.filter { !selected.contains($0) }
            for number in Self.retainedVersions(dropped: dropped, selected: selected.count, readySelected: readySelected) {
                if let old = serving[number] { versions.append(old) }
            }
            let retired = install(name, versions, replacing: current)
            let loaded = fresh.values.filter { $0.batcher != nil }.map(\.number).sorted()
            let servingNow = versions.filter { $0.batcher != nil }.map(\.number).sorted()
            if !loaded.isEmpty || !retired.isEmpty {
                logger.info("model \(name): serving \(Self.names(servingNow)) (loaded and warmed \(Self.names(loaded))"
                    + (retired.isEmpty ? "" : "; draining \(Self.names(retired.map(\.number)))") + ")")
            }
            for old in retired {
                old.batcher?.shutdown(drain: true)
                if !servingNow.contains(old.number) { metrics?.remove(model: name, version: old.number) }
            }
            return failures
        }
    }

    /// A model folder left the repository (a poll saw it gone twice): the model leaves the table, then its queued
    /// requests finish. Any thread but a loop thread.
    func remove(model name: String) {
        controlLock.withLock { _ in
            guard let previous = table.withLock({ $0.models.removeValue(forKey: name) }) else { return }
            notifyChange()
            source.logger.info("model \(name): its folder left the repository; unloading")
            for version in previous.versions { version.batcher?.shutdown(drain: true) }
            metrics?.remove(model: name)
        }
    }

    /// Installs `versions` (sorted here) as `name`'s entry; returns the serving versions of `previous` whose batcher
    /// is not among them (to drain). Called with the control lock held.
    @discardableResult
    private func install(_ name: String, _ versions: [Version], replacing previous: Entry?) -> [Version] {
        let sorted = versions.sorted { $0.number < $1.number }
        table.withLock { $0.models[name] = Entry(versions: sorted, unloadedReason: nil) }
        notifyChange()
        let kept = Set(sorted.compactMap { $0.batcher.map(ObjectIdentifier.init) })
        return (previous?.versions ?? []).filter { version in
            guard let batcher = version.batcher else { return false }
            return !kept.contains(ObjectIdentifier(batcher))
        }
    }

    private static func names(_ versions: [Int]) -> String {
        versions.isEmpty ? "no version" : "version " + versions.map(String.init).joined(separator: ", ")
    }
}
