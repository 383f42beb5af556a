// Sources/RPCCore/Metadata.swift: custom metadata (W-20, W-21).

internal import Base64Codec
public import HTTPTypes

/// Custom metadata of one RPC direction: an ordered multi-map from lowercase keys to ASCII text or, for keys ending
/// in `-bin`, bytes. It owns its entries; it is a plain value, safe to pass between threads.
///
/// Invariants kept by every mutation: keys are lowercase `[0-9a-z_.-]` and not reserved (no pseudo-header, no
/// `grpc-*`, no header that gRPC or HTTP/2 owns), text values are printable ASCII, and binary values sit under `-bin`
/// keys. Reading from the wire (`init(headerFields:)`) skips reserved and invalid names instead of failing, so what a
/// handler sees is exactly the user's metadata.
public struct Metadata: Sendable, Hashable, Sequence, CustomStringConvertible {
    /// A metadata value: text for ordinary keys, bytes for `-bin` keys.
    public enum Value: Sendable, Hashable, CustomStringConvertible {
        case string(String)
        case binary([UInt8])

        public var description: String {
            switch self {
            case .string(let text): "\"\(text)\""
            case .binary(let bytes): "bin(\(Base64.encode(bytes)))"
            }
        }
    }

    /// One key and one of its values.
    public struct Entry: Sendable, Hashable {
        public let key: String
        public let value: Value
        /// `HeaderField.isIndexable`: false for a value that changes on every call.
        public var isIndexable = true
    }

    private var entries: [Entry] = []

    public init() {}

    /// Room for `count` entries, so that adding a known number of them grows the storage once.
    public mutating func reserveCapacity(_ count: Int) { entries.reserveCapacity(count) }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    /// Adds a text value. The key is lowercased first. `isIndexable: false` marks a value that changes on every
    /// call (a timing), which HTTP/2 then keeps out of the HPACK table (`HeaderField.isIndexable`).
    public mutating func addString(
        _ value: String, forKey key: String, isIndexable: Bool = true
    ) throws(MetadataError) {
        let key = Self.lowercased(key)
        try Self.validate(key: key)
        guard !Self.isBinaryKey(key) else { throw .binaryKeyNeedsBytes(key) }
        guard Self.isPrintableASCII(value) else { throw .invalidValue(key: key) }
        entries.append(Entry(key: key, value: .string(value), isIndexable: isIndexable))
    }

    /// Appends the entries as header fields to `fields` (`headerFields` without an array of its own).
    public func appendHeaderFields(to fields: inout [HeaderField]) {
        for entry in entries {
            switch entry.value {
            case .string(let text): fields.append(HeaderField(entry.key, text, isIndexable: entry.isIndexable))
            case .binary(let bytes):
                fields.append(HeaderField(entry.key, Base64.encode(bytes), isIndexable: entry.isIndexable))
            }
        }
    }

    /// Adds a binary value under a key ending in `-bin`. The key is lowercased first.
    public mutating func addBinary(_ value: [UInt8], forKey key: String) throws(MetadataError) {
        let key = Self.lowercased(key)
        try Self.validate(key: key)
        guard Self.isBinaryKey(key) else { throw .bytesNeedBinaryKey(key) }
        entries.append(Entry(key: key, value: .binary(value)))
    }

    /// Whether any entry has `key` (already lowercase): no array and no lowercasing, for a check made on every call.
    public func contains(lowercaseKey key: String) -> Bool {
        entries.contains { $0.key == key }
    }

    /// All values for `key` in insertion order.
    public func values(forKey key: String) -> [Value] {
        let key = Self.lowercased(key)
        return entries.filter { $0.key == key }.map(\.value)
    }

    /// The text values for `key`.
    public func strings(forKey key: String) -> [String] {
        values(forKey: key).compactMap { if case .string(let text) = $0 { text } else { nil } }
    }

