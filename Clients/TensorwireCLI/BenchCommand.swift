// Clients/TensorwireCLI/BenchCommand.swift: `tensorwire bench`, a closed- and open-loop load generator.
internal import Dispatch
internal import EventLoop
internal import Locks
internal import ProtoWire
internal import RPCCore
internal import TensorwireClient
internal import TensorwireJSON
internal import TensorwireProto
internal import Transport

#if canImport(Glibc)
internal import Glibc
#endif

/// `tensorwire bench`: drives Predict (unary, or pipelined over PredictStreams, or `POST …:predict` over HTTP/1.1
/// keep-alive connections with --http) at a fixed concurrency (closed loop) or at a fixed or Poisson arrival rate
/// (open loop, latency measured from each request's intended send time so queueing in the client is not hidden),
/// then reports latency percentiles, throughput, errors by status and the server's batching facts.
enum BenchCommand {
    static let spec = OptionSpec(
        values: ["--concurrency", "--rate", "--duration", "--requests", "--warmup", "--connections", "--input", "--rows"],
        flags: ["--poisson", "--stream", "--json"],
        aliases: ["-c": "--concurrency", "-r": "--rate", "-d": "--duration", "-n": "--requests", "-i": "--input"])

    static let help = """
        usage: tensorwire bench MODEL [-c N | --rate R [--poisson]] [--duration D | --requests N] [--warmup D]
                                      [--stream] [--connections K] [--input X | --rows B] [--json]

        Load-tests Predict on MODEL and reports requests, errors by status code, throughput (requests/s, and rows/s
        when a request carries several rows), latency percentiles (p50/p90/p99/p99.9/max, from a log-linear
        histogram, within 1.6 %), the server's batch-size distribution and its mean queue vs compute time per
        request (from each response's batch facts). A model that is not READY is refused before the run (exit 7);
        when every request of the first second fails, the run stops there with the first error (and its exit code).
        --timeout is each request's deadline, in --stream mode too (a late answer counts as DEADLINE_EXCEEDED).
          -c, --concurrency N  closed loop: N requests in flight, each sent when one completes (default 1)
          -r, --rate R         open loop: R requests per second at constant spacing, whatever the responses do;
                               latency counts from the intended send time, so client-side queueing shows
          --poisson            open loop with exponential gaps (Poisson arrivals) of mean 1/R
          -d, --duration D     measure for D (10s, 500ms; default 10s)
          -n, --requests N     measure N requests instead of a duration
          --warmup D           run this long before measuring (default 1s; 0 for none)
          --stream             pipeline the requests over one PredictStream per connection instead of unary calls
          --connections K      spread the load over K HTTP/2 connections (default 1); with --http and --rate,
                               the K keep-alive connections that carry the arrivals (one request on each at a time)
          -i, --input X        send this input (as predict's --input) instead of random inputs
          --rows B             rows per random request (default 1; not with --input, which has its own rows)
          --json               print the report as one JSON object (requests, errors, errors_by_code, retries,
                               transparent_retries, connects, attempts_by_server, throughput_rps,
                               rows_per_request, throughput_rows_per_s,
                               latency_ms {p50, p90, p99, p999, max, mean}, batch_sizes, ...)
        Over gRPC, failed requests are retried as the global retry flags say (--max-attempts, --wait-for-ready, ...),
        several --server addresses share the load round robin, and the report counts the retries (warm-up
        included), the connections opened and the attempts per server (docs/client.md).
        With --http (or an http:// server), requests are POST /v1/models/MODEL:predict with JSON bodies over
        HTTP/1.1 keep-alive connections, one request in flight on each (HTTP/1.1 without pipelining): -c N opens N
        connections; --rate R sends on --connections K; batch facts come from the tw-* response headers; --stream is
        gRPC only. The report is the same ("transport": "http" in --json), so the two protocols compare on one model.
        A live progress line is shown while standard output is a terminal. Exits 8 when any request failed (but a
        run stopped after its first second exits with that first error's code).
        """

    struct Options {
        var model = ""
        var concurrency = 1
        var rate: Double?
        var poisson = false
        var durationNanos: UInt64? = 10_000_000_000
        var requests: Int?
        var warmupNanos: UInt64 = 1_000_000_000
        var stream = false
        var connections = 1
        var input: String?
        var rows = 1
        var json = false
        /// HTTP/1.1 + JSON instead of gRPC.
        var http = false
    }

