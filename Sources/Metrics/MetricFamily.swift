// A family: one metric name, its help and label names, and one child per combination of label values.

internal import Locks

/// Counters sharing a name and label names (`tensorwire_requests_total{model,version,protocol,api,code}`).
public typealias CounterFamily = MetricFamily<Counter>
/// Gauges sharing a name and label names (`tensorwire_queue_depth{model,version}`).
public typealias GaugeFamily = MetricFamily<Gauge>
/// Histograms sharing a name, label names and bucket bounds (`tensorwire_request_duration_seconds{…}`).
public typealias HistogramFamily = MetricFamily<Histogram>

/// One registered family and its children, keyed by label values. Created by `MetricsRegistry`; any thread.
///
/// `labels(…)` finds or creates a child under a lock (about 130 ns for five values: hashing them is most of it):
/// call it when a model version loads or on the first request of a kind and keep the child, so the request path
/// only updates atomics. A family without labels has its one child from the start (`labels()`), so it is exposed
/// as 0 before the first update.
///
/// `remove(…)` drops a child from the exposition (a model version unloaded). A holder of a removed child may still
/// update it; those updates are no longer exposed, and asking for the same label values again creates a fresh
/// child at zero (Prometheus sees a counter reset, which `rate` handles).
public final class MetricFamily<Child: AnyObject & Sendable>: Sendable {
    /// The name the samples carry: for counters with `_total`, whether or not it was registered with it.
    public let name: String
    public let help: String
    public let labelNames: [String]
    // Not generic: a generic table would run unspecialised when called from another module, twice as slow.
    let table: ChildTable
    private let make: @Sendable () -> Child

    init(name: String, help: String, labelNames: [String], make: @escaping @Sendable () -> Child) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.make = make
        table = ChildTable(labelNames: labelNames)
        if labelNames.isEmpty { _ = table.child([], make: make) }
    }

    /// The child for these label values (in the order of `labelNames`), created at zero on first use.
    /// The number of values must equal the number of label names (a programming error otherwise).
    public func labels(_ values: String...) -> Child { labels(values) }

    /// The child for these label values (in the order of `labelNames`), created at zero on first use.
    public func labels(_ values: [String]) -> Child {
        precondition(
            values.count == labelNames.count,
            "\(name) has labels \(labelNames) but was given \(values.count) value(s): \(values)")
        return unsafeDowncast(table.child(values, make: make), to: Child.self)
    }

    /// Drops the child with these label values; false if there was none.
    @discardableResult
    public func remove(_ values: String...) -> Bool { table.remove(values) }

    /// Drops the child with these label values; false if there was none.
    @discardableResult
    public func remove(_ values: [String]) -> Bool { table.remove(values) }

    /// Drops every child whose labels include all of `labels` (name → value); none if the family lacks one of the
    /// names. Returns how many were dropped.
    @discardableResult
    public func removeChildren(matching labels: [String: String]) -> Int { table.removeChildren(matching: labels) }

    /// Drops every child.
    public func removeAll() { table.removeAll() }
}

/// The children of one family under a `Lock`, each with its label pairs already rendered for the exposition
/// (label values never change, so a scrape does not escape them again). Any thread.
final class ChildTable: Sendable {
    struct Entry: Sendable {
        let labelValues: [String]
        /// `name="value",…` with the values escaped, without braces; empty for a family without labels.
        let labelText: [UInt8]
        let child: any AnyObject & Sendable
    }

    let labelNames: [String]
    private let entries = Lock<[[String]: Entry]>([:])

    init(labelNames: [String]) { self.labelNames = labelNames }

    func child(_ values: [String], make: () -> any AnyObject & Sendable) -> any AnyObject & Sendable {
        entries.withLock { table in
            if let entry = table[values] { return entry.child }
            let entry = Entry(labelValues: values, labelText: Self.render(labelNames, values), child: make())
            table[values] = entry
            return entry.child
        }
    }

    func remove(_ values: [String]) -> Bool {
        entries.withLock { $0.removeValue(forKey: values) != nil }
    }

    func removeChildren(matching labels: [String: String]) -> Int {
        var positions: [(index: Int, value: String)] = []
        for (label, value) in labels {
            guard let index = labelNames.firstIndex(of: label) else { return 0 }
            positions.append((index, value))
        }
        return entries.withLock { table in
            let doomed = table.keys.filter { values in positions.allSatisfy { values[$0.index] == $0.value } }
            for key in doomed { table.removeValue(forKey: key) }
            return doomed.count
        }
    }

    func removeAll() {
        entries.withLock { $0.removeAll() }
    }

    /// The entries now, sorted by label values (for a stable exposition).
    var sorted: [Entry] {
        entries.withLock { Array($0.values) }.sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
    }

    static func render(_ names: [String], _ values: [String]) -> [UInt8] {
        var text: [UInt8] = []
        for (index, name) in names.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ",")) }
            text.append(contentsOf: name.utf8)
            text.append(contentsOf: "=\"".utf8)
            ExpositionWriter.appendEscaped(values[index], quotes: true, to: &text)
            text.append(UInt8(ascii: "\""))
        }
        return text
    }
}
