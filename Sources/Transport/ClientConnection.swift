internal import Dispatch
public import Crypto
public import EventLoop
public import GRPCCompression
internal import HTTP2
public import RPCCore
internal import Locks
internal import Synchronization
internal import HTTPTypes

/// Callbacks of one client call; they run on the connection's loop thread, in order: `onHeaders` at most once,
/// `onMessage` for each response message, then `onFinish` exactly once.
public struct ClientCallHandlers: Sendable {
    public var onHeaders: @Sendable (Metadata) -> Void
    public var onMessage: @Sendable ([UInt8]) -> Void
    /// Runs just before each `onMessage` with whether that message arrived compressed (its prefix flag was 1; it
    /// has been inflated already). Interop checks use it.
    public var onCompressedFlag: @Sendable (Bool) -> Void
    /// The final status and trailing metadata (also for local failures: deadline, cancel, connection loss).
    public var onFinish: @Sendable (Status, Metadata) -> Void
    /// Runs just before `onFinish` (whose status is then UNAVAILABLE) when the request is known not to have reached
    /// the server's application, so it is safe to send again whatever the method does (`UnprocessedReason`).
    public var onUnprocessed: @Sendable (UnprocessedReason) -> Void

    public init(
        onHeaders: @escaping @Sendable (Metadata) -> Void = { _ in },
        onMessage: @escaping @Sendable ([UInt8]) -> Void = { _ in },
        onFinish: @escaping @Sendable (Status, Metadata) -> Void,
        onCompressedFlag: @escaping @Sendable (Bool) -> Void = { _ in },
        onUnprocessed: @escaping @Sendable (UnprocessedReason) -> Void = { _ in }
    ) {
        self.onHeaders = onHeaders
        self.onMessage = onMessage
        self.onFinish = onFinish
        self.onCompressedFlag = onCompressedFlag
        self.onUnprocessed = onUnprocessed
    }
}

/// Why a failed call's request is known not to have been processed by the server (gRPC's "transparent retry" cases,
/// A6): a client may send it again even when the method is not idempotent.
public enum UnprocessedReason: Sendable, Hashable {
    /// It never left the client: the connection was not up (connect failed, or it had already closed) or had
    /// received GOAWAY before the call started.
    case notSent
    /// The server refused the stream before its application saw it: RST_STREAM(REFUSED_STREAM), or a GOAWAY whose
    /// last-stream-id is below the call's stream (RFC 9113 §6.8, §8.7).
    case refused
}

/// Where a client connection stands, readable from any thread without a hop to its loop
/// (`ClientConnection.phase`); a balancer reads it to choose a connection and to tell a failed connect from a
/// connection that served and then ended.
public enum ClientConnectionPhase: UInt8, Sendable {
    /// TCP (and TLS) connecting, or connected and waiting for the server's SETTINGS: calls queue.
    case connecting
    /// The server's SETTINGS arrived: the connection works.
    case ready
    /// The server sent GOAWAY: calls in flight may finish, new calls are refused here.
    case goingAway
    /// Closed (by `close()`, the server, or an error).
    case closed
}

/// The phase of one connection, shared by the `ClientConnection` (any thread reads) and its `ClientCore` (the loop
/// thread writes). Atomics only.
final class ConnectionPhaseBox: Sendable {
    private let raw = Atomic<UInt8>(ClientConnectionPhase.connecting.rawValue)
    private let reachedReady = Atomic<Bool>(false)

    var phase: ClientConnectionPhase { ClientConnectionPhase(rawValue: raw.load(ordering: .acquiring)) ?? .closed }
    var wasReady: Bool { reachedReady.load(ordering: .acquiring) }

