// The sealed-model file format, byte for byte in docs/sealed-models.md: a 44-byte header, then the model in chunks,
// each sealed with AES-256-GCM under a nonce derived from the file nonce and the chunk's index, with the header,
// the index and a final-chunk flag as associated data. Sans-I/O here (bytes in, bytes out); SealedModelFile reads
// and writes files with it.

/// The header of a sealed model file. A value; `encoded` is exactly the 44 bytes on disk.
public struct SealedModelHeader: Sendable, Equatable {
    /// Plaintext bytes per chunk (the last chunk may hold fewer).
    public let chunkBytes: Int
    /// The id of the key that sealed the file (`ModelKey.id`).
    public let keyID: [UInt8]
    /// 12 random bytes, fresh for every file.
    public let nonce: [UInt8]
    /// The model's size in bytes.
    public let plaintextBytes: Int

    public static let magic = Array("TWSEALED".utf8)
    public static let formatVersion: UInt16 = 1
    public static let encodedBytes = 44
    /// The chunk size `tensorwire seal` writes: 1 MiB.
    public static let defaultChunkBytes = 1 << 20
    /// The chunk sizes a reader accepts, checked before anything is allocated: 16 bytes to 16 MiB.
    public static let chunkBytesRange = 16...(16 << 20)

    public init(chunkBytes: Int, keyID: [UInt8], nonce: [UInt8], plaintextBytes: Int) throws(SealedModelError) {
        guard Self.chunkBytesRange.contains(chunkBytes) else { throw .chunkSizeOutOfRange(chunkBytes) }
        guard keyID.count == ModelKey.keyIDBytes, nonce.count == AESGCM.nonceBytes, plaintextBytes >= 0 else {
            throw .malformedHeader("a key id is 8 bytes and a nonce 12")
        }
        self.chunkBytes = chunkBytes
        self.keyID = keyID
        self.nonce = nonce
        self.plaintextBytes = plaintextBytes
    }

    /// Parses the first 44 bytes of a file. Throws `notSealed` for another magic, and refuses an unknown version, a
    /// non-zero flags field and a chunk size outside `chunkBytesRange`.
    public init(parsing bytes: some Collection<UInt8>) throws(SealedModelError) {
        let b = Array(bytes.prefix(Self.encodedBytes))
        let compared = Swift.min(Self.magic.count, b.count)
        guard b[..<compared].elementsEqual(Self.magic[..<compared]) else { throw .notSealed }
        guard b.count == Self.encodedBytes else {
            throw .truncated("the file is \(b.count) bytes, shorter than the \(Self.encodedBytes)-byte header")
        }
        let version = UInt16(b[8]) << 8 | UInt16(b[9])
        guard version == Self.formatVersion else { throw .unsupportedVersion(version) }
        guard b[10] == 0, b[11] == 0 else { throw .malformedHeader("the flags field (bytes 10-11) must be zero") }
        let chunk = b[12..<16].reduce(0) { $0 << 8 | Int($1) }
        let length = b[36..<44].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(Int.max) else { throw .malformedHeader("the plaintext length \(length) is too large") }
        try self.init(chunkBytes: chunk, keyID: Array(b[16..<24]), nonce: Array(b[24..<36]), plaintextBytes: Int(length))
    }

    /// The 44 header bytes.
    public var encoded: [UInt8] {
        var bytes = Self.magic
        bytes += [UInt8(Self.formatVersion >> 8), UInt8(Self.formatVersion & 0xFF), 0, 0]
        bytes += Self.bigEndian(UInt64(chunkBytes), count: 4)
        bytes += keyID
        bytes += nonce
        bytes += Self.bigEndian(UInt64(plaintextBytes), count: 8)
        return bytes
    }

    /// How many chunks the model is cut into: ⌈plaintext / chunk⌉, and one (empty) chunk for an empty model.
    public var chunkCount: Int {
        plaintextBytes == 0 ? 1 : plaintextBytes / chunkBytes + (plaintextBytes % chunkBytes == 0 ? 0 : 1)
    }

