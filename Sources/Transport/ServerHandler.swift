public import Clocks
public import EventLoop
public import GRPCCompression
public import HTTPTypes
internal import Locks
public import RPCCore
internal import Synchronization
public import Tracing

/// What a handler does with the request stream; its closures run on the call's loop thread, in order, and must not
/// block (hand work to another thread and answer through the `ServerCall`).
public struct RequestObserver {
    /// One request message (raw bytes; the Server layer decodes protobuf).
    public var onMessage: ([UInt8]) -> Void
    /// The client half-closed: no more messages.
    public var onEnd: () -> Void

    public init(onMessage: @escaping ([UInt8]) -> Void, onEnd: @escaping () -> Void = {}) {
        self.onMessage = onMessage
        self.onEnd = onEnd
    }
}

/// A registered method's entry point: called on the connection's loop thread when a valid request for the method
/// arrives; returns the observer of request messages. Built with one of the four RPC-kind constructors. A value;
/// safe to share between loops.
public struct ServerMethodHandler: Sendable {
    let start: @Sendable (ServerCall) -> RequestObserver

    /// A handler that sees the raw request stream (any kind; needed for bidirectional streaming).
    public init(_ start: @escaping @Sendable (ServerCall) -> RequestObserver) {
        self.start = start
    }

    /// Starts the handler on `call` (what the transport does): lets a wrapper, such as the server's authorization
    /// gate, run its check first and hand the call on.
    public func begin(_ call: ServerCall) -> RequestObserver { start(call) }

    /// Unary: `body` gets the one request message and answers with `call.respond(_:)` or `call.finish(...)`,
    /// now or later, from any thread.
    public static func unary(_ body: @escaping @Sendable (ServerCall, [UInt8]) -> Void) -> ServerMethodHandler {
        single(body)
    }

    /// Server streaming: `body` gets the one request message, then `call.send(_:)` any number of times and
    /// `call.finish(...)`, from any thread (respect `call.isWritable` / `call.whenWritable` for backpressure).
    public static func serverStreaming(
        _ body: @escaping @Sendable (ServerCall, [UInt8]) -> Void
    ) -> ServerMethodHandler {
        single(body)
    }

    /// Client streaming: `body` gets every request message once the client half-closes.
    public static func clientStreaming(
        _ body: @escaping @Sendable (ServerCall, [[UInt8]]) -> Void
    ) -> ServerMethodHandler {
        ServerMethodHandler { call in
            let collected = MessageBox()
            return RequestObserver(
                onMessage: { collected.messages.append($0) },
                onEnd: { body(call, collected.messages) })
        }
    }

    /// Bidirectional streaming: `start` returns the observer of request messages and answers through `call`.
    public static func bidirectionalStreaming(
        _ start: @escaping @Sendable (ServerCall) -> RequestObserver
    ) -> ServerMethodHandler {
        ServerMethodHandler(start)
    }

    private static func single(_ body: @escaping @Sendable (ServerCall, [UInt8]) -> Void) -> ServerMethodHandler {
        ServerMethodHandler { call in
            // The state machine delivers exactly one message, with the end of the request (W-36).
            RequestObserver(onMessage: { body(call, $0) })
        }
    }
}

/// Loop-thread storage for a client-streaming handler's messages.
private final class MessageBox {
    var messages: [[UInt8]] = []
}

