// Sources/Transport/ConnectionPreface.swift: what a new server connection speaks, from its first bytes (sans-I/O).

/// Tells an HTTP/2 client (the 24-byte connection preface, prior knowledge) from an HTTP/1.x request by the first
/// bytes a connection sends, so that the port can answer each in its own protocol: today an HTTP/1.1 request gets a
/// readable HTTP/1.1 error instead of HTTP/2 frames (curl: "Received HTTP/0.9 when not allowed"); the REST issue
/// routes it to an HTTP/1.1 handler instead. Pure: bytes in, a verdict out; at most 24 bytes are ever needed.
public enum ConnectionPreface {
    /// RFC 9113 §3.4: the client connection preface.
    public static let http2 = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// What the first bytes say.
    public enum Verdict: Sendable, Equatable {
        /// So far a prefix of the HTTP/2 preface: read more.
        case undecided
        /// The HTTP/2 preface: hand the bytes to the HTTP/2 session.
        case http2
        /// An HTTP/1.x request line (`METHOD SP …`).
        case http1
        /// Past "PRI * HTTP/2.0\r\n": an HTTP/2 client whose preface is broken; the HTTP/2 session rejects it.
        case malformedHTTP2
        /// Neither (garbage, a TLS hello, a lower-case method): the HTTP/2 session rejects it (GOAWAY, then close).
        /// Not the HTTP/1.1 parser: it would wait for the rest of a line that may never come.
        case unknown
    }

    /// Classifies the first bytes of a connection (all of them so far).
    public static func classify(_ bytes: some Collection<UInt8>) -> Verdict {
        var matched = 0
        for (byte, expected) in zip(bytes, http2) {
            guard byte == expected else { break }
            matched += 1
        }
        if matched == http2.count { return .http2 }
        if matched == bytes.count { return .undecided }
        // Past "PRI * HTTP/2.0\r\n" it is an HTTP/2 client with a broken preface: the session rejects it.
        if matched >= 16 { return .malformedHTTP2 }
        return requestLineStart(bytes)
    }

    /// A request line's start: a method of 1–16 upper-case letters (GET, POST, PUT, OPTIONS, PRI with another
    /// version…), then a space. Undecided while only letters have come (a client may send byte by byte).
    static func requestLineStart(_ bytes: some Collection<UInt8>) -> Verdict {
        var length = 0
        for byte in bytes {
            if byte == UInt8(ascii: " ") { return length > 0 ? .http1 : .unknown }
            guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte), length < 16 else { return .unknown }
            length += 1
        }
        return .undecided
    }

    /// The reply to an HTTP/1.x request on a gRPC-only port: 505 with a plain-text body that says what the port
    /// speaks and how to reach it, then the connection closes.
    public static let http1Reply: [UInt8] = {
        let body = """
            This port (Tensorwire) speaks gRPC over HTTP/2, not HTTP/1.1.
            Use a gRPC client: grpcurl -plaintext HOST:PORT list, the tensorwire CLI (tensorwire --server HOST:PORT list),
            grpcio or tritonclient; or HTTP/2 with prior knowledge: curl --http2-prior-knowledge.

            """
        let head = "HTTP/1.1 505 HTTP Version Not Supported\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n"
        return Array((head + body).utf8)
    }()
}
