// Sources/JSONWire/JSONReader+Strings.swift: JSON strings (RFC 8259 §7): escapes, surrogate pairs, UTF-8.

extension JSONReader {
    /// Reads a string. Escapes are decoded (`\uD83D\uDE00` pairs into one scalar; a lone surrogate is an error),
    /// unescaped control characters are refused, and the bytes must be valid UTF-8.
    public mutating func readString() throws(JSONError) -> String {
        let byte = try nextByte(expecting: "a string")
        guard byte == UInt8(ascii: "\"") else { throw unexpectedCharacter(byte, expecting: "a string") }
        let start = index + 1
        var cursor = start
        // Plain ASCII without escapes (names, ids, most labels): one pass and one copy.
        while cursor < bytes.count {
            let byte = bytes[cursor]
            if byte == UInt8(ascii: "\"") {
                index = cursor + 1
                return String(decoding: bytes[start..<cursor], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { break }
            cursor += 1
        }
        var decoded = [UInt8](bytes[start..<cursor])
        index = cursor
        try readStringTail(into: &decoded)
        guard let string = String(validating: decoded, as: UTF8.self) else {
            throw error("a string is not valid UTF-8", at: start - 1)
        }
        return string
    }

    /// Reads a string and returns its UTF-8 bytes (escapes decoded, validated as `readString` does).
    public mutating func readStringBytes() throws(JSONError) -> [UInt8] {
        Array(try readString().utf8)
    }

    /// Skips a string (the reader is at its opening quote), checking it as `readString` would.
    mutating func skipString() throws(JSONError) {
        _ = try readString()
    }

    /// Decodes from `index` (inside a string) to the closing quote, appending to `decoded`.
    private mutating func readStringTail(into decoded: inout [UInt8]) throws(JSONError) {
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                try readEscape(into: &decoded)
            case 0..<0x20:
                throw error("control character in a string (escape it)")
            default:
                decoded.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    /// One escape sequence at `index` (its backslash).
    private mutating func readEscape(into decoded: inout [UInt8]) throws(JSONError) {
        let escapeStart = index
        index += 1
        guard index < bytes.count else { throw error("unterminated string") }
        let escaped = bytes[index]
        index += 1
        let simple: UInt8?
        switch escaped {
        case UInt8(ascii: "\""): simple = 0x22
        case UInt8(ascii: "\\"): simple = 0x5C
        case UInt8(ascii: "/"): simple = 0x2F
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"): simple = nil
        default: throw error("bad escape in a string", at: escapeStart)
        }
        if let simple {
            decoded.append(simple)
            return
        }
        var scalar = try hexQuad(escapeStart: escapeStart)
        if (0xD800...0xDBFF).contains(scalar) {
            // A high surrogate must be followed by an escaped low surrogate (RFC 8259 §7).
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw error("lone surrogate in a \\u escape", at: escapeStart) }
            index += 2
            let low = try hexQuad(escapeStart: escapeStart)
            guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate in a \\u escape", at: escapeStart) }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw error("lone surrogate in a \\u escape", at: escapeStart)
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw error("bad \\u escape in a string", at: escapeStart) }
        UTF8.encode(unicode) { decoded.append($0) }
    }

    /// Four hex digits at `index`.
    private mutating func hexQuad(escapeStart: Int) throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard index < bytes.count, let digit = Self.hexValue(bytes[index]) else {
                throw error("bad \\u escape in a string", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