    /// The binary values for `key`.
    public func binaryValues(forKey key: String) -> [[UInt8]] {
        values(forKey: key).compactMap { if case .binary(let bytes) = $0 { bytes } else { nil } }
    }

    /// The first value for `key`.
    public func first(forKey key: String) -> Value? {
        let key = Self.lowercased(key)
        return entries.first { $0.key == key }?.value
    }

    /// Removes every value for `key`.
    public mutating func removeAll(forKey key: String) {
        let key = Self.lowercased(key)
        entries.removeAll { $0.key == key }
    }

    /// Appends every entry of `other`.
    public mutating func append(contentsOf other: Metadata) {
        entries.append(contentsOf: other.entries)
    }

    public var description: String {
        "[" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
    }
}

// MARK: - Keys

extension Metadata {
    /// True for keys that carry bytes (`-bin` suffix).
    public static func isBinaryKey(_ key: String) -> Bool {
        // The bytes, not `hasSuffix` (which compares by Unicode rules, ~150 instructions a key, callgrind).
        // And over the contiguous storage: `reversed().starts(with:)` still cost ~200 instructions a key.
        key.utf8.withContiguousStorageIfAvailable { bytes in
            let count = bytes.count
            return count >= 4 && bytes[count - 4] == UInt8(ascii: "-") && bytes[count - 3] == UInt8(ascii: "b")
                && bytes[count - 2] == UInt8(ascii: "i") && bytes[count - 1] == UInt8(ascii: "n")
        } ?? (key.utf8.count >= 4 && key.utf8.reversed().starts(with: "nib-".utf8))
    }

    /// True for names gRPC or HTTP/2 owns, which are never user metadata: pseudo-headers, `grpc-*` (W-20), and the
    /// headers the transport writes or HTTP/2 forbids (W-48, W-49).
    public static func isReserved(_ key: String) -> Bool {
        // Byte and length checks before any string compare: `hasPrefix` and a `switch` over ten names cost every
        // request header field several runtime calls (~1.5K instructions per RPC, callgrind).
        let utf8 = key.utf8
        guard let first = utf8.first else { return false }
        if first == UInt8(ascii: ":") { return true }
        if first == UInt8(ascii: "g"), utf8.starts(with: "grpc-".utf8) { return true }
        switch utf8.count {
        case 2: return key == "te"
        case 4: return key == "host"
        case 7: return key == "upgrade"
        case 10: return key == "user-agent" || key == "connection" || key == "keep-alive"
        case 12: return key == "content-type"
        case 14: return key == "content-length"
        case 16: return key == "proxy-connection"
        case 17: return key == "transfer-encoding"
        default: return false
        }
    }

    /// Checks that `key` is a non-empty, lowercase `[0-9a-z_.-]` name (W-20) and not reserved.
    public static func validate(key: String) throws(MetadataError) {
        guard isKeyBytes(key) else { throw .invalidKey(key) }
        guard !isReserved(key) else { throw .reservedKey(key) }
    }

    /// Non-empty and every byte a key byte: one loop over the contiguous UTF-8 of a native string (the `UTF8View`
    /// iterator cost ~250 instructions per request header field, callgrind).
    private static func isKeyBytes(_ key: String) -> Bool {
        if let result = key.utf8.withContiguousStorageIfAvailable({ bytes in
            !bytes.isEmpty && bytes.allSatisfy(isKeyByte)
        }) {
            return result
        }
        return !key.isEmpty && key.utf8.allSatisfy(isKeyByte)
    }

    /// `key` lowercased; the same string, with no copy, when it has no upper-case ASCII letter (the usual case:
    /// `lowercased()` always built a new string, ~400 instructions for each of a response's trailers, callgrind).
    static func lowercased(_ key: String) -> String {
        let hasUpper = key.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        } ?? true
        return hasUpper ? key.lowercased() : key
    }

    /// Every byte printable ASCII (0x20...0x7E), checked over the contiguous UTF-8 where there is one.
    static func isPrintableASCII(_ value: String) -> Bool {
        let printable: (UInt8) -> Bool = { $0 >= 0x20 && $0 <= 0x7E }
        return value.utf8.withContiguousStorageIfAvailable { $0.allSatisfy(printable) }
            ?? value.utf8.allSatisfy(printable)
    }

    private static func isKeyByte(_ byte: UInt8) -> Bool { HeaderField.isLowercaseKeyByte(byte) }
}

