internal import Clocks
internal import EventLoop
internal import Synchronization
internal import GRPCCompression
internal import HTTP2
internal import RPCCore
internal import HTTPTypes
internal import Logging
internal import Tracing

/// One RPC on a server connection: its stream state machine, its `ServerCall`, the handler's observer and the
/// deadline timer. Owned by its `ServerConnection`; loop thread only.
final class ServerStream {
    // Dynamic exclusivity checks are off for these loop-thread-only fields: callgrind counted ~10 checks per RPC
    // (~100 instructions each). No access to them is held across a handler call (handlers get copies).
    let id: Int32
    @exclusivity(unchecked) var machine: RPCStreamStateMachine
    @exclusivity(unchecked) var call: ServerCall?
    @exclusivity(unchecked) var observer: RequestObserver?
    @exclusivity(unchecked) var deadlineTimer: TimerID?
    /// The compressed flags of decoded request messages not yet handed to the observer (ServerCompression.swift).
    @exclusivity(unchecked) var compression = StreamCompressionState()
    // Read pausing (`ServerCall.pauseReading`): decoded messages wait in `inbox` while paused, and the stream's
    // flow-control credit for DATA received meanwhile is withheld, so the client stops at the stream window.
    @exclusivity(unchecked) var readPaused = false
    @exclusivity(unchecked) var inbox: [[UInt8]] = []
    @exclusivity(unchecked) var inboxHead = 0
    /// The end of the request arrived but waits behind the inbox.
    @exclusivity(unchecked) var endPending = false
    /// True inside `deliverInbox` (a handler resuming from `onMessage` must not re-enter it).
    @exclusivity(unchecked) var delivering = false
    /// DATA bytes whose stream credit has not been returned yet (the connection credit was).
    @exclusivity(unchecked) var withheldCredit = 0
    /// `machine.bufferedRequestBytes` as last charged to the connection's and the server's budgets.
    @exclusivity(unchecked) var chargedBufferBytes = 0
    /// This side reset the stream (our bug, or a frame nghttp2 refused): its close is not the client's reset.
    @exclusivity(unchecked) var resetLocally = false

    /// Request messages waiting behind a large compressed one that is being inflated off the loop
    /// (ServerCompression.swift), in arrival order, still as received.
    @exclusivity(unchecked) var inflationQueue: [ReceivedMessage] = []
    /// A message of this stream is being inflated on the inflation queue.
    @exclusivity(unchecked) var inflating = false
    /// With `onRequestEnd`: when the request's headers arrived, its path, and whether its summary went out.
    @exclusivity(unchecked) var started: MonotonicInstant?
    @exclusivity(unchecked) var path = ""
    @exclusivity(unchecked) var summarized = false

    var holdsInput: Bool { readPaused || inboxHead < inbox.count || inflating || !inflationQueue.isEmpty }

    init(id: Int32, machine: RPCStreamStateMachine) {
        self.id = id
        self.machine = machine
    }
}

/// The server end of one HTTP/2 connection: socket ↔ `HTTP2Session` ↔ one `ServerStream` per RPC, the router
/// dispatching to handlers, keepalive policing (too many pings, idle timeout, max age) and graceful shutdown
/// (double GOAWAY, W-60). Created and touched only on its loop thread.
final class ServerConnection: HTTP2Connection {
    let server: ServerShared
    let boundContext: LoopBound<LoopContext>
    /// Loop thread only; accesses are short and never span a handler call, so the dynamic exclusivity check (~80
    /// instructions each, several per RPC) is off.
    @exclusivity(unchecked) private var streams = StreamMap<ServerStream>()
    /// Every stream's machine configuration, built once per connection rather than per RPC.
    private let streamConfiguration: RPCStreamStateMachine.Configuration
    // `@exclusivity(unchecked)` on the per-RPC fields below, as on `streams`: loop thread only, short accesses.
    /// The last metadata-free response HEADERS and status-only trailers sent, laid out once for nghttp2: every RPC on
    /// a connection usually repeats them (HTTP2HeaderBlock).
    @exclusivity(unchecked) private var responseHeadersBlock: (key: ResponseHeadersKey, block: HTTP2HeaderBlock)?
    @exclusivity(unchecked) private var statusTrailersBlock: (fields: [HeaderField], block: HTTP2HeaderBlock)?
    /// Responses sent with numeric trailers (`sendEnd`): their names enter the HPACK table on every 1,024th.
    @exclusivity(unchecked) private var numericTrailersSent = 0
    /// The last method this connection resolved, by its `:path` (see `openStream`).
    @exclusivity(unchecked) private var lastRoute: RecentRoute?
    /// REST requests on HTTP/2 streams (ServerConnection+REST.swift), apart from the RPCs.
    @exclusivity(unchecked) var restStreams: [Int32: RESTStream] = [:]
    /// Streams whose writers were told to pause; re-checked after every flush.
    @exclusivity(unchecked) private var blocked: Set<Int32> = []