/// The server's handle on one running RPC: request head, deadline, cancellation, and the response operations.
/// It holds ids (loop, connection, stream), never the connection itself.
///
/// Threads: every member may be used from any thread. Response operations made on the loop thread apply at once;
/// from another thread they are handed over with `loop.execute`, so the calls of one thread apply in order. After the
/// RPC has ended (finished, reset by the client, deadline, connection loss) they are silently dropped.
public final class ServerCall: Sendable {
    /// The method being called.
    public let descriptor: MethodDescriptor
    /// The request head: path, authority, metadata, timeout, user agent.
    public let head: RequestHead
    /// When the client's `grpc-timeout` runs out, on the server's clock (`GRPCServer.Configuration.clock`, the one
    /// the batchers read too), or nil; at that point the server answers DEADLINE_EXCEEDED and the call is cancelled.
    public let deadline: MonotonicInstant?
    /// The loop thread that owns this call's connection.
    public let loop: EventLoop
    /// The client's address (`host:port`, `[v6]:port`), or "" when the socket had none.
    public let peer: String
    /// The verified client certificate's identity under mutual TLS (`TLSPeerIdentity.identity`: the subject in RFC
    /// 2253 form, then "; SAN=" and the alternative names); nil without TLS or without a client certificate.
    public let peerIdentity: String?
    /// The server's span when the client sent a valid `traceparent`: the caller's trace id with a span id of ours.
    /// It goes back to the client in the response headers (or trailers-only) and into the request's summary.
    public let trace: TraceContext?
    /// Whether the server collects request summaries (`onRequestEnd`); `annotate` does nothing when it does not.
    public let collectsSummary: Bool

    let context: LoopBound<LoopContext>
    let connectionID: UInt64
    let streamID: Int32

    private struct Shared {
        var cancelled: Status?
        /// The first cancel handler apart: a unary call registers one, and an array of one costs an allocation.
        var firstCancelHandler: (@Sendable (Status) -> Void)?
        var cancelHandlers: [@Sendable (Status) -> Void] = []
        var writable = true
        var writableHandlers: [@Sendable () -> Void] = []
        var withheldRequestBytes = 0
        var annotations = RequestAnnotations()
    }

    private let shared = Lock(Shared())

    /// The encoding of this call's response messages: the server's `responseCompression` when the client lists it
    /// in `grpc-accept-encoding` (W-18), else nil (identity). It is declared in the response headers; each message
    /// is compressed unless sent with `compressed: false`.
    public let responseCompression: CompressionAlgorithm?
    /// Loop thread writes it just before each `onMessage`; any thread reads it (ServerCompression.swift).
    let requestCompressedFlag = Atomic<Bool>(false)

    init(
        descriptor: MethodDescriptor, head: RequestHead, deadline: MonotonicInstant?,
        context: LoopBound<LoopContext>, connectionID: UInt64, streamID: Int32,
        responseCompression: CompressionAlgorithm? = nil, peer: String = "", trace: TraceContext? = nil,
        collectsSummary: Bool = false, peerIdentity: String? = nil
    ) {
        self.peer = peer
        self.peerIdentity = peerIdentity
        self.trace = trace
        self.collectsSummary = collectsSummary
        self.responseCompression = responseCompression
        self.descriptor = descriptor
        self.head = head
        self.deadline = deadline
        self.loop = context.loop
        self.context = context
        self.connectionID = connectionID
        self.streamID = streamID
    }

    /// Custom request metadata.
    public var metadata: Metadata { head.metadata }

    /// The request's `authorization` header (not part of `metadata`).
    public var authorization: String? { head.authorization }

    /// Adds what the handler knows (model, version, batch facts, request id) to the request's summary (the access
    /// line, the metrics). Any thread; skipped when the server collects no summaries.
    public func annotate(_ body: (inout RequestAnnotations) -> Void) {
        guard collectsSummary else { return }
        shared.withLock { body(&$0.annotations) }
    }

    /// Loop thread, at the end: the annotations so far.
    var annotations: RequestAnnotations { shared.withLock { $0.annotations } }

    // MARK: Cancellation

    /// True once the RPC can no longer be answered: the client reset the stream, the deadline passed, the
    /// connection went away, or the server was stopped.
    public var isCancelled: Bool { shared.withLock { $0.cancelled != nil } }

    /// Runs `body` once when the call is cancelled (on the loop thread), or at once on the caller's thread if it
    /// already is. Not called for a call that finished normally.
    public func onCancel(_ body: @escaping @Sendable (Status) -> Void) {
        let already: Status? = shared.withLock { state in
            if let status = state.cancelled { return status }
            if state.firstCancelHandler == nil {
                state.firstCancelHandler = body
            } else {
                state.cancelHandlers.append(body)
            }
            return nil
        }
        if let already { body(already) }
    }