    /// Moves forward only (connecting → ready → goingAway → closed).
    func advance(to phase: ClientConnectionPhase) {
        if phase == .ready { reachedReady.store(true, ordering: .releasing) }
        var current = raw.load(ordering: .acquiring)
        while current < phase.rawValue {
            let (exchanged, original) = raw.compareExchange(
                expected: current, desired: phase.rawValue, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }
}

/// The result of a blocking unary call.
public struct UnaryResponse: Sendable {
    public var status: Status
    /// The response message; nil when the call failed.
    public var message: [UInt8]?
    public var headers: Metadata
    public var trailers: Metadata
    /// Set when the call failed before the server's application saw the request (safe to send again).
    public var unprocessed: UnprocessedReason? = nil

    public init(
        status: Status, message: [UInt8]? = nil, headers: Metadata = Metadata(), trailers: Metadata = Metadata(),
        unprocessed: UnprocessedReason? = nil
    ) {
        self.status = status
        self.message = message
        self.headers = headers
        self.trailers = trailers
        self.unprocessed = unprocessed
    }
}

/// The client's handle on one call: send request messages, half-close, cancel. It holds ids only.
/// Threads: any; operations are handed to the connection's loop in order and dropped once the call has ended.
public final class ClientCall: Sendable {
    let connection: ClientConnection
    let callID: UInt64
    /// The encoding of this call's request messages (`grpc-encoding`), or nil for identity.
    public let compression: CompressionAlgorithm?

    init(connection: ClientConnection, callID: UInt64, compression: CompressionAlgorithm?) {
        self.connection = connection
        self.callID = callID
        self.compression = compression
    }

    /// Queues one request message, compressed when the call has a `compression`.
    public func send(_ message: [UInt8]) {
        send(message, compressed: true)
    }

    /// Queues one request message, compressed with the call's `compression` (on the calling thread) when
    /// `compressed` is true and the call has one; `compressed: false` sends it as is (flag 0).
    public func send(_ message: [UInt8], compressed: Bool) {
        // A zlib failure (out of memory) sends the message uncompressed, which is always allowed.
        let deflated = compressed ? compression.flatMap { try? MessageCompression.compress(message, using: $0) } : nil
        connection.perform { $0.sendMessage(callID: self.callID, deflated ?? message, compressed: deflated != nil) }
    }

    /// Half-closes the request (no more messages).
    public func closeSend() {
        connection.perform { $0.closeSend(callID: self.callID) }
    }

    /// Cancels the call: RST_STREAM(CANCEL); `onFinish` gets CANCELLED unless the call already ended.
    public func cancel() {
        connection.perform { $0.cancel(callID: self.callID, status: Status(code: .cancelled, message: "cancelled by the client")) }
    }
}

/// A client HTTP/2 connection to one gRPC server, carrying any number of concurrent calls of all four kinds, with
/// deadlines (`grpc-timeout` plus a local timer), metadata and cancellation.
///
/// Threads: every member may be used from any thread; the connection itself lives on `loop` (its own loop thread
/// unless one is passed in). The blocking `unary` must not be called on that loop's thread.
public final class ClientConnection: Sendable {
    /// Connection settings.
    public struct Configuration: Sendable {
        /// The largest response message accepted.
        public var maxReceiveMessageBytes: Int
        /// `:authority`; defaults to host:port.
        public var authority: String?
        public var userAgent: String
        /// TLS to the server (its CA, an optional client certificate for mutual TLS, ALPN `h2`); nil: plaintext
        /// (h2c). The server's certificate must cover `tlsServerName`, or the host passed to `init` when that is nil.
        public var tls: TLSClientContext?
        public var tlsServerName: String?

        public init(
            maxReceiveMessageBytes: Int = MessageDeframer.defaultMaxMessageBytes, authority: String? = nil,
            userAgent: String = "tensorwire-swift/0.1"
        ) {
            self.maxReceiveMessageBytes = maxReceiveMessageBytes
            self.authority = authority
            self.userAgent = userAgent
        }
    }

    public let loop: EventLoop
    public let configuration: Configuration
    private let ownsLoop: Bool
    private let context: LoopBound<LoopContext>
    private let connectionID: UInt64
    private let nextCallID = Atomic<UInt64>(1)
    private let closed = Atomic<Bool>(false)
    private let phaseBox = ConnectionPhaseBox()

    /// Where the connection stands (connecting, ready, going away, closed); an atomic read, no hop to the loop.
    public var phase: ClientConnectionPhase { closed.load(ordering: .acquiring) ? .closed : phaseBox.phase }
    /// True once the server's SETTINGS arrived on this connection (it stays true after the connection ends): a
    /// connection that never got there failed to connect.
    public var wasReady: Bool { phaseBox.wasReady }

    /// Starts connecting to host:port (non-blocking: calls made before the connection is up wait for it; a failed
    /// connect finishes them with UNAVAILABLE). Throws only for an unusable address or a failed loop.
    public init(host: String, port: Int, loop: EventLoop? = nil, configuration: Configuration = Configuration()) throws {
        let ownsLoop = loop == nil
        let loop = try loop ?? EventLoop(name: "tw-client")
        self.ownsLoop = ownsLoop
        self.loop = loop
        self.configuration = configuration
        let context = LoopContext.make(on: loop)
        self.context = context
        let authority = configuration.authority ?? "\(host):\(port)"
        let phaseBox = self.phaseBox
        let result: Result<UInt64, RPCError> = onLoop(loop) {
            do {
                let (socket, inProgress) = try Socket.connect(host: host, port: port)
                let channel: TLSChannel?
                do {
                    channel = try configuration.tls.map { tls in
                        let session = try tls.makeSession(serverName: configuration.tlsServerName ?? host)
                        // The ClientHello waits in the session; the first flush sends it with nghttp2's preface held
                        // behind it until the handshake is done.
                        try session.start()
                        return TLSChannel(session: session, socket: socket, cipherBuffer: context.value.cipherBuffer)
                    }
                } catch {
                    socket.close()
                    throw error
                }
                let core = try ClientCore(
                    context: context.value, socket: socket, connecting: inProgress, authority: authority,
                    configuration: configuration, tls: channel, phase: phaseBox)
                do {
                    try core.start()
                } catch {
                    socket.close()
                    throw error
                }
                return .success(core.id)
            } catch {
                return .failure(RPCError(code: .unavailable, message: "cannot connect to \(host):\(port): \(error)"))
            }
        }
        switch result {
        case .success(let id): connectionID = id
        case .failure(let error):
            if ownsLoop { loop.shutdown() }
            throw error
        }
    }

    deinit {
        close()
    }

    /// Starts a call of `kind` to `path` (`/package.Service/Method`). Send request messages with the returned
    /// handle and `closeSend()` (unary and server-streaming: exactly one message). `timeout` sets `grpc-timeout` and a
    /// local timer that ends the call with DEADLINE_EXCEEDED. `compression` sets `grpc-encoding` and compresses the
    /// request messages (W-17); compressed responses are inflated whatever it is (the client accepts
    /// `identity, deflate, gzip`).
    public func makeCall(
        path: String, kind: RPCKind, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        compression: CompressionAlgorithm? = nil, handlers: ClientCallHandlers
    ) -> ClientCall {
        let callID = nextCallID.wrappingAdd(1, ordering: .relaxed).oldValue
        let call = ClientCall(connection: self, callID: callID, compression: compression)
        let head = RequestHead(
            path: path, authority: nil, metadata: metadata, timeout: timeout.map { GRPCTimeout($0) },
            encoding: compression?.name, userAgent: configuration.userAgent)
        perform(orElse: {
            handlers.onUnprocessed(.notSent)
            handlers.onFinish(Status(code: .unavailable, message: "connection closed"), Metadata())
        }) {
            $0.startCall(callID: callID, kind: kind, head: head, timeout: timeout, handlers: handlers)
        }
        return call
    }

    /// A unary call with callbacks: sends `request` and half-closes.
    public func unary(
        path: String, request: [UInt8], metadata: Metadata = Metadata(), timeout: Duration? = nil,
        compression: CompressionAlgorithm? = nil, completion: @escaping @Sendable (UnaryResponse) -> Void
    ) {
        let state = Lock(UnaryResponse(status: .ok, message: nil, headers: Metadata(), trailers: Metadata()))
        let call = makeCall(
            path: path, kind: .unary, metadata: metadata, timeout: timeout, compression: compression,
            handlers: ClientCallHandlers(
                onHeaders: { headers in state.withLock { $0.headers = headers } },
                onMessage: { message in state.withLock { $0.message = message } },
                onFinish: { status, trailers in
                    let response = state.withLock { response -> UnaryResponse in
                        response.status = status
                        response.trailers = trailers
                        if !status.isOK { response.message = nil }
                        return response
                    }
                    completion(response)
                },
                onUnprocessed: { reason in state.withLock { $0.unprocessed = reason } }))
        call.send(request)
        call.closeSend()
    }

    /// A blocking unary call (tests, the CLI). Not on this connection's loop thread.
    public func unary(
        path: String, request: [UInt8], metadata: Metadata = Metadata(), timeout: Duration? = nil,
        compression: CompressionAlgorithm? = nil
    ) -> UnaryResponse {
        precondition(!loop.inEventLoop, "the blocking unary call would deadlock its own loop")
        let result = Lock<UnaryResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        unary(path: path, request: request, metadata: metadata, timeout: timeout, compression: compression) {
            response in
            result.withLock { $0 = response }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 } ?? UnaryResponse(
            status: Status(code: .internal, message: "no response"), message: nil, headers: Metadata(),
            trailers: Metadata())
    }

    /// Sends a PING (keepalive tests).
    public func ping() {
        perform { core in
            try? core.session.sendPing(opaqueData: 1)
            core.markDirty()
        }
    }

    /// True once the connection is closed (by `close()`, the server, or an error).
    public var isClosed: Bool {
        if closed.load(ordering: .acquiring) { return true }
        let context = self.context
        let id = connectionID
        return onLoop(loop) { context.value.connections[id] == nil }
    }

    /// True once the server has sent GOAWAY on this connection (it is draining or ending it: calls in flight may
    /// finish, new ones are refused here), or once the connection is closed.
    public var hasReceivedGoAway: Bool {
        if closed.load(ordering: .acquiring) { return true }
        let context = self.context
        let id = connectionID
        return onLoop(loop) { (context.value.connections[id] as? ClientCore)?.hasReceivedGoAway ?? true }
    }

    /// Closes the connection (running calls finish with UNAVAILABLE) and stops the loop if this connection made
    /// it. Idempotent; not on the loop's own thread when the loop is owned.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        phaseBox.advance(to: .closed)
        let context = self.context
        let id = connectionID
        let closeOnLoop: @Sendable () -> Void = {
            context.value.connections[id]?.close(reason: "closed by the client")
            context.value.detach()
        }
        if ownsLoop {
            if loop.inEventLoop {
                closeOnLoop()
            } else {
                loop.execute(closeOnLoop)
                loop.shutdown()
            }
        } else if loop.inEventLoop {
            closeOnLoop()
        } else {
            loop.execute(closeOnLoop)
        }
    }

    func perform(orElse failure: @escaping @Sendable () -> Void = {}, _ body: @escaping @Sendable (ClientCore) -> Void) {
        let context = self.context
        let id = connectionID
        let operation: @Sendable () -> Void = {
            guard let core = context.value.connections[id] as? ClientCore else {
                failure()
                return
            }
            body(core)
        }
        if loop.inEventLoop { operation() } else { loop.execute(operation) }
    }
}

/// One call on a client connection: its state machine, callbacks, stream id and deadline timer. Loop thread only.
final class ClientStream {
    let callID: UInt64
    var machine: RPCStreamStateMachine
    let handlers: ClientCallHandlers
    var streamID: Int32 = 0
    var deadlineTimer: TimerID?
    /// The response messages' `grpc-encoding`, from the response headers.
    var responseEncoding: CompressionAlgorithm?
    /// Response headers arrived: the server's application has the call (a later reset is not a refusal).
    var answered = false

