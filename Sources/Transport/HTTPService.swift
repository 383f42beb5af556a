// Sources/Transport/HTTPService.swift: REST requests beside gRPC on the same port (HTTP/1.1 and h2c).

public import EventLoop
public import HTTPTypes
internal import Clocks
internal import Locks
internal import Synchronization
public import Tracing

/// The protocol that carried an `HTTPRequest`.
public enum HTTPVersion: String, Sendable, Equatable {
    case http1_0 = "HTTP/1.0"
    case http1_1 = "HTTP/1.1"
    /// An HTTP/2 stream whose `content-type` is not gRPC (h2c with prior knowledge).
    case http2 = "HTTP/2"
}

/// One complete REST request, head and body, from an HTTP/1.1 connection or from an HTTP/2 stream whose
/// `content-type` is not `application/grpc…`. The transport has already bounded it: the head by the parser's limits
/// (HTTP/1.1) or the header-list cap (HTTP/2), the body by `maxReceiveMessageBytes`. A plain value.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent, in origin form: path and optional `?query`.
    public var target: String
    /// Header fields in wire order, names as sent (HTTP/2: lowercase); no pseudo-headers.
    public var headers: [HeaderField]
    public var body: [UInt8]
    public var version: HTTPVersion
    /// The client's address (`host:port`), or "".
    public var peer: String
    /// The verified client certificate's identity under mutual TLS (as `ServerCall.peerIdentity`); nil otherwise.
    public var peerIdentity: String?

    public init(
        method: String, target: String, headers: [HeaderField], body: [UInt8], version: HTTPVersion, peer: String = "",
        peerIdentity: String? = nil
    ) {
        self.peer = peer
        self.peerIdentity = peerIdentity
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.version = version
    }

    /// The target's path (before any `?`).
    public var path: Substring {
        if let mark = target.firstIndex(of: "?") { return target[..<mark] }
        return target[...]
    }

    /// The target's query string (after `?`), or nil.
    public var query: Substring? {
        guard let mark = target.firstIndex(of: "?") else { return nil }
        return target[target.index(after: mark)...]
    }

    /// The first value of the header `name` (ASCII case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        headers.first { Self.equalsIgnoringCase($0.name, name) }?.value
    }

    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        return zip(a.utf8, b.utf8).allSatisfy { lowercased($0) == lowercased($1) }
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}

