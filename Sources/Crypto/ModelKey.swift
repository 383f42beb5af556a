#if canImport(Glibc)
internal import Glibc
#endif

/// A key that seals and unseals model files (docs/sealed-models.md): 32 secret bytes and the 8-byte id derived from
/// them, which sealed files carry so that a server holding several keys picks the right one. The secret lives in
/// memory of its own, zeroed when the last copy of the key goes; `description` and reflection show only the id, so
/// a key printed by mistake leaks nothing. Immutable; any thread.
public struct ModelKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret bytes, owned by one object that zeroes them on deinit.
    let storage: KeyStorage
    /// `keyIDBytes` bytes: the first bytes of SHA-256 over `keyIDDomain` followed by the key.
    public let id: [UInt8]

    public static let keyBytes = 32
    public static let keyIDBytes = 8
    /// The domain-separation prefix of the key id (ASCII, no terminator).
    public static let keyIDDomain = Array("tensorwire/sealed-model/key-id/v1".utf8)

    /// A key from exactly 32 bytes. The bytes are copied; the caller should cleanse its own copy.
    public init(bytes: [UInt8]) throws(ModelKeyError) {
        guard bytes.count == Self.keyBytes else {
            throw ModelKeyError("a model key is exactly \(Self.keyBytes) raw bytes, not \(bytes.count)")
        }
        storage = KeyStorage(bytes)
        id = storage.withBytes { Self.derivedID($0) }
    }

    /// A fresh key from OpenSSL's CSPRNG.
    public static func generate() -> ModelKey {
        var bytes = Crypto.randomBytes(count: keyBytes)
        defer { Crypto.cleanse(&bytes) }
        // 32 bytes is always a valid key; the fallback is unreachable and only keeps `try!` out.
        return (try? ModelKey(bytes: bytes)) ?? ModelKey(storage: KeyStorage(bytes))
    }

    private init(storage: KeyStorage) {
        self.storage = storage
        id = storage.withBytes { Self.derivedID($0) }
    }

    /// The key id of `key`: SHA-256(`keyIDDomain` ‖ key), first 8 bytes.
    static func derivedID(_ key: UnsafeRawBufferPointer) -> [UInt8] {
        var input = keyIDDomain + Array(key)
        defer { Crypto.cleanse(&input) }
        return Array(Crypto.sha256(input).prefix(keyIDBytes))
    }

    /// The id as 16 lower-case hex digits, as errors and logs show it.
    public var idHex: String { Crypto.hex(id) }

    public var description: String { "ModelKey(id: \(idHex))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["id": idHex]) }

    public static func == (a: ModelKey, b: ModelKey) -> Bool {
        a.storage.withBytes { x in b.storage.withBytes { y in Crypto.constantTimeEquals(x, y) } }
    }

    /// Runs `body` with the secret bytes (for the cipher, and for writing a key file).
    func withSecret<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withBytes(body)
    }

    /// Writes the key to a new file at `path`, created with mode 0600 (owner read and write only) and refused when
    /// something exists there already, so an old key is never overwritten by mistake.
    public func write(toNewFile path: String) throws(ModelKeyError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ModelKeyError(path: path, "cannot create the key file: \(errnoText())") }
        var written = 0
        var failure: String?
        storage.withBytes { bytes in
            while written < bytes.count {
                let count = Glibc.write(fd, bytes.baseAddress.map { $0 + written }, bytes.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errnoText()
                    return
                }
                written += count
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = errnoText() }
        close(fd)
        if let failure {
            unlink(path)
            throw ModelKeyError(path: path, "cannot write the key file: \(failure)")
        }
    }
}

/// The 32 secret bytes of a `ModelKey`, zeroed and freed on deinit.
final class KeyStorage: @unchecked Sendable {
    // @unchecked: the bytes are written once in init and only read afterwards (from any thread) until deinit, which
    // runs when no thread holds a reference.
    private let bytes: UnsafeMutableRawBufferPointer

    init(_ source: [UInt8]) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: source.count, alignment: 16)
        source.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(bytes))
    }

    deinit {
        Crypto.cleanse(bytes)
        bytes.deallocate()
    }
}

/// The keys a server unseals models with (`--model-keys`, `--model-keys-env`), by id. Holding several is how keys
/// rotate: add the new key, re-seal the models, remove the old key. Immutable; any thread.
public struct ModelKeyRing: Sendable, CustomStringConvertible {
    public let keys: [ModelKey]
    /// Key files `load` read that group or others may read too (mode & 0o077), for a warning: a key file should be
    /// its owner's alone (0600 or 0400, as `tensorwire seal --new-key` writes it).
    public private(set) var exposedFiles: [String] = []

    /// No keys: every sealed model fails with "no key with id …".
    public static let empty = ModelKeyRing(uniqueKeys: [])

