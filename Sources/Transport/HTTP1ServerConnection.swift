// Sources/Transport/HTTP1ServerConnection.swift: REST over HTTP/1.1 on the gRPC port (keep-alive, pipelining).

internal import Clocks
internal import EventLoop
internal import HTTP1
internal import HTTPTypes
internal import Synchronization

/// The server end of one HTTP/1.1 connection, taken over from a `ServerConnection` whose client's first bytes were
/// an HTTP/1.x request line (`ConnectionPreface`). It feeds the socket's bytes to the sans-I/O `HTTP1RequestParser`,
/// hands each complete request to the server's `HTTPRequestHandler` at once (pipelined requests run concurrently, so
/// the batcher may coalesce them) and writes the answers strictly in request order.
///
/// Keep-alive by default (HTTP/1.1), `Connection: close` and HTTP/1.0 without keep-alive end the connection after
/// that request's answer; `Expect: 100-continue` gets its interim answer when nothing is queued before it; a parse
/// error is answered with its status and `Connection: close`, after the answers owed to earlier requests.
///
/// Bounds: at most `maxPipelinedRequests` requests in flight (reading pauses beyond); a request head must complete
/// within `httpHeadTimeout` of its first byte and a body must not stall longer than `httpBodyIdleTimeout` (both
/// close the connection, with 408 when no answer is owed); an idle keep-alive connection closes after
/// `idleTimeout`; answers queued for a slow reader pause reading past `maxQueuedResponseBytesPerConnection`.
/// Created and touched only on its loop thread.
final class HTTP1ServerConnection: FlushableConnection {
    let id: UInt64
    let server: ServerShared
    let boundContext: LoopBound<LoopContext>
    let socket: Socket
    /// The TLS layer over `socket`, handed over with it; nil for plaintext.
    let tls: TLSChannel?
    var loop: EventLoop { boundContext.loop }
    private var context: LoopContext { boundContext.value }

    var isDirty = false
    private(set) var isClosed = false

    private let parser: HTTP1RequestParser
    /// The request whose head has arrived and whose body is being received.
    private var receiving: (head: HTTP1RequestHead, body: [UInt8])?

    /// One request in flight, in arrival order; its answer when it has come.
    private struct Slot {
        let sequence: UInt64
        let isHead: Bool
        let closeAfter: Bool
        var response: HTTPResponse?
        var responder: HTTPResponder?
    }

    private var slots: [Slot] = []
    private var slotsHead = 0
    private var nextSequence: UInt64 = 0

    private var output: [UInt8] = []
    private var outputOffset = 0
    private var interest: IOInterest = .read
    /// The socket took less than the queued output (it would block): write interest is wanted until it drains.
    /// Output queued with no such refusal is written by the before-sleep flush and asks for no interest change, so
    /// an answer costs no `epoll_ctl` calls (it cost two: write interest on, then off).
    private var writeBlocked = false

    /// No further request is read: a `Connection: close` request, a parse error, the peer's end of input, a timeout
    /// or the server's shutdown. The connection closes once the owed answers are written.
    private var noMoreRequests = false
    /// The server began draining while a request's body was arriving: that request is read to its end and
    /// answered (with `Connection: close`), and nothing after it is read.
    private var finishingLastRequest = false
    /// The peer half-closed (EPOLLRDHUP): it is no longer reported (`ignoringHalfClose`).
    private var peerHalfClosed = false

    private var headTimer: TimerID?
    private var bodyTimer: TimerID?
    private var idleTimer: TimerID?
    /// Last time bytes arrived (the idle timer re-arms itself lazily from it rather than per request).
    private var lastActivity: MonotonicInstant

    private var inFlight: Int { slots.count - slotsHead }

    /// The client's address, from the connection that handed the socket over.
    let peer: String

    init(server: ServerShared, context: LoopBound<LoopContext>, socket: Socket, peer: String, tls: TLSChannel? = nil) {
        self.peer = peer
        self.tls = tls
        self.id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.server = server
        self.boundContext = context
        self.socket = socket
        self.lastActivity = context.loop.clock.now()
        let configuration = server.configuration
        self.parser = HTTP1RequestParser(limits: HTTP1Limits(
            maxHeadBytes: configuration.maxHTTPHeadBytes, maxBodyBytes: configuration.maxReceiveMessageBytes))
    }

