// The registry: the families registered once at start-up, the collectors run at scrape time, and the exposition.

internal import Clocks
internal import Locks

/// Every metric of a process, and the one place that renders them for a scrape. Any thread.
///
/// Families are registered once by name; registering the same name, kind and label names again returns the
/// existing family (a different kind, label set or bucket list under a taken name is a programming error and traps,
/// as does a name whose samples would clash with another family's, such as a gauge `x_count` beside a histogram
/// `x`). Registration and `labels(…)` take a lock; updating a child never does. `exposition` takes each lock only
/// long enough to copy the list of families and children, runs the collectors without holding any lock, and reads
/// the values with relaxed atomic loads.
public final class MetricsRegistry: Sendable {
    private struct State {
        var families: [String: RegisteredFamily] = [:]
        /// Every sample and family name a family produces, in either format, → the family that owns it.
        var claimed: [String: String] = [:]
        var collectors: [(id: CollectorID, collect: @Sendable () -> [CollectedFamily])] = []
        var nextCollector = 0
    }

    private let state = Lock(State())
    /// Seconds since the Unix epoch, for the OpenMetrics `_created` samples.
    private let wallSeconds: @Sendable () -> Double

    public init() {
        wallSeconds = { Double(WallClock.millisecondsSinceEpoch()) / 1_000 }
    }

    /// A registry whose `_created` times come from `wallSeconds` (tests pin them to compare exact text).
    package init(wallSeconds: @escaping @Sendable () -> Double) {
        self.wallSeconds = wallSeconds
    }

    /// Registers (or finds) a counter family. A name without `_total` gets it: the samples are `<base>_total` and,
    /// in OpenMetrics, the family is `<base>`.
    public func counter(_ name: String, help: String, labelNames: [String] = []) -> CounterFamily {
        let base = MetricName.counterBase(name)
        let clock = wallSeconds
        let entry = register(key: base, kind: .counter, labelNames: labelNames, bounds: []) {
            .counter(CounterFamily(name: base + "_total", help: help, labelNames: labelNames) {
                Counter(created: clock())
            })
        }
        guard case .counter(let family) = entry else { preconditionFailure("registered \(base) as a counter") }
        return family
    }

    /// Registers (or finds) a gauge family.
    public func gauge(_ name: String, help: String, labelNames: [String] = []) -> GaugeFamily {
        let entry = register(key: name, kind: .gauge, labelNames: labelNames, bounds: []) {
            .gauge(GaugeFamily(name: name, help: help, labelNames: labelNames) { Gauge() })
        }
        guard case .gauge(let family) = entry else { preconditionFailure("registered \(name) as a gauge") }
        return family
    }

