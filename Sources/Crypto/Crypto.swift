internal import COpenSSL

/// The hashing, randomness and comparison primitives the server needs, on the system OpenSSL (libcrypto). Pure
/// functions; any thread.
public enum Crypto {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        if let digest = bytes.withContiguousStorageIfAvailable({ sha256(UnsafeRawBufferPointer($0)) }) { return digest }
        return Array(bytes).withUnsafeBytes { sha256($0) }
    }

    /// SHA-256 of the bytes at `input`.
    public static func sha256(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        // SHA256 wants a non-null pointer even for zero bytes; an empty buffer's base may be nil.
        let zero: [UInt8] = [0]
        let hashed = zero.withUnsafeBufferPointer { fallback in
            digest.withUnsafeMutableBufferPointer { out in
                let base: UnsafeRawPointer? = input.baseAddress ?? UnsafeRawPointer(fallback.baseAddress)
                // EVP_Digest with the algorithm fetched once: the one-shot SHA256() looks the algorithm up in the
                // provider store on every call, which cost more than the hashing for an API key (microseconds).
                return EVP_Digest(base, input.count, out.baseAddress, nil, FetchedDigest.sha256.algorithm, nil) == 1
            }
        }
        precondition(hashed, "SHA-256 cannot fail with a valid output buffer and the default provider's algorithm")
        return digest
    }

    /// `count` bytes from OpenSSL's CSPRNG (`RAND_bytes`). It fails only when the generator cannot be seeded, which
    /// leaves nothing safe to do: the process stops rather than hand out predictable keys.
    public static func randomBytes(count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let rc = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(clamping: $0.count)) }
        precondition(rc == 1 && count <= Int(Int32.max), "RAND_bytes failed: the system's random source is unusable")
        return bytes
    }

    /// True when `a` and `b` are equal, in time that depends only on their lengths (`CRYPTO_memcmp`), for secrets
    /// such as API-key digests. Different lengths are unequal at once (the length is not the secret).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, x.count) == 0 }
        }
    }
}

/// An algorithm fetched once from OpenSSL's default provider. Fetched algorithm objects are immutable and OpenSSL
/// documents them as shareable between threads once fetched (openssl-threads(7)); this one is created by Swift's
/// thread-safe lazy initialisation of `sha256` and only read afterwards, from any thread, so the unchecked
/// Sendable states what OpenSSL guarantees.
private final class FetchedDigest: @unchecked Sendable {
    static let sha256 = FetchedDigest(name: "SHA256")
    let algorithm: OpaquePointer?

    private init(name: String) {
        algorithm = EVP_MD_fetch(nil, name, nil)
        precondition(algorithm != nil, "OpenSSL's default provider has no \(name)")
    }
}