    /// Registers with the loop and processes the bytes the HTTP/2 side already read.
    func start(initialBytes: [UInt8]) {
        do {
            try loop.register(fd: socket.fd, interest: .read) { [unowned self] events in self.handleIO(events) }
        } catch {
            socket.close()
            isClosed = true
            server.connectionClosed()
            return
        }
        context.http1Connections[id] = self
        server.http1Connections.wrappingAdd(1, ordering: .relaxed)
        armIdleTimer()
        initialBytes.withUnsafeBytes { process($0) }
        afterInput()
        // Over TLS the HTTP/2 side may have left decrypted bytes in the session when it handed the socket over.
        scheduleBufferedRead()
    }

    // MARK: Input

    private func handleIO(_ events: IOEvents) {
        if lingering {
            discardUntilPeerCloses()
            return
        }
        if events.contains(.writable) { writePending() }
        guard !isClosed else { return }
        if events.contains(.readable) || events.contains(.error) || (events.contains(.hangup) && !peerHalfClosed) {
            readAvailable(hangup: events.contains(.hangup))
        }
    }

    private func readAvailable(hangup: Bool) {
        let buffer = context.readBuffer
        for _ in 0..<16 {
            guard !isClosed else { return }
            guard interest.contains(.read) else {
                // Paused (too many requests in flight, or a slow reader) and the peer half-closed: stop hearing
                // about it; reading resumes (and meets the end of input) when the pause ends.
                if hangup { peerHalfClosed = true; updateInterest() }
                return
            }
            let result: IOResult
            do {
                result = try tls?.read(into: buffer) ?? socket.read(into: buffer)
                if tls?.hasPendingOutput == true { updateInterest() }
            } catch {
                close(reason: "\(error)")
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .endOfFile:
                endOfInput()
                return
            case .transferred(let n):
                lastActivity = loop.clock.now()
                if !noMoreRequests { process(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
                afterInput()
                if n < buffer.count { return }
            }
        }
        scheduleBufferedRead()
    }

    /// Plaintext left inside the TLS session is invisible to epoll: come back for it once reading is allowed.
    private func scheduleBufferedRead() {
        guard let tls, tls.hasBufferedInput, !isClosed, interest.contains(.read) else { return }
        _ = loop.scheduleTimer(after: .zero) { [weak self] in
            guard let self, !self.isClosed else { return }
            self.readAvailable(hangup: false)
        }
    }

    /// The peer finished sending: answer what it asked for, then close (a request cut short is dropped).
    private func endOfInput() {
        peerHalfClosed = true
        noMoreRequests = true
        receiving = nil
        cancelRequestTimers()
        updateInterest()
        closeIfDone()
    }

    private func process(_ bytes: UnsafeRawBufferPointer) {
        let events: [HTTP1ParserEvent]
        do {
            events = try parser.feed(bytes)
        } catch {
            refuse(status: error.status, message: error.reason)
            return
        }
        for event in events {
            guard !noMoreRequests else { break }
            switch event {
            case .head(let head):
                receiving = (head, [])
                if let headTimer { loop.cancelTimer(headTimer) }
                headTimer = nil
                if head.expectsContinue, inFlight == 0, head.contentLength.map({ $0 > 0 }) ?? head.isChunked {
                    output.append(contentsOf: Self.continueLine)
                    markDirty()
                }
            case .body(let bytes):
                receiving?.body.append(contentsOf: bytes)
            case .end:
                guard let request = receiving else { continue }
                receiving = nil
                if let bodyTimer { loop.cancelTimer(bodyTimer) }
                bodyTimer = nil
                if finishingLastRequest {
                    finishingLastRequest = false
                    noMoreRequests = true
                    cancelRequestTimers()
                }
                dispatch(request.head, request.body)
            }
        }
        // Requests complete before an error in the same bytes came out first; the error is answered after them.
        if let failure = parser.failure, !noMoreRequests { refuse(status: failure.status, message: failure.reason) }
    }

    private static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Timers and the read pause after a batch of input.
    private func afterInput() {
        guard !isClosed else { return }
        if !noMoreRequests && parser.isMidRequest {
            if parser.isReadingHead {
                if headTimer == nil {
                    headTimer = loop.scheduleTimer(after: server.configuration.httpHeadTimeout) { [weak self] in
                        self?.headTimer = nil
                        self?.timedOut("the request head did not complete within --http-head-timeout")
                    }
                }
            } else {
                if let bodyTimer { loop.cancelTimer(bodyTimer) }
                bodyTimer = loop.scheduleTimer(after: server.configuration.httpBodyIdleTimeout) { [weak self] in
                    self?.bodyTimer = nil
                    self?.timedOut("the request body stalled longer than --http-body-timeout")
                }
            }
        }
        updateInterest()
    }

    private func timedOut(_ reason: String) {
        guard !isClosed, !noMoreRequests else { return }
        refuse(status: 408, message: reason)
    }

    /// Ends reading with an error answer (queued behind the owed answers), then closes.
    private func refuse(status: Int, message: String) {
        noMoreRequests = true
        receiving = nil
        cancelRequestTimers()
        let response = transportErrorResponse(status: status, message: message)
        server.configuration.onRequestEnd?(.refusedHTTP(peer: peer, route: "", httpStatus: status))
        slots.append(Slot(sequence: nextSequence, isHead: false, closeAfter: true, response: response))
        nextSequence += 1
        updateInterest()
        writeAnswers()
    }

    private func cancelRequestTimers() {
        if let headTimer { loop.cancelTimer(headTimer) }
        if let bodyTimer { loop.cancelTimer(bodyTimer) }
        headTimer = nil
        bodyTimer = nil
    }

    private func dispatch(_ head: HTTP1RequestHead, _ body: [UInt8]) {
        let sequence = nextSequence
        nextSequence += 1
        let closeAfter = !head.keepAlive
        if closeAfter { noMoreRequests = true }
        let request = HTTPRequest(
            method: head.method, target: head.target, headers: head.headers, body: body,
            version: head.versionMinor == 0 ? .http1_0 : .http1_1, peer: peer, peerIdentity: tls?.peerIdentity)
        let responder = HTTPResponder(
            context: boundContext, connectionID: id, target: .http1(sequence: sequence), request: request,
            report: server.configuration.onRequestEnd, counts: server)
        slots.append(Slot(
            sequence: sequence, isHead: head.method == "HEAD", closeAfter: closeAfter, responder: responder))
        guard let handler = server.httpHandler else { return }
        handler.handle(request, responder)
    }

    // MARK: Output

    /// From `HTTPResponder` (loop thread).
    func respond(sequence: UInt64, _ response: HTTPResponse) {
        guard !isClosed, slotsHead < slots.count, sequence >= slots[slotsHead].sequence else { return }
        let index = slotsHead + Int(sequence - slots[slotsHead].sequence)
        guard index < slots.count, slots[index].response == nil else { return }
        slots[index].response = response
        slots[index].responder = nil
        if index == slotsHead { writeAnswers() }
    }

    /// Serializes the answers at the front of the queue that have come, in order.
    private func writeAnswers() {
        var wrote = false
        while slotsHead < slots.count, let response = slots[slotsHead].response {
            let slot = slots[slotsHead]
            slots[slotsHead] = Slot(sequence: slot.sequence, isHead: false, closeAfter: false)
            slotsHead += 1
            let closing = slot.closeAfter || (noMoreRequests && slotsHead == slots.count && receiving == nil)
            serialize(response, omitBody: slot.isHead, closing: closing)
            wrote = true
            if slot.closeAfter { break }
        }
        if slotsHead == slots.count {
            slots.removeAll(keepingCapacity: true)
            slotsHead = 0
        } else if slotsHead >= 64 {
            slots.removeFirst(slotsHead)
            slotsHead = 0
        }
        if wrote { markDirty() }
        updateInterest()
    }

    private func serialize(_ response: HTTPResponse, omitBody: Bool, closing: Bool) {
        var headers = response.headers
        headers.append(HeaderField("content-length", String(response.body.count)))
        headers.append(HeaderField("date", context.httpDate()))
        if closing { headers.append(HeaderField("connection", "close")) }
        HTTP1ResponseHead(status: response.status, headers: headers).serialize(into: &output)
        if !omitBody { output.append(contentsOf: response.body) }
        if closing { noMoreRequests = true }
    }

    private func markDirty() { context.markDirty(self) }

    /// The before-sleep hook: write what is queued; close when everything owed is out and nothing more comes.
    func flush() {
        guard !isClosed else { return }
        writePending()
        closeIfDone()
    }

    private func closeIfDone() {
        guard !isClosed, noMoreRequests, outputOffset >= output.count, tls?.hasPendingOutput != true else { return }
        // Answers still owed (a request in the batcher) keep the connection; the last one closes it.
        if slotsHead < slots.count { return }
        lingerThenClose(reason: "HTTP/1.1 connection done")
    }

    /// Everything owed is written and our side sent FIN: what the peer still sends (pipelined requests after a
    /// `Connection: close`) is read and dropped until its FIN or `HTTP2Connection.lingerTimeout`. Closing with
    /// unread input would make the kernel send a reset, and a client that gets it before reading our last answer
    /// loses that answer (the same end as an HTTP/2 connection's, `HTTP2Connection.lingerThenClose`).
    private var lingering = false

    private func lingerThenClose(reason: String) {
        guard !isClosed, !lingering else { return }
        lingering = true
        socket.shutdownWrite()
        do {
            try loop.setInterest(fd: socket.fd, .read)
            interest = .read
        } catch {
            close(reason: reason)
            return
        }
        _ = loop.scheduleTimer(after: HTTP2Connection.lingerTimeout) { [weak self] in
            self?.close(reason: reason + " (the peer did not close within the linger time)")
        }
        discardUntilPeerCloses()
    }

    private func discardUntilPeerCloses() {
        let buffer = context.readBuffer
        for _ in 0..<16 {
            guard !isClosed else { return }
            let result: IOResult
            do {
                result = try tls?.read(into: buffer) ?? socket.read(into: buffer)
            } catch {
                close(reason: "HTTP/1.1 connection done")
                return
            }
            switch result {
            case .wouldBlock: return
            case .endOfFile:
                close(reason: "HTTP/1.1 connection done")
                return
            case .transferred: continue
            }
        }
    }

    private func writePending() {
        guard !isClosed else { return }
        while outputOffset < output.count {
            let result: IOResult
            do {
                result = try output.withUnsafeBytes { raw in
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[outputOffset...])
                    return try tls?.write(bytes) ?? socket.write(bytes)
                }
            } catch {
                close(reason: "\(error)")
                return
            }
            switch result {
            case .transferred(let n):
                outputOffset += n
            case .wouldBlock, .endOfFile:
                writeBlocked = true
                updateInterest()
                return
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
        outputOffset = 0
        writeBlocked = false
        if let tls, tls.hasPendingOutput {
            do {
                try tls.flushPending()
            } catch {
                close(reason: "\(error)")
                return
            }
        }
        updateInterest()
    }

    /// Read while requests are accepted, fewer than `maxPipelinedRequests` are in flight and the reader keeps up;
    /// write interest while output waits.
    private func updateInterest() {
        guard !isClosed, !lingering else { return }
        var wanted: IOInterest = []
        let configuration = server.configuration
        if !noMoreRequests && inFlight < configuration.maxPipelinedRequests
            && output.count - outputOffset <= configuration.maxQueuedResponseBytesPerConnection
        {
            wanted.insert(.read)
        }
        if (writeBlocked && outputOffset < output.count) || tls?.hasPendingOutput == true { wanted.insert(.write) }
        if peerHalfClosed { wanted.insert(.ignoringHalfClose) }
        guard wanted != interest else { return }
        let resumesReading = wanted.contains(.read) && !interest.contains(.read)
        interest = wanted
        do {
            try loop.setInterest(fd: socket.fd, wanted)
        } catch {
            close(reason: "\(error)")
        }
        if resumesReading { scheduleBufferedRead() }
    }

    // MARK: Idle and shutdown

    /// Lazily re-armed: fires after `idleTimeout`, closes when nothing arrived and nothing is owed since.
    private func armIdleTimer() {
        guard let idle = server.configuration.idleTimeout else { return }
        let due = lastActivity + idle
        idleTimer = loop.scheduleTimer(at: due) { [weak self] in
            guard let self, !self.isClosed else { return }
            self.idleTimer = nil
            if self.inFlight == 0, !self.parser.isMidRequest, self.loop.clock.now() >= self.lastActivity + idle {
                self.close(reason: "idle for --idle-timeout")
            } else {
                self.armIdleTimer()
            }
        }
    }

    /// Graceful shutdown: no new request is read; a request whose head has arrived is read to its end; the owed
    /// answers go out (the last with `Connection: close`), then the connection closes.
    func beginDrain() {
        guard !noMoreRequests, !finishingLastRequest else { return }
        server.drainNotices.wrappingAdd(1, ordering: .relaxed)
        if receiving != nil {
            finishingLastRequest = true
            return
        }
        noMoreRequests = true
        receiving = nil
        cancelRequestTimers()
        updateInterest()
        closeIfDone()
    }

    /// Unregisters and closes the socket; requests still in flight are cancelled. Idempotent.
    func close(reason: String) {
        guard !isClosed else { return }
        isClosed = true
        loop.unregister(fd: socket.fd)
        socket.close()
        context.http1Connections.removeValue(forKey: id)
        server.http1Connections.wrappingSubtract(1, ordering: .relaxed)
        cancelRequestTimers()
        if let idleTimer { loop.cancelTimer(idleTimer) }
        idleTimer = nil
        let owed = slots[slotsHead...].compactMap(\.responder)
        slots.removeAll()
        slotsHead = 0
        for responder in owed { responder.markCancelled() }
        server.connectionClosed()
    }
}
