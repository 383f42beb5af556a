internal import COpenSSL

/// The application protocol the client and server agreed on through ALPN (RFC 7301).
public enum TLSApplicationProtocol: String, Sendable {
    case http2 = "h2"
    case http1 = "http/1.1"
}

/// The verified client certificate's names (mutual TLS).
public struct TLSPeerIdentity: Sendable, Equatable {
    /// The subject in RFC 2253 form, e.g. "CN=etl-job,O=Acme".
    public var subject: String
    /// The subject alternative names, each with its kind: "DNS:etl.acme.internal", "IP:10.0.0.7",
    /// "URI:spiffe://acme/etl", "email:etl@acme.com".
    public var alternativeNames: [String]

    /// One string for logs and scope rules: the subject, then "; SAN=" and the names when there are any, e.g.
    /// "CN=etl-job,O=Acme; SAN=DNS:etl.acme.internal,URI:spiffe://acme/etl".
    public var identity: String {
        alternativeNames.isEmpty ? subject : subject + "; SAN=" + alternativeNames.joined(separator: ",")
    }
}

/// What one `readPlaintext` call produced.
public enum TLSReadResult: Sendable, Equatable {
    /// This many plaintext bytes were written to the buffer.
    case bytes(Int)
    /// Nothing more can be decrypted until more ciphertext arrives (the handshake may still be running).
    case needsCiphertext
    /// The peer sent close_notify: no more plaintext will come.
    case closed
}

/// The result of `feed`: what it decrypted, whether the handshake has finished, and the failure if there was one.
public struct TLSFeedResult: Sendable {
    public var plaintext: [UInt8]
    public var handshakeDone: Bool
    public var closed: Bool
    public var error: TLSError?
}

/// The server's session (`TLSServerContext.makeSession`); the same type runs the client side
/// (`TLSClientContext.makeSession`).
public typealias TLSServerSession = TLSSession

/// One TLS connection, sans-I/O: ciphertext from the socket goes in (`feed`, or `receiveCiphertext` and
/// `readPlaintext`), plaintext for the peer goes in (`write`), and ciphertext for the socket comes out
/// (`drainCiphertext`). It owns an OpenSSL `SSL` between two memory BIOs and never touches a socket, a thread or a
/// clock. Not Sendable: one connection's loop thread owns it.
public final class TLSSession {
    private let ssl: OpaquePointer
    /// Ciphertext in (we write, OpenSSL reads) and out (OpenSSL writes, we read); owned by `ssl`.
    private let input: OpaquePointer
    private let output: OpaquePointer
    /// Keeps the context (server or client) alive for the session's life.
    private let owner: AnyObject
    /// Plaintext written before the handshake finished, sent once it does.
    private var pendingPlaintext: [UInt8] = []
    public private(set) var handshakeDone = false
    /// The first fatal error; the session is unusable after it.
    public private(set) var failure: TLSError?
    /// The protocol ALPN chose, once the handshake is done; nil when the client offered none of ours.
    public private(set) var applicationProtocol: TLSApplicationProtocol?
    /// The verified client certificate's names, once the handshake is done (mutual TLS); nil without one.
    public private(set) var peerIdentity: TLSPeerIdentity?
    /// The negotiated version, e.g. "TLSv1.3", once the handshake is done.
    public private(set) var protocolVersion: String?