    /// The plaintext bytes of chunk `index`.
    public func plaintextBytes(ofChunk index: Int) -> Int {
        index == chunkCount - 1 ? plaintextBytes - index * chunkBytes : chunkBytes
    }

    /// The size the whole file must have: header + plaintext + one 16-byte tag per chunk; nil on overflow.
    public var sealedFileBytes: Int? {
        let (tags, o1) = chunkCount.multipliedReportingOverflow(by: AESGCM.tagBytes)
        let (body, o2) = plaintextBytes.addingReportingOverflow(tags)
        let (total, o3) = body.addingReportingOverflow(Self.encodedBytes)
        return o1 || o2 || o3 ? nil : total
    }

    /// Chunk `index`'s nonce: the file nonce with its last 8 bytes XORed with the big-endian index.
    public func nonce(ofChunk index: Int) -> [UInt8] {
        var derived = nonce
        let counter = Self.bigEndian(UInt64(index), count: 8)
        for offset in 0..<8 { derived[4 + offset] ^= counter[offset] }
        return derived
    }

    /// Chunk `index`'s associated data: the 44 header bytes, the big-endian 8-byte index, then 1 for the last
    /// chunk and 0 for the others.
    public func associatedData(ofChunk index: Int) -> [UInt8] {
        encoded + Self.bigEndian(UInt64(index), count: 8) + [index == chunkCount - 1 ? 1 : 0]
    }

    static func bigEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}

/// Why a sealed model could not be opened. Messages name the cause and never a key byte.
public enum SealedModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file does not start with the magic `TWSEALED`.
    case notSealed
    case unsupportedVersion(UInt16)
    case malformedHeader(String)
    case chunkSizeOutOfRange(Int)
    /// None of the keys has the file's key id (hex).
    case noKey(id: String, held: [String])
    /// The file is shorter than its header says.
    case truncated(String)
    /// The file is longer than its header says.
    case trailingBytes(expected: Int, actual: Int)
    /// The model is larger than the budget allows (checked before the plaintext buffer is allocated).
    case tooLarge(bytes: Int, limit: Int)
    /// Chunk `chunk` (0-based) did not authenticate: a changed, moved, swapped or cut chunk or header, or a key that
    /// is not the one that sealed it.
    case authenticationFailed(chunk: Int)
    /// Reading or writing failed, or OpenSSL did.
    case io(String)

    public var description: String {
        switch self {
        case .notSealed: "not a sealed model (no TWSEALED magic)"
        case .unsupportedVersion(let version):
            "sealed-model format version \(version) is not supported (this server reads version \(SealedModelHeader.formatVersion))"
        case .malformedHeader(let reason): "malformed sealed-model header: \(reason)"
        case .chunkSizeOutOfRange(let size):
            "chunk size \(size) is outside \(SealedModelHeader.chunkBytesRange.lowerBound)..."
                + "\(SealedModelHeader.chunkBytesRange.upperBound) bytes"
        case .noKey(let id, let held):
            "no key with id \(id) (--model-keys holds " + (held.isEmpty ? "no keys" : "ids " + held.joined(separator: ", ")) + ")"
        case .truncated(let reason): "truncated: \(reason)"
        case .trailingBytes(let expected, let actual):
            "the file is \(actual) bytes but its header describes \(expected): bytes were appended"
        case .tooLarge(let bytes, let limit):
            "the model is \(bytes) bytes, over the model memory budget of \(limit) bytes (--max-model-bytes)"
        case .authenticationFailed(let chunk):
            "authentication failed at chunk \(chunk): the file was changed or cut, or it was sealed with another key"
        case .io(let reason): reason
        }
    }
}

