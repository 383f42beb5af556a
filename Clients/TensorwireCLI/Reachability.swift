// Clients/TensorwireCLI/Reachability.swift: plain-English reasons why the server could not be reached.
#if canImport(Glibc)
internal import Glibc
#endif

/// Turns name-resolution and connect failures into the messages the CLI prints ("cannot resolve host h",
/// "nothing listens on h:p (connection refused)") instead of the transport's raw text.
public enum Reachability {
    /// `host:port`, with brackets around an IPv6 literal.
    public static func address(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Why `host` does not resolve (the resolver's reason), or nil when it resolves.
    public static func resolveFailure(host: String) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        guard code != 0 else { return nil }
        if code == EAI_SYSTEM { return String(cString: strerror(errno)) }
        return String(cString: gai_strerror(code))
    }

    /// The message for a host that does not resolve.
    public static func unresolvable(host: String, reason: String) -> String {
        "cannot resolve host \(host) (\(reason.prefix(1).lowercased() + reason.dropFirst()))"
    }

    /// The transport's texts for a connection that failed or closed ("cannot connect to h:p: …" when the connect
    /// fails at once, "connection closed: …" when it fails later). A status message without these prefixes came
    /// from the server itself (e.g. a model that is not loaded) and is passed on as it is.
    static let connectionPrefixes = ["cannot connect to ", "connection closed"]

    /// The connect errors told apart, with the words used for them.
    static let connectErrors = [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT, EADDRNOTAVAIL, ECONNRESET]

    /// A plain-English reason for an UNAVAILABLE `message` that reports a connection failure to host:port, or nil
    /// when the message is the server's own. When the message does not say why (a call made after the connection
    /// had already failed only hears "connection closed"), `probe` is asked: it connects once more and returns
    /// the errno of that attempt (0 when it connected, nil when it could not tell).
    public static func describe(
        unavailable message: String, host: String, port: Int,
        probe: (String, Int) -> Int32? = { host, port in Reachability.probe(host: host, port: port) }
    ) -> String? {
        guard connectionPrefixes.contains(where: { message.hasPrefix($0) }) else { return nil }
        let target = address(host: host, port: port)
        var code = connectErrors.first { message.contains(errorText($0)) }
        if code == nil, let probed = probe(host, port), connectErrors.contains(probed) { code = probed }
        if let code {
            if code == ECONNREFUSED { return "nothing listens on \(target) (connection refused)" }
            let text = errorText(code)
            return "cannot reach \(target) (\(text.prefix(1).lowercased() + text.dropFirst()))"
        }
        var detail = Substring(message)
        for prefix in ["cannot connect to \(host):\(port): ", "connection closed: "] where detail.hasPrefix(prefix) {
            detail = detail.dropFirst(prefix.count)
        }
        return detail.isEmpty ? "cannot reach \(target)" : "cannot reach \(target) (\(detail))"
    }

    /// Connects to host:port once (every resolved address in turn, each within `timeoutMilliseconds`) and closes
    /// again: 0 when an address took the connection, else the errno of the last attempt; nil when the host does
    /// not resolve. Only used to explain a failure already seen.
    public static func probe(host: String, port: Int, timeoutMilliseconds: Int32 = 2000) -> Int32? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(first) }
        var lastError: Int32 = ETIMEDOUT
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            current = info.pointee.ai_next
            let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | flags, info.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = errno
                continue
            }
            defer { close(fd) }
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return 0 }
            guard errno == EINPROGRESS else {
                lastError = errno
                continue
            }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, timeoutMilliseconds) == 1 else {
                lastError = ETIMEDOUT
                continue
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else {
                lastError = errno
                continue
            }
            if error == 0 { return 0 }
            lastError = error
        }
        return lastError
    }

    /// The C library's text for an errno value ("Connection refused").
    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