    // MARK: Response (any thread)

    /// Sends the response headers with `metadata` now. Optional: the first message or the status sends them.
    public func sendHeaders(_ metadata: Metadata = Metadata()) {
        perform(.sendHeaders(metadata))
    }

    /// Queues one response message. Check `isWritable` (or use `whenWritable`) when producing many.
    public func send(_ message: [UInt8]) {
        send(message, compressed: true)
    }

    /// Queues one response message, compressed with `responseCompression` when `compressed` is true and the call
    /// has one (the compression runs on the calling thread); `compressed: false` sends it as is (flag 0), which
    /// is always allowed.
    public func send(_ message: [UInt8], compressed: Bool) {
        let (bytes, flag) = compressedResponse(message, compressed: compressed)
        perform(.sendMessage(bytes, compressed: flag))
    }

    /// Ends the RPC with `status` and trailing metadata.
    public func finish(_ status: Status = .ok, trailers: Metadata = Metadata()) {
        perform(.finish(status, trailers: trailers))
    }

    /// Ends the RPC with an error: an `RPCError` keeps its status and metadata, anything else is UNKNOWN.
    public func finish(error: any Error) {
        let rpcError = RPCError(wrapping: error)
        finish(rpcError.status, trailers: rpcError.metadata)
    }

    /// Unary convenience: one message (compressed as by `send(_:compressed:)`), then OK with `trailers`.
    public func respond(_ message: [UInt8], compressed: Bool = true, trailers: Metadata = Metadata()) {
        let (bytes, flag) = compressedResponse(message, compressed: compressed)
        perform(.respond(bytes, compressed: flag, trailers: trailers))
    }

    /// `respond(_:compressed:trailers:)` with trailing fields whose values are numbers (the batch facts): sent after
    /// `grpc-status` and spelt out only when the transport lays the trailers out, with no metadata built per call.
    public func respond(_ message: [UInt8], compressed: Bool = true, numericTrailers: NumericHeaderFields?) {
        let (bytes, flag) = compressedResponse(message, compressed: compressed)
        perform(.respondWithNumbers(bytes, compressed: flag, numericTrailers: numericTrailers))
    }

    // MARK: Backpressure

    /// False while this stream's queued response bytes exceed the server's `maxQueuedResponseBytes`, or its connection's
    /// exceed `maxQueuedResponseBytesPerConnection` (a slow reader);
    /// a streaming sender should pause and continue in `whenWritable`.
    public var isWritable: Bool { shared.withLock { $0.writable } }

    /// Runs `body` once the stream is writable again (on the loop thread), or at once on the caller's thread if it
    /// is writable now. Also released (and run) when the call ends, so a producer never waits forever; check
    /// `isCancelled` there.
    public func whenWritable(_ body: @escaping @Sendable () -> Void) {
        let now = shared.withLock { state in
            if state.writable || state.cancelled != nil { return true }
            state.writableHandlers.append(body)
            return false
        }
        if now { body() }
    }

    // MARK: Request flow control

    /// Stops handing request messages to the observer: messages that arrive meanwhile wait in the transport, and
    /// the stream's HTTP/2 flow-control credit for them is withheld, so the client stops once the stream window
    /// (`HTTP2Session.Configuration.initialWindowSize`) is full. Other streams of the connection are unaffected.
    /// From `onMessage` on the loop thread it applies before the next message; from another thread, once the loop
    /// runs it (messages may still arrive until then).
    public func pauseReading() {
        perform(.setReadingPaused(true))
    }

    /// Hands waiting messages over again (on the loop thread, in order, until the handler pauses again); once
    /// none wait, the withheld credit goes back to the client.
    public func resumeReading() {
        perform(.setReadingPaused(false))
    }

