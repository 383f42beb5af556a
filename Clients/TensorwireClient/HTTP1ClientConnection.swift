// Clients/TensorwireClient/HTTP1ClientConnection.swift: one blocking keep-alive HTTP/1.1 connection.
public import Crypto
internal import EventLoop
public import HTTPTypes
public import RPCCore
internal import Transport

#if canImport(Glibc)
internal import Glibc
#endif

/// One request as this client writes it: method, target (path and query, already percent-encoded), header fields
/// and a body sent with `Content-Length`. A plain value.
public struct HTTP1ClientRequest: Sendable, Equatable {
    public var method: String
    public var target: String
    public var headers: [HeaderField]
    public var body: [UInt8]

    public init(method: String, target: String, headers: [HeaderField] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    /// The request's bytes: request line, `Host`, the fields, `Content-Length` (for a body, or any POST), the blank
    /// line and the body. CR, LF and NUL in a name or value are written as spaces, so no field can end its line
    /// early and smuggle a second request.
    public func serialized(host: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128 + target.utf8.count + body.count)
        bytes.append(contentsOf: "\(method) \(target) HTTP/1.1\r\nhost: \(host)\r\n".utf8)
        for field in headers {
            Self.appendSafe(field.name, to: &bytes)
            bytes.append(contentsOf: ": ".utf8)
            Self.appendSafe(field.value, to: &bytes)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        if !body.isEmpty || method == "POST" || method == "PUT" {
            bytes.append(contentsOf: "content-length: \(body.count)\r\n".utf8)
        }
        bytes.append(contentsOf: "\r\n".utf8)
        bytes.append(contentsOf: body)
        return bytes
    }

    private static func appendSafe(_ text: String, to bytes: inout [UInt8]) {
        for byte in text.utf8 { bytes.append(byte == 0x0D || byte == 0x0A || byte == 0x00 ? 0x20 : byte) }
    }
}

/// One HTTP/1.1 connection to host:port over a blocking exchange: `send` writes a request and waits for its
/// response, one at a time (HTTP/1.1 carries one request in flight without pipelining). Framing and limits are
/// `HTTP1ResponseParser`'s; the socket is EventLoop's non-blocking `Socket`, waited on with poll(2) so every step
/// honours the call's deadline.
///
/// Keep-alive: the connection is opened on the first `send` and reused until the server closes it, answers
/// `Connection: close`, or a call fails (a timeout or a bad response leaves the stream unusable, so it is closed
/// and the next call reconnects). A request written on a reused connection that the server had already closed
/// (its idle timeout) is written once more on a fresh connection, only when not one byte of an answer came back.
///
/// Errors are `RPCError`s, as the gRPC client reports the same failures: UNAVAILABLE for a connect failure
/// ("cannot connect to h:p: …") or a connection that closed ("connection closed: …"), DEADLINE_EXCEEDED for the
/// deadline, INTERNAL for a response the parser refuses.
///
/// Threads: one at a time (not `Sendable`; `TensorwireRESTClient` guards one with a lock).
public final class HTTP1ClientConnection {
    public let host: String
    public let port: Int
    public let limits: HTTP1ResponseParser.Limits
    private var socket: Socket?
    private var parser: HTTP1ResponseParser
    /// Responses already read on the open socket (0: a fresh connection, so a close is not a stale keep-alive).
    private var responsesOnSocket = 0
    private var readBuffer = [UInt8](repeating: 0, count: 64 << 10)
    /// HTTPS: the settings, and the open socket's TLS layer (nil while closed, and always without TLS).
    public let tls: TLSClientContext?
    private var channel: TLSChannel?
    /// Ciphertext read buffer of the TLS layer (allocated with the connection when TLS is on).
    private let cipherBuffer: UnsafeMutableRawBufferPointer?

