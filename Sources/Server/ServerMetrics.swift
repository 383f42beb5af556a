// Sources/Server/ServerMetrics.swift: the server's Prometheus metrics (names in docs/metrics.md).

internal import Batching
internal import BuildInfo
public import Metrics
internal import RPCCore
internal import TensorwireProto
internal import Transport

/// Where an inference request came from: the `protocol` and `api` labels.
public struct RequestOrigin: Sendable, Hashable {
    /// `grpc` or `http`.
    public var wireProtocol: String
    /// `native` (tensorwire.v1) or `kserve` (KServe v2).
    public var api: String

    public init(wireProtocol: String, api: String) {
        self.wireProtocol = wireProtocol
        self.api = api
    }

    public static let grpcNative = RequestOrigin(wireProtocol: "grpc", api: "native")
    public static let grpcKServe = RequestOrigin(wireProtocol: "grpc", api: "kserve")
    public static let httpNative = RequestOrigin(wireProtocol: "http", api: "native")
    public static let httpKServe = RequestOrigin(wireProtocol: "http", api: "kserve")
    static let all = [grpcNative, grpcKServe, httpNative, httpKServe]

    var index: Int { (wireProtocol == "grpc" ? 0 : 2) + (api == "native" ? 0 : 1) }
}

/// The server's metrics: one registry, the request and batch families, and scrape-time collectors (queue depth,
/// model states, connections, the process). Every update on the request path is a relaxed atomic on a child looked
/// up when the model version loaded (`VersionMetrics`), never a lock. Any thread.
public final class ServerMetrics: Sendable {
    public let registry: MetricsRegistry
    let requests: CounterFamily
    let requestDuration: HistogramFamily
    let rows: CounterFamily
    let batches: CounterFamily
    let queueDuration: HistogramFamily
    let computeDuration: HistogramFamily
    let batchSize: HistogramFamily
    let inflight: Gauge
    /// Model version loads by result (`ok`, `failed`: the file, compile or warm-up failed).
    let loads: CounterFamily
    /// Requests that named no loaded model (or failed before one was resolved): `model=""`, `version=""`.
    let unresolved: OutcomeChildren

    /// Request latencies: 100 µs … 3.3 s (×2); queue and compute times: 10 µs … 0.33 s (×2).
    static let requestBuckets = Histogram.exponentialBuckets(start: 0.0001, factor: 2, count: 16)
    static let stageBuckets = Histogram.exponentialBuckets(start: 0.00001, factor: 2, count: 16)
    /// Batch sizes 1, 2, 4 … 4096 (a larger batch lands in +Inf).
    static let batchBuckets = Histogram.batchSizeBuckets(maxBatchSize: 4096)

    public init() {
        let registry = MetricsRegistry()
        self.registry = registry
        let outcome = ["model", "version", "protocol", "api", "code"]
        requests = registry.counter(
            "tensorwire_requests_total", help: "Inference requests by outcome (code: the gRPC status name).",
            labelNames: outcome)
        requestDuration = registry.histogram(
            "tensorwire_request_duration_seconds",
            help: "Inference request time from its arrival at the model to its answer.", labelNames: outcome,
            buckets: Self.requestBuckets)
        rows = registry.counter(
            "tensorwire_inference_rows_total", help: "Rows inferred (summed batch sizes).", labelNames: ["model", "version"])
        batches = registry.counter(
            "tensorwire_batches_total", help: "Batches executed.", labelNames: ["model", "version"])
        queueDuration = registry.histogram(
            "tensorwire_queue_duration_seconds", help: "Time a request waited in its model's queue.",
            labelNames: ["model", "version"], buckets: Self.stageBuckets)
        computeDuration = registry.histogram(
            "tensorwire_compute_duration_seconds", help: "Time one batch took to compute.",
            labelNames: ["model", "version"], buckets: Self.stageBuckets)
        batchSize = registry.histogram(
            "tensorwire_batch_size", help: "Rows per executed batch.", labelNames: ["model", "version"],
            buckets: Self.batchBuckets)
        inflight = registry.gauge(
            "tensorwire_inflight_requests", help: "Inference requests between their arrival and their answer.").labels()
        loads = registry.counter(
            "tensorwire_model_loads_total",
            help: "Model version loads (start-up, model control, repository polls) by result: ok, or failed to read, "
                + "compile or warm up.",
            labelNames: ["model", "version", "result"])
        unresolved = OutcomeChildren(requests: requests, durations: requestDuration, model: "", version: "")
        let version = BuildInfo.version
        let commit = BuildInfo.commit
        registry.register {
            [.gauge(
                "tensorwire_build_info", help: "Constant 1; the labels name the version and the git commit built.",
                labelNames: ["version", "commit"], samples: [CollectedSample(labelValues: [version, commit], value: 1)])]
        }
        ProcessMetrics.register(on: registry)
    }

    /// The children of one loaded model version, created at load time.
    func version(model: String, version: Int) -> VersionMetrics {
        VersionMetrics(metrics: self, model: model, version: String(version))
    }

    /// One load of a model version (version 0: the model as a whole, e.g. its config.json) and how it ended.
    func recordLoad(model: String, version: Int, succeeded: Bool) {
        loads.labels([model, String(version), succeeded ? "ok" : "failed"]).increment()
    }

    /// Forgets the series of one version that stopped serving (a newer one replaced it).
    func remove(model: String, version: Int) {
        _ = registry.removeChildren(matching: ["model": model, "version": String(version)])
    }

    /// Forgets an unloaded model's series.
    func remove(model: String) {
        registry.removeChildren(matching: ["model": model])
    }