    static func nanos(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    static func options(_ parsed: ParsedArguments, http: Bool = false) throws(CLIError) -> Options {
        var options = Options()
        options.http = http
        options.model = try TensorwireCommand.positionals(parsed, "bench", ["MODEL"])[0]
        if let text = parsed.value("--concurrency") { options.concurrency = try ArgumentValues.positiveInt(text, option: "-c") }
        if let text = parsed.value("--rate") { options.rate = try ArgumentValues.positiveDouble(text, option: "--rate") }
        if parsed.value("--rate") != nil, parsed.value("--concurrency") != nil {
            throw .usage("bench: -c (closed loop) and --rate (open loop) exclude each other")
        }
        options.poisson = parsed.flags.contains("--poisson")
        if options.poisson, options.rate == nil { throw .usage("bench: --poisson needs --rate") }
        if let text = parsed.value("--duration") {
            options.durationNanos = nanos(try ArgumentValues.duration(text, option: "--duration"))
        }
        if let text = parsed.value("--requests") {
            guard parsed.value("--duration") == nil else { throw .usage("bench: give --duration or --requests, not both") }
            options.requests = try ArgumentValues.positiveInt(text, option: "--requests")
            options.durationNanos = nil
        }
        if let text = parsed.value("--warmup") {
            options.warmupNanos = nanos(try ArgumentValues.duration(text, option: "--warmup"))
        }
        options.stream = parsed.flags.contains("--stream")
        if let text = parsed.value("--connections") {
            options.connections = try ArgumentValues.positiveInt(text, option: "--connections")
        }
        options.input = parsed.value("--input")
        if let text = parsed.value("--rows") {
            guard options.input == nil else { throw .usage("bench: --rows sizes random inputs; --input brings its own rows") }
            options.rows = try ArgumentValues.positiveInt(text, option: "--rows")
        }
        options.json = parsed.flags.contains("--json")
        if http {
            if options.stream { throw .usage("bench --stream works over gRPC only (PredictStream); leave out --http") }
            if options.rate == nil {
                guard parsed.value("--connections") == nil else {
                    throw .usage("bench --http: -c N opens N connections, one request in flight on each; "
                        + "--connections sets the connections of an open loop (--rate)")
                }
                options.connections = options.concurrency
            }
        }
        return options
    }

    /// The rows one request carries: the batch dimension of its first input when the model's first input is
    /// batched (its first dimension is -1), else 1.
    static func rows(of inputs: [TensorwireV1.Tensor], model: TensorwireV1.ModelInfo) -> Int {
        guard let first = inputs.first,
              let spec = model.inputs.first(where: { $0.name == first.name }) ?? model.inputs.first,
              spec.shape.first.map({ $0 < 0 }) == true, let rows = first.shape.first, rows > 0
        else { return 1 }
        return Int(clamping: rows)
    }

    /// Serialized requests to cycle through (the --input one, or 64 random ones matching the model's inputs) and
    /// the rows each carries.
    static func requests(_ options: Options, model: TensorwireV1.ModelInfo, console: Console) throws(CLIError)
        -> (payloads: [[UInt8]], rows: Int)
    {
        var request = TensorwireV1.PredictRequest()
        request.model = options.model
        let encode: (TensorwireV1.PredictRequest) -> [UInt8] = options.http ? { $0.jsonUTF8() } : { $0.serializedBytes() }
        if let input = options.input {
            request.inputs = try TensorwireCommand.loadInputs(input, model: model, console: console)
            return ([encode(request)], rows(of: request.inputs, model: model))
        }
        var generator = SystemRandomNumberGenerator()
        var all: [[UInt8]] = []
        for _ in 0..<64 {
            request.inputs = model.inputs.map { spec in
                let shape = spec.shape.enumerated().map { index, dimension in
                    dimension >= 0 ? Int(dimension) : (index == 0 ? options.rows : 1)
                }
                let count = shape.reduce(1, *)
                var tensor = TensorwireV1.Tensor()
                tensor.name = spec.name
                tensor.shape = TensorShape(shape.map { Int64($0) })
                switch spec.dtype {
                case .int64:
                    tensor.dtype = .int64
                    tensor.int64Data = (0..<count).map { _ in Int64.random(in: 0..<16, using: &generator) }
                case .int32:
                    tensor.dtype = .int32
                    tensor.int32Data = (0..<count).map { _ in Int32.random(in: 0..<16, using: &generator) }
                case .float64:
                    tensor.dtype = .float64
                    tensor.doubleData = (0..<count).map { _ in Double.random(in: 0..<16, using: &generator) }
                case .bool:
                    tensor.dtype = .bool
                    tensor.boolData = (0..<count).map { _ in Bool.random(using: &generator) }
                default:
                    tensor.dtype = .float32
                    tensor.floatData = (0..<count).map { _ in Float.random(in: 0..<16, using: &generator) }
                }
                return tensor
            }
            all.append(encode(request))
        }
        return (all, rows(of: request.inputs, model: model))
    }

    static func run(_ parsed: ParsedArguments, _ context: TensorwireCommand.Context) throws(CLIError) -> Int32 {
        let options = try options(parsed, http: context.http)
        let probe = try context.connect()
        let model = try TensorwireCommand.call(context) { () throws(RPCError) in try probe.getModel(options.model) }
        probe.close()
        try TensorwireCommand.requireReady(model, version: nil)
        let (payloads, rows) = try requests(options, model: model, console: context.console)
        var channels: [ClientChannel] = []
        defer { for channel in channels { channel.close() } }
        // Over HTTP each worker thread opens its own connection.
        if !options.http {
            for _ in 0..<options.connections { channels.append(try context.openChannel()) }
        }
        let run = BenchRun(options: options, context: context, channels: channels, payloads: payloads)
        var report = run.execute()
        report.addChannelStatistics(channels.map(\.statistics), addresses: context.gRPCAddresses)
        if let first = report.abandonedAfterFirstSecond {
            throw context.failure(RPCError(
                code: first.code,
                message: "\(first.message) (stopped: all \(report.firstSecondFailures) requests of the first second failed)"))
        }
        report.rowsPerRequest = rows
        if options.json {
            context.console.out(JSONPrinter(pretty: false).string(report.json(options)))
        } else {
            context.console.out(report.text(options, connections: options.connections))
        }
        if report.errors > 0 { throw .someFailed("\(report.errors) of \(report.requests) requests failed") }
        return 0
    }
}

/// What a bench run measured. A plain value.
struct BenchReport {
    var requests: UInt64 = 0
    var errors: UInt64 = 0
    var errorsByCode: [Status.Code: UInt64] = [:]
    var firstErrors: [Status.Code: String] = [:]
    var histogram = LatencyHistogram()
    var batchSizes: [UInt32: UInt64] = [:]
    var batchFacts: UInt64 = 0
    var queueUsSum: Double = 0
    var computeUsSum: Double = 0
    var elapsedNanos: UInt64 = 0
    /// Rows per request (the batch dimension of the inputs sent).
    var rowsPerRequest = 1
    /// The channels' retries (transparent ones included; warm-up included), connections opened, and attempts per
    /// server (gRPC only).
    var retries: UInt64 = 0
    var transparentRetries: UInt64 = 0
    var connects: UInt64 = 0
    var attemptsByServer: [(server: String, attempts: UInt64)] = []
    /// Set when every request that completed in the run's first second failed: the first of those errors; the run
    /// stopped there.
    var abandonedAfterFirstSecond: Status?
    var firstSecondFailures: UInt64 = 0

