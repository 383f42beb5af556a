internal import EventLoop
internal import Synchronization
internal import Crypto
internal import HTTP2

/// One TCP connection carrying an HTTP/2 session: it owns the socket, the session and the pending output buffer,
/// reads into the session, and writes what the session produced when its loop's before-sleep hook flushes it.
/// Subclasses (server, client) interpret the events. Created and touched only on `context.loop`'s thread.
class HTTP2Connection: FlushableConnection {
    let id: UInt64
    let context: LoopContext
    let socket: Socket
    let session: HTTP2Session
    /// The TLS layer between the socket and the session (`GRPCServer.Configuration.tls`); nil for plaintext, whose
    /// path calls the socket directly.
    let tls: TLSChannel?
    /// The peer's address, read once (`Socket.peerAddress`); "" when unknown.
    let peer: String

    /// Bytes drained from the session but not yet taken by the socket (`output[outputOffset...]`).
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var writeInterest = false
    /// Waiting for a non-blocking connect to complete (client).
    private var connecting: Bool
    /// Set by `LoopContext` while the connection is on the dirty list.
    var isDirty = false
    private(set) var isClosed = false
    /// Close once the output has been written (after a fatal error or a final GOAWAY).
    var closeWhenFlushed = false
    /// The last bytes are out and our side sent FIN (`lingerThenClose`): what the peer still sends is read and
    /// dropped until its FIN or `lingerTimeout`, then the socket closes.
    private var lingering = false
    /// How long a finished connection waits for the peer's FIN before it closes anyway.
    static let lingerTimeout: Duration = .seconds(2)
    /// Server role: the first bytes the client sent, held until `ConnectionPreface` has classified them. Nothing
    /// goes out meanwhile (our SETTINGS waits too, so an HTTP/1.1 client reads no HTTP/2 bytes; W-02 still holds:
    /// SETTINGS is our first frame). Nil once decided, and always in the client role.
    private var prefaceBytes: [UInt8]?
    /// An HTTP/1.x client was answered in its own protocol: only that reply goes out, then the connection closes.
    private var answeredHTTP1 = false

    /// How much session output one flush drains before writing (bounds the buffer for a slow reader).
    static let maxDrainBytes = 1 << 20

    var loop: EventLoop { context.loop }

    /// `screensPreface` (server role): hold all output until the client's first bytes show it speaks HTTP/2.
    init(
        context: LoopContext, socket: Socket, session: HTTP2Session, connecting: Bool = false,
        screensPreface: Bool = false, tls: TLSChannel? = nil
    ) {
        self.tls = tls
        self.id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.context = context
        self.socket = socket
        self.peer = socket.peerAddress() ?? ""
        self.session = session
        self.connecting = connecting
        self.prefaceBytes = screensPreface ? [] : nil
    }

    /// Registers with the loop and queues the first flush (our SETTINGS, W-02).
    func start() throws {
        try loop.register(fd: socket.fd, interest: connecting ? [.read, .write] : .read) { [unowned self] events in
            self.handleIO(events)
        }
        writeInterest = connecting
        context.connections[id] = self
        context.markDirty(self)
    }

    /// A timer's action on this connection, which finds it again by its id when the timer fires: nothing happens once
    /// the connection closed (it is then no longer registered). Used instead of `[weak self]`: a weak reference gives
    /// the connection a side table for life, and every retain and release of it on the request path then takes the
    /// runtime's slow path.
    func whenRegistered<Connection: HTTP2Connection>(
        _ type: Connection.Type, _ body: @escaping (Connection) -> Void
    ) -> () -> Void {
        let (context, id) = (self.context, self.id)
        return {
            if let connection = context.connections[id] as? Connection { body(connection) }
        }
    }

    // MARK: Subclass hooks (loop thread)

    /// Events from `receive` or `drainOutput`.
    func handle(_ events: [HTTP2Event]) {}
    /// After each flush (e.g. to tell blocked writers that the queue has drained).
    func didFlush() {}
    /// The connection is gone; fail or cancel whatever still runs on it.
    func didClose(reason: String) {}
    /// A non-blocking connect (client) completed.
    func didConnect() {}