    /// Handshake, keepalive policing, idleness, age, graceful shutdown and the rapid-reset guard: every decision and
    /// flag; this connection applies its actions (`apply(_:)`). Loop thread only, short accesses (the per-RPC
    /// events are `streamOpened`, `streamClosed` and `framesSent`), so the dynamic exclusivity check is off.
    @exclusivity(unchecked) var management: ConnectionManagementStateMachine
    // The machine's timers (their ids; the machine knows whether they are armed).
    private var idleTimer: TimerID?
    private var ageTimer: TimerID?
    /// Until the client's preface and first SETTINGS arrive (`handshakeTimeout`).
    private var handshakeTimer: TimerID?
    /// Σ of the streams' `chargedBufferBytes` (`maxBufferedRequestBytesPerConnection`).
    @exclusivity(unchecked) var bufferedRequestBytes = 0
    /// Streams holding buffered request bytes (`chargedBufferBytes > 0`, REST bodies too).
    @exclusivity(unchecked) var bufferingStreams = 0
    /// Graceful shutdown (W-60) has begun: the shutdown notice went out.
    var isDraining: Bool { management.isDraining }

    /// The base class decides by itself to close after the flush (a protocol error, an HTTP/1.1 request): the
    /// machine hears of it, so that it queues no second GOAWAY.
    override var closeWhenFlushed: Bool {
        didSet { if closeWhenFlushed { management.closeScheduled() } }
    }

    init(server: ServerShared, context: LoopBound<LoopContext>, socket: Socket, tls: TLSChannel? = nil) throws {
        self.server = server
        self.boundContext = context
        let configuration = server.configuration
        management = ConnectionManagementStateMachine(
            configuration: .init(
                handshakeTimeout: configuration.handshakeTimeout, idleTimeout: configuration.idleTimeout,
                maxConnectionAge: configuration.maxConnectionAge,
                maxConnectionAgeGrace: configuration.maxConnectionAgeGrace,
                minPingInterval: configuration.minPingInterval, maxPingStrikes: configuration.maxPingStrikes,
                earlyResetBurst: configuration.earlyResetBurst,
                earlyResetsPerSecond: configuration.earlyResetsPerSecond))
        streamConfiguration = RPCStreamStateMachine.Configuration(
            maxReceiveMessageBytes: server.configuration.maxReceiveMessageBytes,
            supportedEncodings: CompressionAlgorithm.advertised.map(\.name))
        let session = try HTTP2Session(role: .server, configuration: server.configuration.http2)
        super.init(context: context.value, socket: socket, session: session, screensPreface: true, tls: tls)
    }

    override func start() throws {
        try super.start()
        for action in management.connectionStarted() { apply(action) }
    }

    // MARK: Events

