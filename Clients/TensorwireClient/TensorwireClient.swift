// Clients/TensorwireClient/TensorwireClient.swift: typed calls to a Tensorwire server over the Transport client.
internal import Dispatch
internal import Locks
public import ProtoWire
public import RPCCore
public import TensorwireProto
public import Transport

/// A typed client of one Tensorwire server: `tensorwire.v1.Inference` (Predict, PredictStream, ListModels,
/// GetModel) and `grpc.health.v1.Health/Check`, over one reused HTTP/2 connection.
///
/// Every call comes in a blocking form (throws `RPCError`; never call it on the connection's loop thread, which is
/// where callbacks run), a callback form (the completion runs on the connection's loop thread) and an `async` form.
/// Each call takes an optional deadline and metadata; both default to the client's own (`defaultTimeout`,
/// `defaultMetadata`), and call metadata is appended to the default metadata.
///
/// Threads: every member may be used from any thread.
public final class TensorwireClient: Sendable {
    /// The RPC paths this client calls.
    public enum Paths {
        public static let predict = "/tensorwire.v1.Inference/Predict"
        public static let predictStream = "/tensorwire.v1.Inference/PredictStream"
        public static let listModels = "/tensorwire.v1.Inference/ListModels"
        public static let getModel = "/tensorwire.v1.Inference/GetModel"
        public static let healthCheck = "/grpc.health.v1.Health/Check"
    }

    /// The connection every call uses.
    public let connection: ClientConnection
    /// The deadline of a call that passes none; nil is no deadline.
    public let defaultTimeout: Duration?
    /// Metadata sent with every call, before the call's own.
    public let defaultMetadata: Metadata
    private let ownsConnection: Bool

    /// Connects to host:port (non-blocking: the first call waits for the connection; a failed connect fails calls
    /// with UNAVAILABLE). Throws only for an unusable address.
    public init(
        host: String, port: Int, defaultTimeout: Duration? = nil, defaultMetadata: Metadata = Metadata(),
        configuration: ClientConnection.Configuration = ClientConnection.Configuration()
    ) throws {
        connection = try ClientConnection(host: host, port: port, configuration: configuration)
        self.defaultTimeout = defaultTimeout
        self.defaultMetadata = defaultMetadata
        ownsConnection = true
    }

    /// Uses an existing connection (shared with other clients); `close()` then leaves it open.
    public init(connection: ClientConnection, defaultTimeout: Duration? = nil, defaultMetadata: Metadata = Metadata()) {
        self.connection = connection
        self.defaultTimeout = defaultTimeout
        self.defaultMetadata = defaultMetadata
        ownsConnection = false
    }

    deinit {
        if ownsConnection { connection.close() }
    }

    /// Closes the connection if this client opened it; running calls end with UNAVAILABLE.
    public func close() {
        if ownsConnection { connection.close() }
    }

    // MARK: Generic unary calls