    var throughput: Double { elapsedNanos == 0 ? 0 : Double(requests - errors) / (Double(elapsedNanos) / 1e9) }
    var rowThroughput: Double { throughput * Double(rowsPerRequest) }

    static func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }

    /// Adds up the channels' counts.
    mutating func addChannelStatistics(_ all: [ClientChannel.Statistics], addresses: [ServerAddress]) {
        guard !all.isEmpty else { return }
        var perServer = Array(repeating: UInt64(0), count: addresses.count)
        for statistics in all {
            retries &+= statistics.retries
            transparentRetries &+= statistics.transparentRetries
            connects &+= statistics.connects
            for (index, attempts) in statistics.attemptsByAddress.enumerated() where index < perServer.count {
                perServer[index] &+= attempts
            }
        }
        attemptsByServer = zip(addresses, perServer).map { ($0.description, $1) }
    }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (value * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(abs(scaled).truncatingRemainder(dividingBy: scale))
        if digits == 0 { return String(whole) }
        let text = String(fraction)
        let sign = value < 0 && whole == 0 ? "-" : ""
        return sign + String(whole) + "." + String(repeating: "0", count: digits - text.count) + text
    }

    func mode(_ options: BenchCommand.Options) -> String {
        if let rate = options.rate {
            return "open loop, \(options.poisson ? "Poisson" : "constant") \(Self.fixed(rate, rate < 10 ? 1 : 0)) req/s"
        }
        return "closed loop, \(options.concurrency) in flight"
    }