/// Seals a model chunk by chunk: make one per file, take `header`, then seal each chunk in order. Sans-I/O.
public struct ModelSealer {
    public let header: SealedModelHeader
    private let key: ModelKey
    private let headerBytes: [UInt8]
    /// The next chunk's index.
    public private(set) var nextChunk = 0

    /// A sealer for `plaintextBytes` bytes under `key`. `nonce` is for tests and known answers only; by default it
    /// is 12 fresh random bytes, and a nonce must never be used twice with one key.
    public init(key: ModelKey, plaintextBytes: Int, chunkBytes: Int = SealedModelHeader.defaultChunkBytes,
                nonce: [UInt8]? = nil) throws(SealedModelError) {
        header = try SealedModelHeader(
            chunkBytes: chunkBytes, keyID: key.id, nonce: nonce ?? Crypto.randomBytes(count: AESGCM.nonceBytes),
            plaintextBytes: plaintextBytes)
        headerBytes = header.encoded
        self.key = key
    }

    /// Seals the next chunk: `plaintext` must hold exactly `header.plaintextBytes(ofChunk:)` bytes. Returns the
    /// ciphertext followed by the tag.
    public mutating func sealNextChunk(_ plaintext: UnsafeRawBufferPointer) throws(SealedModelError) -> [UInt8] {
        let index = nextChunk
        guard index < header.chunkCount, plaintext.count == header.plaintextBytes(ofChunk: index) else {
            throw .io("chunk \(index) has \(plaintext.count) bytes; the header expects "
                + (index < header.chunkCount ? "\(header.plaintextBytes(ofChunk: index))" : "no more chunks"))
        }
        var sealed = [UInt8](repeating: 0, count: plaintext.count + AESGCM.tagBytes)
        let (nonce, aad) = (header.nonce(ofChunk: index), header.associatedData(ofChunk: index))
        let tag = key.withSecret { secret in
            sealed.withUnsafeMutableBytes { out in
                Result { () throws(CryptoFailure) in
                    try AESGCM.seal(key: secret, nonce: nonce, aad: aad, plaintext: plaintext,
                                    into: UnsafeMutableRawBufferPointer(rebasing: out[..<plaintext.count]))
                }
            }
        }
        do throws(CryptoFailure) {
            sealed.replaceSubrange(plaintext.count..., with: try tag.get())
        } catch {
            throw .io("cannot seal chunk \(index): \(error)")
        }
        nextChunk += 1
        return sealed
    }
}

/// Opens the chunks of one sealed file. Sans-I/O: the caller reads chunk `i` (its plaintext size plus 16 bytes)
/// and passes it with the place its plaintext goes.
public struct ModelUnsealer {
    public let header: SealedModelHeader
    private let key: ModelKey

    /// Parses the header and finds its key in `keys` (`noKey` otherwise).
    public init(header bytes: some Collection<UInt8>, keys: ModelKeyRing) throws(SealedModelError) {
        header = try SealedModelHeader(parsing: bytes)
        guard let key = keys.key(id: header.keyID) else {
            throw .noKey(id: Crypto.hex(header.keyID), held: keys.idsHex)
        }
        self.key = key
    }

