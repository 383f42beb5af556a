// Sources/Logging/AccessLog.swift: one line per finished request (`--access-log`), component `access`.

/// What the access log says about one finished request, gRPC or HTTP. A value the request path fills in as the
/// request ends; `fields` turns it into the line's keys, always the same keys in the same order (`keys`), each with
/// one JSON type in every line, so a log store maps each key once:
///
/// | key | type | meaning |
/// | --- | --- | --- |
/// | `peer` | string | the client's address, `host:port` |
/// | `protocol` | string | `grpc` or `http` |
/// | `route` | string | the gRPC method path (`/tensorwire.v1.Inference/Predict`) or HTTP method and path |
/// | `model` | string | the model named by the request; `""` when none (health, reflection, an unparsable body) |
/// | `version` | string | the model version that answered, or that was asked for; `""` when none |
/// | `status` | string | the gRPC status name (`OK`, `INVALID_ARGUMENT`, `NOT_FOUND`…), for HTTP requests too |
/// | `http_status` | number | HTTP requests only: the response's status code |
/// | `duration_us` | number | end to end: request headers received to the last byte of the response queued |
/// | `queue_us` | number | time in the model's batch queue; 0 when the request was not queued |
/// | `compute_us` | number | time computing the request's batch; 0 when not computed |
/// | `batch_size` | number | rows in the batch that computed the request; 0 when not computed |
/// | `request_id` | string | the request's id (`x-request-id` as received, or the server's); `""` when none |
/// | `trace_id` | string | the W3C trace id (32 lowercase hex digits) the request ran under; `""` when none |
public struct AccessLogRecord: Sendable, Hashable {
    /// How the request arrived.
    public enum WireProtocol: String, Sendable, Hashable {
        case grpc
        case http
    }

    public var peer: String
    public var wireProtocol: WireProtocol
    public var route: String
    public var model: String
    public var version: String
    /// The gRPC status name, e.g. `OK`; an HTTP request's too (the status its answer maps to).
    public var status: String
    /// The HTTP status code of an HTTP request; nil for gRPC (where it is always 200), and then the key is absent.
    public var httpStatus: Int?
    public var durationMicroseconds: Int
    public var queueMicroseconds: Int
    public var computeMicroseconds: Int
    public var batchSize: Int
    public var requestID: String
    public var traceID: String

    public init(
        peer: String, wireProtocol: WireProtocol, route: String, model: String = "", version: String = "",
        status: String, httpStatus: Int? = nil, durationMicroseconds: Int, queueMicroseconds: Int = 0,
        computeMicroseconds: Int = 0, batchSize: Int = 0, requestID: String = "", traceID: String = ""
    ) {
        self.peer = peer
        self.wireProtocol = wireProtocol
        self.route = route
        self.model = model
        self.version = version
        self.status = status
        self.httpStatus = httpStatus
        self.durationMicroseconds = durationMicroseconds
        self.queueMicroseconds = queueMicroseconds
        self.computeMicroseconds = computeMicroseconds
        self.batchSize = batchSize
        self.requestID = requestID
        self.traceID = traceID
    }

    /// Every key an access line can carry, in line order; `http_status` only on HTTP lines.
    public static let keys = [
        "peer", "protocol", "route", "model", "version", "status", "http_status", "duration_us", "queue_us",
        "compute_us", "batch_size", "request_id", "trace_id",
    ]

    /// The line's fields, in the order of `keys`.
    public var fields: LogFields {
        var fields: LogFields = [
            "peer": .string(peer), "protocol": .string(wireProtocol.rawValue), "route": .string(route),
            "model": .string(model), "version": .string(version), "status": .string(status),
        ]
        if let httpStatus { fields["http_status"] = .int(httpStatus) }
        fields["duration_us"] = .int(durationMicroseconds)
        fields["queue_us"] = .int(queueMicroseconds)
        fields["compute_us"] = .int(computeMicroseconds)
        fields["batch_size"] = .int(batchSize)
        fields["request_id"] = .string(requestID)
        fields["trace_id"] = .string(traceID)
        return fields
    }
}

/// The access log: when on (`--access-log`), one `INFO` line per finished request with component `access`, an empty
/// message and the fields of `AccessLogRecord`, in the sink's format. Its lines are written whatever the sink's
/// `minimumLevel` (`--log-level` filters the server's own diagnostics; the access log has its own switch). When off,
/// `log` is one branch: the record's autoclosure is never called, nothing is formatted. A value; copy it to every
/// thread that finishes requests.
public struct AccessLog: Sendable {
    /// The component of every access line.
    public static let component = "access"

    public let isEnabled: Bool
    private let sink: LogSink

    public init(sink: LogSink, enabled: Bool) {
        self.sink = sink
        isEnabled = enabled && !(sink.output is DiscardingOutput)
    }

    /// Writes nothing.
    public static let disabled = AccessLog(sink: .discarding, enabled: false)

    /// Writes `record`'s line if the access log is on.
    public func log(_ record: @autoclosure () -> AccessLogRecord) {
        guard isEnabled else { return }
        sink.write(LogRecord(time: sink.clock(), level: .info, component: Self.component, message: "", fields: record().fields))
    }
}