// MARK: - Wire form

extension Metadata {
    /// The user metadata in a received header list (request headers, response headers or trailers).
    ///
    /// Reserved names and names outside `[0-9a-z_.-]` are skipped. A `-bin` value is split on `,` first, because a
    /// peer or proxy may join repeated values into one field, and each piece is base64-decoded, padded or not (W-21);
    /// an undecodable piece throws `malformedBinaryValue`, which a server answers with HTTP 400 and INTERNAL.
    /// Text values are kept as received, including bytes outside printable ASCII that HTTP allows (W-20).
    /// `credentialsApart`: `authorization` is left out too (a server's request head carries it on its own).
    public init(headerFields: some Sequence<HeaderField>, credentialsApart: Bool = false) throws(MetadataError) {
        for field in headerFields {
            let key = field.name
            // The reserved check first: it turns pseudo-headers away at their first byte and the usual request
            // headers (content-type, te, user-agent) by length and one compare, before any byte scan.
            if Self.isReserved(key) { continue }
            if credentialsApart, key.utf8.count == 13, key == "authorization" { continue }
            if !Self.isKeyBytes(key) { continue }
            if Self.isBinaryKey(key) {
                for piece in field.value.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let bytes = Base64.decode(Self.trimmingWhitespace(piece)) else {
                        throw .malformedBinaryValue(key: key)
                    }
                    entries.append(Entry(key: key, value: .binary(bytes)))
                }
            } else {
                entries.append(Entry(key: key, value: .string(field.value)))
            }
        }
    }

    /// The entries as header fields, `-bin` values base64-encoded without padding (W-21).
    public var headerFields: [HeaderField] {
        var fields: [HeaderField] = []
        fields.reserveCapacity(entries.count)
        appendHeaderFields(to: &fields)
        return fields
    }

    /// Removes optional whitespace (space, tab) around a comma-separated piece, as HTTP list syntax allows.
    static func trimmingWhitespace(_ text: Substring) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = text.firstIndex(where: { !isSpace($0) }),
            let last = text.lastIndex(where: { !isSpace($0) })
        else { return text[text.endIndex...] }
        return text[start...last]
    }
}

/// Why a metadata key or value was refused. Owns the offending key for the message.
public enum MetadataError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Empty, or a character outside lowercase `[0-9a-z_.-]`.
    case invalidKey(String)
    /// A pseudo-header, `grpc-*`, or a header the transport owns.
    case reservedKey(String)
    /// A text value with a byte outside printable ASCII (0x20–0x7E).
    case invalidValue(key: String)
    /// A text value under a `-bin` key.
    case binaryKeyNeedsBytes(String)
    /// A binary value under a key without the `-bin` suffix.
    case bytesNeedBinaryKey(String)
    /// A received `-bin` value that is not base64 (W-21).
    case malformedBinaryValue(key: String)

    public var description: String {
        switch self {
        case .invalidKey(let key): "invalid metadata key \"\(key)\": keys are lowercase [0-9a-z_.-]"
        case .reservedKey(let key): "metadata key \"\(key)\" is reserved"
        case .invalidValue(let key): "metadata value for \"\(key)\" must be printable ASCII"
        case .binaryKeyNeedsBytes(let key): "metadata key \"\(key)\" ends in -bin and takes a binary value"
        case .bytesNeedBinaryKey(let key): "binary metadata needs a key ending in -bin, got \"\(key)\""
        case .malformedBinaryValue(let key): "malformed binary metadata for key \"\(key)\""
        }
    }
}