/// A REST response. The transport adds the framing headers (`content-length`, `connection`, `date`); `headers`
/// must not carry them, nor pseudo-headers. Names lowercase (HTTP/2 requires it; HTTP/1.1 clients ignore case).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [HeaderField]
    public var body: [UInt8]

    public init(status: Int, headers: [HeaderField] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The entry point of the REST side: called on the connection's loop thread with each complete request; answers
/// through the `HTTPResponder`, now or later, from any thread. Must not block. A value; safe to share between loops.
public struct HTTPRequestHandler: Sendable {
    let handle: @Sendable (HTTPRequest, HTTPResponder) -> Void

    public init(_ handle: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) {
        self.handle = handle
    }
}

/// The handle on one REST request's answer. It holds ids (loop, connection, request), never the connection.
///
/// Threads: every member may be used from any thread. `respond` from the loop thread applies at once, from another
/// thread it is handed over with `loop.execute`. Only the first `respond` counts; after the client went away (the
/// connection closed, the HTTP/2 stream was reset) it is dropped silently.
public final class HTTPResponder: Sendable {
    /// The loop thread that owns the request's connection.
    public let loop: EventLoop

    /// Where the answer goes: an HTTP/1.1 connection's request (by sequence number) or an HTTP/2 stream.
    enum Target: Sendable {
        case http1(sequence: UInt64)
        case http2(streamID: Int32)
    }

    let context: LoopBound<LoopContext>
    let connectionID: UInt64
    let target: Target
    /// The server's span when the request carried a valid `traceparent`; it goes back in the answer's headers.
    public let trace: TraceContext?
    /// What the summary needs (nil `report`: the server collects none).
    private let peer: String
    private let route: String
    private let started: MonotonicInstant?
    private let report: (@Sendable (RequestSummary) -> Void)?
    /// The server's count of unanswered REST requests: one up here, one down at the answer or the cancellation.
    private let counts: ServerShared?

    private struct Shared {
        var responded = false
        var cancelled = false
        var cancelHandlers: [@Sendable () -> Void] = []
        var annotations = RequestAnnotations()
    }

    private let shared = Lock(Shared())

    init(
        context: LoopBound<LoopContext>, connectionID: UInt64, target: Target, request: HTTPRequest,
        report: (@Sendable (RequestSummary) -> Void)?, counts: ServerShared? = nil
    ) {
        self.counts = counts
        counts?.openRESTRequests.wrappingAdd(1, ordering: .relaxed)
        self.loop = context.loop
        self.context = context
        self.connectionID = connectionID
        self.target = target
        self.report = report
        self.peer = request.peer
        if let field = request.header(TraceContext.fieldName), let caller = TraceContext(traceparent: field) {
            var generator = SystemRandomNumberGenerator()
            trace = caller.childSpan(newSpanID: SpanID.random(using: &generator))
        } else {
            trace = nil
        }
        if report != nil {
            route = request.method + " " + String(request.path.prefix(256))
            started = context.loop.clock.now()
        } else {
            route = ""
            started = nil
        }
    }

    /// Adds what the handler knows (model, version, batch facts, the gRPC status name) to the request's summary.
    /// Any thread; skipped when the server collects no summaries.
    public func annotate(_ body: (inout RequestAnnotations) -> Void) {
        guard report != nil else { return }
        shared.withLock { body(&$0.annotations) }
    }

    /// Sends `response` (the first call only).
    public func respond(_ response: HTTPResponse) {
        let first = shared.withLock { state in
            defer { state.responded = true; state.cancelHandlers = [] }
            return !state.responded
        }
        guard first else { return }
        var response = response
        if let trace { response.headers.append(HeaderField(TraceContext.fieldName, trace.traceparent)) }
        if loop.inEventLoop {
            deliver(response)
        } else {
            loop.execute { [response] in self.deliver(response) }
        }
    }

    /// Loop thread: the request's summary, once (from `deliver` or `markCancelled`).
    private func summarize(httpStatus: Int) {
        guard let report, let started else { return }
        let annotations = shared.withLock { $0.annotations }
        report(RequestSummary(
            wireProtocol: .http, peer: peer, route: route,
            statusName: annotations.statusName ?? HTTPStatusMapping.statusName(forHTTPStatus: httpStatus),
            httpStatus: httpStatus,
            durationMicroseconds: Int(clamping: loop.clock.now().nanoseconds(since: started) / 1000),
            traceID: trace?.traceID, annotations: annotations))
    }

    /// True once the answer can no longer be delivered (the client went away, the server stopped).
    public var isCancelled: Bool { shared.withLock { $0.cancelled } }

    /// Runs `body` once if the client goes away before the answer (on the loop thread), or at once on the caller's
    /// thread if it already has.
    public func onCancel(_ body: @escaping @Sendable () -> Void) {
        let already = shared.withLock { state in
            if state.cancelled { return true }
            if !state.responded { state.cancelHandlers.append(body) }
            return false
        }
        if already { body() }
    }

    /// Loop thread.
    private func deliver(_ response: HTTPResponse) {
        counts?.openRESTRequests.wrappingSubtract(1, ordering: .relaxed)
        summarize(httpStatus: response.status)
        switch target {
        case .http1(let sequence):
            context.value.http1Connections[connectionID]?.respond(sequence: sequence, response)
        case .http2(let streamID):
            (context.value.connections[connectionID] as? ServerConnection)?.respondREST(streamID: streamID, response)
        }
    }

    /// Loop thread: the client went away before the answer.
    func markCancelled() {
        let handlers = shared.withLock { state -> [@Sendable () -> Void]? in
            guard !state.cancelled, !state.responded else { return nil }
            state.cancelled = true
            defer { state.cancelHandlers = [] }
            return state.cancelHandlers
        }
        guard let handlers else { return }
        counts?.openRESTRequests.wrappingSubtract(1, ordering: .relaxed)
        summarize(httpStatus: 499)
        for handler in handlers { handler() }
    }
}

/// The error body of a request the transport refuses before any handler sees it (a malformed or oversized
/// request): `{"error":"…"}`, the shape every REST answer of ours uses.
func transportErrorResponse(status: Int, message: String) -> HTTPResponse {
    var body = Array("{\"error\":\"".utf8)
    for scalar in message.unicodeScalars {
        switch scalar {
        case "\"": body += Array("\\\"".utf8)
        case "\\": body += Array("\\\\".utf8)
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            body += Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
        default: body += Array(String(scalar).utf8)
        }
    }
    body += Array("\"}".utf8)
    return HTTPResponse(status: status, headers: [HeaderField("content-type", "application/json")], body: body)
}
