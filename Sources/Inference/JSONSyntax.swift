// Sources/Inference/JSONSyntax.swift: a strict RFC 8259 syntax check for config.json.

/// Checks that bytes are exactly one JSON value (RFC 8259) before Foundation parses them: Foundation on Linux
/// accepts trailing commas (`{"max_batch_size": 8,}`), which other tools reject, so a config that only we would read
/// is refused here with the line and column of the problem. Bounded: nesting deeper than `maxDepth` is refused.
enum JSONSyntax {
    /// A syntax error at a 1-based line and column.
    struct Error: Swift.Error, Equatable, CustomStringConvertible {
        let line: Int
        let column: Int
        let reason: String
        var description: String { "line \(line), column \(column): \(reason)" }
    }

    static let maxDepth = 64

    static func validate(_ bytes: [UInt8]) throws(Error) {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        try parser.value(depth: 0)
        parser.skipSpace()
        if parser.index < bytes.count { throw parser.error("unexpected text after the JSON value") }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        func error(_ reason: String) -> Error {
            var line = 1
            var column = 1
            for byte in bytes[..<min(index, bytes.count)] {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return Error(line: line, column: column, reason: reason)
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ literal: String) throws(Error) {
            for byte in literal.utf8 {
                guard current == byte else { throw error("expected \(literal)") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws(Error) {
            guard depth < JSONSyntax.maxDepth else { throw error("nested deeper than \(JSONSyntax.maxDepth) levels") }
            guard let byte = current else { throw error("unexpected end of the file (expected a value)") }
            switch byte {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try expect("true")
            case UInt8(ascii: "f"): try expect("false")
            case UInt8(ascii: "n"): try expect("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))' (expected a value)")
            }
        }

        mutating func object(depth: Int) throws(Error) {
            try sequence(closing: "}", what: "an object") { parser throws(Error) in
                guard parser.current == UInt8(ascii: "\"") else {
                    throw parser.error(parser.current == nil ? "unexpected end of the file inside an object" : "expected a \"key\"")
                }
                try parser.string()
                parser.skipSpace()
                guard parser.current == UInt8(ascii: ":") else { throw parser.error("expected ':' after the key") }
                parser.index += 1
                parser.skipSpace()
                try parser.value(depth: depth + 1)
            }
        }

        mutating func array(depth: Int) throws(Error) {
            try sequence(closing: "]", what: "a list") { parser throws(Error) in try parser.value(depth: depth + 1) }
        }

        /// `[` or `{` (at `index`), elements separated by commas, then `closing`; no trailing comma.
        mutating func sequence(
            closing: Unicode.Scalar, what: String, element: (inout Parser) throws(Error) -> Void
        ) throws(Error) {
            let close = UInt8(ascii: closing)
            index += 1
            skipSpace()
            if current == close {
                index += 1
                return
            }
            while true {
                try element(&self)
                skipSpace()
                switch current {
                case UInt8(ascii: ","):
                    index += 1
                    skipSpace()
                    if current == close { throw error("trailing comma before '\(closing)' (JSON allows none)") }
                case close:
                    index += 1
                    return
                default:
                    throw error("expected ',' or '\(closing)' in \(what)")
                }
            }
        }

        mutating func string() throws(Error) {
            index += 1
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { break }
                    index += 1
                    if escaped == UInt8(ascii: "u") {
                        for _ in 0..<4 {
                            guard let hex = current, Self.isHex(hex) else { throw error("bad \\u escape in a string") }
                            index += 1
                        }
                    } else if !"\"\\/bfnrt".utf8.contains(escaped) {
                        throw error("bad escape in a string")
                    }
                case 0..<0x20:
                    throw error("control character in a string")
                default:
                    break
                }
            }
            throw error("unterminated string")
        }

        static func isHex(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
        }

        mutating func number() throws(Error) {
            func digits() -> Int {
                let start = index
                while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
                return index - start
            }
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                throw error("bad number")
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { throw error("bad number (digits must follow '.')") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw error("bad number (exponent without digits)") }
            }
        }
    }
}