    init(callID: UInt64, machine: RPCStreamStateMachine, handlers: ClientCallHandlers) {
        self.callID = callID
        self.machine = machine
        self.handlers = handlers
    }
}

/// The loop side of a `ClientConnection`: the HTTP/2 client session and its calls. Loop thread only.
final class ClientCore: HTTP2Connection {
    let authority: String
    let configuration: ClientConnection.Configuration
    private var calls: [UInt64: ClientStream] = [:]
    private var byStream: [Int32: UInt64] = [:]
    private var goneAway = false
    var hasReceivedGoAway: Bool { goneAway }
    private let phase: ConnectionPhaseBox
    /// The TCP connect completed at some point (calls that end before it never left the client).
    private var connected: Bool

    init(
        context: LoopContext, socket: Socket, connecting: Bool, authority: String,
        configuration: ClientConnection.Configuration, tls: TLSChannel? = nil,
        phase: ConnectionPhaseBox = ConnectionPhaseBox()
    ) throws {
        self.authority = authority
        self.configuration = configuration
        self.phase = phase
        connected = !connecting
        super.init(
            context: context, socket: socket, session: try HTTP2Session(role: .client), connecting: connecting, tls: tls)
    }

    func startCall(callID: UInt64, kind: RPCKind, head: RequestHead, timeout: Duration?, handlers: ClientCallHandlers) {
        var head = head
        head.authority = authority
        let stream = ClientStream(
            callID: callID,
            machine: RPCStreamStateMachine(
                client: kind,
                configuration: RPCStreamStateMachine.Configuration(
                    maxReceiveMessageBytes: configuration.maxReceiveMessageBytes,
                    supportedEncodings: CompressionAlgorithm.advertised.map(\.name))),
            handlers: handlers)
        guard !goneAway, !isClosed else {
            handlers.onUnprocessed(.notSent)
            handlers.onFinish(Status(code: .unavailable, message: "the server is going away"), Metadata())
            return
        }
        do {
            guard case .send(let fields) = try stream.machine.sendRequestHeaders(head) else { return }
            stream.streamID = try session.sendRequest(headers: fields)
        } catch {
            handlers.onFinish(Status(code: .internal, message: "cannot start the call: \(error)"), Metadata())
            return
        }
        calls[callID] = stream
        byStream[stream.streamID] = callID
        if let timeout {
            stream.deadlineTimer = loop.scheduleTimer(after: timeout) { [weak self] in
                self?.cancel(callID: callID, status: Status(code: .deadlineExceeded, message: "deadline exceeded"))
            }
        }
        markDirty()
    }

