// Sources/JSONWire/JSONReader.swift: a strict RFC 8259 pull parser over bytes (structure, strings, skipping).

/// A pull parser over one JSON document held in memory: it owns the read position and the nesting depth, and hands
/// out one value at a time (`readObject`, `readArray`, `readString`, `readDouble`…), so a caller decodes straight
/// into its own types without an intermediate tree. Not thread-safe; a value type, used by one caller at a time.
///
/// Strict RFC 8259: no trailing commas, no leading zeros, no `NaN`/`Infinity` literals, no comments, no single
/// quotes; strings must be valid UTF-8, escapes (surrogate pairs included) must be well formed and control
/// characters must be escaped. Objects and arrays may nest at most `maxDepth` deep. The reader never allocates in
/// proportion to a count it reads: arrays grow as their elements are parsed, so memory is bounded by the input.
/// Duplicate member names are legal JSON; callers that must refuse them (proto3 JSON) track the names they saw.
///
/// Every error is a `JSONError` with the offset, line and column of the offending byte.
public struct JSONReader {
    let bytes: [UInt8]
    var index: Int
    /// The deepest nesting of objects and arrays accepted.
    public let maxDepth: Int
    var depth = 0
    /// Byte offset of the name of the object member being read (its opening quote), for errors about the member.
    public private(set) var memberNameOffset = 0

    /// A reader at the start of `bytes`.
    public init(_ bytes: [UInt8], maxDepth: Int = 64) {
        self.init(bytes, at: 0, maxDepth: maxDepth)
    }

    /// A reader at byte `offset` of `bytes` (a value the caller skipped earlier and now reads for real).
    public init(_ bytes: [UInt8], at offset: Int, maxDepth: Int = 64) {
        self.bytes = bytes
        self.index = min(max(offset, 0), bytes.count)
        self.maxDepth = maxDepth
    }

    /// Checks that `bytes` are exactly one JSON value, surrounded by whitespace at most.
    public static func validate(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) {
        var reader = JSONReader(bytes, maxDepth: maxDepth)
        try reader.skipValue()
        try reader.finish()
    }

    /// The byte offset of the next unread byte.
    public var offset: Int { index }

    /// An error at `offset` (the current position by default), with its line and column.
    public func error(_ reason: String, at offset: Int? = nil) -> JSONError {
        JSONError(reason, at: offset ?? index, in: bytes)
    }

