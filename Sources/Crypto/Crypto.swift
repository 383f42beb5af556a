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

    /// Overwrites `buffer` with zeros in a way the compiler cannot drop as a dead store (`OPENSSL_cleanse`): for
    /// plaintext and keys that must not outlive their use.
    public static func cleanse(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        OPENSSL_cleanse(base, buffer.count)
    }

    /// Zeroes the storage `bytes` holds now. The array must be uniquely referenced (a shared one would be copied
    /// first and only the copy zeroed): returns false, zeroing nothing of the original, when it was not.
    @discardableResult
    public static func cleanse(_ bytes: inout [UInt8]) -> Bool {
        let before = bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        return bytes.withUnsafeMutableBytes { buffer in
            // withUnsafeMutableBytes copies a shared buffer first; the address tells whether it did.
            guard UInt(bitPattern: buffer.baseAddress) == before else { return false }
            cleanse(buffer)
            return true
        }
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

    /// True when `a` and `b` are equal, in time that depends only on their lengths, for secrets such as API-key
    /// digests. Different lengths are unequal at once (the length is not the secret).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in constantTimeEquals(x, y) } }
    }

    /// `constantTimeEquals` over raw buffers, so that secrets need not be copied into arrays to be compared. Every
    /// byte is XOR-ed into one accumulator, eight at a time, and only the accumulator is tested, once, at the end:
    /// no branch depends on the contents. (`CRYPTO_memcmp` does the same a byte at a time: ~400 instructions for a
    /// 56-byte `authorization` value on every request, callgrind; this takes about a tenth.)
    public static func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let x = a.baseAddress, let y = b.baseAddress else { return true }  // both empty
        var difference: UInt64 = 0
        var offset = 0
        while offset + 8 <= a.count {
            difference |= x.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                ^ y.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        while offset < a.count {
            difference |= UInt64(x.load(fromByteOffset: offset, as: UInt8.self) ^ y.load(fromByteOffset: offset, as: UInt8.self))
            offset += 1
        }
        return difference == 0
    }
}

/// SHA-256 over bytes that arrive in pieces (EVP_DigestUpdate), for a digest computed while a file streams in.
/// One owner at a time; not `Sendable`.
public final class SHA256Hasher {
    private let context: OpaquePointer?

    public init() {
        let context = EVP_MD_CTX_new()
        // Both fail only when memory runs out, as SHA256 above would.
        precondition(context != nil && EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex failed")
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds the bytes at `input`.
    public func update(_ input: UnsafeRawBufferPointer) {
        guard let context, let base = input.baseAddress, input.count > 0 else { return }
        let rc = EVP_DigestUpdate(context, base, input.count)
        precondition(rc == 1, "EVP_DigestUpdate cannot fail on a SHA-256 context")
    }

    /// The digest of everything added (32 bytes). Call once.
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let rc = digest.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        precondition(rc == 1 && length == 32, "EVP_DigestFinal_ex failed: out of memory at start-up")
        return digest
    }
}

extension Crypto {
    /// `bytes` as lower-case hexadecimal.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes of a hexadecimal string (either case), or nil when it is not an even number of hex digits.
    public static func bytes(hex text: some StringProtocol) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
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