    func text(_ options: BenchCommand.Options, connections: Int) -> String {
        var lines: [String] = []
        let seconds = Double(elapsedNanos) / 1e9
        lines.append(
            "bench \(options.model): \(mode(options)), \(options.http ? "HTTP/1.1 + JSON" : options.stream ? "PredictStream" : "unary"), "
                + "\(connections) connection\(connections == 1 ? "" : "s"), \(Self.fixed(seconds, 2)) s measured")
        lines.append("requests    \(requests) (\(requests - errors) ok, \(errors) errors)")
        if !options.http {
            lines.append(
                "retries     \(retries) (\(transparentRetries) of requests the server never saw), \(connects) connection"
                    + (connects == 1 ? "" : "s") + " opened")
            if attemptsByServer.count > 1 {
                lines.append("servers     " + attemptsByServer.map { "\($0.server) \($0.attempts)" }.joined(separator: "  "))
            }
        }
        if !errorsByCode.isEmpty {
            for (code, count) in errorsByCode.sorted(by: { $0.value > $1.value }) {
                lines.append("  \(code.name) \(count): \(firstErrors[code] ?? "")")
            }
        }
        lines.append(
            "throughput  \(Self.fixed(throughput, 1)) req/s"
                + (rowsPerRequest == 1 ? "" : "  \(Self.fixed(rowThroughput, 1)) rows/s (\(rowsPerRequest) rows per request)"))
        let h = histogram
        lines.append(
            "latency ms  p50 \(Self.fixed(Self.ms(h.value(atQuantile: 0.5)), 3))  p90 \(Self.fixed(Self.ms(h.value(atQuantile: 0.9)), 3))"
                + "  p99 \(Self.fixed(Self.ms(h.value(atQuantile: 0.99)), 3))  p99.9 \(Self.fixed(Self.ms(h.value(atQuantile: 0.999)), 3))"
                + "  max \(Self.fixed(Self.ms(h.max), 3))  mean \(Self.fixed(h.mean / 1000, 3))")
        if batchFacts > 0 {
            // Power-of-two ranges keep the line short; --json has every size.
            var ranges: [(low: UInt32, high: UInt32, count: UInt64)] = []
            for (size, count) in batchSizes.sorted(by: { $0.key < $1.key }) {
                let low = size <= 1 ? size : UInt32(1) << UInt32(31 - size.leadingZeroBitCount)
                if let last = ranges.last, last.low == low {
                    ranges[ranges.count - 1].count += count
                } else {
                    ranges.append((low, low <= 1 ? low : low * 2 - 1, count))
                }
            }
            let sizes = ranges.map { range in
                (range.low == range.high ? "\(range.low)" : "\(range.low)-\(range.high)")
                    + ": \(Self.fixed(100 * Double(range.count) / Double(batchFacts), 1))%"
            }
            lines.append("server batch size (share of requests)  " + sizes.joined(separator: "  "))
            lines.append(
                "server time seen per request (mean)  queue \(Self.fixed(queueUsSum / Double(batchFacts) / 1000, 3)) ms"
                    + "  compute \(Self.fixed(computeUsSum / Double(batchFacts) / 1000, 3)) ms")
        }
        return lines.joined(separator: "\n")
    }

