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
                let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback.baseAddress
                return SHA256(base, input.count, out.baseAddress) != nil
            }
        }
        precondition(hashed, "SHA256 cannot fail with a valid output buffer")
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