    /// Registers (or finds) a histogram family with these finite, strictly increasing upper bounds (`+Inf` is
    /// implied and may be given last). `le` may not be one of the label names.
    public func histogram(_ name: String, help: String, labelNames: [String] = [], buckets: [Double]) -> HistogramFamily {
        var bounds = buckets
        if bounds.last == .infinity { bounds.removeLast() }
        precondition(
            bounds.allSatisfy(\.isFinite) && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 },
            "\(name): bucket bounds must be finite and strictly increasing, got \(buckets)")
        precondition(!labelNames.contains("le"), "\(name): `le` is the bucket label of a histogram")
        let clock = wallSeconds
        let entry = register(key: name, kind: .histogram, labelNames: labelNames, bounds: bounds) { [bounds] in
            .histogram(HistogramFamily(name: name, help: help, labelNames: labelNames) {
                Histogram(upperBounds: bounds, created: clock())
            }, bounds: bounds)
        }
        guard case .histogram(let family, _) = entry else { preconditionFailure("registered \(name) as a histogram") }
        return family
    }

    /// Adds a collector: a function called on the scraping thread at every exposition, returning families computed
    /// then (queue depth read from the batchers, the process's CPU and memory). It must be quick and must not call
    /// back into this registry's `exposition`. A returned family whose name is invalid or already taken (by a
    /// registered family or an earlier one) is left out of the exposition, as is a sample whose label values do not
    /// match the label names or repeat an earlier sample's.
    @discardableResult
    public func register(collector: @escaping @Sendable () -> [CollectedFamily]) -> CollectorID {
        state.withLock { state in
            let id = CollectorID(value: state.nextCollector)
            state.nextCollector += 1
            state.collectors.append((id, collector))
            return id
        }
    }

    /// Removes a collector added by `register(collector:)`.
    public func unregister(collector id: CollectorID) {
        state.withLock { state in state.collectors.removeAll { $0.id == id } }
    }

    /// Drops, from every registered family, the children whose labels include all of `labels` (name → value): for a
    /// model version being unloaded, `["model": "digits", "version": "3"]`. Families that lack one of these label
    /// names keep all their children. Returns how many children were dropped. See `MetricFamily.remove`.
    @discardableResult
    public func removeChildren(matching labels: [String: String]) -> Int {
        let families = state.withLock { Array($0.families.values) }
        return families.reduce(0) { total, entry in
            switch entry {
            case .counter(let family): total + family.removeChildren(matching: labels)
            case .gauge(let family): total + family.removeChildren(matching: labels)
            case .histogram(let family, _): total + family.removeChildren(matching: labels)
            }
        }
    }

    /// Every family, registered and collected, rendered in `format`: families sorted by name, children by label
    /// values. Families with no child are left out.
    public func exposition(_ format: ExpositionFormat) -> [UInt8] {
        let (families, collectors) = state.withLock { state in
            (Array(state.families.values), state.collectors.map(\.collect))
        }
        var snapshots = families.map { $0.snapshot() }
        var taken = Set(snapshots.flatMap { MetricName.claims(of: $0.kind, key: $0.name) })
        for collect in collectors {
            for family in collect() {
                guard let snapshot = family.validatedSnapshot() else { continue }
                let claims = MetricName.claims(of: snapshot.kind, key: snapshot.name)
                guard taken.isDisjoint(with: claims) else { continue }
                taken.formUnion(claims)
                snapshots.append(snapshot)
            }
        }
        snapshots.sort { $0.name < $1.name }
        var writer = ExpositionWriter(format: format)
        for snapshot in snapshots where !snapshot.series.isEmpty { writer.write(snapshot) }
        return writer.finish()
    }

    private func register(
        key: String, kind: MetricKind, labelNames: [String], bounds: [Double],
        make: () -> RegisteredFamily
    ) -> RegisteredFamily {
        precondition(MetricName.isValidMetricName(key), "\(key) is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        for label in labelNames {
            precondition(
                MetricName.isValidLabelName(label),
                "\(key): \(label) is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
        }
        precondition(Set(labelNames).count == labelNames.count, "\(key): label names repeat: \(labelNames)")
        return state.withLock { state in
            if let existing = state.families[key] {
                precondition(
                    existing.kind == kind && existing.labelNames == labelNames && existing.bounds == bounds,
                    "\(key) is already registered as a \(existing.kind) with labels \(existing.labelNames)"
                        + (existing.bounds.isEmpty ? "" : " and buckets \(existing.bounds)"))
                return existing
            }
            let claims = MetricName.claims(of: kind, key: key)
            for claim in claims {
                if let owner = state.claimed[claim] {
                    preconditionFailure("\(key) would expose \(claim), which \(owner) already exposes")
                }
            }
            let family = make()
            state.families[key] = family
            for claim in claims { state.claimed[claim] = key }
            return family
        }
    }
}

/// Names a collector added to a registry, to remove it later.
public struct CollectorID: Sendable, Hashable {
    let value: Int
}

/// A family computed by a collector at scrape time: counters and gauges with `Double` values. Counter names follow
/// the registry's rule (`_total` is added if missing).
public struct CollectedFamily: Sendable {
    /// The kinds a collector may return.
    public enum Kind: Sendable {
        case counter
        case gauge
    }

    public var name: String
    public var help: String
    public var kind: Kind
    public var labelNames: [String]
    public var samples: [CollectedSample]

    public init(name: String, help: String, kind: Kind, labelNames: [String] = [], samples: [CollectedSample]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.labelNames = labelNames
        self.samples = samples
    }

    /// A gauge family.
    public static func gauge(
        _ name: String, help: String, labelNames: [String] = [], samples: [CollectedSample]
    ) -> CollectedFamily {
        CollectedFamily(name: name, help: help, kind: .gauge, labelNames: labelNames, samples: samples)
    }