    func json(_ options: BenchCommand.Options) -> JSONValue {
        let h = histogram
        func ms(_ micros: UInt64) -> JSONValue { .number((Double(micros) / 1000 * 1000).rounded() / 1000) }
        return .object([
            ("model", .string(options.model)), ("mode", .string(mode(options))),
            ("transport", .string(options.http ? "http" : options.stream ? "stream" : "unary")), ("connections", .integer(Int64(options.connections))),
            ("requests", .integer(Int64(clamping: requests))), ("errors", .integer(Int64(clamping: errors))),
            ("errors_by_code", .object(errorsByCode.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                ($0.key.name, .integer(Int64(clamping: $0.value)))
            })),
            ("retries", .integer(Int64(clamping: retries))),
            ("transparent_retries", .integer(Int64(clamping: transparentRetries))),
            ("connects", .integer(Int64(clamping: connects))),
            ("attempts_by_server", .object(attemptsByServer.map { ($0.server, .integer(Int64(clamping: $0.attempts))) })),
            ("duration_s", .number((Double(elapsedNanos) / 1e6).rounded() / 1000)),
            ("throughput_rps", .number((throughput * 10).rounded() / 10)),
            ("rows_per_request", .integer(Int64(rowsPerRequest))),
            ("throughput_rows_per_s", .number((rowThroughput * 10).rounded() / 10)),
            ("latency_ms", .object([
                ("p50", ms(h.value(atQuantile: 0.5))), ("p90", ms(h.value(atQuantile: 0.9))),
                ("p99", ms(h.value(atQuantile: 0.99))), ("p999", ms(h.value(atQuantile: 0.999))), ("max", ms(h.max)),
                ("mean", .number((h.mean).rounded() / 1000)),
            ])),
            ("batch_sizes", .object(batchSizes.sorted { $0.key < $1.key }.map { (String($0.key), .integer(Int64(clamping: $0.value))) })),
            ("queue_us_mean", .number(batchFacts == 0 ? 0 : (queueUsSum / Double(batchFacts)).rounded())),
            ("compute_us_mean", .number(batchFacts == 0 ? 0 : (computeUsSum / Double(batchFacts)).rounded())),
        ])
    }
}

/// One bench run: the shared counters every completion updates (under one lock), the request issuers, and the
/// main thread's wait with the progress line. Completions run on the connections' loop threads (over HTTP/1.1, on
/// one thread per keep-alive connection); the open-loop sender runs on its own thread; the caller's thread waits
/// and reports.
final class BenchRun: Sendable {
    /// Shared state, guarded by `state`.
    struct State {
        var report = BenchReport()
        var issuedMeasured = 0
        var inFlight = 0
        var stopped = false
        var measureStart: UInt64 = 0
        var lastCompletion: UInt64 = 0
        var next = 0
        /// Completions (warm-up included) within the run's first second, the successful ones, and the first error.
        var firstSecondCompleted: UInt64 = 0
        var firstSecondOK: UInt64 = 0
        var firstError: Status?
    }

    /// One request sent on a PredictStream and not yet answered. `expired`: its --timeout passed and it was counted
    /// as DEADLINE_EXCEEDED; its late answer, if any, is dropped.
    struct Pending {
        var intended: UInt64
        var sent: UInt64
        var measured: Bool
        var expired = false
    }

    /// The in-flight requests of one PredictStream, in send order (responses come back in that order).
    final class StreamLane: Sendable {
        let stream: PredictStream
        let pending: Lock<[Pending]>

        init(stream: PredictStream) {
            self.stream = stream
            pending = Lock([])
        }
    }

    let options: BenchCommand.Options
    /// The gRPC channels, each with a connection to every server (none over HTTP, where each connection thread
    /// opens its own to host:port).
    let channels: [ClientChannel]
    /// Predict may be retried after it reached the model (not with --non-idempotent).
    let idempotent: Bool
    let host: String
    let port: Int
    let payloads: [[UInt8]]
    let metadata: Metadata
    let timeout: Duration?
    /// --timeout in nanoseconds: each stream request's deadline (unary calls carry it as grpc-timeout).
    let timeoutNanos: UInt64?
    let console: Console
    let state = Lock(State())
    let lanes = Lock<[StreamLane]>([])
    /// HTTP open loop: the sender's arrivals, waiting for a free connection.
    let arrivals = ArrivalQueue()
    let start: UInt64

    init(options: BenchCommand.Options, context: TensorwireCommand.Context, channels: [ClientChannel], payloads: [[UInt8]]) {
        self.options = options
        self.channels = channels
        idempotent = context.predictIsIdempotent
        host = context.host
        port = context.port
        self.payloads = payloads
        metadata = context.metadata
        timeout = context.timeout
        timeoutNanos = context.timeout.map { max(1, BenchCommand.nanos($0)) }
        console = context.console
        start = ConsoleIO.nowNanos()
        state.withLock { $0.measureStart = start + options.warmupNanos }
    }

    /// Decides whether a request intended at `time` is sent, and whether it is measured (after the warm-up).
    /// Returns nil once the run is over; counts the request as in flight otherwise.
    func claim(at time: UInt64) -> (measured: Bool, payload: [UInt8])? {
        state.withLock { state in
            guard !state.stopped else { return nil }
            let measured = time >= state.measureStart
            if measured {
                if let limit = options.requests, state.issuedMeasured >= limit {
                    state.stopped = true
                    return nil
                }
                if let duration = options.durationNanos, time >= state.measureStart + duration {
                    state.stopped = true
                    return nil
                }
                state.issuedMeasured += 1
            }
            state.inFlight += 1
            state.next = (state.next + 1) % payloads.count
            return (measured, payloads[state.next])
        }
    }