    /// No I/O: the first `send` connects. With `tls`, every connection is HTTPS (the server's certificate must
    /// cover `host`; ALPN offers http/1.1).
    public init(
        host: String, port: Int, limits: HTTP1ResponseParser.Limits = HTTP1ResponseParser.Limits(),
        tls: TLSClientContext? = nil
    ) {
        self.host = host
        self.port = port
        self.limits = limits
        self.tls = tls
        cipherBuffer = tls == nil ? nil : .allocate(byteCount: 64 << 10, alignment: 16)
        parser = HTTP1ResponseParser(limits: limits)
    }

    deinit {
        socket?.close()
        cipherBuffer?.deallocate()
    }

    /// `host:port` as the `Host` field and messages write it (brackets around an IPv6 literal).
    public var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether a socket is open (kept alive from an earlier call).
    public var isConnected: Bool { socket != nil }

    /// Closes the socket; the next `send` reconnects.
    public func close() {
        socket?.close()
        socket = nil
        channel = nil
        parser = HTTP1ResponseParser(limits: limits)
        responsesOnSocket = 0
    }

    /// Writes `request` and returns its response. `timeout` bounds the whole exchange (connect, write, read); nil
    /// waits as long as the server takes. Any status is a response; only transport failures throw.
    public func send(_ request: HTTP1ClientRequest, timeout: Duration? = nil) throws(RPCError) -> HTTP1ClientResponse {
        let deadline = timeout.map { Self.nowNanos() &+ Self.nanos($0) }
        let bytes = request.serialized(host: authority)
        switch try exchange(bytes, deadline: deadline) {
        case .response(let response):
            return response
        case .stale:
            // The server closed the idle connection before it read the request: nothing was answered.
            switch try exchange(bytes, deadline: deadline) {
            case .response(let response): return response
            case .stale(let error): throw error
            }
        }
    }

    /// How one exchange ended, short of a failure.
    private enum Outcome {
        case response(HTTP1ClientResponse)
        /// A reused connection turned out closed before any byte of the answer: safe to send again on a new one.
        case stale(RPCError)
    }

    private func exchange(_ bytes: [UInt8], deadline: UInt64?) throws(RPCError) -> Outcome {
        let socket = try connectIfNeeded(deadline: deadline)
        let reused = responsesOnSocket > 0
        do {
            try write(bytes, to: socket, deadline: deadline)
        } catch {
            if reused && error.code == .unavailable { return .stale(error) }
            throw error
        }
        var received = false
        while true {
            let next: HTTP1ClientResponse?
            do {
                next = try parser.nextResponse()
            } catch {
                close()
                throw RPCError(code: .internal, message: "bad HTTP response from \(authority): \(error)")
            }
            if let response = next {
                responsesOnSocket += 1
                // A second answer to one request, or a server that closes: start afresh next time.
                if !response.keepAlive || parser.hasPartialResponse { close() }
                return .response(response)
            }
            try flushTLS(socket, deadline: deadline)
            // Plaintext already decrypted inside the TLS session is not on the socket: read it without waiting.
            if channel?.hasBufferedInput != true {
                guard try wait(socket, for: Int16(POLLIN), deadline: deadline) else {
                    close()
                    throw RPCError(code: .deadlineExceeded, message: "deadline exceeded (no answer from \(authority) in time)")
                }
            }
            let result: IOResult
            do {
                let channel = self.channel
                result = try readBuffer.withUnsafeMutableBytes { buffer in
                    try channel?.read(into: buffer) ?? socket.read(into: buffer)
                }
            } catch {
                close()
                let failure = RPCError(code: .unavailable, message: "connection closed: \(error)")
                if reused && !received { return .stale(failure) }
                throw failure
            }
            switch result {
            case .transferred(let count):
                received = true
                readBuffer.withUnsafeBytes { buffer in parser.receive(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) }
            case .wouldBlock:
                continue
            case .endOfFile:
                let truncation: HTTP1ResponseError?
                do {
                    try parser.finish()
                    truncation = nil
                } catch {
                    truncation = error
                }
                close()
                if let truncation {
                    throw RPCError(code: .unavailable, message: "connection closed: \(truncation)")
                }
                let failure = RPCError(
                    code: .unavailable, message: "connection closed: the server closed the connection without answering")
                if reused { return .stale(failure) }
                throw failure
            }
        }
    }

