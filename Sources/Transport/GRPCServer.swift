public import Clocks
public import Crypto
internal import Glibc
internal import EventLoop
public import GRPCCompression
public import HTTP2
public import Logging
public import RPCCore
internal import Locks
internal import Synchronization

/// A gRPC server over HTTP/2: a listener, `loopCount` loop threads and the connections they own.
///
/// Threads: `init` binds, starts the loops and begins accepting; `port`, `activeConnections` and `shutdown` may be
/// used from any thread except the server's own loop threads (shutdown waits for them). Handlers run on the loop
/// thread of their connection (see `ServerMethodHandler`, `ServerCall`).
public final class GRPCServer: Sendable {
    /// Server settings. Defaults follow grpc-wire.md (W-05, W-33, W-72).
    public struct Configuration: Sendable {
        public var host: String
        /// 0 binds an ephemeral port; read the result from `GRPCServer.port`.
        public var port: Int
        /// Loop threads (1 is right on 2 cores).
        public var loopCount: Int
        /// The largest request message accepted (prefix excluded); larger ones end the RPC with RESOURCE_EXHAUSTED
        /// naming `--max-receive-message-bytes`.
        public var maxReceiveMessageBytes: Int
        /// HTTP/2 settings (MAX_CONCURRENT_STREAMS, windows, header-list cap, flood guards).
        public var http2: HTTP2Session.Configuration
        /// A stream whose queued response bytes exceed this is reported not writable (`ServerCall.isWritable`) until
        /// they drop below half of it.
        public var maxQueuedResponseBytes: Int
        /// The same bound for a whole connection: once the response bytes queued on all its streams exceed this,
        /// every stream that sends is reported not writable until the connection's queue drops below half of it
        /// (a slow reader with 100 streams would otherwise hold 100 × `maxQueuedResponseBytes`).
        public var maxQueuedResponseBytesPerConnection: Int
        /// Too-many-pings policy (W-72): a PING sooner than this after the previous is a strike.
        public var minPingInterval: Duration
        /// Strikes tolerated; the next one gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
        public var maxPingStrikes: Int
        /// Close (gracefully: GOAWAY, W-60) a connection with no RPC for this long; nil keeps it forever (W-64).
        /// On by default (5 minutes): idle connections otherwise hold a descriptor each until the process runs out.
        public var idleTimeout: Duration?
        /// A connection that has not sent the HTTP/2 preface and its first SETTINGS frame this long after it was
        /// accepted is closed (no GOAWAY: it never spoke HTTP/2); nil waits forever. Output is held until the
        /// client's first bytes are classified (ConnectionPreface), so such a connection got nothing from us either.
        public var handshakeTimeout: Duration?
        /// Open connections allowed; a connection accepted beyond it is closed at once (the client sees a closed
        /// connection immediately instead of timing out in the listen backlog), logged once per episode.
        public var maxConnections: Int
        /// Bytes of incomplete request messages (and of complete unary requests waiting for END_STREAM) one
        /// connection may buffer across its streams. The stream whose DATA would go past it ends with
        /// RESOURCE_EXHAUSTED, unless it is the only stream buffering on the connection (a single message is bounded
        /// by `maxReceiveMessageBytes`). Flow-control credit is returned as bytes arrive, so without this bound a
        /// client could make the server hold MAX_CONCURRENT_STREAMS × `maxReceiveMessageBytes` per connection.
        public var maxBufferedRequestBytesPerConnection: Int
        /// The same bound across all connections of the server (no exception for a lone stream).
        public var maxBufferedRequestBytes: Int
        /// The rapid-reset guard (`EarlyResetBudget`): streams a client may reset before finishing their requests,
        /// at once and then per second; past it the connection gets GOAWAY ENHANCE_YOUR_CALM. Resets of finished
        /// requests (deadlines, cancelled calls) are not counted, so nghttp2's own reset limit, which counts every
        /// RST_STREAM, is set far above this (`http2.streamResetBurst`/`streamResetRate` by default).
        public var earlyResetBurst = 1000
        public var earlyResetsPerSecond = 33
        /// A second port (on `host`) that serves the same: meant for REST clients (HTTP/1.1 and h2c), as Triton
        /// keeps HTTP apart from gRPC; 0 binds an ephemeral one (`GRPCServer.httpPort`). nil: only `port`.
        public var httpPort: Int?
        /// HTTP/1.1 (REST, with an `HTTPRequestHandler`): the largest request head (request line and headers); a
        /// larger one is answered 431.
        public var maxHTTPHeadBytes = 16 << 10
        /// An HTTP/1.1 request head must complete this soon after its first byte (slowloris); then 408 and close.
        public var httpHeadTimeout: Duration = .seconds(30)
        /// An HTTP/1.1 request body may pause this long between bytes; then 408 and close.
        public var httpBodyIdleTimeout: Duration = .seconds(30)
        /// HTTP/1.1 pipelining: requests of one connection in flight at once; reading pauses beyond.
        public var maxPipelinedRequests = 32
        /// Called on the loop thread once per finished request (gRPC call or REST request) with what the transport
        /// saw and what the handler annotated: the access log and request metrics hang here. nil (the default)
        /// skips building summaries and makes `annotate` a no-op. Must be quick and must not block.
        public var onRequestEnd: (@Sendable (RequestSummary) -> Void)?
        /// Where the transport logs (accept paused on EMFILE, the connection cap reached: once per episode).
        public var logger: Logger
        /// Drain a connection this long after it opened (L4 load balancing); nil disables it.
        public var maxConnectionAge: Duration?
        /// How long RPCs may run once max age has been reached.
        public var maxConnectionAgeGrace: Duration
        /// Compress response messages with this encoding when the client lists it in `grpc-accept-encoding` (W-18);
        /// nil (the default) answers with identity. Off by default: tensors of floats barely shrink and deflate
        /// costs CPU on every response. Compressed requests (gzip, deflate) are accepted either way, and a handler
        /// can send single messages uncompressed with `ServerCall.send(_:compressed: false)`.
        public var responseCompression: CompressionAlgorithm?
        /// TLS on every listener: each accepted connection runs a `TLSServerSession` from this context before
        /// anything else (ALPN `h2` → HTTP/2, `http/1.1` → HTTP/1.1, none → the first bytes decide). The TLS handshake
        /// counts against `handshakeTimeout`. nil serves plaintext. `GRPCServer.replaceTLSContext` swaps it for new
        /// connections (certificate reload).
        public var tls: TLSServerContext?
        /// The clock of the loops' timers and of every call's deadline (`ServerCall.deadline`, from `grpc-timeout`):
        /// the system's monotonic clock, or a `ManualClock` in tests. The composition root passes the one clock the
        /// batchers use too, so a deadline reaches the batch queue unconverted.
        public var clock: any MonotonicClock

