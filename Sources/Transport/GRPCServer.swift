internal import Glibc
internal import EventLoop
public import GRPCCompression
public import HTTP2
public import RPCCore
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
        /// Too-many-pings policy (W-72): a PING sooner than this after the previous is a strike.
        public var minPingInterval: Duration
        /// Strikes tolerated; the next one gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
        public var maxPingStrikes: Int
        /// Close (gracefully) a connection with no RPC for this long; nil keeps it forever (W-64).
        public var idleTimeout: Duration?
        /// Drain a connection this long after it opened (L4 load balancing); nil disables it.
        public var maxConnectionAge: Duration?
        /// How long RPCs may run once max age has been reached.
        public var maxConnectionAgeGrace: Duration
        /// Compress response messages with this encoding when the client lists it in `grpc-accept-encoding` (W-18);
        /// nil (the default) answers with identity. Off by default: tensors of floats barely shrink and deflate
        /// costs CPU on every response. Compressed requests (gzip, deflate) are accepted either way, and a handler
        /// can send single messages uncompressed with `ServerCall.send(_:compressed: false)`.
        public var responseCompression: CompressionAlgorithm?

        public init(
            host: String = "127.0.0.1", port: Int = 50051, loopCount: Int = 1,
            maxReceiveMessageBytes: Int = MessageDeframer.defaultMaxMessageBytes,
            http2: HTTP2Session.Configuration = HTTP2Session.Configuration(),
            maxQueuedResponseBytes: Int = 4 << 20,
            minPingInterval: Duration = .seconds(300), maxPingStrikes: Int = 2,
            idleTimeout: Duration? = nil, maxConnectionAge: Duration? = nil,
            maxConnectionAgeGrace: Duration = .seconds(30), responseCompression: CompressionAlgorithm? = nil
        ) {
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
        }
    }

    public let configuration: Configuration
    /// The bound port (the ephemeral one when configured with 0).
    public let port: Int
    private let group: EventLoopGroup
    private let contexts: [LoopBound<LoopContext>]
    private let listener: Listener
    private let shared: ServerShared
    private let stopped = Atomic<Bool>(false)

    /// Binds, starts the loop threads and starts accepting.
    public init(router: Router<ServerMethodHandler>, configuration: Configuration = Configuration()) throws {
        self.configuration = configuration
        let listener = try Listener(host: configuration.host, port: configuration.port)
        let group: EventLoopGroup
        do {
            group = try EventLoopGroup(count: max(1, configuration.loopCount), namePrefix: "tw-server")
        } catch {
            listener.close()
            throw error
        }
        self.listener = listener
        self.port = listener.port
        self.group = group
        self.shared = ServerShared(router: router, configuration: configuration)
        self.contexts = group.loops.map { LoopContext.make(on: $0) }

        let acceptor = contexts[0]
        let contexts = self.contexts
        let shared = self.shared
        let registered: String? = onLoop(acceptor.loop) {
            do {
                try acceptor.loop.register(fd: listener.fd, interest: .read) { _ in
                    Self.acceptAll(listener: listener, contexts: contexts, shared: shared)
                }
                return nil
            } catch {
                return "\(error)"
            }
        }
        if let registered {
            group.shutdown()
            listener.close()
            throw RPCError(code: .internal, message: "cannot watch the listener: \(registered)")
        }
    }

    /// Live connections (for tests and logs).
    public var activeConnections: Int { shared.liveConnections.load(ordering: .relaxed) }

    private static func acceptAll(listener: Listener, contexts: [LoopBound<LoopContext>], shared: ServerShared) {
        while true {
            let socket: Socket?
            do {
                socket = try listener.accept()
            } catch {
                // Out of descriptors or memory: leave the rest queued in the kernel until the next readable event.
                return
            }
            guard let socket else { return }
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
                    let connection = try ServerConnection(server: shared, context: context, socket: socket)
                    try connection.start()
                } catch {
                    socket.close()
                    shared.connectionClosed()
                }
            }
            if context.loop.inEventLoop { adopt() } else { context.loop.execute(adopt) }
        }
    }

    /// Graceful stop: stops accepting, sends every connection the shutdown notice and then GOAWAY with its last
    /// stream id (W-60), lets in-flight RPCs finish for up to `drainSeconds`, then closes what is left (its calls
    /// are cancelled) and stops the loop threads. Blocks until done; idempotent. Not on a server loop thread.
    public func shutdown(drainSeconds: Double = 10) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shared.isDraining.store(true, ordering: .releasing)
        let listener = self.listener
        let grace = Duration.milliseconds(Int64(max(0, drainSeconds) * 1000))
        let acceptor = contexts[0].loop
        _ = onLoop(acceptor) {
            // Stop watching, then close the listening socket: new connects are refused from here on.
            acceptor.unregister(fd: listener.fd)
            listener.close()
            return true
        }
        for context in contexts {
            _ = onLoop(context.loop) {
                for case let connection as ServerConnection in context.value.connections.values {
                    connection.beginDrain(grace: grace)
                }
                return true
            }
        }
        let deadline = ContinuousClock.now + grace + .seconds(2)
        while shared.liveConnections.load(ordering: .acquiring) > 0 && ContinuousClock.now < deadline {
            usleep(5_000)
        }
        for context in contexts {
            _ = onLoop(context.loop) {
                for connection in Array(context.value.connections.values) {
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
    let configuration: GRPCServer.Configuration
    let liveConnections = Atomic<Int>(0)
    let nextLoop = Atomic<Int>(0)
    let isDraining = Atomic<Bool>(false)

    init(router: Router<ServerMethodHandler>, configuration: GRPCServer.Configuration) {
        self.router = router
        self.configuration = configuration
    }

    func connectionClosed() {
        liveConnections.wrappingSubtract(1, ordering: .releasing)
    }
}
