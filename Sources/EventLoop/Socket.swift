internal import CLinuxShims
internal import Glibc

/// A non-blocking, close-on-exec TCP socket: a plain file descriptor with the calls a connection needs. It does not
/// close itself; its owner (one loop thread) calls `close()` once, after unregistering it from the loop.
public struct Socket: Sendable, Hashable {
    public let fd: Int32

    /// Adopts an fd that is already non-blocking.
    public init(fd: Int32) {
        self.fd = fd
    }

    /// Starts connecting to host:port. When `inProgress` is true, register for `.write` and call `finishConnect()`
    /// once writable. TCP_NODELAY is set.
    public static func connect(host: String, port: Int) throws -> (socket: Socket, inProgress: Bool) {
        var inProgress: Int32 = 0
        let fd = cls_tcp_connect(host, Int32(clamping: port), &inProgress)
        guard fd >= 0 else { throw SystemError("connect \(host):\(port)", code: -fd) }
        let socket = Socket(fd: fd)
        try socket.setNoDelay(true)
        return (socket, inProgress != 0)
    }

    /// After a non-blocking connect reports writable: throws the connect error, if any.
    public func finishConnect() throws {
        let result = cls_socket_error(fd)
        if result < 0 { throw SystemError("getsockopt(SO_ERROR)", code: -result) }
        if result > 0 { throw SystemError("connect", code: result) }
    }

    /// TCP_NODELAY: small coalesced writes go out at once instead of waiting on Nagle (40 ms stalls, nghttp2.md §2).
    public func setNoDelay(_ on: Bool) throws {
        let result = cls_set_nodelay(fd, on ? 1 : 0)
        if result < 0 { throw SystemError("setsockopt(TCP_NODELAY)", code: -result) }
    }

    /// The local port, e.g. of a socket bound to port 0.
    /// The connected peer as `host:port` (`[v6]:port`), or nil when the socket has none (closed, not connected).
    public func peerAddress() -> String? {
        var buffer = [CChar](repeating: 0, count: 80)
        let rc = buffer.withUnsafeMutableBufferPointer { cls_peer_address(fd, $0.baseAddress, Int32($0.count)) }
        guard rc == 0 else { return nil }
        return buffer.withUnsafeBufferPointer { pointer in
            String(decoding: pointer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public func localPort() throws -> Int {
        let port = cls_local_port(fd)
        guard port >= 0 else { throw SystemError("getsockname", code: -port) }
        return Int(port)
    }

    /// Reads into `buffer`. Connection errors such as ECONNRESET are thrown.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .transferred(0) }
        while true {
            let n = Glibc.read(fd, base, buffer.count)
            if n > 0 { return .transferred(n) }
            if n == 0 { return .endOfFile }
            let code = cls_errno()
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw SystemError("read", code: code)
        }
    }

    /// Writes as much of `bytes` as the socket takes. A vanished peer is EPIPE (thrown), never SIGPIPE.
    public func write(_ bytes: UnsafeRawBufferPointer) throws -> IOResult {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .transferred(0) }
        while true {
            let n = cls_send(fd, base, bytes.count)
            if n >= 0 { return .transferred(n) }
            let code = cls_errno()
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw SystemError("send", code: code)
        }
    }

    /// Gathers `buffers` (at most 1024 are used per call) into one write. Returns the total bytes taken; the
    /// caller advances past them and retries the rest when writable.
    public func writev(_ buffers: [UnsafeRawBufferPointer]) throws -> IOResult {
        var vectors: [iovec] = []
        vectors.reserveCapacity(min(buffers.count, 1024))
        for buffer in buffers.prefix(1024) where buffer.count > 0 {
            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), iov_len: buffer.count))
        }
        if vectors.isEmpty { return .transferred(0) }
        while true {
            let n = vectors.withUnsafeBufferPointer { v in
                cls_sendv(fd, v.baseAddress, Int32(v.count))
            }
            if n >= 0 { return .transferred(n) }
            let code = cls_errno()
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw SystemError("sendmsg", code: code)
        }
    }

    public func close() {
        _ = Glibc.close(fd)
    }

    /// Ends the sending direction (a FIN after the queued bytes); reading goes on. Errors are ignored: the socket
    /// is being closed anyway.
    public func shutdownWrite() {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}

/// A listening TCP socket (non-blocking, SO_REUSEADDR).
public struct Listener: Sendable, Hashable {
    public let socket: Socket
    /// The bound port; the ephemeral one when bound to port 0.
    public let port: Int

    /// Binds and listens on host:port; `host` is numeric ("127.0.0.1", "::1", "0.0.0.0") or a resolvable name.
    public init(host: String, port: Int, backlog: Int32 = 1024) throws {
        let fd = cls_tcp_listen(host, Int32(clamping: port), backlog)
        guard fd >= 0 else { throw SystemError("listen \(host):\(port)", code: -fd) }
        let socket = Socket(fd: fd)
        do {
            self.port = try socket.localPort()
        } catch {
            socket.close()
            throw error
        }
        self.socket = socket
    }

    public var fd: Int32 { socket.fd }

    /// Accepts one pending connection (non-blocking, TCP_NODELAY set), or nil when none is pending. Call it until
    /// nil on each readable event. Per-connection failures that leave the listener healthy (ECONNABORTED, EPROTO)
    /// are skipped; resource exhaustion (EMFILE, ENFILE, ENOBUFS, ENOMEM) is thrown.
    public func accept() throws -> Socket? {
        while true {
            let fd = cls_accept(socket.fd)
            if fd >= 0 {
                let accepted = Socket(fd: fd)
                // Only fails for a socket that is already broken; its first read reports that.
                try? accepted.setNoDelay(true)
                return accepted
            }
            let code = cls_errno()
            switch code {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR, ECONNABORTED, EPROTO: continue
            default: throw SystemError("accept", code: code)
            }
        }
    }

    public func close() {
        socket.close()
    }
}
