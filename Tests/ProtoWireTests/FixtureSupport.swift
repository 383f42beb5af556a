import Foundation
import ProtoWire

// Loading the golden fixtures of Tools/fixtures/generate_proto_fixtures.py and comparing decoded messages with
// their expected values. The JSON format is described at the top of that script.

/// A parsed JSON value. Integers are kept exact (no detour through Double).
enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}

/// One golden fixture: the bytes the reference encoder produced and what the reference decoder read from them.
struct Fixture: Sendable {
    let name: String
    let bytes: [UInt8]
    let messageName: String
    let canonical: Bool
    let fields: [String: JSONValue]

    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "Fixtures")

    /// Names (without extension) of every fixture, sorted; empty if the folder is missing (a test checks that).
    static let allNames: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path(percentEncoded: false))) ?? []
        return files.filter { $0.hasSuffix(".bin") }.map { String($0.dropLast(4)) }.sorted()
    }()

    static func load(_ name: String) throws -> Fixture {
        let bytes = try [UInt8](Data(contentsOf: directory.appending(path: "\(name).bin")))
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: directory.appending(path: "\(name).json")))
        guard case .object(let document) = json,
              case .string(let messageName)? = document["message"],
              case .bool(let canonical)? = document["canonical"],
              case .object(let fields)? = document["fields"]
        else {
            throw FixtureError.malformed(name)
        }
        return Fixture(name: name, bytes: bytes, messageName: messageName, canonical: canonical, fields: fields)
    }
}

enum FixtureError: Error {
    case malformed(String)
}

/// A decoded field value, typed as protobuf types it, for comparison with the JSON dump.
indirect enum FieldValue: Equatable {
    case signed(Int64)
    case unsigned(UInt64)
    case float(Float)
    case double(Double)
    case bool(Bool)
    case string(String)
    case bytes([UInt8])
    case list([FieldValue])
    case message([String: FieldValue])
}

/// A test message that can list its fields in the fixtures' JSON shape.
protocol FieldDumping {
    var dumpedFields: [String: FieldValue] { get }
}

/// Every difference between `actual` and the reference decoder's `expected` fields, as readable lines; empty when
/// they agree. Both key sets must be equal: every field is compared.
func differences(_ actual: [String: FieldValue], _ expected: [String: JSONValue], path: String = "") -> [String] {
    var found: [String] = []
    for key in Set(actual.keys).union(expected.keys).sorted() {
        let fieldPath = path.isEmpty ? key : "\(path).\(key)"
        switch (actual[key], expected[key]) {
        case (let value?, let reference?):
            found += differences(value, reference, path: fieldPath)
        case (_?, nil):
            found.append("\(fieldPath): decoded, but the reference decoder did not see it")
        case (nil, _?):
            found.append("\(fieldPath): missing after decoding")
        case (nil, nil):
            break
        }
    }
    return found
}

func differences(_ actual: FieldValue, _ expected: JSONValue, path: String) -> [String] {
    let same: Bool
    switch (actual, expected) {
    case (.signed(let value), .integer(let reference)):
        same = value == reference
    case (.signed(let value), .string(let text)):
        same = Int64(text) == value
    case (.unsigned(let value), .integer(let reference)):
        same = reference >= 0 && UInt64(reference) == value
    case (.unsigned(let value), .string(let text)):
        same = UInt64(text) == value
    case (.float(let value), .string(let text)):
        guard let reference = Float(text) else { return ["\(path): bad float text \(text)"] }
        same = value.isNaN ? reference.isNaN : value.bitPattern == reference.bitPattern
    case (.double(let value), .string(let text)):
        guard let reference = Double(text) else { return ["\(path): bad double text \(text)"] }
        same = value.isNaN ? reference.isNaN : value.bitPattern == reference.bitPattern
    case (.bool(let value), .bool(let reference)):
        same = value == reference
    case (.string(let value), .string(let reference)):
        same = value == reference
    case (.bytes(let value), .string(let base64)):
        guard let data = Data(base64Encoded: base64) else { return ["\(path): bad base64"] }
        same = value == [UInt8](data)
    case (.list(let values), .array(let references)):
        guard values.count == references.count else {
            return ["\(path): \(values.count) elements, expected \(references.count)"]
        }
        return zip(values, references).enumerated().flatMap { index, pair in
            differences(pair.0, pair.1, path: "\(path)[\(index)]")
        }
    case (.message(let fields), .object(let references)):
        return differences(fields, references, path: path)
    default:
        same = false
    }
    return same ? [] : ["\(path): decoded \(actual), expected \(expected)"]
}

