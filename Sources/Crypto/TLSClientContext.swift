internal import COpenSSL

/// A client's TLS settings: the CA bundle that verifies servers (the system's when nil), an optional client
/// certificate and key for mutual TLS, and the ALPN protocols offered. Immutable once built; any thread may create
/// sessions from it.
public final class TLSClientContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is configured entirely in init and only read afterwards (SSL_new from any thread).
    let context: OpaquePointer

    /// `caFile` verifies the server (nil: the system's default store); `certificateFile`/`keyFile` (both or
    /// neither) are presented when the server asks; `alpn` is offered in order.
    public init(
        caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
        alpn: [TLSApplicationProtocol] = [.http2]
    ) throws {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError.fromQueue("cannot create a TLS context")
        }
        self.context = context
        guard tw_ssl_ctx_set_min_proto_tls12(context) == 1 else {
            throw TLSError.fromQueue("cannot require TLS 1.2 or later")
        }
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw TLSError.fromQueue("cannot load the CA from \(caFile)")
            }
        } else {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw TLSError.fromQueue("cannot load the system's CA store")
            }
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        switch (certificateFile, keyFile) {
        case (let certificateFile?, let keyFile?):
            guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
                throw TLSError.fromQueue("cannot load the client certificate from \(certificateFile)")
            }
            guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.fromQueue("cannot load the client key from \(keyFile)")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError.fromQueue("the key in \(keyFile) does not match the certificate in \(certificateFile)")
            }
        case (nil, nil):
            break
        default:
            throw TLSError("a client certificate needs both a certificate file and a key file")
        }
        var wire: [UInt8] = []
        for name in alpn {
            let bytes = Array(name.rawValue.utf8)
            wire.append(UInt8(truncatingIfNeeded: bytes.count))
            wire.append(contentsOf: bytes)
        }
        if !wire.isEmpty {
            // SSL_CTX_set_alpn_protos returns 0 on success (unlike most of OpenSSL).
            let rc = wire.withUnsafeBufferPointer { SSL_CTX_set_alpn_protos(context, $0.baseAddress, UInt32($0.count)) }
            guard rc == 0 else { throw TLSError.fromQueue("cannot set ALPN") }
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// A client session that expects the server to prove `serverName` (a DNS name, also sent as SNI, or an IP
    /// literal). Call `start()` and send what `drainCiphertext` returns.
    public func makeSession(serverName: String) throws -> TLSSession {
        try TLSSession(context: context, owner: self, serverName: serverName)
    }
}
