// Sources/JSONWire/JSONError.swift: the one error type of the JSON reader and of the layers built on it.

/// A JSON document that is not valid (RFC 8259) or holds a value the caller refused: where (a byte offset, and the
/// 1-based line and column of that byte, counted in characters) and why. The reason never quotes more than a short
/// name from the input, so an error can go into a log line or an HTTP error body as it is.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset of the problem in the document.
    public let offset: Int
    /// 1-based line of `offset` (lines end at LF).
    public let line: Int
    /// 1-based column of `offset`, counting characters (UTF-8 continuation bytes do not count).
    public let column: Int
    /// What was wrong, in words.
    public let reason: String

    public init(offset: Int, line: Int, column: Int, reason: String) {
        self.offset = offset
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// An error at `offset` of `bytes`, its line and column counted from the start of the document.
    public init(_ reason: String, at offset: Int, in bytes: [UInt8]) {
        var line = 1
        var column = 1
        for byte in bytes[..<min(max(offset, 0), bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        self.init(offset: offset, line: line, column: column, reason: reason)
    }

    /// `line L, column C: reason`.
    public var description: String { "line \(line), column \(column): \(reason)" }
}

/// The kind of the next JSON value, as `JSONReader.peekKind()` sees it from its first byte.
public enum JSONKind: Sendable, Equatable {
    case object
    case array
    case string
    case number
    case bool
    case null
}