    /// A unary call with typed messages and a callback (on the connection's loop thread).
    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        path: String, _ request: Request, as: Response.Type = Response.self, timeout: Duration? = nil,
        metadata: Metadata = Metadata(), completion: @escaping @Sendable (Result<Reply<Response>, RPCError>) -> Void
    ) {
        connection.unary(
            path: path, request: request.serializedBytes(), metadata: merged(metadata), timeout: timeout ?? defaultTimeout
        ) { response in
            completion(Self.decode(response))
        }
    }

    /// A blocking unary call with typed messages. Not on the connection's loop thread.
    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        path: String, _ request: Request, as: Response.Type = Response.self, timeout: Duration? = nil,
        metadata: Metadata = Metadata()
    ) throws(RPCError) -> Reply<Response> {
        let response = connection.unary(
            path: path, request: request.serializedBytes(), metadata: merged(metadata), timeout: timeout ?? defaultTimeout)
        return try Self.decode(response).get()
    }

    /// An `async` unary call with typed messages.
    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        path: String, _ request: Request, as: Response.Type = Response.self, timeout: Duration? = nil,
        metadata: Metadata = Metadata()
    ) async throws(RPCError) -> Reply<Response> {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Reply<Response>, RPCError>, Never>) in
            unary(path: path, request, as: Response.self, timeout: timeout, metadata: metadata) { result in
                continuation.resume(returning: result)
            }
        }
        return try result.get()
    }

    // MARK: Predict

    /// Runs one request (blocking).
    public func predict(
        _ request: TensorwireV1.PredictRequest, timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) throws(RPCError) -> TensorwireV1.PredictResponse {
        try unary(path: Paths.predict, request, as: TensorwireV1.PredictResponse.self, timeout: timeout, metadata: metadata)
            .message
    }

    /// Runs one request; the completion gets the response with its headers and trailers.
    public func predict(
        _ request: TensorwireV1.PredictRequest, timeout: Duration? = nil, metadata: Metadata = Metadata(),
        completion: @escaping @Sendable (Result<Reply<TensorwireV1.PredictResponse>, RPCError>) -> Void
    ) {
        unary(path: Paths.predict, request, timeout: timeout, metadata: metadata, completion: completion)
    }

    /// Runs one request (`async`).
    public func predict(
        _ request: TensorwireV1.PredictRequest, timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) async throws(RPCError) -> TensorwireV1.PredictResponse {
        try await unary(path: Paths.predict, request, as: TensorwireV1.PredictResponse.self, timeout: timeout,
                        metadata: metadata).message
    }

    // MARK: Models

    /// Every model in the server's repository (blocking).
    public func listModels(timeout: Duration? = nil, metadata: Metadata = Metadata()) throws(RPCError)
        -> [TensorwireV1.ModelInfo]
    {
        try unary(path: Paths.listModels, TensorwireV1.ListModelsRequest(), as: TensorwireV1.ListModelsResponse.self,
                  timeout: timeout, metadata: metadata).message.models
    }

    /// Every model in the server's repository (`async`).
    public func listModels(timeout: Duration? = nil, metadata: Metadata = Metadata()) async throws(RPCError)
        -> [TensorwireV1.ModelInfo]
    {
        try await unary(path: Paths.listModels, TensorwireV1.ListModelsRequest(),
                        as: TensorwireV1.ListModelsResponse.self, timeout: timeout, metadata: metadata).message.models
    }

    /// One model's description (blocking); NOT_FOUND for an unknown model.
    public func getModel(_ name: String, timeout: Duration? = nil, metadata: Metadata = Metadata()) throws(RPCError)
        -> TensorwireV1.ModelInfo
    {
        var request = TensorwireV1.GetModelRequest()
        request.model = name
        return try unary(path: Paths.getModel, request, as: TensorwireV1.ModelInfo.self, timeout: timeout,
                         metadata: metadata).message
    }

    /// One model's description (`async`).
    public func getModel(_ name: String, timeout: Duration? = nil, metadata: Metadata = Metadata()) async throws(RPCError)
        -> TensorwireV1.ModelInfo
    {
        var request = TensorwireV1.GetModelRequest()
        request.model = name
        return try await unary(path: Paths.getModel, request, as: TensorwireV1.ModelInfo.self, timeout: timeout,
                               metadata: metadata).message
    }

    // MARK: Health

    /// `grpc.health.v1.Health/Check` for `service` ("" is the whole server) (blocking). An unknown service is
    /// NOT_FOUND, as the health protocol specifies.
    public func health(
        service: String = "", timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) throws(RPCError) -> GRPCHealthV1.HealthCheckResponse.ServingStatus {
        try unary(path: Paths.healthCheck, GRPCHealthV1.HealthCheckRequest(service: service),
                  as: GRPCHealthV1.HealthCheckResponse.self, timeout: timeout, metadata: metadata).message.status
    }

    /// `grpc.health.v1.Health/Check` (`async`).
    public func health(
        service: String = "", timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) async throws(RPCError) -> GRPCHealthV1.HealthCheckResponse.ServingStatus {
        try await unary(path: Paths.healthCheck, GRPCHealthV1.HealthCheckRequest(service: service),
                        as: GRPCHealthV1.HealthCheckResponse.self, timeout: timeout, metadata: metadata).message.status
    }

    // MARK: PredictStream

    /// Opens a PredictStream. Send requests with `send` (pipelined: no need to wait for responses), then `finish()`.
    /// `onResponse` runs for each response, in request order, on the connection's loop thread (a request that
    /// failed inside the stream arrives as a response with `error` set); `onFinish` runs once with the stream's
    /// final status. `timeout` bounds the whole stream.
    public func predictStream(
        timeout: Duration? = nil, metadata: Metadata = Metadata(),
        onResponse: @escaping @Sendable (TensorwireV1.PredictResponse) -> Void,
        onFinish: @escaping @Sendable (Status) -> Void = { _ in }
    ) -> PredictStream {
        let stream = PredictStream()
        let handlers = ClientCallHandlers(
            onMessage: { [weak stream] bytes in
                do {
                    onResponse(try TensorwireV1.PredictResponse(serializedBytes: bytes))
                } catch {
                    stream?.call.withLock { $0 }?.cancel()
                    stream?.decodeFailure.withLock { $0 = Status(code: .internal, message: "undecodable response: \(error)") }
                }
            },
            onFinish: { [weak stream] status, _ in
                let final = stream?.decodeFailure.withLock { $0 } ?? status
                stream?.finished.withLock { $0 = final }
                stream?.done.signal()
                onFinish(final)
            })
        let call = connection.makeCall(
            path: Paths.predictStream, kind: .bidirectionalStreaming, metadata: merged(metadata),
            timeout: timeout ?? defaultTimeout, handlers: handlers)
        stream.call.withLock { $0 = call }
        return stream
    }

    // MARK: Helpers

    private func merged(_ metadata: Metadata) -> Metadata {
        if defaultMetadata.isEmpty { return metadata }
        var all = defaultMetadata
        all.append(contentsOf: metadata)
        return all
    }

    private static func decode<Response: ProtoMessage>(_ response: UnaryResponse) -> Result<Reply<Response>, RPCError> {
        guard response.status.isOK else {
            return .failure(RPCError(status: response.status, metadata: response.trailers))
        }
        guard let bytes = response.message else {
            return .failure(RPCError(status: Status(code: .internal, message: "the server sent no response message")))
        }
        do {
            let message = try Response(serializedBytes: bytes)
            return .success(Reply(message: message, headers: response.headers, trailers: response.trailers))
        } catch {
            return .failure(RPCError(status: Status(code: .internal, message: "undecodable response: \(error)")))
        }
    }
}

