// Tests/LoggingTests/JSONLine.swift: reads a JSON log line back with JSONWire's strict RFC 8259 reader (no control
// characters in strings, well-formed escapes, valid UTF-8, the number grammar, nothing after the object) into its
// members, keeping each value's JSON type and refusing a repeated key.

import JSONWire
import Testing

/// One member's value as the JSON text typed it.
enum JSONMember: Equatable {
    case string(String)
    /// A number written without fraction or exponent.
    case integer(Int64)
    /// A number written with a fraction or an exponent.
    case double(Double)
    case bool(Bool)
    case null
    /// An object or array (log lines have none).
    case nested
}

/// A log line's members in order.
struct JSONLine {
    var members: [(key: String, value: JSONMember)] = []

    var keys: [String] { members.map(\.key) }

    subscript(key: String) -> JSONMember? { members.first { $0.key == key }?.value }
}

/// Reads `line` as exactly one JSON object.
func readJSONLine(_ line: String) throws(JSONError) -> JSONLine {
    var result = JSONLine()
    var reader = JSONReader(Array(line.utf8))
    try reader.readObject { (reader: inout JSONReader, key: String) throws(JSONError) in
        guard !result.keys.contains(key) else { throw reader.error("the key \(key) appears twice") }
        let value: JSONMember
        switch try reader.peekKind() {
        case .string: value = .string(try reader.readString())
        case .bool: value = .bool(try reader.readBool())
        case .null: value = try reader.readNullIfPresent() ? .null : .nested
        case .object, .array:
            try reader.skipValue()
            value = .nested
        case .number:
            switch try reader.readNumberValue() {
            case .int64(let number): value = .integer(number)
            case .uint64(let number): value = .double(Double(number))
            case .double(let number): value = .double(number)
            }
        }
        result.members.append((key, value))
    }
    try reader.finish()
    return result
}

/// `readJSONLine`, failing the test (naming the line) when the line is not one JSON object.
func parsedLine(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONLine {
    do {
        return try readJSONLine(line)
    } catch {
        Issue.record("not one JSON object (\(error)): \(line)", sourceLocation: sourceLocation)
        throw error
    }
}