    /// A ring of `keys`; the same key twice is an error (two files holding one key are a mistake worth naming).
    public init(keys: [ModelKey]) throws(ModelKeyError) {
        var seen: [[UInt8]] = []
        for key in keys {
            guard !seen.contains(key.id) else { throw ModelKeyError("the key with id \(key.idHex) is given twice") }
            seen.append(key.id)
        }
        self.keys = keys
    }

    private init(uniqueKeys: [ModelKey]) { keys = uniqueKeys }

    /// The key with `id`, if the ring holds it.
    public func key(id: [UInt8]) -> ModelKey? { keys.first { $0.id == id } }

    /// The ids held, as hex, for messages.
    public var idsHex: [String] { keys.map(\.idHex) }

    public var description: String { "ModelKeyRing(ids: \(idsHex.joined(separator: ", ")))" }

    /// This ring and `other` together.
    public func merging(_ other: ModelKeyRing) throws(ModelKeyError) -> ModelKeyRing {
        var merged = try ModelKeyRing(keys: keys + other.keys)
        merged.exposedFiles = exposedFiles + other.exposedFiles
        return merged
    }

    /// Reads `path`: one key file (exactly 32 raw bytes), or a folder whose every visible regular file is one (names
    /// starting with "." are skipped). Errors name the file and the reason, never a key byte.
    public static func load(path: String) throws(ModelKeyError) -> ModelKeyRing {
        var status = stat()
        guard stat(path, &status) == 0 else { throw ModelKeyError(path: path, "cannot read: \(errnoText())") }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            var ring = try ModelKeyRing(keys: [readKeyFile(path)])
            if status.st_mode & 0o077 != 0 { ring.exposedFiles = [path] }
            return ring
        }
        guard let directory = opendir(path) else { throw ModelKeyError(path: path, "cannot list the folder: \(errnoText())") }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        closedir(directory)
        var keys: [ModelKey] = []
        var exposed: [String] = []
        for name in names.sorted() {
            let file = path.hasSuffix("/") ? path + name : path + "/" + name
            var fileStatus = stat()
            guard stat(file, &fileStatus) == 0, fileStatus.st_mode & S_IFMT == S_IFREG else { continue }
            keys.append(try readKeyFile(file))
            if fileStatus.st_mode & 0o077 != 0 { exposed.append(file) }
        }
        guard !keys.isEmpty else { throw ModelKeyError(path: path, "the folder holds no key files") }
        var ring = try ModelKeyRing(keys: keys)
        ring.exposedFiles = exposed
        return ring
    }

    /// Keys given as text (the value of `--model-keys-env`'s variable): 64 hex digits each, separated by commas or
    /// white space. `source` names where the text came from in errors; the text itself never appears in them.
    public static func parse(hexKeys text: String, source: String) throws(ModelKeyError) -> ModelKeyRing {
        let items = text.split { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard !items.isEmpty else { throw ModelKeyError(path: source, "holds no keys (64 hex digits each)") }
        var keys: [ModelKey] = []
        for (index, item) in items.enumerated() {
            guard item.utf8.count == 2 * ModelKey.keyBytes, var bytes = Crypto.bytes(hex: item) else {
                throw ModelKeyError(path: source, "key \(index + 1) is not 64 hex digits (a 32-byte key)")
            }
            defer { Crypto.cleanse(&bytes) }
            keys.append(try ModelKey(bytes: bytes))
        }
        return try ModelKeyRing(keys: keys)
    }

    /// One key file: exactly 32 bytes, no encoding, no newline.
    static func readKeyFile(_ path: String) throws(ModelKeyError) -> ModelKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelKeyError(path: path, "cannot open the key file: \(errnoText())") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw ModelKeyError(path: path, "cannot read the key file: \(errnoText())") }
        guard status.st_size == off_t(ModelKey.keyBytes) else {
            throw ModelKeyError(path: path, "is \(status.st_size) bytes; a key file holds exactly \(ModelKey.keyBytes) raw "
                + "bytes, no encoding or newline (tensorwire seal --new-key FILE writes one)")
        }
        var bytes = [UInt8](repeating: 0, count: ModelKey.keyBytes)
        defer { Crypto.cleanse(&bytes) }
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count == ModelKey.keyBytes else { throw ModelKeyError(path: path, "cannot read the key file: \(errnoText())") }
        return try ModelKey(bytes: bytes)
    }
}

/// Why a key or a key file was refused: the file or variable (if any) and the reason. Never carries key bytes.
public struct ModelKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String?
    public let reason: String

    public init(path: String? = nil, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.map { "\($0): \(reason)" } ?? reason }
}

/// The text of `errno`.
func errnoText() -> String { String(cString: strerror(errno)) }