        /// The server's HTTP/2 settings: nghttp2's defaults, except that its stream-reset limit (which counts every
        /// RST_STREAM, including the CANCEL a client sends when its deadline expires) is only a backstop far above
        /// `earlyResetBurst`, which counts the resets that matter.
        public static var defaultHTTP2: HTTP2Session.Configuration {
            var http2 = HTTP2Session.Configuration()
            http2.streamResetBurst = 1 << 32
            http2.streamResetRate = 1 << 20
            return http2
        }

        public init(
            host: String = "127.0.0.1", port: Int = 50051, loopCount: Int = 1,
            maxReceiveMessageBytes: Int = MessageDeframer.defaultMaxMessageBytes,
            http2: HTTP2Session.Configuration = Configuration.defaultHTTP2,
            maxQueuedResponseBytes: Int = 4 << 20,
            minPingInterval: Duration = .seconds(300), maxPingStrikes: Int = 2,
            idleTimeout: Duration? = Configuration.defaultIdleTimeout, maxConnectionAge: Duration? = nil,
            maxConnectionAgeGrace: Duration = .seconds(30), responseCompression: CompressionAlgorithm? = nil,
            maxQueuedResponseBytesPerConnection: Int = Configuration.defaultMaxQueuedResponseBytesPerConnection,
            handshakeTimeout: Duration? = Configuration.defaultHandshakeTimeout,
            maxConnections: Int = Configuration.defaultMaxConnections,
            maxBufferedRequestBytesPerConnection: Int = Configuration.defaultMaxBufferedRequestBytesPerConnection,
            maxBufferedRequestBytes: Int = Configuration.defaultMaxBufferedRequestBytes,
            logger: Logger = .discarding, clock: any MonotonicClock = SystemMonotonicClock()
        ) {
            self.clock = clock
            self.host = host
            self.port = port
            self.loopCount = loopCount
            self.maxReceiveMessageBytes = maxReceiveMessageBytes
            self.http2 = http2
            self.maxQueuedResponseBytes = maxQueuedResponseBytes
            self.minPingInterval = minPingInterval
            self.maxPingStrikes = maxPingStrikes
            self.idleTimeout = idleTimeout
            self.maxConnectionAge = maxConnectionAge
            self.maxConnectionAgeGrace = maxConnectionAgeGrace
            self.responseCompression = responseCompression
            self.maxQueuedResponseBytesPerConnection = maxQueuedResponseBytesPerConnection
            self.handshakeTimeout = handshakeTimeout
            self.maxConnections = maxConnections
            self.maxBufferedRequestBytesPerConnection = maxBufferedRequestBytesPerConnection
            self.maxBufferedRequestBytes = maxBufferedRequestBytes
            self.logger = logger
        }