    // MARK: Whitespace and structure

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            index += 1
        }
    }

    /// The next byte after whitespace, or an error naming what was expected at the end of the input.
    @inline(__always)
    mutating func nextByte(expecting what: @autoclosure () -> String) throws(JSONError) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input (expected \(what()))") }
        return bytes[index]
    }

    /// The kind of the next value, from its first byte (whitespace is skipped). A byte that starts no value is an
    /// error, as is the end of the input.
    public mutating func peekKind() throws(JSONError) -> JSONKind {
        let byte = try nextByte(expecting: "a value")
        switch byte {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw unexpectedCharacter(byte, expecting: "a value")
        }
    }

    func unexpectedCharacter(_ byte: UInt8, expecting what: String) -> JSONError {
        let shown = byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        return error("unexpected character \(shown) (expected \(what))")
    }

    /// Enters an object or array at the current byte (`[` or `{`), counting one level of nesting.
    mutating func enterContainer() throws(JSONError) {
        guard depth < maxDepth else { throw error("nested deeper than \(maxDepth) levels") }
        depth += 1
        index += 1
    }

    /// Reads an object: `body` is called once per member with the member's name and must read its value (or call
    /// `skipValue()`); a body that reads nothing has the value skipped for it. Member order is the document's.
    public mutating func readObject(_ body: (inout JSONReader, String) throws(JSONError) -> Void) throws(JSONError) {
        let byte = try nextByte(expecting: "an object")
        guard byte == UInt8(ascii: "{") else { throw unexpectedCharacter(byte, expecting: "an object") }
        try enterContainer()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return
        }
        while true {
            let key = try readKey()
            skipWhitespace()
            let valueStart = index
            try body(&self, key)
            if index == valueStart { try skipValue() }
            guard try separator(closing: UInt8(ascii: "}"), in: "an object") else { break }
        }
        depth -= 1
    }

    /// Reads an array: `body` is called once per element and must read it (or call `skipValue()`); a body that
    /// reads nothing has the element skipped for it.
    public mutating func readArray(_ body: (inout JSONReader) throws(JSONError) -> Void) throws(JSONError) {
        try beginArray()
        if try endOfArray() { return }
        while true {
            skipWhitespace()
            let valueStart = index
            try body(&self)
            if index == valueStart { try skipValue() }
            guard try separator(closing: UInt8(ascii: "]"), in: "a list") else { break }
        }
        depth -= 1
    }

    mutating func beginArray() throws(JSONError) {
        let byte = try nextByte(expecting: "a list")
        guard byte == UInt8(ascii: "[") else { throw unexpectedCharacter(byte, expecting: "a list") }
        try enterContainer()
    }

    /// After `[`: true (and the array left) when it is empty.
    mutating func endOfArray() throws(JSONError) -> Bool {
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return true
        }
        return false
    }

    /// After a member or element: true at a `,` (another one follows; a trailing comma is an error), false at the
    /// closing bracket (consumed).
    mutating func separator(closing: UInt8, in what: String) throws(JSONError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input inside \(what)") }
        switch bytes[index] {
        case UInt8(ascii: ","):
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == closing {
                throw error("trailing comma before '\(Character(Unicode.Scalar(closing)))' (JSON allows none)")
            }
            return true
        case closing:
            index += 1
            return false
        default:
            throw error("expected ',' or '\(Character(Unicode.Scalar(closing)))' in \(what)")
        }
    }

    /// A member name and its colon.
    mutating func readKey() throws(JSONError) -> String {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input inside an object") }
        guard bytes[index] == UInt8(ascii: "\"") else { throw error("expected a \"key\"") }
        memberNameOffset = index
        let key = try readString()
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after the key") }
        index += 1
        return key
    }

    /// Checks that only whitespace is left.
    public mutating func finish() throws(JSONError) {
        skipWhitespace()
        if index < bytes.count { throw error("unexpected text after the JSON value") }
    }

    // MARK: Literals

    mutating func literal(_ text: StaticString) throws(JSONError) {
        let start = index
        var matched = true
        text.withUTF8Buffer { expected in
            for (offset, byte) in expected.enumerated() where start + offset >= bytes.count || bytes[start + offset] != byte {
                matched = false
                break
            }
        }
        guard matched else { throw error("expected \(text)") }
        index += text.utf8CodeUnitCount
    }

    /// Reads `true` or `false`.
    public mutating func readBool() throws(JSONError) -> Bool {
        let byte = try nextByte(expecting: "true or false")
        switch byte {
        case UInt8(ascii: "t"):
            try literal("true")
            return true
        case UInt8(ascii: "f"):
            try literal("false")
            return false
        default:
            throw unexpectedCharacter(byte, expecting: "true or false")
        }
    }

    /// Reads a `null` if one comes next and returns true; otherwise reads nothing and returns false.
    public mutating func readNullIfPresent() throws(JSONError) -> Bool {
        let byte = try nextByte(expecting: "a value")
        guard byte == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    // MARK: Skipping

    /// Skips one value of any kind, checking its syntax (and its depth) as thoroughly as reading it would.
    /// Iterative, so a deep document costs no stack.
    public mutating func skipValue() throws(JSONError) {
        // Open containers below the value being skipped: true for an object, false for an array.
        var open: [Bool] = []
        while true {
            let byte = try nextByte(expecting: "a value")
            switch byte {
            case UInt8(ascii: "{"):
                try enterContainer()
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    depth -= 1
                } else {
                    open.append(true)
                    _ = try readKey()
                    continue
                }
            case UInt8(ascii: "["):
                try enterContainer()
                if try !endOfArray() {
                    open.append(false)
                    continue
                }
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "t"):
                try literal("true")
            case UInt8(ascii: "f"):
                try literal("false")
            case UInt8(ascii: "n"):
                try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                _ = try scanNumber()
            default:
                throw unexpectedCharacter(byte, expecting: "a value")
            }
            // A value ended: close every container it completes, then go on to the next member or element.
            while let isObject = open.last {
                let closing = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if try separator(closing: closing, in: isObject ? "an object" : "a list") {
                    if isObject { _ = try readKey() }
                    break
                }
                open.removeLast()
                depth -= 1
            }
            if open.isEmpty { return }
        }
    }
}