/// A successful unary call's response message with its headers and trailers (Predict's trailers carry
/// `tw-batch-size`, `tw-queue-us`, `tw-compute-us`). A plain value.
public struct Reply<Message: Sendable>: Sendable {
    public var message: Message
    public var headers: Metadata
    public var trailers: Metadata

    public init(message: Message, headers: Metadata, trailers: Metadata) {
        self.message = message
        self.headers = headers
        self.trailers = trailers
    }
}

/// The client side of one open PredictStream: send requests, half-close, cancel, wait for the end.
/// Threads: any; sends are handed to the connection's loop in the order they are made.
public final class PredictStream: Sendable {
    fileprivate let call = Lock<ClientCall?>(nil)
    fileprivate let finished = Lock<Status?>(nil)
    fileprivate let decodeFailure = Lock<Status?>(nil)
    fileprivate let done = DispatchSemaphore(value: 0)

    fileprivate init() {}

    /// Queues one request.
    public func send(_ request: TensorwireV1.PredictRequest) {
        call.withLock { $0 }?.send(request.serializedBytes())
    }

    /// Queues one request already serialized (a load generator sends the same bytes many times).
    public func send(serialized bytes: [UInt8]) {
        call.withLock { $0 }?.send(bytes)
    }

    /// Half-closes: no more requests; the server answers the ones sent and ends the stream.
    public func finish() {
        call.withLock { $0 }?.closeSend()
    }

    /// Cancels the stream; `onFinish` gets CANCELLED unless it already ended.
    public func cancel() {
        call.withLock { $0 }?.cancel()
    }

    /// The final status once the stream has ended, else nil.
    public var status: Status? { finished.withLock { $0 } }

    /// Blocks until the stream ends and returns its final status. Not on the connection's loop thread.
    public func wait() -> Status {
        if let status { return status }
        done.wait()
        done.signal()  // later waiters return at once
        return status ?? Status(code: .internal, message: "the stream ended without a status")
    }
}