    private func connectIfNeeded(deadline: UInt64?) throws(RPCError) -> Socket {
        if let socket { return socket }
        let connected: Socket
        let inProgress: Bool
        do {
            (connected, inProgress) = try Socket.connect(host: host, port: port)
        } catch {
            throw RPCError(code: .unavailable, message: "cannot connect to \(host):\(port): \(error)")
        }
        if inProgress {
            let ready: Bool
            do {
                ready = try wait(connected, for: Int16(POLLOUT), deadline: deadline)
            } catch {
                connected.close()
                throw error
            }
            guard ready else {
                connected.close()
                throw RPCError(code: .deadlineExceeded, message: "deadline exceeded (connecting to \(authority))")
            }
            do {
                try connected.finishConnect()
            } catch {
                connected.close()
                throw RPCError(code: .unavailable, message: "cannot connect to \(host):\(port): \(error)")
            }
        }
        if let tls, let cipherBuffer {
            do {
                let session = try tls.makeSession(serverName: host)
                try session.start()
                channel = TLSChannel(session: session, socket: connected, cipherBuffer: cipherBuffer)
            } catch {
                connected.close()
                throw RPCError(code: .unavailable, message: "cannot start TLS to \(host):\(port): \(error)")
            }
        }
        socket = connected
        parser = HTTP1ResponseParser(limits: limits)
        responsesOnSocket = 0
        return connected
    }

    private func write(_ bytes: [UInt8], to socket: Socket, deadline: UInt64?) throws(RPCError) {
        var offset = 0
        while offset < bytes.count {
            let result: IOResult
            do {
                let channel = self.channel
                result = try bytes.withUnsafeBytes { buffer in
                    let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                    return try channel?.write(rest) ?? socket.write(rest)
                }
            } catch {
                close()
                throw RPCError(code: .unavailable, message: "connection closed: \(error)")
            }
            switch result {
            case .transferred(let count):
                offset += count
            case .wouldBlock, .endOfFile:
                guard try wait(socket, for: Int16(POLLOUT), deadline: deadline) else {
                    close()
                    throw RPCError(code: .deadlineExceeded, message: "deadline exceeded (sending to \(authority))")
                }
            }
        }
    }

    /// TLS: writes the ciphertext the socket has not taken yet (handshake messages, the end of a request).
    private func flushTLS(_ socket: Socket, deadline: UInt64?) throws(RPCError) {
        guard let channel else { return }
        while true {
            let done: Bool
            do {
                done = try channel.flushPending()
            } catch {
                close()
                throw RPCError(code: .unavailable, message: "connection closed: \(error)")
            }
            if done { return }
            guard try wait(socket, for: Int16(POLLOUT), deadline: deadline) else {
                close()
                throw RPCError(code: .deadlineExceeded, message: "deadline exceeded (sending to \(authority))")
            }
        }
    }

    /// Waits until `socket` is ready for `events` (or has an error or hang-up to report); false when the deadline
    /// passes first.
    private func wait(_ socket: Socket, for events: Int16, deadline: UInt64?) throws(RPCError) -> Bool {
        while true {
            var timeoutMilliseconds: Int32 = -1
            if let deadline {
                let now = Self.nowNanos()
                guard now < deadline else { return false }
                timeoutMilliseconds = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            }
            var poller = pollfd(fd: socket.fd, events: events, revents: 0)
            let result = poll(&poller, 1, timeoutMilliseconds)
            if result > 0 { return true }
            if result == 0 { continue }
            let code = errno
            if code == EINTR { continue }
            throw RPCError(code: .internal, message: "poll: \(String(cString: strerror(code)))")
        }
    }

    static func nowNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    static func nanos(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}