    override func handle(_ events: [HTTP2Event]) {
        for event in events {
            switch event {
            case .headers(let id, let headers, let kind, let endStream):
                if kind == .request {
                    if isRESTRequest(headers) {
                        openRESTStream(id: id, headers: headers, endStream: endStream)
                    } else {
                        openStream(id: id, headers: headers, endStream: endStream)
                    }
                } else if !restStreams.isEmpty, let rest = restStreams[id] {
                    // Trailers on a REST request are dropped; their END_STREAM completes it.
                    if endStream { receiveRESTData(rest, [], endStream: true) }
                } else if let stream = streams[id] {
                    let action: ServerRequestAction
                    do {
                        action = try stream.machine.receiveRequestTrailers(headers)
                    } catch {
                        fail(stream, error)
                        continue
                    }
                    apply(decompress(action, on: stream), to: stream)
                }
            case .data(let id, let bytes, let endStream):
                // Flow-control credit goes back once the bytes have been handed to the handler (or dropped). While
                // the handler has paused reading, only the connection's credit goes back: other streams flow, and
                // this one stops at its window until the handler resumes and the waiting messages are taken.
                guard let stream = streams[id] else {
                    session.consume(streamID: id, count: bytes.count)
                    if let rest = restStreams[id] { receiveRESTData(rest, bytes, endStream: endStream) }
                    continue
                }
                let action: ServerRequestAction
                do {
                    action = try stream.machine.receiveRequestData(bytes, endStream: endStream)
                } catch {
                    session.consume(streamID: id, count: bytes.count)
                    fail(stream, error)
                    chargeBufferedBytes(of: stream, mayRefuse: false)
                    continue
                }
                apply(decompress(action, on: stream), to: stream)
                chargeBufferedBytes(of: stream)
                if stream.holdsInput, streams[id] != nil {
                    session.consumeConnection(count: bytes.count)
                    stream.withheldCredit += bytes.count
                    stream.call?.setWithheldRequestBytes(stream.withheldCredit)
                } else {
                    session.consume(streamID: id, count: bytes.count)
                }
            case .streamClosed(let id, let code):
                // `isEmpty` first: looking a key up hashes it even in an empty table (~110 instructions per RPC).
                if !restStreams.isEmpty, let rest = restStreams.removeValue(forKey: id) {
                    closeRESTStream(rest)
                    apply(management.streamClosed(remaining: streams.count + restStreams.count))
                    continue
                }
                guard let stream = streams.removeValue(forKey: id) else { continue }
                server.openCalls.wrappingSubtract(1, ordering: .relaxed)
                // The client reset a request it had not finished sending, while we still owed the response: the
                // rapid-reset pattern (a deadline's CANCEL comes after a finished request and is not counted).
                if !stream.resetLocally, stream.machine.clientSide == .open, stream.machine.serverSide != .closed {
                    apply(management.unfinishedRequestReset(at: loop.clock.now()))
                }
                releaseBufferedBytes(of: stream)
                if !blocked.isEmpty { blocked.remove(id) }
                summarize(stream, statusName: "CANCELLED")
                if let timer = stream.deadlineTimer { loop.cancelTimer(timer) }
                switch stream.machine.receiveReset(errorCode: code) {
                case .finished(let status): stream.call?.markCancelled(status)
                case .none: stream.call?.markFinished()
                }
                stream.observer = nil
                apply(management.streamClosed(remaining: streams.count + restStreams.count))
            case .ping(let opaque, let ack):
                if ack {
                    apply(management.pingAckReceived(opaque: opaque))
                } else {
                    apply(management.pingReceived(at: loop.clock.now()))
                }
            case .settings(let ack, _):
                // The client's first SETTINGS (nghttp2 checked the preface before it): the handshake is done.
                if !ack { apply(management.handshakeCompleted()) }
            case .goAway:
                break
            }
        }
        apply(management.eventsHandled())
    }

    private func openStream(id: Int32, headers: [HeaderField], endStream: Bool) {
        let stream = ServerStream(id: id, machine: RPCStreamStateMachine(server: streamConfiguration))
        streams[id] = stream
        server.openCalls.wrappingAdd(1, ordering: .relaxed)
        apply(management.streamOpened())
        if server.configuration.onRequestEnd != nil {
            stream.started = loop.clock.now()
            stream.path = headers.first { $0.name == ":path" }?.value ?? ""
        }
        let action: ServerHeadersAction<ServerMethodHandler>
        do {
            // In place: the machine is a large value; copying it out and back cost ~2K instructions per RPC.
            action = try stream.machine.receiveRequestHeaders(headers, endStream: endStream) { (path: String) -> Result<Router<ServerMethodHandler>.Route, RPCError> in
                // A connection usually calls one method again and again: its route is kept, and the path compared
                // with the last one (the same string storage when HTTP2's repeated-value cache made it) instead of
                // hashed into the router's table (~700 instructions per RPC, callgrind).
                if let last = lastRoute, last.path == path { return .success(last.route) }
                let result = server.router.lookup(path: path)
                if case .success(let route) = result { lastRoute = RecentRoute(path: path, route: route) }
                return result
            }
        } catch {
            fail(stream, error)
            return
        }
        // Consumed, and `head` last used by the ServerCall init: the request head moves into the call instead of
        // being copied and the copies destroyed (three destroys of a dozen references per RPC, callgrind).
        switch consume action {
        case .reject(let end):
            sendEnd(end, on: stream)
        case .accept(let head, let route, let requestComplete):
            let deadline = head.timeout.map { loop.clock.now() + $0.duration }
            let compression = responseCompression(for: head)
            let trace = Self.serverSpan(head.metadata)
            let call = ServerCall(
                descriptor: route.descriptor, head: consume head, deadline: deadline, context: boundContext,
                connectionID: self.id, streamID: id, responseCompression: compression, peer: peer, trace: trace,
                collectsSummary: stream.started != nil, peerIdentity: tls?.peerIdentity)
            stream.call = call
            if let deadline {
                stream.deadlineTimer = loop.scheduleTimer(at: deadline, whenRegistered(ServerConnection.self) {
                    $0.deadlineExpired(streamID: id)
                })
            }
            let observer = route.handler.start(call)
            stream.observer = observer
            if requestComplete { observer.onEnd() }
        }
    }

