// Sources/Transport/RequestSummary.swift: what the transport reports when a request ends (access log, metrics).

public import Tracing

/// What a handler adds to a request's summary: the model it ran, the batch it rode in, the request id. Set through
/// `ServerCall.annotate` / `HTTPResponder.annotate` (only when the server asked for summaries). A plain value.
public struct RequestAnnotations: Sendable, Equatable {
    public var model = ""
    public var version = ""
    public var requestID = ""
    /// `native` or `kserve` for inference; "" for the rest.
    public var api = ""
    public var batchSize = 0
    public var queueMicroseconds = 0
    public var computeMicroseconds = 0
    /// REST: the gRPC status name of the answer (an HTTP status alone is ambiguous: 400 is INVALID_ARGUMENT or
    /// FAILED_PRECONDITION); nil: derived from the HTTP status.
    public var statusName: String?

    public init() {}
}

/// One finished request, as the transport saw it: reported once per gRPC call (whatever ended it: our status, the
/// client's reset, the connection's loss) and once per REST request, on the connection's loop thread, to
/// `GRPCServer.Configuration.onRequestEnd`. A plain value.
public struct RequestSummary: Sendable {
    /// `grpc` or `http` (REST over HTTP/1.1 or h2c).
    public enum WireProtocol: String, Sendable {
        case grpc, http
    }

    public var wireProtocol: WireProtocol
    /// The client's address (`host:port`).
    public var peer: String
    /// gRPC: the method path (`/tensorwire.v1.Inference/Predict`); REST: `METHOD /path`.
    public var route: String
    /// The gRPC status name (`OK`, `NOT_FOUND`, …), for REST answers too.
    public var statusName: String
    /// REST: the HTTP status sent; nil for gRPC.
    public var httpStatus: Int?
    /// From the request's arrival (its headers) to its end.
    public var durationMicroseconds: Int
    /// The caller's trace id from `traceparent`, or nil.
    public var traceID: TraceID?
    public var annotations: RequestAnnotations
}

extension RequestSummary {
    /// A REST request the transport refused before any handler saw it (a parse error, a body over the limit).
    static func refusedHTTP(peer: String, route: String, httpStatus: Int) -> RequestSummary {
        RequestSummary(
            wireProtocol: .http, peer: peer, route: route,
            statusName: HTTPStatusMapping.statusName(forHTTPStatus: httpStatus), httpStatus: httpStatus,
            durationMicroseconds: 0, traceID: nil, annotations: RequestAnnotations())
    }
}

/// The HTTP status of a gRPC code, and back (Google's API guidelines; grpc-gateway maps them the same way).
public enum HTTPStatusMapping {
    /// The gRPC status name a REST answer's HTTP status stands for when the handler did not say.
    public static func statusName(forHTTPStatus status: Int) -> String {
        switch status {
        case 200..<300: "OK"
        case 400: "INVALID_ARGUMENT"
        case 401: "UNAUTHENTICATED"
        case 403: "PERMISSION_DENIED"
        case 404: "NOT_FOUND"
        case 408, 504: "DEADLINE_EXCEEDED"
        case 409: "ABORTED"
        case 413, 414, 429, 431: "RESOURCE_EXHAUSTED"
        case 499: "CANCELLED"
        case 405, 501, 505: "UNIMPLEMENTED"
        case 503: "UNAVAILABLE"
        default: "INTERNAL"
        }
    }
}