    func sendMessage(callID: UInt64, _ message: [UInt8], compressed: Bool = false) {
        guard let stream = calls[callID] else { return }
        do {
            guard case .send(let framed) = try stream.machine.sendRequestMessage(message, compressed: compressed) else {
                return
            }
            try session.sendData(streamID: stream.streamID, framed)
        } catch {
            end(stream, Status(code: .internal, message: "\(error)"), Metadata(), reset: .cancel)
            return
        }
        markDirty()
    }

    func closeSend(callID: UInt64) {
        guard let stream = calls[callID] else { return }
        do {
            guard case .send = try stream.machine.sendEndOfRequest() else { return }
            try session.finish(streamID: stream.streamID)
        } catch {
            end(stream, Status(code: .internal, message: "\(error)"), Metadata(), reset: .cancel)
            return
        }
        markDirty()
    }

    func cancel(callID: UInt64, status: Status) {
        guard let stream = calls[callID] else { return }
        var reset: HTTP2ErrorCode?
        if case .resetStream(let code) = stream.machine.cancel() { reset = code }
        end(stream, status, Metadata(), reset: reset ?? .cancel)
    }

    /// Ends a call once: removes it, resets the stream if asked, and reports the status (and, first, that the
    /// request was not processed, when `unprocessed` says so).
    private func end(
        _ stream: ClientStream, _ status: Status, _ trailers: Metadata, reset: HTTP2ErrorCode?,
        unprocessed: UnprocessedReason? = nil
    ) {
        guard calls.removeValue(forKey: stream.callID) != nil else { return }
        byStream.removeValue(forKey: stream.streamID)
        if let timer = stream.deadlineTimer { loop.cancelTimer(timer) }
        if let reset, !isClosed {
            session.resetStream(streamID: stream.streamID, errorCode: reset)
            markDirty()
        }
        if let unprocessed { stream.handlers.onUnprocessed(unprocessed) }
        stream.handlers.onFinish(status, trailers)
    }