    func markDirty() { context.markDirty(self) }

    /// Server role: an HTTP/1.x client's first bytes; a subclass that serves HTTP/1.1 takes the socket over
    /// (`detachSocket`) and returns true. False (the default) answers 505 and closes.
    func adoptHTTP1(_ initialBytes: [UInt8]) -> Bool { false }

    /// The TLS handshake failed (a client that does not speak TLS, a refused client certificate, a bad record);
    /// the connection closes right after.
    func tlsHandshakeFailed(_ error: any Error) {}

    /// Gives the socket up without closing it: unregistered, out of the loop's table, this object closed. The
    /// caller owns the socket from here on (and the connection's place in the server's count).
    func detachSocket() {
        guard !isClosed else { return }
        isClosed = true
        loop.unregister(fd: socket.fd)
        context.connections.removeValue(forKey: id)
    }

    // MARK: I/O

    private func handleIO(_ events: IOEvents) {
        if connecting {
            guard events.contains(.writable) || events.contains(.error) || events.contains(.hangup) else { return }
            do {
                try socket.finishConnect()
            } catch {
                close(reason: "\(error)")
                return
            }
            connecting = false
            didConnect()
        }
        // The socket took the rest of the output: drain more from the session at the next flush.
        if events.contains(.writable), writePending() { markDirty() }
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) { readAvailable() }
    }

    private func readAvailable() {
        let buffer = context.readBuffer
        // A bounded number of reads per wake-up keeps one busy peer from starving the others on this loop.
        for _ in 0..<16 {
            guard !isClosed else { return }
            let result: IOResult
            do {
                if let tls {
                    result = try tls.read(into: buffer)
                    if tls.hasPendingOutput { setWriteInterest(true) }
                } else {
                    result = try socket.read(into: buffer)
                }
            } catch {
                if let tls, !tls.handshakeDone { tlsHandshakeFailed(error) }
                close(reason: "\(error)")
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .endOfFile:
                close(reason: lingering ? lingerReason : "the peer closed the connection")
                return
            case .transferred(let n) where closeWhenFlushed || lingering:
                // Closing: discard what the peer still sends (level-triggered epoll would otherwise spin on it).
                if n < buffer.count { return }
            case .transferred(let n):
                let events: [HTTP2Event]
                do {
                    if var held = prefaceBytes {
                        held.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                        // ALPN decided already: h2 goes to nghttp2 (which checks the preface itself), http/1.1 to
                        // the HTTP/1.1 connection; without ALPN the first bytes decide, as in plaintext.
                        let decision: ConnectionPreface.Verdict
                        switch tls?.applicationProtocol {
                        case .http2?: decision = .http2
                        case .http1?: decision = .http1
                        case nil: decision = ConnectionPreface.classify(held)
                        }
                        switch decision {
                        case .undecided:
                            prefaceBytes = held
                            if n < buffer.count { return }
                            continue
                        case .http1:
                            prefaceBytes = nil
                            if !adoptHTTP1(held) { answerHTTP1() }
                            return
                        case .http2, .malformedHTTP2, .unknown:
                            prefaceBytes = nil
                            events = try session.receive(held)
                        }
                    } else {
                        events = try session.receive(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    }
                } catch {
                    // nghttp2 may have queued a GOAWAY: flush it, then close (HTTP2Session.receive).
                    closeWhenFlushed = true
                    markDirty()
                    return
                }
                handle(events)
                markDirty()
                if n < buffer.count { return }
            }
        }
        // The read budget ran out with plaintext still inside the TLS session, where epoll cannot see it.
        if let tls, tls.hasBufferedInput {
            _ = loop.scheduleTimer(after: .zero, whenRegistered(HTTP2Connection.self) { $0.readAvailable() })
        }
    }

    /// Queues `ConnectionPreface.http1Reply` in place of any HTTP/2 output and closes once it is written.
    private func answerHTTP1() {
        prefaceBytes = nil
        answeredHTTP1 = true
        output = ConnectionPreface.http1Reply
        outputOffset = 0
        closeWhenFlushed = true
        markDirty()
    }

    /// Called by the loop's before-sleep hook: drain the session, write as much as the socket takes.
    func flush() {
        guard !isClosed, !connecting, prefaceBytes == nil, !lingering else { return }
        if answeredHTTP1 {
            if writePending() { close(reason: "answered an HTTP/1.1 request on the gRPC port") }
            return
        }
        while true {
            if outputOffset < output.count {
                // The socket is still busy with earlier output: EPOLLOUT continues it.
                if !writePending() { break }
                continue
            }
            output.removeAll(keepingCapacity: true)
            outputOffset = 0
            let events: [HTTP2Event]
            do {
                events = try session.drainOutput(into: &output, maxBytes: Self.maxDrainBytes)
            } catch {
                close(reason: "\(error)")
                return
            }
            if !events.isEmpty { handle(events) }
            if output.isEmpty { break }
            if !writePending() { break }
        }
        guard !isClosed else { return }
        didFlush()
        if !session.isActive || (closeWhenFlushed && outputOffset >= output.count && tls?.hasPendingOutput != true) {
            lingerThenClose(reason: closeWhenFlushed ? "closed after the final flush" : "the HTTP/2 session ended")
        }
    }

    private var lingerReason = ""

    /// A clean end (final GOAWAY written, or the session over): send FIN, then read and drop until the peer's FIN
    /// or `lingerTimeout`. Closing at once with unread bytes from the peer (a request it sent as the GOAWAY crossed,
    /// a WINDOW_UPDATE, a PING) makes the kernel answer with a reset, and a peer that gets the reset before it read
    /// our last frames loses them: a proxy then cuts responses the server had completed (docs/operations.md).
    private func lingerThenClose(reason: String) {
        guard !isClosed, !lingering else { return }
        if outputOffset < output.count || tls?.hasPendingOutput == true {
            close(reason: reason)  // not everything went out: nothing left to protect
            return
        }
        lingering = true
        lingerReason = reason
        setWriteInterest(false)
        socket.shutdownWrite()
        _ = loop.scheduleTimer(after: Self.lingerTimeout) { [weak self] in
            self?.close(reason: reason + " (the peer did not close within the linger time)")
        }
        readAvailable()
    }

    /// Writes `output[outputOffset...]`; returns true when all of it went out.
    @discardableResult
    private func writePending() -> Bool {
        guard !isClosed else { return false }
        while outputOffset < output.count {
            let result: IOResult
            do {
                result = try output.withUnsafeBytes { raw in
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[outputOffset...])
                    return try tls?.write(bytes) ?? socket.write(bytes)
                }
            } catch {
                close(reason: "\(error)")
                return false
            }
            switch result {
            case .transferred(let n):
                outputOffset += n
            case .wouldBlock, .endOfFile:
                setWriteInterest(true)
                return false
            }
        }
        if let tls, tls.hasPendingOutput {
            // All plaintext is encrypted; the ciphertext the socket did not take goes out when it is writable.
            let flushed: Bool
            do {
                flushed = try tls.flushPending()
            } catch {
                close(reason: "\(error)")
                return false
            }
            if !flushed {
                setWriteInterest(true)
                return false
            }
        }
        setWriteInterest(false)
        return true
    }

    private func setWriteInterest(_ on: Bool) {
        guard on != writeInterest, !isClosed else { return }
        writeInterest = on
        do {
            try loop.setInterest(fd: socket.fd, on ? [.read, .write] : .read)
        } catch {
            close(reason: "\(error)")
        }
    }

    /// Unregisters and closes the socket, then tells the subclass. Idempotent.
    func close(reason: String) {
        guard !isClosed else { return }
        isClosed = true
        loop.unregister(fd: socket.fd)
        socket.close()
        context.connections.removeValue(forKey: id)
        didClose(reason: reason)
    }
}
