// Clients/TensorwireClient/ClientChannel.swift: calls over several server addresses, with reconnects and retries.
internal import Clocks
internal import Dispatch
public import EventLoop
internal import Locks
public import RPCCore
internal import Synchronization
public import Transport

#if canImport(Glibc)
internal import Glibc
#endif

/// A server's address: a host (name or literal) and a port. A plain value.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Every address `host` resolves to (its A and AAAA records, in the resolver's order, each once), as numeric
    /// hosts with `port`: one per replica behind a name such as a Kubernetes headless Service. Resolved once, when
    /// called. Throws UNAVAILABLE when the name does not resolve.
    public static func resolveAll(host: String, port: Int) throws(RPCError) -> [ServerAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, nil, &hints, &result)
        guard code == 0, let first = result else {
            if let result { freeaddrinfo(result) }
            throw RPCError(code: .unavailable, message: "cannot resolve host \(host): \(String(cString: gai_strerror(code)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [ServerAddress] = []
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            current = info.pointee.ai_next
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let rc = getnameinfo(
                info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
            guard rc == 0 else { continue }
            let numeric = buffer.withUnsafeBufferPointer { pointer in
                String(decoding: pointer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            let address = ServerAddress(host: numeric, port: port)
            if !addresses.contains(address) { addresses.append(address) }
        }
        guard !addresses.isEmpty else { throw RPCError(code: .unavailable, message: "cannot resolve host \(host)") }
        return addresses
    }
}

/// gRPC calls over one or more server addresses, as a gRPC channel with the `round_robin` policy and a retry
/// policy: one HTTP/2 connection per address, opened at start and again after it ends (at once after a GOAWAY or
/// a close, after a backoff when a connect fails, `EndpointPicker`), calls spread round robin over the usable ones,
/// and failed unary calls sent again as `RetryState` decides (UNAVAILABLE, refused and unsent requests, within the
/// deadline). docs/client.md describes the behaviour.
///
/// Threads: every member may be used from any thread. The channel's state lives on `loop` (its own thread unless
/// one is passed in), where callbacks run; the blocking `unary` must not be called on that thread.
public final class ClientChannel: Sendable {
    /// The channel's settings.
    public struct Configuration: Sendable {
        /// Each connection's settings (TLS, authority, message limit). With addresses resolved from a name, set
        /// `tlsServerName` (and `authority`) to the name.
        public var connection: ClientConnection.Configuration
        public var retryPolicy: RetryPolicy
        public var reconnectBackoff: ReconnectBackoff
        /// gRPC's wait-for-ready: while no address can take a call (all are backing off after failed connects), a
        /// call waits for one until its deadline instead of failing at once. Off by default, as in gRPC.
        public var waitForReady: Bool

        public init(
            connection: ClientConnection.Configuration = ClientConnection.Configuration(),
            retryPolicy: RetryPolicy = RetryPolicy(), reconnectBackoff: ReconnectBackoff = ReconnectBackoff(),
            waitForReady: Bool = false
        ) {
            self.connection = connection
            self.retryPolicy = retryPolicy
            self.reconnectBackoff = reconnectBackoff
            self.waitForReady = waitForReady
        }
    }

    /// What the channel has done since it started. A plain value.
    public struct Statistics: Sendable, Equatable {
        /// Unary calls started (each counted once, however many attempts it took).
        public var calls: UInt64 = 0
        /// Attempts after the first, transparent ones included.
        public var retries: UInt64 = 0
        /// Retries of requests that never reached a server's application (not counted against maxAttempts).
        public var transparentRetries: UInt64 = 0
        /// Connections opened, the first ones included.
        public var connects: UInt64 = 0
        /// Attempts (and streams) sent to each address, in `addresses` order.
        public var attemptsByAddress: [UInt64] = []
    }

    public let addresses: [ServerAddress]
    public let configuration: Configuration
    public let loop: EventLoop
    private let ownsLoop: Bool
    private let core: LoopBound<ChannelCore>
    private let latest: Lock<ClientConnection?>
    /// The counts, written on the loop, read from any thread.
    private let counts: Lock<Statistics>
    private let closed = Atomic<Bool>(false)

    /// Starts connecting to every address (non-blocking: calls made meanwhile wait for their connection). Throws
    /// for an empty list, a failed loop, or when no address is usable at all (for one address: an unusable one).
    public init(
        addresses: [ServerAddress], configuration: Configuration = Configuration(), loop: EventLoop? = nil
    ) throws(RPCError) {
        guard !addresses.isEmpty else { throw RPCError(code: .invalidArgument, message: "no server address given") }
        let ownsLoop = loop == nil
        let eventLoop: EventLoop
        do {
            eventLoop = try loop ?? EventLoop(name: "tw-client")
        } catch {
            throw RPCError(code: .unavailable, message: "cannot start the client's event loop: \(error)")
        }
        self.addresses = addresses
        self.configuration = configuration
        self.loop = eventLoop
        self.ownsLoop = ownsLoop
        let latest = Lock<ClientConnection?>(nil)
        self.latest = latest
        var initial = Statistics()
        initial.attemptsByAddress = Array(repeating: 0, count: addresses.count)
        let counts = Lock(initial)
        self.counts = counts
        let core = onLoop(eventLoop) {
            LoopBound(
                ChannelCore(
                    loop: eventLoop, addresses: addresses, configuration: configuration, latest: latest, counts: counts),
                loop: eventLoop)
        }
        self.core = core
        let failure: Status? = onLoop(eventLoop) { core.value.connectAll(core) }
        if let failure {
            if ownsLoop { eventLoop.shutdown() }
            throw RPCError(status: failure)
        }
    }

    deinit {
        close()
    }

    /// A unary call with retries; `completion` runs on the loop thread with the final response (its `status` is
    /// the last attempt's). `timeout` is the deadline over every attempt. `idempotent`: the call may run twice
    /// without harm, so one that may have reached the server is retried too.
    public func unary(
        path: String, request: [UInt8], metadata: Metadata = Metadata(), timeout: Duration? = nil,
        idempotent: Bool = true, completion: @escaping @Sendable (UnaryResponse) -> Void
    ) {
        guard !closed.load(ordering: .acquiring) else {
            completion(ChannelCore.failed(ChannelCore.closedStatus))
            return
        }
        let core = self.core
        let start: @Sendable () -> Void = {
            core.value.start(
                core, path: path, request: request, metadata: metadata, timeout: timeout, idempotent: idempotent,
                completion: completion)
        }
        if loop.inEventLoop { start() } else { loop.execute(start) }
    }

    /// A blocking unary call with retries (see the callback form). Not on the loop's thread.
    public func unary(
        path: String, request: [UInt8], metadata: Metadata = Metadata(), timeout: Duration? = nil,
        idempotent: Bool = true
    ) -> UnaryResponse {
        precondition(!loop.inEventLoop, "the blocking unary call would deadlock its own loop")
        let result = Lock<UnaryResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        unary(path: path, request: request, metadata: metadata, timeout: timeout, idempotent: idempotent) { response in
            result.withLock { $0 = response }
            done.signal()
        }
        done.wait()
        // Set before signal(); the semaphore orders it.
        return result.withLock { $0 } ?? ChannelCore.failed(Status(code: .internal, message: "no response"))
    }

    /// Starts a call of any kind on the next address in round-robin order, without retries (a stream's messages
    /// are not kept to be sent again). When no address can take it, `handlers` get UNAVAILABLE on the loop thread
    /// and nil is returned.
    public func makeCall(
        path: String, kind: RPCKind, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        handlers: ClientCallHandlers
    ) -> ClientCall? {
        let core = self.core
        let picked: Result<ClientConnection, RPCError> = closed.load(ordering: .acquiring)
            ? .failure(RPCError(status: ChannelCore.closedStatus))
            : onLoop(loop) { core.value.connectionForCall(core) }
        switch picked {
        case .success(let connection):
            return connection.makeCall(path: path, kind: kind, metadata: metadata, timeout: timeout, handlers: handlers)
        case .failure(let error):
            handlers.onUnprocessed(.notSent)
            handlers.onFinish(Status(code: error.code, message: error.message), Metadata())
            return nil
        }
    }

    /// The most recently opened connection (the first address's right after `init`); it is replaced after a
    /// reconnect.
    public var currentConnection: ClientConnection? { latest.withLock { $0 } }

    /// The counts so far.
    public var statistics: Statistics { counts.withLock { $0 } }

    /// Closes every connection (running calls end with UNAVAILABLE, waiting ones too, later ones at once) and stops
    /// the loop if the channel made it. Idempotent. On the loop's own thread (in a callback) the connections close
    /// on the loop's next task, not under the callback, and an owned loop is left running.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let core = self.core
        loop.execute { core.value.close() }
        if ownsLoop, !loop.inEventLoop { loop.shutdown() }
    }
}

/// The channel's state, on its loop thread only: the picker, the connection per address, the calls waiting for
/// a retry or a server, and the counts.
final class ChannelCore {
    /// One unary call between attempts.
    struct PendingCall {
        var path: String
        var request: [UInt8]
        var metadata: Metadata
        var retry: RetryState
        var completion: @Sendable (UnaryResponse) -> Void
        /// The last failed attempt's response, reported if the call ends while waiting.
        var last: UnaryResponse?
        var timer: TimerID?
    }

    /// Where an attempt goes.
    enum Route {
        case send(index: Int, generation: UInt64, connection: ClientConnection)
        case wait(until: MonotonicInstant)
    }

    let loop: EventLoop
    let addresses: [ServerAddress]
    let configuration: ClientChannel.Configuration
    let latest: Lock<ClientConnection?>
    let counts: Lock<ClientChannel.Statistics>
    var picker: EndpointPicker
    var connections: [ClientConnection?]
    /// Why each address last failed, for a call that fails while every address backs off.
    var lastFailure: [Status?]
    /// Every connection still referenced: the current ones and replaced ones with attempts in flight, which are
    /// released (and so closed) on a later loop task, never inside a callback of their own.
    var live: [ObjectIdentifier: (connection: ClientConnection, inFlight: Int, current: Bool)] = [:]
    var calls: [UInt64: PendingCall] = [:]
    var nextCallID: UInt64 = 0
    var random = SystemRandomNumberGenerator()
    var closed = false

    static let closedStatus = Status(code: .unavailable, message: "the client was closed")

    init(
        loop: EventLoop, addresses: [ServerAddress], configuration: ClientChannel.Configuration,
        latest: Lock<ClientConnection?>, counts: Lock<ClientChannel.Statistics>
    ) {
        self.loop = loop
        self.addresses = addresses
        self.configuration = configuration
        self.latest = latest
        self.counts = counts
        picker = EndpointPicker(count: addresses.count, backoff: configuration.reconnectBackoff)
        connections = Array(repeating: nil, count: addresses.count)
        lastFailure = Array(repeating: nil, count: addresses.count)
    }

    /// Opens a connection to every address (the picker's first round); the failure when none could be opened.
    func connectAll(_ bound: LoopBound<ChannelCore>) -> Status? {
        let now = loop.clock.now()
        var opened = false
        for _ in addresses.indices {
            guard case .connect(let index, let generation) = picker.pick(now: now) else { break }
            if open(index, generation: generation, now: now) != nil { opened = true }
        }
        latest.withLock { $0 = connections.compactMap { $0 }.first }
        return opened ? nil : lastFailure.compactMap { $0 }.first
    }

    // MARK: Unary calls

    func start(
        _ bound: LoopBound<ChannelCore>, path: String, request: [UInt8], metadata: Metadata, timeout: Duration?,
        idempotent: Bool, completion: @escaping @Sendable (UnaryResponse) -> Void
    ) {
        let deadline = timeout.map { loop.clock.now() + $0 }
        let retry = RetryState(
            policy: configuration.retryPolicy, idempotent: idempotent, waitForReady: configuration.waitForReady,
            deadline: deadline)
        nextCallID &+= 1
        calls[nextCallID] = PendingCall(path: path, request: request, metadata: metadata, retry: retry, completion: completion)
        counts.withLock { $0.calls &+= 1 }
        attempt(bound, nextCallID)
    }

    private func attempt(_ bound: LoopBound<ChannelCore>, _ id: UInt64) {
        guard let call = calls[id] else { return }
        guard !closed else {
            finish(id, Self.failed(Self.closedStatus))
            return
        }
        let now = loop.clock.now()
        if let deadline = call.retry.deadline, now >= deadline {
            let last = call.last.map { " (last failure: \($0.status.message))" } ?? ""
            finish(id, Self.failed(Status(code: .deadlineExceeded, message: "deadline exceeded\(last)")))
            return
        }
        switch route(now: now) {
        case .send(let index, let generation, let connection):
            send(bound, id, call, index: index, generation: generation, connection: connection, now: now)
        case .wait(let until):
            if call.retry.waitForReady {
                schedule(bound, id, at: min(until, call.retry.deadline ?? .max))
            } else {
                // gRPC's fail fast: every address is in TRANSIENT_FAILURE; the retry policy decides what follows.
                var response = Self.failed(noServerStatus())
                response.unprocessed = .notSent
                attemptEnded(bound, id, response, now: now)
            }
        }
    }

    private func send(
        _ bound: LoopBound<ChannelCore>, _ id: UInt64, _ call: PendingCall, index: Int, generation: UInt64,
        connection: ClientConnection, now: MonotonicInstant
    ) {
        let key = ObjectIdentifier(connection)
        live[key]?.inFlight += 1
        counts.withLock { $0.attemptsByAddress[index] &+= 1 }
        let timeout = call.retry.deadline.map { $0 - now }
        connection.unary(path: call.path, request: call.request, metadata: call.metadata, timeout: timeout) { response in
            // On the loop thread: ClientConnection's callbacks run there.
            let core = bound.value
            core.connectionSettled(key, index: index, generation: generation, failure: response.status)
            core.attemptEnded(bound, id, response, now: core.loop.clock.now())
        }
    }

    private func attemptEnded(_ bound: LoopBound<ChannelCore>, _ id: UInt64, _ response: UnaryResponse, now: MonotonicInstant) {
        guard var call = calls[id] else { return }
        if response.status.isOK || closed {
            finish(id, response)
            return
        }
        let failure = AttemptFailure(code: response.status.code, unprocessed: response.unprocessed)
        switch call.retry.next(after: failure, now: now, random: &random) {
        case .retry(let delay, let transparent):
            counts.withLock { counts in
                counts.retries &+= 1
                if transparent { counts.transparentRetries &+= 1 }
            }
            call.last = response
            calls[id] = call
            schedule(bound, id, at: now + delay)
        case .giveUp:
            finish(id, response)
        }
    }

    /// Runs the call's next attempt at `instant`, from the loop's timer (never inline: a callback of a connection
    /// must not open or close connections under itself).
    private func schedule(_ bound: LoopBound<ChannelCore>, _ id: UInt64, at instant: MonotonicInstant) {
        calls[id]?.timer = loop.scheduleTimer(at: instant) {
            let core = bound.value
            core.calls[id]?.timer = nil
            core.attempt(bound, id)
        }
    }

    private func finish(_ id: UInt64, _ response: UnaryResponse) {
        guard let call = calls.removeValue(forKey: id) else { return }
        if let timer = call.timer { loop.cancelTimer(timer) }
        call.completion(response)
    }

    static func failed(_ status: Status) -> UnaryResponse {
        UnaryResponse(status: status, message: nil, headers: Metadata(), trailers: Metadata())
    }

    /// UNAVAILABLE with the most recent connect failure's words (the CLI turns them into "nothing listens on …").
    private func noServerStatus() -> Status {
        if addresses.count == 1, let status = lastFailure[0] { return status }
        let reasons = zip(addresses, lastFailure).compactMap { address, status in status.map { "\(address): \($0.message)" } }
        return Status(
            code: .unavailable,
            message: "no server reachable" + (reasons.isEmpty ? "" : " (" + reasons.joined(separator: "; ") + ")"))
    }

    // MARK: Streams

    func connectionForCall(_ bound: LoopBound<ChannelCore>) -> Result<ClientConnection, RPCError> {
        guard !closed else { return .failure(RPCError(status: Self.closedStatus)) }
        switch route(now: loop.clock.now()) {
        case .send(let index, _, let connection):
            counts.withLock { $0.attemptsByAddress[index] &+= 1 }
            return .success(connection)
        case .wait:
            return .failure(RPCError(status: noServerStatus()))
        }
    }

    // MARK: Connections

    /// The connection for the next attempt: the picker's choice, skipping (and reporting) connections that have
    /// ended since, opening new ones where told.
    private func route(now: MonotonicInstant) -> Route {
        for _ in 0...(2 * addresses.count) {
            switch picker.pick(now: now) {
            case .use(let index, let generation):
                guard let connection = connections[index] else {
                    picker.connectFailed(index, generation: generation, now: now, random: &random)
                    continue
                }
                switch connection.phase {
                case .connecting:
                    return .send(index: index, generation: generation, connection: connection)
                case .ready:
                    picker.connected(index, generation: generation)
                    return .send(index: index, generation: generation, connection: connection)
                case .goingAway, .closed:
                    ended(connection, index: index, generation: generation, now: now)
                }
            case .connect(let index, let generation):
                if let connection = open(index, generation: generation, now: now) {
                    return .send(index: index, generation: generation, connection: connection)
                }
            case .wait(let until):
                return .wait(until: until)
            }
        }
        // Not reached: every turn above returns or moves the picker on (to idle, to a backoff, or past a connect).
        return .wait(until: now + configuration.reconnectBackoff.initial)
    }

    /// Opens a connection to address `index` for the picker's `generation`, replacing the old one; nil (and the
    /// picker told) when it cannot even start.
    private func open(_ index: Int, generation: UInt64, now: MonotonicInstant) -> ClientConnection? {
        let address = addresses[index]
        let connection: ClientConnection
        do {
            connection = try ClientConnection(
                host: address.host, port: address.port, loop: loop, configuration: configuration.connection)
        } catch {
            lastFailure[index] = Status(code: .unavailable, message: (error as? RPCError)?.message ?? "\(error)")
            picker.connectFailed(index, generation: generation, now: now, random: &random)
            return nil
        }
        if let old = connections[index] { retire(old) }
        connections[index] = connection
        live[ObjectIdentifier(connection)] = (connection, 0, true)
        counts.withLock { $0.connects &+= 1 }
        latest.withLock { $0 = connection }
        return connection
    }

    /// Tells the picker about a connection that has ended: a failed connect (back off) or the end of one that
    /// worked (reconnect at once).
    private func ended(_ connection: ClientConnection, index: Int, generation: UInt64, now: MonotonicInstant) {
        if connection.wasReady {
            picker.connectionEnded(index, generation: generation)
        } else {
            picker.connectFailed(index, generation: generation, now: now, random: &random)
        }
    }

    /// After an attempt on `key`'s connection: its health to the picker, its in-flight count, and the failure's
    /// words when the connect failed.
    private func connectionSettled(_ key: ObjectIdentifier, index: Int, generation: UInt64, failure: Status) {
        guard var entry = live[key] else { return }
        entry.inFlight -= 1
        live[key] = entry
        let connection = entry.connection
        switch connection.phase {
        case .ready:
            picker.connected(index, generation: generation)
        case .goingAway, .closed:
            if !connection.wasReady, !failure.isOK { lastFailure[index] = failure }
            ended(connection, index: index, generation: generation, now: loop.clock.now())
        case .connecting:
            break
        }
        if !entry.current, entry.inFlight <= 0 { release(key) }
    }

    /// A replaced connection: kept until its attempts in flight have ended.
    private func retire(_ connection: ClientConnection) {
        let key = ObjectIdentifier(connection)
        guard var entry = live[key] else { return }
        entry.current = false
        live[key] = entry
        if entry.inFlight <= 0 { release(key) }
    }

    /// Drops the last reference on a later loop task, where closing the connection runs outside its own callbacks.
    private func release(_ key: ObjectIdentifier) {
        guard let entry = live.removeValue(forKey: key) else { return }
        let connection = entry.connection
        loop.execute { connection.close() }
    }

    func close() {
        guard !closed else { return }
        closed = true
        // Calls between attempts end now; calls in flight end as their connections close below.
        for (id, call) in calls where call.timer != nil {
            finish(id, Self.failed(Self.closedStatus))
        }
        let all = live.values.map(\.connection)
        live.removeAll()
        connections = connections.map { _ in nil }
        latest.withLock { $0 = nil }
        for connection in all { connection.close() }
    }
}
