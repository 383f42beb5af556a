internal import COpenSSL

/// Why a TLS context could not be built or a session failed: the file involved (if any) and OpenSSL's reason.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What we were doing, e.g. "cannot load the certificate chain from /etc/tw/cert.pem".
    public var message: String
    /// OpenSSL's error queue at the time, e.g. "error:0480006C:PEM routines::no start line"; "" when empty.
    public var reason: String

    public init(_ message: String, reason: String = "") {
        self.message = message
        self.reason = reason
    }

    public var description: String { reason.isEmpty ? message : "\(message): \(reason)" }

    /// Drains this thread's OpenSSL error queue into one line (most recent last).
    static func drainQueue() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.joined(separator: "; ")
    }

    static func fromQueue(_ message: String) -> TLSError { TLSError(message, reason: drainQueue()) }
}

/// Whether a client must present a certificate signed by the client CA (`--tls-client-auth`).
public enum TLSClientAuth: String, Sendable, CaseIterable {
    /// No certificate, no connection: the handshake fails.
    case required
    /// A client without a certificate connects (unauthenticated, no identity); one that presents a certificate must
    /// present a valid one.
    case optional
}

/// The server's TLS settings, built once from PEM files: the certificate chain and key, TLS 1.2 and 1.3 only, no
/// renegotiation, the server's cipher preference, ALPN (`h2`, then `http/1.1`), and optionally a client CA for
/// mutual TLS. Immutable once built; any thread may create sessions from it (`makeSession`). To reload certificates,
/// build a new context and hand it to the server: connections accepted later use it, open ones keep theirs.
public final class TLSServerContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is configured entirely in init and only read afterwards (SSL_new from any thread,
    // which OpenSSL documents as thread-safe); nothing mutates it after init returns.
    let context: OpaquePointer
    /// The files it was built from (for logs and reload checks).
    public let certificateFile: String
    public let keyFile: String
    public let clientCAFile: String?
    public let clientAuth: TLSClientAuth

    /// Loads `certificateFile` (PEM chain, leaf first) and `keyFile` (PEM private key) and checks that they match;
    /// with `clientCAFile`, client certificates are verified against it (`clientAuth`). Throws a `TLSError` that
    /// names the file and OpenSSL's reason.
    public init(
        certificateFile: String, keyFile: String, clientCAFile: String? = nil, clientAuth: TLSClientAuth = .required
    ) throws {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.fromQueue("cannot create a TLS context")
        }
        self.context = context
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
        self.clientAuth = clientAuth

        guard tw_ssl_ctx_set_min_proto_tls12(context) == 1 else {
            throw TLSError.fromQueue("cannot require TLS 1.2 or later")
        }
        _ = tw_ssl_ctx_set_options(context)
        guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
            throw TLSError.fromQueue("cannot load the certificate chain from \(certificateFile)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL checks the key against the certificate as it loads it ("key values mismatch").
            let reason = TLSError.drainQueue()
            if reason.contains("mismatch") {
                throw TLSError("the private key in \(keyFile) does not match the certificate in \(certificateFile)", reason: reason)
            }
            throw TLSError("cannot load the private key from \(keyFile)", reason: reason)
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.fromQueue("the private key in \(keyFile) does not match the certificate in \(certificateFile)")
        }
        // Session resumption with client verification needs a context id (SSL_CTX_set_session_id_context(3)).
        let sessionID = Array("tensorwire".utf8)
        _ = sessionID.withUnsafeBufferPointer { SSL_CTX_set_session_id_context(context, $0.baseAddress, UInt32($0.count)) }
        if let clientCAFile {
            guard SSL_CTX_load_verify_locations(context, clientCAFile, nil) == 1 else {
                throw TLSError.fromQueue("cannot load the client CA from \(clientCAFile)")
            }
            guard let names = tw_load_client_ca_names(clientCAFile) else {
                throw TLSError.fromQueue("cannot read the CA names in \(clientCAFile)")
            }
            SSL_CTX_set_client_CA_list(context, names)
            let mode = SSL_VERIFY_PEER | (clientAuth == .required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0)
            SSL_CTX_set_verify(context, mode, nil)
        }
        SSL_CTX_set_alpn_select_cb(context, tlsSelectALPN, nil)
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// A new server-side session for one accepted connection.
    public func makeSession() throws -> TLSServerSession {
        try TLSSession(context: context, owner: self)
    }
}

/// The protocols we speak, in our order of preference (the server's choice wins, RFC 7301 §3.2).
let tlsServerProtocols: [[UInt8]] = [Array("h2".utf8), Array("http/1.1".utf8)]

/// ALPN selection (SSL_CTX_set_alpn_select_cb): the first of our protocols that the client offers; none → no ALPN
/// (NOACK), and the transport falls back to reading the first bytes. File scope: OpenSSL calls it on the thread that
/// runs the handshake, with no actor isolation.
private func tlsSelectALPN(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<UInt8>?,
    _ input: UnsafePointer<UInt8>?, _ inputLength: UInt32, _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let input, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
    let offered = UnsafeBufferPointer(start: input, count: Int(inputLength))
    for wanted in tlsServerProtocols {
        var index = 0
        while index < offered.count {
            let length = Int(offered[index])
            let start = index + 1
            guard start + length <= offered.count else { break }
            if length == wanted.count, offered[start..<start + length].elementsEqual(wanted) {
                out.pointee = input + start
                outLength.pointee = UInt8(truncatingIfNeeded: length)
                return SSL_TLSEXT_ERR_OK
            }
            index = start + length
        }
    }
    return SSL_TLSEXT_ERR_NOACK
}
