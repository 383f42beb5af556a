#if canImport(Glibc)
internal import Glibc
#endif

/// Sealed model files on disk: the server's streaming unseal into memory, and the CLI's seal and unseal between
/// files. Blocking file I/O on the calling thread.
public enum SealedModelFile {
    /// A model read from a sealed file: the plaintext (the caller zeroes it with `Crypto.cleanse` once it is no
    /// longer needed), its SHA-256, computed as the chunks were opened, and the header.
    public struct Unsealed {
        public var plaintext: [UInt8]
        public let sha256: [UInt8]
        public let header: SealedModelHeader
    }

    /// Reads and opens `path` chunk by chunk into one buffer of the model's exact size, allocated once, after the
    /// header's sizes were checked against the file's size and `maxPlaintextBytes`; one chunk of ciphertext is
    /// buffered at a time. Only reads: nothing is written to any file. On a failure the partly filled plaintext is
    /// zeroed before it is freed.
    public static func unseal(path: String, keys: ModelKeyRing, maxPlaintextBytes: Int) throws(SealedModelError)
        -> Unsealed
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("cannot open: \(errnoText())") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .io("cannot read: \(errnoText())") }
        let fileBytes = Int(status.st_size)
        var headerBytes = [UInt8](repeating: 0, count: SealedModelHeader.encodedBytes)
        let got = try readFully(fd, into: &headerBytes, at: 0)
        let unsealer = try ModelUnsealer(header: headerBytes[..<got], keys: keys)
        let header = unsealer.header
        try SealedModel.checkSize(header, fileBytes: fileBytes, maxPlaintextBytes: maxPlaintextBytes)
        var sealed = [UInt8](repeating: 0, count: Swift.min(header.chunkBytes, header.plaintextBytes) + AESGCM.tagBytes)
        let hasher = SHA256Hasher()
        var failure: SealedModelError?
        let plaintext = [UInt8](unsafeUninitializedCapacity: header.plaintextBytes) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            var offset = SealedModelHeader.encodedBytes
            do throws(SealedModelError) {
                for index in 0..<header.chunkCount {
                    let size = header.plaintextBytes(ofChunk: index)
                    let sealedSize = size + AESGCM.tagBytes
                    let count = try readFully(fd, into: &sealed, count: sealedSize, at: offset)
                    guard count == sealedSize else {
                        throw .truncated("the file ended inside chunk \(index) while it was read (it changed)")
                    }
                    let start = index * header.chunkBytes
                    let target = UnsafeMutableRawBufferPointer(rebasing: out[start..<start + size])
                    try sealed.withUnsafeBytes { all in
                        Result { () throws(SealedModelError) in
                            try unsealer.openChunk(index, sealed: UnsafeRawBufferPointer(rebasing: all[..<sealedSize]),
                                                   into: target)
                        }
                    }.get()
                    hasher.update(UnsafeRawBufferPointer(target))
                    offset += sealedSize
                }
                initialized = header.plaintextBytes
            } catch {
                Crypto.cleanse(out)
                initialized = 0
                failure = error
            }
        }
        if let failure { throw failure }
        return Unsealed(plaintext: plaintext, sha256: hasher.finish(), header: header)
    }

    /// Seals the file `input` into `output` (created or replaced, mode 0644: a sealed file is not secret) under
    /// `key`, one chunk in memory at a time. Returns the header written and the model's SHA-256 (what config.json
    /// may pin).
    @discardableResult
    public static func seal(
        input: String, output: String, key: ModelKey, chunkBytes: Int = SealedModelHeader.defaultChunkBytes
    ) throws(SealedModelError) -> (header: SealedModelHeader, sha256: [UInt8]) {
        let source = open(input, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw .io("\(input): cannot open: \(errnoText())") }
        defer { close(source) }
        var status = stat()
        guard fstat(source, &status) == 0 else { throw .io("\(input): cannot read: \(errnoText())") }
        var sealer = try ModelSealer(key: key, plaintextBytes: Int(status.st_size), chunkBytes: chunkBytes)
        let header = sealer.header
        let target = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard target >= 0 else { throw .io("\(output): cannot create: \(errnoText())") }
        let hasher = SHA256Hasher()
        do throws(SealedModelError) {
            try writeFully(target, header.encoded, path: output)
            var plaintext = [UInt8](repeating: 0, count: Swift.min(chunkBytes, header.plaintextBytes))
            defer { Crypto.cleanse(&plaintext) }
            var offset = 0
            for index in 0..<header.chunkCount {
                let size = header.plaintextBytes(ofChunk: index)
                guard try readFully(source, into: &plaintext, count: size, at: offset) == size else {
                    throw .io("\(input): the file shrank while it was sealed")
                }
                let sealed = try plaintext.withUnsafeBytes { all in
                    hasher.update(UnsafeRawBufferPointer(rebasing: all[..<size]))
                    return Result { () throws(SealedModelError) in
                        try sealer.sealNextChunk(UnsafeRawBufferPointer(rebasing: all[..<size]))
                    }
                }.get()
                try writeFully(target, sealed, path: output)
                offset += size
            }
            guard fsync(target) == 0 else { throw .io("\(output): cannot write: \(errnoText())") }
            close(target)
        } catch {
            close(target)
            unlink(output)
            throw error
        }
        return (header, hasher.finish())
    }

    /// Unseals `input` into `output` (created or replaced with mode 0600: it is the plaintext model). Returns the
    /// model's SHA-256.
    @discardableResult
    public static func unseal(input: String, output: String, keys: ModelKeyRing) throws(SealedModelError) -> [UInt8] {
        var unsealed = try unseal(path: input, keys: keys, maxPlaintextBytes: Int.max)
        defer { Crypto.cleanse(&unsealed.plaintext) }
        let target = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard target >= 0 else { throw .io("\(output): cannot create: \(errnoText())") }
        defer { close(target) }
        try writeFully(target, unsealed.plaintext, path: output)
        guard fsync(target) == 0 else { throw .io("\(output): cannot write: \(errnoText())") }
        return unsealed.sha256
    }

    /// Reads up to `count` bytes (default: the buffer's size) at `offset` into the front of `buffer`, retrying short
    /// reads; returns how many were read (fewer only at the end of the file).
    static func readFully(_ fd: Int32, into buffer: inout [UInt8], count: Int? = nil, at offset: Int)
        throws(SealedModelError) -> Int
    {
        let wanted = count ?? buffer.count
        var done = 0
        while done < wanted {
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress.map { $0 + done }, wanted - done, off_t(offset + done)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read: \(errnoText())")
            }
            if got == 0 { break }
            done += got
        }
        return done
    }

    static func writeFully(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SealedModelError) {
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + done }, bytes.count - done) }
            if wrote < 0 {
                if errno == EINTR { continue }
                throw .io("\(path): cannot write: \(errnoText())")
            }
            done += wrote
        }
    }
}