        public static let defaultIdleTimeout: Duration = .seconds(300)
        public static let defaultHandshakeTimeout: Duration = .seconds(20)
        public static let defaultMaxConnections = 4096
        public static let defaultMaxBufferedRequestBytesPerConnection = 128 << 20
        public static let defaultMaxBufferedRequestBytes = 512 << 20
        public static let defaultMaxQueuedResponseBytesPerConnection = 16 << 20
    }

    public let configuration: Configuration
    /// The bound port (the ephemeral one when configured with 0).
    public let port: Int
    private let group: EventLoopGroup
    private let contexts: [LoopBound<LoopContext>]
    /// The bound `httpPort`, when configured.
    public let httpPort: Int?
    private let acceptors: [LoopBound<Acceptor>]
    private let shared: ServerShared
    private let stopped = Atomic<Bool>(false)

    /// Binds, starts the loop threads and starts accepting. `httpHandler` answers REST requests on the same port
    /// (HTTP/1.1, and HTTP/2 streams whose content-type is not gRPC); without one an HTTP/1.1 request gets 505.
    public init(
        router: Router<ServerMethodHandler>, httpHandler: HTTPRequestHandler? = nil,
        configuration: Configuration = Configuration()
    ) throws {
        self.configuration = configuration
        let listener = try Listener(host: configuration.host, port: configuration.port)
        var listeners = [listener]
        let group: EventLoopGroup
        do {
            if let httpPort = configuration.httpPort {
                listeners.append(try Listener(host: configuration.host, port: httpPort))
            }
            group = try EventLoopGroup(
                count: max(1, configuration.loopCount), namePrefix: "tw-server", clock: configuration.clock)
        } catch {
            for listener in listeners { listener.close() }
            throw error
        }
        self.port = listener.port
        self.httpPort = listeners.count > 1 ? listeners[1].port : nil
        self.group = group
        self.shared = ServerShared(router: router, httpHandler: httpHandler, configuration: configuration)
        self.contexts = group.loops.map { LoopContext.make(on: $0) }

        let acceptorLoop = contexts[0].loop
        let contexts = self.contexts
        let shared = self.shared
        let acceptors = listeners.map { listener in
            onLoop(acceptorLoop) {
                LoopBound(
                    Acceptor(listener: listener, loop: acceptorLoop, contexts: contexts, shared: shared), loop: acceptorLoop)
            }
        }
        self.acceptors = acceptors
        shared.setResumeAccepting {
            acceptorLoop.execute { for acceptor in acceptors { acceptor.value.resume() } }
        }
        let registered: String? = onLoop(acceptorLoop) {
            do {
                for acceptor in acceptors { try acceptor.value.start() }
                return nil
            } catch {
                return "\(error)"
            }
        }
        if let registered {
            _ = onLoop(acceptorLoop) {
                for acceptor in acceptors { acceptor.value.stop() }
                return true
            }
            group.shutdown()
            throw RPCError(code: .internal, message: "cannot watch the listener: \(registered)")
        }
    }