    /// A counter family.
    public static func counter(
        _ name: String, help: String, labelNames: [String] = [], samples: [CollectedSample]
    ) -> CollectedFamily {
        CollectedFamily(name: name, help: help, kind: .counter, labelNames: labelNames, samples: samples)
    }

    /// The snapshot to render, or nil if a name is invalid. Samples with the wrong number of label values, and
    /// repeats of an earlier sample's label values, are dropped.
    func validatedSnapshot() -> FamilySnapshot? {
        let key = kind == .counter ? MetricName.counterBase(name) : name
        guard MetricName.isValidMetricName(key), labelNames.allSatisfy(MetricName.isValidLabelName),
            Set(labelNames).count == labelNames.count
        else { return nil }
        var seen = Set<[String]>()
        var series: [SeriesSnapshot] = []
        for sample in samples where sample.labelValues.count == labelNames.count {
            guard seen.insert(sample.labelValues).inserted else { continue }
            let value: SeriesValue = kind == .counter ? .counter(.real(sample.value)) : .gauge(sample.value)
            series.append(
                SeriesSnapshot(
                    labelValues: sample.labelValues, labelText: ChildTable.render(labelNames, sample.labelValues),
                    value: value, created: nil))
        }
        series.sort { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
        return FamilySnapshot(
            name: key, help: help, kind: kind == .counter ? .counter : .gauge, labelNames: labelNames, bounds: [],
            series: series)
    }
}

/// One sample of a collected family: label values in the order of the family's label names, and the value.
public struct CollectedSample: Sendable {
    public var labelValues: [String]
    public var value: Double

    public init(labelValues: [String] = [], value: Double) {
        self.labelValues = labelValues
        self.value = value
    }
}

enum MetricKind: Sendable, CustomStringConvertible {
    case counter, gauge, histogram

    var description: String {
        switch self {
        case .counter: "counter"
        case .gauge: "gauge"
        case .histogram: "histogram"
        }
    }
}

/// A registered family of any kind, as the registry keeps it.
enum RegisteredFamily: Sendable {
    case counter(CounterFamily)
    case gauge(GaugeFamily)
    case histogram(HistogramFamily, bounds: [Double])

    var kind: MetricKind {
        switch self {
        case .counter: .counter
        case .gauge: .gauge
        case .histogram: .histogram
        }
    }

    var labelNames: [String] {
        switch self {
        case .counter(let family): family.labelNames
        case .gauge(let family): family.labelNames
        case .histogram(let family, _): family.labelNames
        }
    }

    var bounds: [Double] {
        if case .histogram(_, let bounds) = self { return bounds }
        return []
    }

    /// The family's values now. The family name of a counter is its base (without `_total`).
    func snapshot() -> FamilySnapshot {
        switch self {
        case .counter(let family):
            return FamilySnapshot(
                name: MetricName.counterBase(family.name), help: family.help, kind: .counter,
                labelNames: family.labelNames, bounds: [],
                series: family.table.sorted.map { entry in
                    let counter = unsafeDowncast(entry.child, to: Counter.self)
                    return SeriesSnapshot(
                        labelValues: entry.labelValues, labelText: entry.labelText,
                        value: .counter(.integer(counter.value)), created: counter.created)
                })
        case .gauge(let family):
            return FamilySnapshot(
                name: family.name, help: family.help, kind: .gauge, labelNames: family.labelNames, bounds: [],
                series: family.table.sorted.map { entry in
                    let gauge = unsafeDowncast(entry.child, to: Gauge.self)
                    return SeriesSnapshot(
                        labelValues: entry.labelValues, labelText: entry.labelText, value: .gauge(gauge.value),
                        created: nil)
                })
        case .histogram(let family, let bounds):
            return FamilySnapshot(
                name: family.name, help: family.help, kind: .histogram, labelNames: family.labelNames, bounds: bounds,
                series: family.table.sorted.map { entry in
                    let histogram = unsafeDowncast(entry.child, to: Histogram.self)
                    // The sum is read before the buckets: an observation landing between the two reads shows in
                    // the counts but not yet in the sum, never the other way round.
                    let sum = histogram.sum
                    return SeriesSnapshot(
                        labelValues: entry.labelValues, labelText: entry.labelText,
                        value: .histogram(cumulative: histogram.cumulativeCounts, sum: sum), created: histogram.created)
                })
        }
    }
}
