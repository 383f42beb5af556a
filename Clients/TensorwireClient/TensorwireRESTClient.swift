// Clients/TensorwireClient/TensorwireRESTClient.swift: typed calls to the server's native REST API over HTTP/1.1.
public import Crypto
internal import HTTPTypes
internal import JSONWire
internal import Locks
public import RPCCore
public import TensorwireProto
internal import TensorwireJSON

/// A typed client of one Tensorwire server's native REST API (docs/rest.md): `POST /v1/models/{m}[/versions/{v}]:predict`,
/// `GET /v1/models`, `GET /v1/models/{m}` with proto3 JSON bodies, and the readiness probe `GET /v2/health/ready`,
/// over one keep-alive HTTP/1.1 connection (`HTTP1ClientConnection`).
///
/// The calls mirror `TensorwireClient`'s blocking unary ones and fail the same way: an HTTP error status becomes
/// the gRPC code the server mapped to it (404 NOT_FOUND, 504 DEADLINE_EXCEEDED, …; `code(forHTTPStatus:)`) with
/// the message of its `{"error": "…"}` body, so a caller handles one `RPCError` whichever protocol it speaks.
/// Metadata is sent as header fields (`-bin` values in base64); `timeout` bounds each exchange on the client (the
/// REST routes take no deadline from the request).
///
/// Threads: every member may be used from any thread; calls are serialized on the one connection (HTTP/1.1 has one
/// request in flight), so a load generator gives each thread its own client. Never call from a loop thread.
public final class TensorwireRESTClient: Sendable {
    /// The paths this client requests.
    public enum Paths {
        public static let listModels = "/v1/models"
        public static let ready = "/v2/health/ready"

        /// `/v1/models/{model}` (the name percent-encoded).
        public static func model(_ name: String) -> String { "/v1/models/" + percentEncoded(name) }

        /// `/v1/models/{model}[/versions/{version}]:predict`.
        public static func predict(model: String, version: String = "") -> String {
            Paths.model(model) + (version.isEmpty ? "" : "/versions/" + percentEncoded(version)) + ":predict"
        }

        /// A path segment with every byte outside RFC 3986's unreserved set percent-encoded.
        public static func percentEncoded(_ segment: String) -> String {
            var out = ""
            for byte in segment.utf8 {
                switch byte {
                case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                    UInt8(ascii: "~"):
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                default:
                    let hex = Array("0123456789ABCDEF".unicodeScalars)
                    out.unicodeScalars.append("%")
                    out.unicodeScalars.append(hex[Int(byte >> 4)])
                    out.unicodeScalars.append(hex[Int(byte & 0xF)])
                }
            }
            return out
        }
    }

    public let host: String
    public let port: Int
    /// The deadline of a call that passes none; nil is no deadline.
    public let defaultTimeout: Duration?
    /// Header fields sent with every call, before the call's own.
    public let defaultMetadata: Metadata
    private let connection: Lock<HTTP1ClientConnection>

    /// A client of host:port (HTTPS with `tls`, whose ALPN should offer http/1.1). No I/O: the first call connects
    /// (a failed connect fails that call with UNAVAILABLE).
    public init(
        host: String, port: Int, defaultTimeout: Duration? = nil, defaultMetadata: Metadata = Metadata(),
        limits: HTTP1ResponseParser.Limits = HTTP1ResponseParser.Limits(), tls: TLSClientContext? = nil
    ) {
        self.host = host
        self.port = port
        self.defaultTimeout = defaultTimeout
        self.defaultMetadata = defaultMetadata
        connection = Lock(HTTP1ClientConnection(host: host, port: port, limits: limits, tls: tls))
    }

    /// Closes the connection; a later call opens a new one.
    public func close() {
        connection.withLock { $0.close() }
    }

    // MARK: Calls

    /// Runs one request (blocking). The answer's batch facts come from its JSON `batch`, or from the `tw-*` headers.
    public func predict(
        _ request: TensorwireV1.PredictRequest, timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) throws(RPCError) -> TensorwireV1.PredictResponse {
        let reply = try predict(
            jsonBody: request.jsonUTF8(), model: request.model, version: request.version, timeout: timeout, metadata: metadata)
        var response: TensorwireV1.PredictResponse = try Self.decode(reply.message)
        if response.batch == nil { response.batch = Self.batchInfo(from: reply.headers) }
        return response
    }

    /// Runs one request whose body is already a `PredictRequest` in JSON (a load generator sends the same bytes many
    /// times) and returns the JSON answer undecoded, with the response's header fields (`tw-batch-size`,
    /// `tw-queue-us`, `tw-compute-us`; `batchInfo(from:)` reads them).
    public func predict(
        jsonBody: [UInt8], model: String, version: String = "", timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) throws(RPCError) -> Reply<[UInt8]> {
        let response = try exchange(
            "POST", Paths.predict(model: model, version: version), body: jsonBody, timeout: timeout, metadata: metadata)
        let headers = (try? Metadata(headerFields: response.headers)) ?? Metadata()
        return Reply(message: response.body, headers: headers, trailers: Metadata())
    }

    /// Every model in the server's repository (blocking).
    public func listModels(timeout: Duration? = nil, metadata: Metadata = Metadata()) throws(RPCError)
        -> [TensorwireV1.ModelInfo]
    {
        let response = try exchange("GET", Paths.listModels, timeout: timeout, metadata: metadata)
        let list: TensorwireV1.ListModelsResponse = try Self.decode(response.body)
        return list.models
    }

    /// One model's description (blocking); NOT_FOUND for an unknown model.
    public func getModel(_ name: String, timeout: Duration? = nil, metadata: Metadata = Metadata()) throws(RPCError)
        -> TensorwireV1.ModelInfo
    {
        let response = try exchange("GET", Paths.model(name), timeout: timeout, metadata: metadata)
        return try Self.decode(response.body)
    }