    /// Live connections (for tests and logs).
    public var activeConnections: Int { shared.liveConnections.load(ordering: .relaxed) }

    /// Of `activeConnections`, the HTTP/1.1 ones (the rest speak HTTP/2).
    public var http1Connections: Int { shared.http1Connections.load(ordering: .relaxed) }
    /// gRPC calls open now (every stream that is not REST, from its headers to its end).
    public var openCalls: Int { shared.openCalls.load(ordering: .relaxed) }
    /// REST requests handed to the handler and not yet answered (HTTP/1.1 and h2c).
    public var openRESTRequests: Int { shared.openRESTRequests.load(ordering: .relaxed) }

    /// Bytes of incomplete request messages buffered across all connections now (`maxBufferedRequestBytes`).
    public var bufferedRequestBytes: Int { shared.bufferedRequestBytes.load(ordering: .relaxed) }

    /// The most `bufferedRequestBytes` has been since start (the high-water mark the budgets bound: a budget plus
    /// at most the one DATA chunk whose growth got its stream refused).
    public var peakBufferedRequestBytes: Int { shared.peakBufferedRequestBytes.load(ordering: .relaxed) }

    /// Connections closed at once because `maxConnections` were open, since start.
    public var refusedConnections: Int { shared.refusedConnections.load(ordering: .relaxed) }

    /// Connections closed because they sent no preface and SETTINGS within `handshakeTimeout`, since start.
    public var handshakeTimeouts: Int { shared.handshakeTimeouts.load(ordering: .relaxed) }
    /// Connections told to drain by `shutdown` (HTTP/2: the shutdown notice queued; HTTP/1.1: reading stopped, or
    /// finishing the request whose body was arriving), since start.
    public var drainNotices: Int { shared.drainNotices.load(ordering: .relaxed) }
    /// Connections closed because their TLS handshake failed (not TLS, a refused client certificate, a bad record).
    public var tlsHandshakeFailures: Int { shared.tlsHandshakeFailures.load(ordering: .relaxed) }

    /// The TLS context new connections use (`Configuration.tls` until replaced); nil for plaintext.
    public var tlsContext: TLSServerContext? { shared.tlsContext.withLock { $0 } }

    /// Certificate reload: connections accepted from now on use `context`; open ones keep the one they began with.
    /// Ignored on a plaintext server (TLS cannot be switched on after start). Any thread.
    public func replaceTLSContext(_ context: TLSServerContext) {
        shared.tlsContext.withLock { current in
            if current != nil { current = context }
        }
    }

    /// Compressed request messages inflated off the event loop (`ServerConnection.offLoopInflateThreshold`).
    public var offLoopInflations: Int { shared.offLoopInflations.load(ordering: .relaxed) }
    /// Connections ended with GOAWAY ENHANCE_YOUR_CALM for resetting too many unfinished requests.
    public var earlyResetEndings: Int { shared.earlyResetEndings.load(ordering: .relaxed) }

    /// Streams ended with RESOURCE_EXHAUSTED by the buffered-request budgets, since start.
    public var bufferBudgetRefusals: Int { shared.bufferBudgetRefusals.load(ordering: .relaxed) }

    /// Times accepting paused because accept() failed (EMFILE, ENFILE, ENOBUFS, ENOMEM), since start.
    public var acceptPauses: Int { shared.acceptPauses.load(ordering: .relaxed) }