// MARK: The dumps of the test messages

extension Nested: FieldDumping {
    var dumpedFields: [String: FieldValue] {
        ["a": .signed(Int64(a)), "b": .string(b), "c": .list(c.map { .signed(Int64($0)) })]
    }
}

extension Recursive: FieldDumping {
    var dumpedFields: [String: FieldValue] {
        var fields: [String: FieldValue] = ["value": .signed(Int64(value))]
        if let child { fields["child"] = .message(child.dumpedFields) }
        return fields
    }
}

private func signed<T: BinaryInteger>(_ values: [T]) -> FieldValue {
    .list(values.map { .signed(Int64($0)) })
}

private func unsigned<T: BinaryInteger>(_ values: [T]) -> FieldValue {
    .list(values.map { .unsigned(UInt64($0)) })
}

extension AllTypes: FieldDumping {
    var dumpedFields: [String: FieldValue] {
        var fields: [String: FieldValue] = [
            "f_int32": .signed(Int64(fInt32)),
            "f_int64": .signed(fInt64),
            "f_uint32": .unsigned(UInt64(fUInt32)),
            "f_uint64": .unsigned(fUInt64),
            "f_sint32": .signed(Int64(fSInt32)),
            "f_sint64": .signed(fSInt64),
            "f_fixed32": .unsigned(UInt64(fFixed32)),
            "f_fixed64": .unsigned(fFixed64),
            "f_sfixed32": .signed(Int64(fSFixed32)),
            "f_sfixed64": .signed(fSFixed64),
            "f_float": .float(fFloat),
            "f_double": .double(fDouble),
            "f_bool": .bool(fBool),
            "f_string": .string(fString),
            "f_bytes": .bytes(fBytes),
            "f_enum": .signed(Int64(fEnum)),

            "r_int32": signed(rInt32),
            "r_int64": signed(rInt64),
            "r_uint32": unsigned(rUInt32),
            "r_uint64": unsigned(rUInt64),
            "r_sint32": signed(rSInt32),
            "r_sint64": signed(rSInt64),
            "r_fixed32": unsigned(rFixed32),
            "r_fixed64": unsigned(rFixed64),
            "r_sfixed32": signed(rSFixed32),
            "r_sfixed64": signed(rSFixed64),
            "r_float": .list(rFloat.map { .float($0) }),
            "r_double": .list(rDouble.map { .double($0) }),
            "r_bool": .list(rBool.map { .bool($0) }),
            "r_string": .list(rString.map { .string($0) }),
            "r_bytes": .list(rBytes.map { .bytes($0) }),
            "r_enum": signed(rEnum),

            "u_int32": signed(uInt32),
            "u_int64": signed(uInt64),
            "u_uint32": unsigned(uUInt32),
            "u_uint64": unsigned(uUInt64),
            "u_sint32": signed(uSInt32),
            "u_sint64": signed(uSInt64),
            "u_fixed32": unsigned(uFixed32),
            "u_fixed64": unsigned(uFixed64),
            "u_sfixed32": signed(uSFixed32),
            "u_sfixed64": signed(uSFixed64),
            "u_float": .list(uFloat.map { .float($0) }),
            "u_double": .list(uDouble.map { .double($0) }),
            "u_bool": .list(uBool.map { .bool($0) }),
            "u_enum": signed(uEnum),

            "r_nested": .list(rNested.map { .message($0.dumpedFields) }),
            "map_string_int32": .message(mapStringInt32.mapValues { .signed(Int64($0)) }),
            "map_int32_nested": .message(
                Dictionary(uniqueKeysWithValues: mapInt32Nested.map { (String($0.key), .message($0.value.dumpedFields)) })
            ),
            "f_max_field": .signed(Int64(fMaxField)),
        ]
        if let nested { fields["nested"] = .message(nested.dumpedFields) }
        switch choice {
        case .string(let value): fields["choice_string"] = .string(value)
        case .int64(let value): fields["choice_int64"] = .signed(value)
        case .nested(let value): fields["choice_nested"] = .message(value.dumpedFields)
        case nil: break
        }
        if let optInt32 { fields["opt_int32"] = .signed(Int64(optInt32)) }
        return fields
    }
}