    /// `GET /v2/health/ready`: true when the server is ready (200), false when it answers 503 `{"ready":false}`
    /// (the gRPC health rule: models missing under --strict-readiness, or shutting down).
    public func ready(timeout: Duration? = nil, metadata: Metadata = Metadata()) throws(RPCError) -> Bool {
        let response = try send("GET", Paths.ready, body: [], timeout: timeout, metadata: metadata)
        if response.status == 200 { return true }
        if response.status == 503, Self.readyMember(response.body) == false { return false }
        throw Self.error(for: response)
    }

    // MARK: Mapping

    /// The gRPC code of an HTTP status, the inverse of the server's mapping (docs/rest.md): 400 INVALID_ARGUMENT,
    /// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ABORTED, 429 RESOURCE_EXHAUSTED, 499
    /// CANCELLED, 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED; for statuses the server's services do
    /// not send, the nearest: 405 UNIMPLEMENTED, 408 DEADLINE_EXCEEDED, 413 and 431 RESOURCE_EXHAUSTED, another 4xx
    /// INVALID_ARGUMENT, 5xx INTERNAL (502 UNAVAILABLE), anything else UNKNOWN.
    public static func code(forHTTPStatus status: Int) -> Status.Code {
        switch status {
        case 200..<300: .ok
        case 401: .unauthenticated
        case 403: .permissionDenied
        case 404: .notFound
        case 405, 501: .unimplemented
        case 408, 504: .deadlineExceeded
        case 409: .aborted
        case 413, 429, 431: .resourceExhausted
        case 499: .cancelled
        case 502, 503: .unavailable
        case 400..<500: .invalidArgument
        case 500..<600: .internal
        default: .unknown
        }
    }

    /// The batch facts of an inference answer's `tw-batch-size`, `tw-queue-us` and `tw-compute-us` headers (nil when
    /// `tw-batch-size` is absent or not a number: the request never reached a batch). `batch_requests` is not sent
    /// as a header and stays 0.
    public static func batchInfo(from headers: Metadata) -> TensorwireV1.BatchInfo? {
        guard let size = headers.strings(forKey: "tw-batch-size").first.flatMap({ UInt32($0) }) else { return nil }
        var batch = TensorwireV1.BatchInfo()
        batch.batchSize = size
        batch.queueUs = headers.strings(forKey: "tw-queue-us").first.flatMap { UInt64($0) } ?? 0
        batch.computeUs = headers.strings(forKey: "tw-compute-us").first.flatMap { UInt64($0) } ?? 0
        return batch
    }

    /// The error an HTTP error answer stands for: its gRPC code and the message of its `{"error": "…"}` body (the
    /// status and the start of the body when the body is not that).
    public static func error(for response: HTTP1ClientResponse) -> RPCError {
        let code = code(forHTTPStatus: response.status)
        let message = errorMember(response.body)
            ?? "HTTP \(response.status)\(response.reason.isEmpty ? "" : " " + response.reason)"
            + (response.body.isEmpty ? "" : ": " + String(decoding: response.body.prefix(200), as: UTF8.self))
        return RPCError(code: code == .ok ? .unknown : code, message: message)
    }

    // MARK: Helpers

    /// One exchange whose answer must be 2xx (else its error is thrown).
    private func exchange(
        _ method: String, _ path: String, body: [UInt8] = [], timeout: Duration?, metadata: Metadata
    ) throws(RPCError) -> HTTP1ClientResponse {
        let response = try send(method, path, body: body, timeout: timeout, metadata: metadata)
        guard (200..<300).contains(response.status) else { throw Self.error(for: response) }
        return response
    }

    private func send(
        _ method: String, _ path: String, body: [UInt8], timeout: Duration?, metadata: Metadata
    ) throws(RPCError) -> HTTP1ClientResponse {
        var headers = defaultMetadata.headerFields
        headers.append(contentsOf: metadata.headerFields)
        headers.append(HeaderField("accept", "application/json"))
        if !body.isEmpty { headers.append(HeaderField("content-type", "application/json")) }
        let request = HTTP1ClientRequest(method: method, target: path, headers: headers, body: body)
        let limit = timeout ?? defaultTimeout
        return try connection.withLock { connection throws(RPCError) in try connection.send(request, timeout: limit) }
    }

    private static func decode<Message: ProtoJSONMessage>(_ body: [UInt8]) throws(RPCError) -> Message {
        do {
            return try Message(jsonUTF8: body)
        } catch {
            throw RPCError(code: .internal, message: "undecodable \(Message.protoJSONName) JSON: \(error)")
        }
    }

    /// The string of the top-level `error` member, if the body is a JSON object with one.
    static func errorMember(_ body: [UInt8]) -> String? {
        member("error", of: body, .string) { reader throws(JSONError) in try reader.readString() }
    }

    /// The boolean `ready` member, if the body is a JSON object with one.
    static func readyMember(_ body: [UInt8]) -> Bool? {
        member("ready", of: body, .bool) { reader throws(JSONError) in try reader.readBool() }
    }

    /// The top-level member `name` of kind `kind`, read by `read`, if the body is a JSON object with one.
    private static func member<Value>(
        _ name: String, of body: [UInt8], _ kind: JSONKind, _ read: (inout JSONReader) throws(JSONError) -> Value
    ) -> Value? {
        var found: Value?
        var reader = JSONReader(body)
        do {
            try reader.readObject { reader, member throws(JSONError) in
                if member == name, try reader.peekKind() == kind { found = try read(&reader) }
            }
            try reader.finish()
        } catch {
            return nil
        }
        return found
    }
}
