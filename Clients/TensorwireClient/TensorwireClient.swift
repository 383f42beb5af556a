// Clients/TensorwireClient/TensorwireClient.swift: typed calls to a Tensorwire server over the Transport client.
internal import Dispatch
internal import Locks
public import ProtoWire
public import RPCCore
public import TensorwireProto
public import Transport

/// A typed client of Tensorwire servers: `tensorwire.v1.Inference` (Predict, PredictStream, ListModels,
/// GetModel) and `grpc.health.v1.Health/Check`, over a `ClientChannel`: one reused HTTP/2 connection per server
/// address, calls spread round robin over them, reconnects after a connection ends, and failed unary calls retried
/// by gRPC's retry policy (docs/client.md).
///
/// Every call comes in a blocking form (throws `RPCError`; never call it on the channel's loop thread, which is
/// where callbacks run), a callback form (the completion runs on that loop thread) and an `async` form.
/// Each call takes an optional deadline and metadata; both default to the client's own (`defaultTimeout`,
/// `defaultMetadata`), and call metadata is appended to the default metadata. The deadline covers every attempt.
///
/// Idempotency: ListModels, GetModel and health checks only read. Predict is idempotent too (the same input gives
/// the same output, and nothing is stored), so by default a Predict that may have reached the model is sent again
/// after an UNAVAILABLE; `predictIsIdempotent: false` retries it only when the request provably never reached
/// the server's application. Streams are never retried.
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

    /// The channel behind the calls; nil for a client made on a shared connection (`init(connection:)`).
    public let channel: ClientChannel?
    /// The deadline of a call that passes none; nil is no deadline.
    public let defaultTimeout: Duration?
    /// Metadata sent with every call, before the call's own.
    public let defaultMetadata: Metadata
    /// Whether a Predict that may have reached the model is retried (see the type's comment).
    public let predictIsIdempotent: Bool
    private let firstConnection: ClientConnection

    /// Connects to host:port (non-blocking: the first call waits for the connection). Throws only for an unusable
    /// address; a failed connect fails calls with UNAVAILABLE once the retry policy gives up. `channel` sets the
    /// retry policy, reconnect backoff and wait-for-ready; its `connection` field is replaced by `configuration`.
    public convenience init(
        host: String, port: Int, defaultTimeout: Duration? = nil, defaultMetadata: Metadata = Metadata(),
        configuration: ClientConnection.Configuration = ClientConnection.Configuration(),
        channel: ClientChannel.Configuration = ClientChannel.Configuration(), predictIsIdempotent: Bool = true
    ) throws {
        var settings = channel
        settings.connection = configuration
        try self.init(
            addresses: [ServerAddress(host: host, port: port)], defaultTimeout: defaultTimeout,
            defaultMetadata: defaultMetadata, channel: settings, predictIsIdempotent: predictIsIdempotent)
    }

    /// Connects to every address (replicas of one service) and spreads calls round robin over them
    /// (`ServerAddress.resolveAll` turns a name with several records into addresses). Throws when no address is
    /// usable at all.
    public init(
        addresses: [ServerAddress], defaultTimeout: Duration? = nil, defaultMetadata: Metadata = Metadata(),
        channel: ClientChannel.Configuration = ClientChannel.Configuration(), predictIsIdempotent: Bool = true
    ) throws {
        let made = try ClientChannel(addresses: addresses, configuration: channel)
        guard let first = made.currentConnection else {
            made.close()
            throw RPCError(code: .unavailable, message: "no connection could be opened")
        }
        self.channel = made
        firstConnection = first
        self.defaultTimeout = defaultTimeout
        self.defaultMetadata = defaultMetadata
        self.predictIsIdempotent = predictIsIdempotent
    }

    /// Uses an existing connection (shared with other clients) as it is: no retries, no reconnects; `close()`
    /// leaves it open.
    public init(connection: ClientConnection, defaultTimeout: Duration? = nil, defaultMetadata: Metadata = Metadata()) {
        channel = nil
        firstConnection = connection
        self.defaultTimeout = defaultTimeout
        self.defaultMetadata = defaultMetadata
        predictIsIdempotent = true
    }

    /// The connection calls use now: the shared one, or the channel's most recently opened connection (replaced
    /// after a reconnect).
    public var connection: ClientConnection { channel?.currentConnection ?? firstConnection }

    /// Closes the channel (running calls end with UNAVAILABLE); a shared connection stays open.
    public func close() {
        channel?.close()
    }

    /// The channel's counts (calls, retries, connects, attempts per address); zeros on a shared connection.
    public var statistics: ClientChannel.Statistics { channel?.statistics ?? ClientChannel.Statistics() }

    /// Predict may be retried after it reached the model only when `predictIsIdempotent`; every other call of this
    /// API only reads.
    private func isIdempotent(_ path: String) -> Bool {
        path == Paths.predict ? predictIsIdempotent : true
    }

    /// One raw unary call on the channel (with retries) or the shared connection (without).
    private func rawUnary(
        path: String, request: [UInt8], metadata: Metadata, timeout: Duration?,
        completion: @escaping @Sendable (UnaryResponse) -> Void
    ) {
        if let channel {
            channel.unary(
                path: path, request: request, metadata: metadata, timeout: timeout, idempotent: isIdempotent(path),
                completion: completion)
        } else {
            firstConnection.unary(path: path, request: request, metadata: metadata, timeout: timeout, completion: completion)
        }
    }

    // MARK: Generic unary calls

    /// A unary call with typed messages and a callback (on the loop thread).
    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        path: String, _ request: Request, as: Response.Type = Response.self, timeout: Duration? = nil,
        metadata: Metadata = Metadata(), completion: @escaping @Sendable (Result<Reply<Response>, RPCError>) -> Void
    ) {
        rawUnary(
            path: path, request: request.serializedBytes(), metadata: merged(metadata), timeout: timeout ?? defaultTimeout
        ) { response in
            completion(Self.decode(response))
        }
    }

    /// A blocking unary call with typed messages. Not on the loop thread.
    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        path: String, _ request: Request, as: Response.Type = Response.self, timeout: Duration? = nil,
        metadata: Metadata = Metadata()
    ) throws(RPCError) -> Reply<Response> {
        let bytes = request.serializedBytes()
        let response: UnaryResponse
        if let channel {
            response = channel.unary(
                path: path, request: bytes, metadata: merged(metadata), timeout: timeout ?? defaultTimeout,
                idempotent: isIdempotent(path))
        } else {
            response = firstConnection.unary(
                path: path, request: bytes, metadata: merged(metadata), timeout: timeout ?? defaultTimeout)
        }
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

    /// Opens a PredictStream on the next address in round-robin order (never retried). Send requests with `send`
    /// (pipelined: no need to wait for responses), then `finish()`.
    /// `onResponse` runs for each response, in request order, on the loop thread (a request that
    /// failed inside the stream arrives as a response with `error` set); `onFinish` runs once with the stream's
    /// final status. `timeout` bounds the whole stream.
    public func predictStream(
        timeout: Duration? = nil, metadata: Metadata = Metadata(),
        onResponse: @escaping @Sendable (TensorwireV1.PredictResponse) -> Void,
        onFinish: @escaping @Sendable (Status) -> Void = { _ in }
    ) -> PredictStream {
        if let channel {
            return PredictStream.open(
                on: channel, timeout: timeout ?? defaultTimeout, metadata: merged(metadata), onResponse: onResponse,
                onFinish: onFinish)
        }
        let connection = firstConnection
        let all = merged(metadata)
        let deadline = timeout ?? defaultTimeout
        return PredictStream.open(onResponse: onResponse, onFinish: onFinish) { handlers in
            connection.makeCall(
                path: Paths.predictStream, kind: .bidirectionalStreaming, metadata: all, timeout: deadline,
                handlers: handlers)
        }
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
    private let call = Lock<ClientCall?>(nil)
    private let finished = Lock<Status?>(nil)
    private let decodeFailure = Lock<Status?>(nil)
    private let done = DispatchSemaphore(value: 0)

    private init() {}

    /// Opens a PredictStream on the next server of `channel` (as `TensorwireClient.predictStream`, with exactly
    /// this metadata and deadline).
    public static func open(
        on channel: ClientChannel, timeout: Duration? = nil, metadata: Metadata = Metadata(),
        onResponse: @escaping @Sendable (TensorwireV1.PredictResponse) -> Void,
        onFinish: @escaping @Sendable (Status) -> Void = { _ in }
    ) -> PredictStream {
        open(onResponse: onResponse, onFinish: onFinish) { handlers in
            channel.makeCall(
                path: TensorwireClient.Paths.predictStream, kind: .bidirectionalStreaming, metadata: metadata,
                timeout: timeout, handlers: handlers)
        }
    }

    /// Wires the callbacks to a call that `makeCall` starts.
    static func open(
        onResponse: @escaping @Sendable (TensorwireV1.PredictResponse) -> Void,
        onFinish: @escaping @Sendable (Status) -> Void,
        makeCall: (ClientCallHandlers) -> ClientCall?
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
        let call = makeCall(handlers)
        stream.call.withLock { $0 = call }
        return stream
    }

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