    /// The server's span for a request whose metadata carries one valid `traceparent` (W3C Trace Context): the
    /// caller's trace id and flags, a new span id of ours.
    static func serverSpan(_ metadata: Metadata) -> TraceContext? {
        // Most calls carry no traceparent: checked without building the list of its values.
        guard metadata.contains(lowercaseKey: TraceContext.fieldName) else { return nil }
        let fields = metadata.strings(forKey: TraceContext.fieldName)
        guard !fields.isEmpty, let caller = TraceContext(traceparentFields: fields) else { return nil }
        var generator = SystemRandomNumberGenerator()
        return caller.childSpan(newSpanID: SpanID.random(using: &generator))
    }

    /// Reports the stream's end to `onRequestEnd` once (our status, or how it ended without one).
    func summarize(_ stream: ServerStream, statusName: String) {
        guard let started = stream.started, !stream.summarized, let report = server.configuration.onRequestEnd else {
            return
        }
        stream.summarized = true
        report(RequestSummary(
            wireProtocol: .grpc, peer: peer, route: stream.path, statusName: statusName, httpStatus: nil,
            durationMicroseconds: Int(clamping: loop.clock.now().nanoseconds(since: started) / 1000),
            traceID: stream.call?.trace?.traceID, annotations: stream.call?.annotations ?? RequestAnnotations()))
    }

    /// The stream `id` while it is open (for work that comes back to the loop later).
    func existingStream(_ id: Int32) -> ServerStream? { streams[id] }

    func apply(_ action: ServerRequestAction, to stream: ServerStream) {
        switch action {
        case .deliver(let messages, let endOfRequest):
            guard stream.observer != nil else { return }
            if !stream.holdsInput && !stream.delivering, messages.count <= 1 {
                // The common case: nothing waits, hand the message over directly.
                if let message = messages.first, let observer = stream.observer {
                    deliver(message.bytes, to: observer, on: stream)
                }
                if endOfRequest {
                    if stream.holdsInput { stream.endPending = true } else { stream.observer?.onEnd() }
                }
                return
            }
            stream.inbox.append(contentsOf: messages.lazy.map(\.bytes))
            if endOfRequest { stream.endPending = true }
            deliverInbox(stream)
        case .reject(let end):
            stream.call?.markCancelled(end.status)
            sendEnd(end, on: stream)
        case .drop:
            break
        }
    }

    // MARK: Buffered request budgets (issue 25, point 2)