    /// Request DATA bytes received while paused whose stream credit has not been returned yet: at most the
    /// stream window plus one frame.
    public var withheldRequestBytes: Int { shared.withLock { $0.withheldRequestBytes } }

    // MARK: Loop side

    /// A response operation, as a value: on the loop thread it runs at once with no closure built (two escaping
    /// closures per call cost ~700 instructions per unary RPC, callgrind); from another thread one closure takes it
    /// to the loop.
    private enum Operation: Sendable {
        case sendHeaders(Metadata)
        case sendMessage([UInt8], compressed: Bool)
        case finish(Status, trailers: Metadata)
        case respond([UInt8], compressed: Bool, trailers: Metadata)
        /// A case of its own: a larger `respond` payload cost every plain answer ~500 instructions to copy and
        /// destroy (callgrind).
        case respondWithNumbers([UInt8], compressed: Bool, numericTrailers: NumericHeaderFields?)
        case setReadingPaused(Bool)
    }

    private func perform(_ operation: Operation) {
        if loop.inEventLoop {
            run(operation)
        } else {
            loop.execute { self.run(operation) }
        }
    }

    /// Loop thread.
    private func run(_ operation: Operation) {
        // The connection may be gone (client vanished): then there is nobody to answer.
        guard let connection = context.value.connection(connectionID) as? ServerConnection else { return }
        switch operation {
        case .sendHeaders(let metadata):
            connection.sendHeaders(streamID: streamID, metadata: metadata)
        case .sendMessage(let bytes, let compressed):
            connection.sendMessage(streamID: streamID, bytes, compressed: compressed)
        case .finish(let status, let trailers):
            connection.finish(streamID: streamID, status: status, trailers: trailers)
        case .respond(let bytes, let compressed, let trailers):
            connection.sendMessage(streamID: streamID, bytes, compressed: compressed)
            connection.finish(streamID: streamID, status: .ok, trailers: trailers)
        case .respondWithNumbers(let bytes, let compressed, let numericTrailers):
            connection.sendMessage(streamID: streamID, bytes, compressed: compressed)
            connection.finish(streamID: streamID, numericTrailers: numericTrailers)
        case .setReadingPaused(let paused):
            connection.setReadingPaused(streamID: streamID, paused)
        }
    }

    /// Loop thread: marks the call cancelled and runs the cancel and writability handlers.
    func markCancelled(_ status: Status) {
        let (first, handlers, waiters) = shared.withLock {
            state -> ((@Sendable (Status) -> Void)?, [@Sendable (Status) -> Void], [@Sendable () -> Void]) in
            guard state.cancelled == nil else { return (nil, [], []) }
            state.cancelled = status
            defer {
                state.firstCancelHandler = nil
                state.cancelHandlers = []
                state.writableHandlers = []
            }
            return (state.firstCancelHandler, state.cancelHandlers, state.writableHandlers)
        }
        first?(status)
        for handler in handlers { handler(status) }
        for waiter in waiters { waiter() }
    }

    /// Loop thread: the call ended normally; release writability waiters and drop cancel handlers.
    func markFinished() {
        let waiters = shared.withLock { state -> [@Sendable () -> Void] in
            state.firstCancelHandler = nil
            state.cancelHandlers = []
            defer { state.writableHandlers = [] }
            state.writable = true
            return state.writableHandlers
        }
        for waiter in waiters { waiter() }
    }

    /// Loop thread: records the stream credit withheld while reading is paused.
    func setWithheldRequestBytes(_ count: Int) {
        shared.withLock { $0.withheldRequestBytes = count }
    }

    /// Loop thread: updates writability from the stream's queued bytes.
    func setWritable(_ writable: Bool) {
        let waiters = shared.withLock { state -> [@Sendable () -> Void] in
            guard state.writable != writable else { return [] }
            state.writable = writable
            guard writable else { return [] }
            defer { state.writableHandlers = [] }
            return state.writableHandlers
        }
        for waiter in waiters { waiter() }
    }
}