    /// Records one completion.
    func complete(intended: UInt64, measured: Bool, status: Status, batch: TensorwireV1.BatchInfo?) {
        let now = ConsoleIO.nowNanos()
        state.withLock { state in
            state.inFlight -= 1
            if now < start + 1_000_000_000 {
                state.firstSecondCompleted += 1
                if status.isOK { state.firstSecondOK += 1 }
            }
            if !status.isOK, state.firstError == nil { state.firstError = status }
            guard measured else { return }
            state.lastCompletion = max(state.lastCompletion, now)
            state.report.requests += 1
            if status.isOK {
                state.report.histogram.record((now &- intended) / 1000)
                if let batch {
                    state.report.batchFacts += 1
                    state.report.batchSizes[batch.batchSize, default: 0] += 1
                    state.report.queueUsSum += Double(batch.queueUs)
                    state.report.computeUsSum += Double(batch.computeUs)
                }
            } else {
                state.report.errors += 1
                state.report.errorsByCode[status.code, default: 0] += 1
                if state.report.firstErrors[status.code] == nil { state.report.firstErrors[status.code] = status.message }
            }
        }
    }

    /// The status of a stream request that got no answer within --timeout.
    var streamDeadlineStatus: Status {
        Status(code: .deadlineExceeded,
               message: "no answer within --timeout (\(BenchReport.fixed(Double(timeoutNanos ?? 0) / 1e6, 3)) ms)")
    }

    /// Sends one request intended at `intended` on worker slot `slot` (connection / lane chosen by slot).
    /// In a closed loop, `next` is true and each completion issues the following request.
    func issue(slot: Int, intended: UInt64, closedLoop: Bool) {
        guard let (measured, payload) = claim(at: intended) else { return }
        if options.http {
            arrivals.put(ArrivalQueue.Arrival(intended: intended, measured: measured, payload: payload))
            return
        }
        if options.stream {
            let laneList = lanes.withLock { $0 }
            let lane = laneList[slot % laneList.count]
            lane.pending.withLock { pending in
                pending.append(Pending(intended: intended, sent: ConsoleIO.nowNanos(), measured: measured))
                lane.stream.send(serialized: payload)
            }
            return
        }
        let channel = channels[slot % channels.count]
        channel.unary(
            path: TensorwireClient.Paths.predict, request: payload, metadata: metadata, timeout: timeout,
            idempotent: idempotent
        ) { [self] response in
            var batch: TensorwireV1.BatchInfo?
            if let bytes = response.message { batch = (try? TensorwireV1.PredictResponse(serializedBytes: bytes))?.batch }
            complete(intended: intended, measured: measured, status: response.status, batch: batch)
            if closedLoop {
                // Through the loop's queue, not inline: a connection that fails every call at once would otherwise
                // recurse without bound.
                channel.loop.execute { [self] in issue(slot: slot, intended: ConsoleIO.nowNanos(), closedLoop: true) }
            }
        }
    }

    /// HTTP mode: the thread of one keep-alive connection, one request in flight on it. In a closed loop it claims
    /// the next request as soon as the last completes; in an open loop it takes the sender's arrivals in order.
    func runHTTPConnection(closedLoop: Bool) {
        let client = TensorwireRESTClient(host: host, port: port, defaultTimeout: timeout, defaultMetadata: metadata)
        defer { client.close() }
        if closedLoop {
            while true {
                let intended = ConsoleIO.nowNanos()
                guard let (measured, payload) = claim(at: intended) else { return }
                post(payload, on: client, intended: intended, measured: measured)
            }
        }
        while let arrival = arrivals.take() {
            post(arrival.payload, on: client, intended: arrival.intended, measured: arrival.measured)
        }
    }

    /// One `POST …:predict`; the batch facts come from the answer's tw-* headers (its JSON is not decoded).
    func post(_ payload: [UInt8], on client: TensorwireRESTClient, intended: UInt64, measured: Bool) {
        do {
            let reply = try client.predict(jsonBody: payload, model: options.model)
            complete(intended: intended, measured: measured, status: .ok, batch: TensorwireRESTClient.batchInfo(from: reply.headers))
        } catch {
            complete(intended: intended, measured: measured, status: Status(code: error.code, message: error.message), batch: nil)
        }
    }