    /// Authenticates and decrypts chunk `index` from `sealed` (ciphertext and tag) into `output` (the chunk's
    /// plaintext size). On failure `output` is zeroed and `authenticationFailed(chunk:)` thrown.
    public func openChunk(_ index: Int, sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
        throws(SealedModelError)
    {
        let size = header.plaintextBytes(ofChunk: index)
        guard index >= 0, index < header.chunkCount, sealed.count == size + AESGCM.tagBytes, output.count == size else {
            throw .io("chunk \(index): \(sealed.count) sealed bytes for \(output.count) plaintext bytes")
        }
        let (nonce, aad) = (header.nonce(ofChunk: index), header.associatedData(ofChunk: index))
        let authentic = key.withSecret { secret in
            Result { () throws(CryptoFailure) in
                try AESGCM.open(key: secret, nonce: nonce, aad: aad,
                                ciphertext: UnsafeRawBufferPointer(rebasing: sealed[..<size]),
                                tag: UnsafeRawBufferPointer(rebasing: sealed[size...]), into: output)
            }
        }
        let verdict: Bool
        do throws(CryptoFailure) {
            verdict = try authentic.get()
        } catch {
            throw .io("cannot open chunk \(index): \(error)")
        }
        guard verdict else { throw .authenticationFailed(chunk: index) }
    }
}

/// Whole sealed models in memory (tests, small models, the Python interop check's counterpart).
public enum SealedModel {
    /// `plaintext` sealed under `key`.
    public static func seal(_ plaintext: [UInt8], key: ModelKey, chunkBytes: Int = SealedModelHeader.defaultChunkBytes,
                            nonce: [UInt8]? = nil) throws(SealedModelError) -> [UInt8] {
        var sealer = try ModelSealer(key: key, plaintextBytes: plaintext.count, chunkBytes: chunkBytes, nonce: nonce)
        var out = sealer.header.encoded
        for index in 0..<sealer.header.chunkCount {
            let start = index * chunkBytes
            let end = start + sealer.header.plaintextBytes(ofChunk: index)
            let sealed = plaintext.withUnsafeBytes { all in
                Result { () throws(SealedModelError) in
                    try sealer.sealNextChunk(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                }
            }
            out += try sealed.get()
        }
        return out
    }

    /// The plaintext of a whole sealed file in memory, checked chunk by chunk.
    public static func unseal(_ sealed: [UInt8], keys: ModelKeyRing, maxPlaintextBytes: Int = Int.max)
        throws(SealedModelError) -> [UInt8]
    {
        let unsealer = try ModelUnsealer(header: sealed.prefix(SealedModelHeader.encodedBytes), keys: keys)
        let header = unsealer.header
        try checkSize(header, fileBytes: sealed.count, maxPlaintextBytes: maxPlaintextBytes)
        var plaintext = [UInt8](repeating: 0, count: header.plaintextBytes)
        let opened = sealed.withUnsafeBytes { file in
            plaintext.withUnsafeMutableBytes { out in
                Result { () throws(SealedModelError) in
                    var offset = SealedModelHeader.encodedBytes
                    for index in 0..<header.chunkCount {
                        let size = header.plaintextBytes(ofChunk: index)
                        let start = index * header.chunkBytes
                        do throws(SealedModelError) {
                            try unsealer.openChunk(
                                index, sealed: UnsafeRawBufferPointer(rebasing: file[offset..<offset + size + AESGCM.tagBytes]),
                                into: UnsafeMutableRawBufferPointer(rebasing: out[start..<start + size]))
                        } catch {
                            Crypto.cleanse(out)
                            throw error
                        }
                        offset += size + AESGCM.tagBytes
                    }
                }
            }
        }
        try opened.get()
        return plaintext
    }

    /// Checks a file's size against its header, and the model's size against the budget, before any allocation.
    static func checkSize(_ header: SealedModelHeader, fileBytes: Int, maxPlaintextBytes: Int) throws(SealedModelError) {
        guard header.plaintextBytes <= maxPlaintextBytes else {
            throw .tooLarge(bytes: header.plaintextBytes, limit: maxPlaintextBytes)
        }
        guard let expected = header.sealedFileBytes else { throw .malformedHeader("the sizes overflow") }
        if fileBytes < expected {
            // The first chunk that is incomplete names where the cut is.
            let body = fileBytes - SealedModelHeader.encodedBytes
            let stride = header.chunkBytes + AESGCM.tagBytes
            throw .truncated("the file is \(fileBytes) bytes but its header describes \(expected); it ends inside chunk "
                + "\(Swift.max(0, body) / stride) of \(header.chunkCount)")
        }
        if fileBytes > expected { throw .trailingBytes(expected: expected, actual: fileBytes) }
    }
}