    /// Queue depth and state per model version, open connections and active streams per protocol, read at scrape
    /// time from the catalog and the transport.
    func registerCollectors(catalog: ModelCatalog, transport: @escaping @Sendable () -> TransportCounts?) {
        // The table, not the catalog: no cycle through the catalog's metrics and no weak reference to the catalog.
        let versionStates = catalog.versionStatesReader
        registry.register {
            var depth: [CollectedSample] = []
            var states: [CollectedSample] = []
            for (model, version, state, queued) in versionStates() {
                if let queued { depth.append(CollectedSample(labelValues: [model, version], value: Double(queued))) }
                for candidate in ["LOADING", "READY", "FAILED", "UNLOADED"] {
                    states.append(CollectedSample(
                        labelValues: [model, version, candidate], value: candidate == state ? 1 : 0))
                }
            }
            return [
                .gauge("tensorwire_queue_depth", help: "Requests waiting in a model version's queue.",
                       labelNames: ["model", "version"], samples: depth),
                .gauge("tensorwire_model_state", help: "1 for the state a model version is in, 0 for the others.",
                       labelNames: ["model", "version", "state"], samples: states),
            ]
        }
        registry.register {
            guard let counts = transport() else { return [] }
            return [
                .gauge("tensorwire_open_connections",
                       help: "Open client connections (grpc: HTTP/2; http: HTTP/1.1).", labelNames: ["protocol"],
                       samples: [CollectedSample(labelValues: ["grpc"], value: Double(counts.http2Connections)),
                                 CollectedSample(labelValues: ["http"], value: Double(counts.http1Connections))]),
                .gauge("tensorwire_active_streams",
                       help: "Requests open on the transport (grpc: gRPC calls; http: REST requests).",
                       labelNames: ["protocol"],
                       samples: [CollectedSample(labelValues: ["grpc"], value: Double(counts.grpcCalls)),
                                 CollectedSample(labelValues: ["http"], value: Double(counts.restRequests))]),
            ]
        }
    }

    /// A request refused before it reached a model version (undecodable, unknown model, not loaded): counted with
    /// a duration of 0 (it never reached a model), so every request is in both families.
    func recordUnresolved(_ origin: RequestOrigin, code: Status.Code) {
        unresolved.record(origin, code: code, seconds: 0)
    }
}

/// The `requests_total` and `request_duration_seconds` children of one (model, version). The OK series of each
/// protocol × api are made up front, so a successful request only does atomic adds; an error's series is looked up
/// in its family (a short lock, on the error path only) and exists from its first error on, so the exposition does
/// not carry 17 empty series per origin.
final class OutcomeChildren: Sendable {
    let requests: CounterFamily
    let durations: HistogramFamily
    let model: String
    let version: String
    /// By `RequestOrigin.index`.
    let okCounters: [Counter]
    let okDurations: [Histogram]

    init(requests: CounterFamily, durations: HistogramFamily, model: String, version: String) {
        self.requests = requests
        self.durations = durations
        self.model = model
        self.version = version
        let labels = RequestOrigin.all.map { [model, version, $0.wireProtocol, $0.api, Status.Code.ok.name] }
        okCounters = labels.map { requests.labels($0) }
        okDurations = labels.map { durations.labels($0) }
    }

    func record(_ origin: RequestOrigin, code: Status.Code, seconds: Double?) {
        if code == .ok {
            okCounters[origin.index].increment()
            if let seconds { okDurations[origin.index].observe(seconds) }
            return
        }
        let labels = [model, version, origin.wireProtocol, origin.api, code.name]
        requests.labels(labels).increment()
        if let seconds { durations.labels(labels).observe(seconds) }
    }
}

/// One model version's children: its outcomes and its batch families.
final class VersionMetrics: Sendable {
    let outcomes: OutcomeChildren
    let rows: Counter
    let batches: Counter
    let queue: Histogram
    let compute: Histogram
    let batchSize: Histogram
    let inflight: Gauge

    init(metrics: ServerMetrics, model: String, version: String) {
        outcomes = OutcomeChildren(
            requests: metrics.requests, durations: metrics.requestDuration, model: model, version: version)
        rows = metrics.rows.labels(model, version)
        batches = metrics.batches.labels(model, version)
        queue = metrics.queueDuration.labels(model, version)
        compute = metrics.computeDuration.labels(model, version)
        batchSize = metrics.batchSize.labels(model, version)
        inflight = metrics.inflight
    }

    /// From the batcher's instance thread after every batch.
    func recordBatch(rows count: Int, computeNanoseconds: UInt64) {
        batches.increment()
        rows.increment(by: UInt64(max(0, count)))
        batchSize.observe(Double(count))
        compute.observe(Double(computeNanoseconds) / 1e9)
    }

    /// A request for this version refused before it was queued (its inputs do not match): counted, not in flight.
    func recordRefused(_ origin: RequestOrigin, code: Status.Code, seconds: Double) {
        outcomes.record(origin, code: code, seconds: seconds)
    }

    /// A request reached this version (the in-flight gauge; `recordRequest` ends it).
    func requestStarted() { inflight.increment() }

    /// A started request that goes to another version instead (a swap raced it): not counted here.
    func requestResubmitted() { inflight.decrement() }

    /// One answered request: its outcome, its time, and its queue time when it reached a batch.
    func recordRequest(_ origin: RequestOrigin, code: Status.Code, seconds: Double, queueMicroseconds: Int?) {
        inflight.decrement()
        outcomes.record(origin, code: code, seconds: seconds)
        if let queueMicroseconds { queue.observe(Double(queueMicroseconds) / 1e6) }
    }
}

/// What the transport counts, for the connection and stream gauges.
public struct TransportCounts: Sendable {
    public var http2Connections: Int
    public var http1Connections: Int
    public var grpcCalls: Int
    public var restRequests: Int
}