    /// Opens one PredictStream per connection (stream mode).
    func openLanes(closedLoop: Bool) {
        var list: [StreamLane] = []
        for (index, channel) in channels.enumerated() {
            let laneBox = Lock<StreamLane?>(nil)
            let stream = PredictStream.open(
                on: channel, metadata: metadata,
                onResponse: { [self] response in
                    guard let lane = laneBox.withLock({ $0 }) else { return }
                    let entry = lane.pending.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    guard let entry, !entry.expired else { return }
                    var status = response.error.map { Status(code: Status.Code(wireValue: Int($0.code)), message: $0.message) } ?? .ok
                    if let timeoutNanos, ConsoleIO.nowNanos() &- entry.sent >= timeoutNanos { status = streamDeadlineStatus }
                    complete(intended: entry.intended, measured: entry.measured, status: status, batch: status.isOK ? response.batch : nil)
                    if closedLoop {
                        channel.loop.execute { [self] in issue(slot: index, intended: ConsoleIO.nowNanos(), closedLoop: true) }
                    }
                },
                onFinish: { [self] status in
                    guard let lane = laneBox.withLock({ $0 }) else { return }
                    let left = lane.pending.withLock { pending in
                        defer { pending.removeAll() }
                        return pending
                    }
                    let failure = status.isOK ? Status(code: .internal, message: "the stream ended without answering") : status
                    for entry in left where !entry.expired {
                        complete(intended: entry.intended, measured: entry.measured, status: failure, batch: nil)
                    }
                })
            let lane = StreamLane(stream: stream)
            laneBox.withLock { $0 = lane }
            list.append(lane)
        }
        lanes.withLock { $0 = list }
    }

    /// Stream mode with --timeout: counts each request unanswered past its deadline as DEADLINE_EXCEEDED now (its
    /// late answer is dropped) and, in a closed loop, sends the next one in its place.
    func expireStreamRequests(now: UInt64, closedLoop: Bool) {
        guard options.stream, let timeoutNanos else { return }
        for (index, lane) in lanes.withLock({ $0 }).enumerated() {
            let expired = lane.pending.withLock { pending in
                var expired: [Pending] = []
                for position in pending.indices where !pending[position].expired && now &- pending[position].sent >= timeoutNanos {
                    pending[position].expired = true
                    expired.append(pending[position])
                }
                return expired
            }
            for entry in expired {
                complete(intended: entry.intended, measured: entry.measured, status: streamDeadlineStatus, batch: nil)
                if closedLoop {
                    let channel = channels[index % channels.count]
                    channel.loop.execute { [self] in issue(slot: index, intended: ConsoleIO.nowNanos(), closedLoop: true) }
                }
            }
        }
    }

    /// Runs the load, waits for every request to finish, and returns the report.
    func execute() -> BenchReport {
        let closedLoop = options.rate == nil
        if options.stream { openLanes(closedLoop: closedLoop) }
        var sender: pthread_t?
        var connectionThreads: [pthread_t] = []
        if options.http {
            for _ in 0..<options.connections {
                guard let thread = startThread({ [self] in runHTTPConnection(closedLoop: closedLoop) }) else { break }
                connectionThreads.append(thread)
            }
        } else if closedLoop {
            for slot in 0..<options.concurrency { issue(slot: slot, intended: ConsoleIO.nowNanos(), closedLoop: true) }
        }
        if !closedLoop { sender = startThread { [self] in sendOpenLoop() } }
        let terminal = console.isTerminal
        var lastProgress = start
        var firstSecondJudged = false
        var abandoned: Status?
        while true {
            ConsoleIO.sleep(untilNanos: ConsoleIO.nowNanos() + 20_000_000)
            let now = ConsoleIO.nowNanos()
            expireStreamRequests(now: now, closedLoop: closedLoop)
            if !firstSecondJudged, now >= start + 1_000_000_000 {
                // Every request that finished in the first second failed: more of the same only hides the reason.
                firstSecondJudged = true
                abandoned = state.withLock { state in
                    guard state.firstSecondCompleted > 0, state.firstSecondOK == 0, let first = state.firstError else { return nil }
                    state.stopped = true
                    state.report.firstSecondFailures = state.firstSecondCompleted
                    return first
                }
            }
            let (stopped, inFlight) = state.withLock { ($0.stopped, $0.inFlight) }
            if stopped && inFlight == 0 { break }
            if !stopped, let duration = options.durationNanos, now > start + options.warmupNanos + duration + 1_000_000_000 {
                // Nothing completes (a hung server): stop issuing; calls in flight end by deadline or close.
                state.withLock { $0.stopped = true }
            }
            if terminal, now - lastProgress >= 500_000_000 {
                lastProgress = now
                console.progress("\r\u{1B}[K" + progressLine(now: now))
            }
        }
        if let sender { pthread_join(sender, nil) }
        arrivals.close()
        for thread in connectionThreads { pthread_join(thread, nil) }
        if options.stream {
            for lane in lanes.withLock({ $0 }) {
                // Requests given up on (--timeout) may never be answered: end such a stream instead of waiting.
                if lane.pending.withLock({ $0.isEmpty }) { lane.stream.finish() } else { lane.stream.cancel() }
                _ = lane.stream.wait()
            }
        }
        if terminal { console.progress("\r\u{1B}[K") }
        return state.withLock { state in
            var report = state.report
            report.elapsedNanos = state.lastCompletion > state.measureStart ? state.lastCompletion - state.measureStart : 0
            report.abandonedAfterFirstSecond = abandoned
            return report
        }
    }