    /// Graceful stop: stops accepting, sends every connection the shutdown notice and then GOAWAY with its last
    /// stream id (W-60), lets in-flight RPCs finish for up to `drainSeconds`, then closes what is left (its calls
    /// are cancelled) and stops the loop threads. Blocks until done; idempotent. Not on a server loop thread.
    public func shutdown(drainSeconds: Double = 10) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shared.isDraining.store(true, ordering: .releasing)
        let grace = Duration.milliseconds(Int64(max(0, drainSeconds) * 1000))
        let acceptors = self.acceptors
        if let loop = acceptors.first?.loop {
            _ = onLoop(loop) {
                // Stop watching, then close the listening sockets: new connects are refused from here on.
                for acceptor in acceptors { acceptor.value.stop() }
                return true
            }
        }
        for context in contexts {
            _ = onLoop(context.loop) {
                for case let connection as ServerConnection in context.value.connections.values {
                    connection.beginDrain(grace: grace)
                }
                for connection in Array(context.value.http1Connections.values) { connection.beginDrain() }
                return true
            }
        }
        // The caller's bound is real time, whatever clock the loops run on: a test's virtual clock that nobody moves
        // must not keep `shutdown` waiting forever for a grace timer.
        let realTime = SystemMonotonicClock()
        let deadline = realTime.now() + grace + .seconds(2)
        while shared.liveConnections.load(ordering: .acquiring) > 0 && realTime.now() < deadline {
            usleep(5_000)
        }
        for context in contexts {
            _ = onLoop(context.loop) {
                for connection in Array(context.value.connections.values) {
                    connection.close(reason: "server stopped")
                }
                for connection in Array(context.value.http1Connections.values) {
                    connection.close(reason: "server stopped")
                }
                context.value.detach()
                return true
            }
        }
        group.shutdown()
    }
}

/// What every connection of one server shares: the router, the configuration and the counters. Immutable apart
/// from atomics; any thread.
final class ServerShared: Sendable {
    let router: Router<ServerMethodHandler>
    /// REST requests (HTTP/1.1, and HTTP/2 streams that are not gRPC); nil answers HTTP/1.1 with 505.
    let httpHandler: HTTPRequestHandler?
    let configuration: GRPCServer.Configuration
    let liveConnections = Atomic<Int>(0)
    /// Of `liveConnections`, those speaking HTTP/1.1; gRPC calls and REST requests open now (metrics).
    let http1Connections = Atomic<Int>(0)
    let openCalls = Atomic<Int>(0)
    let openRESTRequests = Atomic<Int>(0)
    let nextLoop = Atomic<Int>(0)
    let isDraining = Atomic<Bool>(false)
    /// Σ of every connection's buffered request bytes (`maxBufferedRequestBytes`).
    let bufferedRequestBytes = Atomic<Int>(0)
    let peakBufferedRequestBytes = Atomic<Int>(0)
    let refusedConnections = Atomic<Int>(0)
    let handshakeTimeouts = Atomic<Int>(0)
    let earlyResetEndings = Atomic<Int>(0)
    let offLoopInflations = Atomic<Int>(0)
    let bufferBudgetRefusals = Atomic<Int>(0)
    let acceptPauses = Atomic<Int>(0)
    let tlsHandshakeFailures = Atomic<Int>(0)
    let drainNotices = Atomic<Int>(0)
    /// `Configuration.tls`, replaced on certificate reload; read once per accepted connection.
    let tlsContext: Lock<TLSServerContext?>
    /// The acceptor stopped watching the listener (EMFILE…): a closing connection frees a descriptor, so resume.
    let acceptPaused = Atomic<Bool>(false)
    private let resumeAccepting = Lock<(@Sendable () -> Void)?>(nil)
    var logger: Logger { configuration.logger }

    init(router: Router<ServerMethodHandler>, httpHandler: HTTPRequestHandler?, configuration: GRPCServer.Configuration) {
        self.router = router
        self.httpHandler = httpHandler
        self.configuration = configuration
        self.tlsContext = Lock(configuration.tls)
    }

    func connectionClosed() {
        liveConnections.wrappingSubtract(1, ordering: .releasing)
        if acceptPaused.load(ordering: .acquiring), let resume = resumeAccepting.withLock({ $0 }) { resume() }
    }

    func setResumeAccepting(_ body: @escaping @Sendable () -> Void) {
        resumeAccepting.withLock { $0 = body }
    }
}

