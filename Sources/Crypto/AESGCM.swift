internal import COpenSSL

/// AES-256-GCM (NIST SP 800-38D) over OpenSSL's EVP interface, one message per call: a 32-byte key, a 12-byte
/// nonce, associated data that is authenticated but not encrypted, and a 16-byte tag. Pure functions over caller
/// buffers; any thread. The sealed-model format (`SealedModel`) is built on it.
public enum AESGCM {
    public static let keyBytes = 32
    public static let nonceBytes = 12
    public static let tagBytes = 16
    /// The most bytes one call takes: EVP's lengths are `Int32`, and GCM itself allows 2^36 - 32 bytes per nonce.
    public static let maxMessageBytes = Int(Int32.max)

    /// Encrypts `plaintext` into `output` (exactly as many bytes) and returns the tag. Throws only when OpenSSL
    /// fails (out of memory) or a size is wrong, which are caller bugs or a broken library, never input data.
    public static func seal(
        key: UnsafeRawBufferPointer, nonce: [UInt8], aad: [UInt8], plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoFailure) -> [UInt8] {
        try checkSizes(key: key, nonce: nonce, input: plaintext.count, output: output.count)
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoFailure("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        let started = nonce.withUnsafeBufferPointer { iv in
            EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key.baseAddress?.assumingMemoryBound(to: UInt8.self),
                               iv.baseAddress) == 1
        }
        guard started else { throw CryptoFailure("EVP_EncryptInit_ex failed") }
        var length: Int32 = 0
        if !aad.isEmpty {
            let done = aad.withUnsafeBufferPointer {
                EVP_EncryptUpdate(context, nil, &length, $0.baseAddress, Int32($0.count)) == 1
            }
            guard done else { throw CryptoFailure("EVP_EncryptUpdate (associated data) failed") }
        }
        let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        if plaintext.count > 0 {
            guard EVP_EncryptUpdate(context, out, &length, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                    Int32(plaintext.count)) == 1, Int(length) == plaintext.count
            else { throw CryptoFailure("EVP_EncryptUpdate failed") }
        }
        // GCM is a stream mode: Final writes no bytes, but it wants a valid pointer.
        var scratch = [UInt8](repeating: 0, count: 16)
        let finished = scratch.withUnsafeMutableBufferPointer { EVP_EncryptFinal_ex(context, $0.baseAddress, &length) == 1 }
        guard finished, length == 0 else { throw CryptoFailure("EVP_EncryptFinal_ex failed") }
        var tag = [UInt8](repeating: 0, count: tagBytes)
        let tagged = tag.withUnsafeMutableBytes {
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagBytes), $0.baseAddress) == 1
        }
        guard tagged else { throw CryptoFailure("EVP_CTRL_GCM_GET_TAG failed") }
        return tag
    }

    /// Decrypts `ciphertext` into `output` (exactly as many bytes) and checks `tag`. Returns false when the tag does
    /// not match (a wrong key, nonce or associated data, or changed bytes); `output` is then zeroed, so no
    /// unauthenticated plaintext is left behind.
    public static func open(
        key: UnsafeRawBufferPointer, nonce: [UInt8], aad: [UInt8], ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoFailure) -> Bool {
        try checkSizes(key: key, nonce: nonce, input: ciphertext.count, output: output.count)
        guard tag.count == tagBytes else { throw CryptoFailure("an AES-GCM tag is \(tagBytes) bytes, not \(tag.count)") }
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoFailure("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        let started = nonce.withUnsafeBufferPointer { iv in
            EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key.baseAddress?.assumingMemoryBound(to: UInt8.self),
                               iv.baseAddress) == 1
        }
        guard started else { throw CryptoFailure("EVP_DecryptInit_ex failed") }
        var length: Int32 = 0
        if !aad.isEmpty {
            let done = aad.withUnsafeBufferPointer {
                EVP_DecryptUpdate(context, nil, &length, $0.baseAddress, Int32($0.count)) == 1
            }
            guard done else { throw CryptoFailure("EVP_DecryptUpdate (associated data) failed") }
        }
        let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        if ciphertext.count > 0 {
            guard EVP_DecryptUpdate(context, out, &length, ciphertext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                    Int32(ciphertext.count)) == 1, Int(length) == ciphertext.count
            else { throw CryptoFailure("EVP_DecryptUpdate failed") }
        }
        // SET_TAG takes a non-const pointer; OpenSSL copies the tag and does not write through it.
        var expected = [UInt8](tag)
        let tagSet = expected.withUnsafeMutableBytes {
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagBytes), $0.baseAddress) == 1
        }
        guard tagSet else { throw CryptoFailure("EVP_CTRL_GCM_SET_TAG failed") }
        var scratch = [UInt8](repeating: 0, count: 16)
        let authentic = scratch.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress, &length) == 1 }
        if !authentic { Crypto.cleanse(output) }
        return authentic
    }

    private static func checkSizes(key: UnsafeRawBufferPointer, nonce: [UInt8], input: Int, output: Int)
        throws(CryptoFailure)
    {
        guard key.count == keyBytes else { throw CryptoFailure("an AES-256 key is \(keyBytes) bytes, not \(key.count)") }
        guard nonce.count == nonceBytes else { throw CryptoFailure("the nonce is \(nonceBytes) bytes, not \(nonce.count)") }
        guard input == output else { throw CryptoFailure("the output holds \(output) bytes for \(input) input bytes") }
        guard input <= maxMessageBytes else { throw CryptoFailure("\(input) bytes exceed one call's \(maxMessageBytes)") }
    }

    /// `seal` over arrays: the ciphertext and the tag (tests and small messages).
    public static func seal(key: [UInt8], nonce: [UInt8], aad: [UInt8] = [], plaintext: [UInt8]) throws(CryptoFailure)
        -> (ciphertext: [UInt8], tag: [UInt8])
    {
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        // Array's withUnsafe… methods rethrow untyped errors: the typed error travels out in a Result.
        let tag = key.withUnsafeBytes { k in
            plaintext.withUnsafeBytes { input in
                ciphertext.withUnsafeMutableBytes { output in
                    Result { () throws(CryptoFailure) in
                        try seal(key: k, nonce: nonce, aad: aad, plaintext: input, into: output)
                    }
                }
            }
        }
        return (ciphertext, try tag.get())
    }

    /// `open` over arrays: the plaintext, or nil when the tag does not match.
    public static func open(key: [UInt8], nonce: [UInt8], aad: [UInt8] = [], ciphertext: [UInt8], tag: [UInt8])
        throws(CryptoFailure) -> [UInt8]?
    {
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        let authentic = key.withUnsafeBytes { k in
            ciphertext.withUnsafeBytes { input in
                tag.withUnsafeBytes { t in
                    plaintext.withUnsafeMutableBytes { output in
                        Result { () throws(CryptoFailure) in
                            try open(key: k, nonce: nonce, aad: aad, ciphertext: input, tag: t, into: output)
                        }
                    }
                }
            }
        }
        return try authentic.get() ? plaintext : nil
    }
}

/// OpenSSL failed where it should not (out of memory, a size the caller got wrong): what was being done.
public struct CryptoFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