    init(context: OpaquePointer, owner: AnyObject, serverName: String? = nil) throws {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.fromQueue("cannot create a TLS session") }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.fromQueue("cannot create the memory BIOs")
        }
        tw_bio_set_mem_eof_return(input)
        tw_bio_set_mem_eof_return(output)
        SSL_set_bio(ssl, input, output)
        if let serverName {
            guard tw_ssl_set_expected_host(ssl, serverName) == 1 else {
                SSL_free(ssl)
                throw TLSError.fromQueue("cannot expect the server name \(serverName)")
            }
            SSL_set_connect_state(ssl)
        } else {
            SSL_set_accept_state(ssl)
        }
        self.ssl = ssl
        self.input = input
        self.output = output
        self.owner = owner
    }

    /// Client role: produces the ClientHello (in `drainCiphertext`). The server role needs no start.
    public func start() throws {
        if let failure { throw failure }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc <= 0 {
            let code = SSL_get_error(ssl, rc)
            guard code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE else {
                let error = TLSError.fromQueue("TLS handshake failed")
                failure = error
                throw error
            }
        }
    }

    deinit {
        SSL_free(ssl)
    }

    /// Hands ciphertext from the socket to the session; call `readPlaintext` until it stops producing.
    public func receiveCiphertext(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        var offset = 0
        // A memory BIO grows as needed; BIO_write takes an Int32 length, so very large inputs go in pieces.
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 30)
            let written = BIO_write(input, base + offset, Int32(chunk))
            guard written > 0 else { break }
            offset += Int(written)
        }
    }

    /// Decrypts into `buffer` what the received ciphertext allows, driving the handshake first. Throws on a fatal
    /// error (a bad record, a failed handshake or client verification); the session is then done. Handshake
    /// messages and alerts it produces wait in `drainCiphertext`.
    public func readPlaintext(into buffer: UnsafeMutableRawBufferPointer) throws -> TLSReadResult {
        if let failure { throw failure }
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return .bytes(0) }
        ERR_clear_error()
        let n = SSL_read(ssl, base, Int32(clamping: buffer.count))
        if n > 0 {
            try finishHandshakeIfNeeded()
            return .bytes(Int(n))
        }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            try finishHandshakeIfNeeded()
            return .needsCiphertext
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            let error = TLSError.fromQueue(handshakeDone ? "TLS record error" : "TLS handshake failed")
            failure = error
            throw error
        }
    }

    /// `receiveCiphertext` then `readPlaintext` until it stops: all the plaintext those bytes complete.
    public func feed(_ ciphertext: [UInt8]) -> TLSFeedResult {
        ciphertext.withUnsafeBytes { receiveCiphertext($0) }
        var plaintext: [UInt8] = []
        var closed = false
        var scratch = [UInt8](repeating: 0, count: 16 << 10)
        do {
            loop: while true {
                let result = try scratch.withUnsafeMutableBytes { try readPlaintext(into: $0) }
                switch result {
                case .bytes(let n): plaintext.append(contentsOf: scratch[0..<n])
                case .needsCiphertext: break loop
                case .closed:
                    closed = true
                    break loop
                }
            }
        } catch {
            return TLSFeedResult(plaintext: plaintext, handshakeDone: handshakeDone, closed: closed, error: failure)
        }
        return TLSFeedResult(plaintext: plaintext, handshakeDone: handshakeDone, closed: closed, error: nil)
    }

    /// Encrypts `bytes` for the peer (into `drainCiphertext`); before the handshake finishes they wait for it.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        guard !bytes.isEmpty else { return }
        guard handshakeDone else {
            pendingPlaintext.append(contentsOf: bytes)
            return
        }
        try encrypt(bytes)
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Queues close_notify (the socket may close once it is drained).
    public func close() {
        guard failure == nil, handshakeDone else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
    }

    /// True when ciphertext waits in `drainCiphertext`.
    public var hasCiphertext: Bool { tw_bio_pending(output) > 0 }

    /// True when received ciphertext or decrypted plaintext waits inside the session (`readPlaintext` would make
    /// progress without new bytes).
    public var hasBufferedInput: Bool { tw_bio_pending(input) > 0 || SSL_pending(ssl) > 0 }

    /// Appends every ciphertext byte waiting for the socket to `out`; returns how many.
    @discardableResult
    public func drainCiphertext(into out: inout [UInt8]) -> Int {
        let pending = Int(tw_bio_pending(output))
        guard pending > 0 else { return 0 }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: pending))
        let read = out.withUnsafeMutableBytes { raw in
            BIO_read(output, raw.baseAddress.map { $0 + start }, Int32(clamping: pending))
        }
        let taken = max(0, Int(read))
        out.removeLast(pending - taken)
        return taken
    }

    /// Every ciphertext byte waiting for the socket.
    public func drainCiphertext() -> [UInt8] {
        var out: [UInt8] = []
        drainCiphertext(into: &out)
        return out
    }

    // MARK: Internals

    private func encrypt(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        ERR_clear_error()
        while offset < bytes.count {
            // A memory BIO takes everything, so SSL_write completes unless the session has failed.
            let n = SSL_write(ssl, base + offset, Int32(clamping: bytes.count - offset))
            guard n > 0 else {
                let error = TLSError.fromQueue("TLS write failed")
                failure = error
                throw error
            }
            offset += Int(n)
        }
    }

    private func finishHandshakeIfNeeded() throws {
        guard !handshakeDone, SSL_is_init_finished(ssl) == 1 else { return }
        handshakeDone = true
        applicationProtocol = negotiatedProtocol()
        peerIdentity = verifiedPeer()
        if let version = SSL_get_version(ssl) { protocolVersion = String(cString: version) }
        if !pendingPlaintext.isEmpty {
            let pending = pendingPlaintext
            pendingPlaintext = []
            try pending.withUnsafeBytes { try encrypt($0) }
        }
    }

    private func negotiatedProtocol() -> TLSApplicationProtocol? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return TLSApplicationProtocol(rawValue: String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self))
    }

    /// The client certificate's names, only when OpenSSL verified it against the client CA.
    private func verifiedPeer() -> TLSPeerIdentity? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard SSL_get_verify_result(ssl) == Int(X509_V_OK) else { return nil }
        var subject = ""
        if let name = X509_get_subject_name(certificate), let bio = BIO_new(BIO_s_mem()) {
            defer { BIO_free(bio) }
            if tw_name_print_rfc2253(bio, name) >= 0 { subject = Self.readAll(bio) }
        }
        var names: [String] = []
        if let list = tw_peer_alt_names(certificate) {
            defer { tw_general_names_free(list) }
            for index in 0..<tw_general_names_count(list) {
                guard let name = tw_general_names_value(list, index), let bio = BIO_new(BIO_s_mem()) else { continue }
                defer { BIO_free(bio) }
                // GENERAL_NAME_print writes "DNS:…", "IP Address:…", "URI:…", "email:…".
                if GENERAL_NAME_print(bio, name) == 1 {
                    let text = Self.readAll(bio)
                    names.append(text.hasPrefix("IP Address:") ? "IP:" + text.dropFirst("IP Address:".count) : text)
                }
            }
        }
        return TLSPeerIdentity(subject: subject, alternativeNames: names)
    }

    private static func readAll(_ bio: OpaquePointer) -> String {
        let pending = Int(tw_bio_pending(bio))
        guard pending > 0 else { return "" }
        var bytes = [UInt8](repeating: 0, count: pending)
        let read = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(clamping: pending)) }
        return String(decoding: bytes.prefix(max(0, Int(read))), as: UTF8.self)
    }
}