/// The listening socket's loop-thread half: accepts on each readable event, lets `AcceptGate` decide, hands
/// connections round-robin to the loops, and pauses watching the listener on EMFILE/ENFILE (level-triggered epoll
/// would report it readable again at once: a spinning core) until a connection closes or `retryInterval` passes.
/// Acceptor loop thread only.
final class Acceptor {
    let listener: Listener
    let loop: EventLoop
    let contexts: [LoopBound<LoopContext>]
    let shared: ServerShared
    private var gate: AcceptGate
    private var watching = false
    private var stopped = false
    private var retryTimer: TimerID?
    /// How soon a paused acceptor tries again when no connection of ours closes (descriptors may be freed elsewhere
    /// in the process).
    static let retryInterval: Duration = .seconds(1)

    init(listener: Listener, loop: EventLoop, contexts: [LoopBound<LoopContext>], shared: ServerShared) {
        self.listener = listener
        self.loop = loop
        self.contexts = contexts
        self.shared = shared
        self.gate = AcceptGate(maxConnections: shared.configuration.maxConnections)
    }

    func start() throws {
        try loop.register(fd: listener.fd, interest: .read) { [unowned self] _ in self.acceptAll() }
        watching = true
    }

    private func acceptAll() {
        while !stopped {
            var socket: Socket?
            let outcome: AcceptGate.Outcome
            do {
                socket = try listener.accept()
                outcome = socket == nil ? .noneWaiting : .accepted
            } catch let error as SystemError {
                outcome = .failed(errno: error.code)
            } catch {
                outcome = .failed(errno: EIO)
            }
            switch gate.decide(outcome, liveConnections: shared.liveConnections.load(ordering: .relaxed)) {
            case .adopt:
                if let socket { adopt(socket) }
            case .closeAtOnce(let log):
                socket?.close()
                shared.refusedConnections.wrappingAdd(1, ordering: .relaxed)
                if let log { shared.logger.warning(log) }
            case .stop:
                return
            case .pause(let log):
                if let log { shared.logger.warning(log) }
                pause()
                return
            }
        }
    }

    private func adopt(_ socket: Socket) {
        let shared = self.shared
        let index = shared.nextLoop.wrappingAdd(1, ordering: .relaxed).oldValue % contexts.count
        let context = contexts[index]
        shared.liveConnections.wrappingAdd(1, ordering: .relaxed)
        let adopt: @Sendable () -> Void = {
            guard !shared.isDraining.load(ordering: .acquiring) else {
                socket.close()
                shared.connectionClosed()
                return
            }
            do {
                let tls = try shared.tlsContext.withLock { $0 }.map { tlsContext in
                    TLSChannel(
                        session: try tlsContext.makeSession(), socket: socket, cipherBuffer: context.value.cipherBuffer)
                }
                let connection = try ServerConnection(server: shared, context: context, socket: socket, tls: tls)
                try connection.start()
            } catch {
                socket.close()
                shared.connectionClosed()
            }
        }
        if context.loop.inEventLoop { adopt() } else { context.loop.execute(adopt) }
    }

    private func pause() {
        shared.acceptPaused.store(true, ordering: .releasing)
        if watching {
            loop.unregister(fd: listener.fd)
            watching = false
            shared.acceptPauses.wrappingAdd(1, ordering: .relaxed)
        }
        if retryTimer == nil {
            retryTimer = loop.scheduleTimer(after: Self.retryInterval) { [weak self] in
                self?.retryTimer = nil
                self?.resume()
            }
        }
    }

    /// After a pause: watch the listener again and accept what waits (a connection closed, or the retry timer).
    func resume() {
        guard !stopped, !watching else { return }
        if let retryTimer { loop.cancelTimer(retryTimer) }
        retryTimer = nil
        shared.acceptPaused.store(false, ordering: .releasing)
        do {
            try start()
        } catch {
            pause()
            return
        }
        acceptAll()
    }

    /// Stops for good and closes the listening socket. Idempotent.
    func stop() {
        guard !stopped else { return }
        stopped = true
        if let retryTimer { loop.cancelTimer(retryTimer) }
        retryTimer = nil
        if watching { loop.unregister(fd: listener.fd) }
        watching = false
        listener.close()
    }
}