    override func handle(_ events: [HTTP2Event]) {
        for event in events {
            switch event {
            case .headers(let id, let headers, let kind, let endStream):
                guard let callID = byStream[id], let stream = calls[callID] else { continue }
                let fields = headers
                let action: ClientReceiveAction
                do {
                    action = kind == .trailers
                        ? try stream.machine.receiveResponseTrailers(fields)
                        : try stream.machine.receiveResponseHeaders(fields, endStream: endStream)
                } catch {
                    end(stream, error.status, Metadata(), reset: .cancel)
                    continue
                }
                apply(action, to: stream)
            case .data(let id, let bytes, let endStream):
                defer { session.consume(streamID: id, count: bytes.count) }
                guard let callID = byStream[id], let stream = calls[callID] else { continue }
                let action: ClientReceiveAction
                do {
                    action = try stream.machine.receiveResponseData(bytes, endStream: endStream)
                } catch {
                    end(stream, error.status, Metadata(), reset: .cancel)
                    continue
                }
                apply(action, to: stream)
            case .streamClosed(let id, let code):
                guard let callID = byStream[id], let stream = calls[callID] else { continue }
                // REFUSED_STREAM before any answer: the server did no processing (RFC 9113 §8.7); nghttp2 also closes
                // our streams above a GOAWAY's last-stream-id with it.
                let refused = code == .refusedStream && !stream.answered
                switch stream.machine.receiveReset(errorCode: code) {
                case .finished(let status): end(stream, status, Metadata(), reset: nil, unprocessed: refused ? .refused : nil)
                case .none:
                    end(stream, Status(code: .internal, message: "stream closed without a status"), Metadata(), reset: nil)
                }
            case .goAway:
                goneAway = true
                phase.advance(to: .goingAway)
            case .settings(let ack, _):
                if !ack { phase.advance(to: .ready) }
            case .ping:
                break
            }
        }
    }