    func progressLine(now: UInt64) -> String {
        state.withLock { state in
            let r = state.report
            if now < state.measureStart { return "warming up… \(state.inFlight) in flight" }
            let seconds = Double(now - state.measureStart) / 1e9
            return "\(BenchReport.fixed(seconds, 1)) s  \(r.requests) req  \(BenchReport.fixed(Double(r.requests) / max(seconds, 1e-3), 0)) req/s"
                + "  \(r.errors) errors  p50 \(BenchReport.fixed(BenchReport.ms(r.histogram.value(atQuantile: 0.5)), 2)) ms"
                + "  p99 \(BenchReport.fixed(BenchReport.ms(r.histogram.value(atQuantile: 0.99)), 2)) ms"
        }
    }

    /// Runs `body` on a thread of its own (the open-loop sender, an HTTP connection). When no thread can be made, the
    /// run stops.
    func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(ThreadBody(body))
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            state.withLock { $0.stopped = true }
            return nil
        }
        return thread
    }

    /// The open-loop sender: sends each request at its intended time (constant or exponential gaps), catching up at
    /// once when behind so the lag shows as latency.
    func sendOpenLoop() {
        guard let rate = options.rate else { return }
        var generator = SystemRandomNumberGenerator()
        var intended = Double(start)
        var slot = 0
        while true {
            let gap = options.poisson ? -log(1 - Double.random(in: 0..<1, using: &generator)) / rate : 1 / rate
            intended += gap * 1e9
            let time = UInt64(intended)
            ConsoleIO.sleep(untilNanos: time)
            if state.withLock({ $0.stopped }) { return }
            issue(slot: slot, intended: time, closedLoop: false)
            slot &+= 1
        }
    }
}

/// Carries a thread's body to it (pthread_create takes one pointer).
final class ThreadBody: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// An HTTP open loop's requests, claimed by the sender at their intended times and waiting for one of the
/// connection threads (each carries one request at a time), in order. Threads: any.
final class ArrivalQueue: Sendable {
    struct Arrival: Sendable {
        var intended: UInt64
        var measured: Bool
        var payload: [UInt8]
    }

    struct State {
        var items: [Arrival] = []
        var head = 0
    }

    private let state = Lock(State())
    /// One signal per arrival, and one for the close (each thread that sees it passes it on).
    private let ready = DispatchSemaphore(value: 0)

    func put(_ arrival: Arrival) {
        state.withLock { $0.items.append(arrival) }
        ready.signal()
    }

    /// The next arrival, waiting for one; nil once the queue is closed and empty.
    func take() -> Arrival? {
        ready.wait()
        let next = state.withLock { state -> Arrival? in
            guard state.head < state.items.count else { return nil }
            let arrival = state.items[state.head]
            state.head += 1
            if state.head >= 4096 {
                state.items.removeFirst(state.head)
                state.head = 0
            }
            return arrival
        }
        if next == nil { ready.signal() }
        return next
    }

    /// No more arrivals (the sender has ended): every waiting thread gets nil once the queue is empty.
    func close() {
        ready.signal()
    }
}