    /// Charges the change in the bytes `stream`'s machine holds (an incomplete message, a unary request waiting for
    /// END_STREAM) to the connection and the server. When the growth takes the connection past
    /// `maxBufferedRequestBytesPerConnection` (and the stream is not the only one buffering) or the server past
    /// `maxBufferedRequestBytes`, the stream ends with RESOURCE_EXHAUSTED: its later DATA is dropped and its bytes are
    /// released when the stream closes (RST_STREAM NO_ERROR follows our trailers, W-52).
    ///
    /// Why refuse rather than withhold flow-control credit: the connection window is shared, so withholding it
    /// once the budget is full stalls every stream, and streams that each hold half a message can then never
    /// finish (a deadlock that ends only at the deadline); refusing tells the client at once, with a status that
    /// names the limit, and frees the memory. A single message stays bounded by `maxReceiveMessageBytes`.
    /// `mayRefuse` false: only account (the stream is being reset already).
    private func chargeBufferedBytes(of stream: ServerStream, mayRefuse: Bool = true) {
        let now = stream.machine.bufferedRequestBytes
        let delta = now - stream.chargedBufferBytes
        guard delta != 0 else { return }
        if stream.chargedBufferBytes == 0 { bufferingStreams += 1 }
        if now == 0 { bufferingStreams -= 1 }
        stream.chargedBufferBytes = now
        bufferedRequestBytes += delta
        let total = server.bufferedRequestBytes.wrappingAdd(delta, ordering: .relaxed).newValue
        guard delta > 0 else { return }
        var peak = server.peakBufferedRequestBytes.load(ordering: .relaxed)
        while total > peak {
            let (exchanged, original) = server.peakBufferedRequestBytes.compareExchange(
                expected: peak, desired: total, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
        guard mayRefuse, streams[stream.id] != nil, stream.machine.serverSide != .closed else { return }
        let configuration = server.configuration
        let limit: String
        if total > configuration.maxBufferedRequestBytes {
            limit = "\(total) bytes across the server; limit --max-buffered-request-bytes "
                + "\(configuration.maxBufferedRequestBytes)"
        } else if bufferedRequestBytes > configuration.maxBufferedRequestBytesPerConnection, bufferingStreams > 1 {
            limit = "\(bufferedRequestBytes) bytes on this connection; limit "
                + "--max-buffered-request-bytes-per-connection \(configuration.maxBufferedRequestBytesPerConnection)"
        } else {
            return
        }
        let status = Status(
            code: .resourceExhausted,
            message: "grpc: too many bytes of unfinished request messages buffered (\(limit)); retry later")
        server.bufferBudgetRefusals.wrappingAdd(1, ordering: .relaxed)
        let action: SendAction<ResponseEnd>
        do {
            action = try stream.machine.sendStatus(status, trailers: Metadata())
        } catch {
            fail(stream, error)
            return
        }
        stream.call?.markCancelled(status)
        if case .send(let end) = action { sendEnd(end, on: stream) }
        // The refused stream never reads its partial message: its bytes leave the machine and both budgets now, not
        // when the peer's RST_STREAM or END_STREAM closes the stream, so that the other streams' DATA read in the
        // same pass is measured without them (the budget is overshot by at most the one chunk that crossed it).
        stream.machine.discardBufferedRequest()
        chargeBufferedBytes(of: stream, mayRefuse: false)
    }

    /// The stream is gone: its bytes leave the budgets.
    private func releaseBufferedBytes(of stream: ServerStream) {
        guard stream.chargedBufferBytes > 0 else { return }
        bufferedRequestBytes -= stream.chargedBufferBytes
        bufferingStreams -= 1
        server.bufferedRequestBytes.wrappingSubtract(stream.chargedBufferBytes, ordering: .relaxed)
        stream.chargedBufferBytes = 0
    }

    /// Hands waiting messages (then the end of the request) to the observer until the handler pauses; once nothing
    /// waits and reading is not paused, returns the withheld stream credit.
    func deliverInbox(_ stream: ServerStream) {
        guard !stream.delivering else { return }
        stream.delivering = true
        defer { stream.delivering = false }
        while !stream.readPaused, stream.inboxHead < stream.inbox.count, let observer = stream.observer {
            let message = stream.inbox[stream.inboxHead]
            stream.inbox[stream.inboxHead] = []
            stream.inboxHead += 1
            deliver(message, to: observer, on: stream)
        }
        if stream.inboxHead == stream.inbox.count {
            stream.inbox = []
            stream.inboxHead = 0
        } else if stream.inboxHead >= 256 {
            stream.inbox.removeFirst(stream.inboxHead)
            stream.inboxHead = 0
        }
        guard !stream.holdsInput else { return }
        if stream.endPending {
            stream.endPending = false
            stream.observer?.onEnd()
        }
        if stream.withheldCredit > 0, streams[stream.id] != nil {
            session.consumeStream(streamID: stream.id, count: stream.withheldCredit)
            stream.withheldCredit = 0
            stream.call?.setWithheldRequestBytes(0)
            markDirty()
        }
    }

    /// From `ServerCall.pauseReading/resumeReading`.
    func setReadingPaused(streamID: Int32, _ paused: Bool) {
        guard let stream = streams[streamID], stream.readPaused != paused else { return }
        stream.readPaused = paused
        if !paused { deliverInbox(stream) }
    }

    /// Our own bug (an invalid transition): reset the stream with INTERNAL_ERROR and cancel the handler.
    private func fail(_ stream: ServerStream, _ error: RPCError) {
        summarize(stream, statusName: error.code.name)
        stream.resetLocally = true
        session.resetStream(streamID: stream.id, errorCode: .internalError)
        stream.call?.markCancelled(error.status)
        markDirty()
    }

    private func sendEnd(_ end: ResponseEnd, on stream: ServerStream) {
        sendEnd(end, on: stream, numbers: nil)
    }

    /// `numbers`: numeric trailers to append after `end.fields` (`ResponseEnd.appendsNumericTrailers`). Inlined into
    /// both callers, as `finish` is.
    @inline(__always)
    private func sendEnd(_ end: ResponseEnd, on stream: ServerStream, numbers: NumericHeaderFields?) {
        summarize(stream, statusName: end.status.code.name)
        do {
            if end.isTrailersOnly {
                try session.sendTrailersOnly(streamID: stream.id, headers: end.fields)
            } else if end.fields.count == 1 {
                // grpc-status alone (no message, no trailing metadata): one of a few blocks, usually "0", with the
                // numeric fields (the batch facts) spelt out behind it when the trailers are laid out.
                let block = Self.block(for: end.fields, in: &statusTrailersBlock)
                if let numbers {
                    // The names enter the HPACK table on the first such response and every 1,024th after it: later
                    // never-indexed timings then name themselves by index (HTTP2Session.finish).
                    let enteringNames = numericTrailersSent & 1023 == 0
                    numericTrailersSent &+= 1
                    try session.finish(
                        streamID: stream.id, trailerBlock: block, appending: numbers, enteringNames: enteringNames)
                } else {
                    try session.finish(streamID: stream.id, trailerBlock: block)
                }
            } else {
                try session.finish(streamID: stream.id, trailers: end.fields + (numbers?.headerFields ?? []))
            }
        } catch {
            stream.resetLocally = true
            session.resetStream(streamID: stream.id, errorCode: .internalError)
        }
        if let timer = stream.deadlineTimer {
            loop.cancelTimer(timer)
            stream.deadlineTimer = nil
        }
        markDirty()
    }

    private func deadlineExpired(streamID: Int32) {
        guard let stream = streams[streamID] else { return }
        stream.deadlineTimer = nil
        // W-55: DEADLINE_EXCEEDED while the response is open (the handler's late answer is then dropped); once the
        // response has ended its status stands. The handler is cancelled either way.
        switch stream.machine.expireDeadline() {
        case .send(let end):
            sendEnd(end, on: stream)
            stream.call?.markCancelled(end.status)
        case .none:
            break
        }
    }

    // MARK: Response operations (from ServerCall, on the loop thread)

    func sendHeaders(streamID: Int32, metadata: Metadata) {
        guard let stream = streams[streamID], stream.machine.serverSide == .idle else { return }
        var metadata = metadata
        if let trace = stream.call?.trace { try? metadata.addString(trace.traceparent, forKey: TraceContext.fieldName) }
        let action: SendAction<ResponseHeadersKey>
        do {
            action = try stream.machine.openResponse(encoding: stream.call?.responseCompression?.name)
        } catch {
            fail(stream, error)
            return
        }
        guard case .send(let key) = action else { return }
        do {
            if metadata.isEmpty {
                // The encoded block of the last response without metadata, kept while its key repeats.
                let block: HTTP2HeaderBlock
                if let kept = responseHeadersBlock, kept.key == key {
                    block = kept.block
                } else {
                    block = HTTP2HeaderBlock(stream.machine.responseHeaderFields())
                    responseHeadersBlock = (key, block)
                }
                try session.sendResponseHeaders(streamID: streamID, block: block)
            } else {
                try session.sendResponseHeaders(streamID: streamID, headers: stream.machine.responseHeaderFields(metadata))
            }
        } catch {
            fail(stream, RPCError(code: .internal, message: "\(error)"))
            return
        }
        management.framesSent()
        markDirty()
    }

    /// The cached block when it holds `fields`, else a new one, kept for the next RPC.
    private static func block(
        for fields: [HeaderField], in cache: inout (fields: [HeaderField], block: HTTP2HeaderBlock)?
    ) -> HTTP2HeaderBlock {
        if let cache, cache.fields == fields { return cache.block }
        let block = HTTP2HeaderBlock(fields)
        cache = (fields, block)
        return block
    }

    /// `compressed`: `message` is already compressed with the call's `responseCompression`.
    func sendMessage(streamID: Int32, _ message: [UInt8], compressed: Bool = false) {
        guard let stream = streams[streamID], stream.machine.termination == nil else { return }
        if stream.machine.serverSide == .idle { sendHeaders(streamID: streamID, metadata: Metadata()) }
        // The prefix travels as a value queued in front of the handler's array: no framed copy of the message.
        let action: SendAction<UInt64>
        do {
            action = try stream.machine.sendResponseMessagePrefix(length: message.count, compressed: compressed)
        } catch {
            fail(stream, error)
            return
        }
        guard case .send(let prefix) = action else { return }
        do {
            try session.sendData(
                streamID: streamID, leading: prefix, leadingCount: MessageFramer.prefixLength, message
            )
        } catch {
            fail(stream, RPCError(code: .internal, message: "\(error)"))
            return
        }
        management.framesSent()
        if session.queuedOutboundBytes(streamID: streamID) > server.configuration.maxQueuedResponseBytes
            || session.queuedOutboundBytes > server.configuration.maxQueuedResponseBytesPerConnection
        {
            blocked.insert(streamID)
            stream.call?.setWritable(false)
        }
        markDirty()
    }

    func finish(streamID: Int32, status: Status, trailers: Metadata) {
        finish(streamID, status, trailers, numericTrailers: nil)
    }

    /// An OK status with trailers whose values are numbers (the batch facts).
    func finish(streamID: Int32, numericTrailers: NumericHeaderFields?) {
        finish(streamID, .ok, Metadata(), numericTrailers: numericTrailers)
    }

    /// Inlined into both callers: passing the (absent) numbers down cost every plain answer ~250 instructions.
    @inline(__always)
    private func finish(_ streamID: Int32, _ status: Status, _ trailers: Metadata, numericTrailers: NumericHeaderFields?) {
        guard let stream = streams[streamID] else { return }
        var trailers = trailers
        // Trailers-Only: the response's only header block carries the server's span.
        if stream.machine.serverSide == .idle, let trace = stream.call?.trace {
            try? trailers.addString(trace.traceparent, forKey: TraceContext.fieldName)
        }
        let action: SendAction<ResponseEnd>
        do {
            action = try stream.machine.sendStatus(status, trailers: trailers, numericTrailers: numericTrailers)
        } catch {
            fail(stream, error)
            return
        }
        guard case .send(let end) = action else { return }
        if end.appendsNumericTrailers, let numericTrailers {
            sendEnd(end, on: stream, numbers: numericTrailers)
        } else {
            sendEnd(end, on: stream)
        }
    }

    override func didFlush() {
        guard !blocked.isEmpty else { return }
        let limit = server.configuration.maxQueuedResponseBytes
        guard session.queuedOutboundBytes <= server.configuration.maxQueuedResponseBytesPerConnection / 2 else { return }
        for id in blocked where session.queuedOutboundBytes(streamID: id) <= limit / 2 {
            blocked.remove(id)
            streams[id]?.call?.setWritable(true)
        }
    }

    override func didClose(reason: String) {
        let status = Status(code: .unavailable, message: "connection closed: \(reason)")
        let open = streams
        streams.removeAll()
        server.openCalls.wrappingSubtract(open.count, ordering: .relaxed)
        let openREST = restStreams
        restStreams.removeAll()
        for rest in openREST.values { closeRESTStream(rest) }
        for stream in open.values {
            summarize(stream, statusName: "UNAVAILABLE")
            releaseBufferedBytes(of: stream)
            if let timer = stream.deadlineTimer { loop.cancelTimer(timer) }
            if stream.machine.isFinished && stream.machine.termination == nil {
                stream.call?.markFinished()
            } else {
                stream.call?.markCancelled(status)
            }
        }
        management.connectionClosed()
        if let idleTimer { loop.cancelTimer(idleTimer) }
        if let ageTimer { loop.cancelTimer(ageTimer) }
        if let handshakeTimer { loop.cancelTimer(handshakeTimer) }
        idleTimer = nil
        ageTimer = nil
        handshakeTimer = nil
        server.connectionClosed()
    }

    /// Counted (`GRPCServer.tlsHandshakeFailures`) and logged at debug: scanners and misconfigured clients are
    /// routine on a public port, not warnings.
    override func tlsHandshakeFailed(_ error: any Error) {
        server.tlsHandshakeFailures.wrappingAdd(1, ordering: .relaxed)
        server.logger.debug("TLS handshake failed", fields: ["peer": .string(peer), "error": .string("\(error)")])
    }

    /// An HTTP/1.x client on a server with a REST handler: an `HTTP1ServerConnection` takes the socket and its
    /// place in the connection count; this connection's timers go.
    override func adoptHTTP1(_ initialBytes: [UInt8]) -> Bool {
        guard server.httpHandler != nil else { return false }
        detachSocket()
        management.connectionClosed()
        for timer in [idleTimer, ageTimer, handshakeTimer] { if let timer { loop.cancelTimer(timer) } }
        idleTimer = nil
        ageTimer = nil
        handshakeTimer = nil
        HTTP1ServerConnection(server: server, context: boundContext, socket: socket, peer: peer, tls: tls)
            .start(initialBytes: initialBytes)
        return true
    }

    // MARK: Connection management (ConnectionManagementStateMachine)

    /// Graceful shutdown (W-60), from the server's shutdown: see `ConnectionManagementStateMachine`.
    func beginDrain(grace: Duration) {
        if !management.isDraining { server.drainNotices.wrappingAdd(1, ordering: .relaxed) }
        apply(management.drainRequested(grace: grace))
    }

    /// Carries out what the machine decided: timers, frames, closing.
    func apply(_ action: ConnectionManagementStateMachine.Action) {
        switch action {
        case .none:
            break
        case .armHandshakeTimer(let timeout):
            handshakeTimer = loop.scheduleTimer(after: timeout, whenRegistered(ServerConnection.self) { connection in
                guard !connection.isClosed else { return }
                connection.handshakeTimer = nil
                connection.apply(connection.management.handshakeTimerFired())
            })
        case .cancelHandshakeTimer:
            if let handshakeTimer { loop.cancelTimer(handshakeTimer) }
            handshakeTimer = nil
        case .armIdleTimer(let idle):
            idleTimer = loop.scheduleTimer(after: idle, whenRegistered(ServerConnection.self) { connection in
                connection.idleTimer = nil
                connection.apply(connection.management.idleTimerFired())
            })
        case .cancelIdleTimer:
            if let idleTimer { loop.cancelTimer(idleTimer) }
            idleTimer = nil
        case .armAgeTimer(let age):
            ageTimer = loop.scheduleTimer(after: age, whenRegistered(ServerConnection.self) { connection in
                guard !connection.isClosed else { return }
                connection.ageTimer = nil
                connection.apply(connection.management.ageTimerFired())
            })
        case .sendShutdownNoticeAndPing(let finalGoAwayAfter, let closeAfter):
            do {
                try session.sendShutdownNotice()
                try session.sendPing(opaqueData: ConnectionManagementStateMachine.drainPing)
            } catch {
                apply(management.shutdownNoticeFailed())
            }
            loop.scheduleTimer(after: finalGoAwayAfter, whenRegistered(ServerConnection.self) { connection in
                connection.apply(connection.management.finalGoAwayTimerFired())
            })
            loop.scheduleTimer(after: closeAfter, whenRegistered(ServerConnection.self) { connection in
                connection.apply(connection.management.graceTimerFired())
            })
            markDirty()
        case .sendFinalGoAway(let thenCloseWhenFlushed):
            try? session.sendGoAway()
            markDirty()
            if thenCloseWhenFlushed { closeWhenFlushed = true }
        case .sendGoAwayAndCloseWhenFlushed(let misbehaviour):
            if misbehaviour == .tooManyResets { server.earlyResetEndings.wrappingAdd(1, ordering: .relaxed) }
            try? session.sendGoAway(errorCode: .enhanceYourCalm, debugData: Array(misbehaviour.debugData.utf8))
            closeWhenFlushed = true
            markDirty()
        case .closeWhenFlushed:
            closeWhenFlushed = true
            markDirty()
        case .close(let reason):
            if reason == .handshakeTimedOut { server.handshakeTimeouts.wrappingAdd(1, ordering: .relaxed) }
            close(reason: reason.description)
        }
    }
}

/// A connection's last resolved method (`ServerConnection.openStream`): one object, so that checking it retains
/// one reference rather than copying the route's strings and arrays.
private final class RecentRoute {
    let path: String
    let route: Router<ServerMethodHandler>.Route

    init(path: String, route: Router<ServerMethodHandler>.Route) {
        self.path = path
        self.route = route
    }
}