    private func apply(_ action: ClientReceiveAction, to stream: ClientStream) {
        switch action {
        case .receivedHeaders(let head):
            stream.answered = true
            stream.responseEncoding = head.encoding.flatMap(CompressionAlgorithm.init(encoding:))
            stream.handlers.onHeaders(head.metadata)
        case .receivedMessages(let messages):
            for message in messages {
                var bytes = message.bytes
                if message.isCompressed {
                    // The machine has already refused compressed messages without a known encoding (W-17).
                    guard let algorithm = stream.responseEncoding else {
                        end(stream, Status(code: .internal, message: "compressed message without grpc-encoding"),
                            Metadata(), reset: .cancel)
                        return
                    }
                    do throws(CompressionError) {
                        bytes = try MessageCompression.decompress(
                            bytes, using: algorithm, limit: configuration.maxReceiveMessageBytes)
                    } catch {
                        let status: Status
                        if case .messageTooLarge(let limit) = error {
                            status = Status(
                                code: .resourceExhausted,
                                message: "grpc: received message after decompression larger than max "
                                    + "(more than \(limit) bytes) on the client")
                        } else {
                            status = error.rpcError.status
                        }
                        end(stream, status, Metadata(), reset: .cancel)
                        return
                    }
                }
                // A handler may have ended the call (cancel on the loop thread) in an earlier callback.
                guard calls[stream.callID] != nil else { return }
                stream.handlers.onCompressedFlag(message.isCompressed)
                stream.handlers.onMessage(bytes)
            }
        case .finished(let status, let trailers, let reset):
            end(stream, status, trailers, reset: reset)
        case .drop:
            break
        }
    }

    override func didConnect() {
        connected = true
    }

    override func didClose(reason: String) {
        phase.advance(to: .closed)
        let open = calls.values.sorted { $0.callID < $1.callID }
        // Before the TCP connect completed nothing was sent.
        let unprocessed: UnprocessedReason? = connected ? nil : .notSent
        for stream in open {
            end(stream, Status(code: .unavailable, message: "connection closed: \(reason)"), Metadata(), reset: nil,
                unprocessed: unprocessed)
        }
    }
}
