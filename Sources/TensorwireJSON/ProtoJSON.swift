// Sources/TensorwireJSON/ProtoJSON.swift: the proto3 JSON mapping's rules, shared by every message written here.

internal import Base64Codec
public import JSONWire

/// A message with a proto3 JSON form (https://protobuf.dev/programming-guides/json/), written by hand as the binary
/// codec is: `readJSONMember` is the JSON twin of `decodeField`, `writeJSONMembers` of `traverse`. Plain values;
/// any thread.
///
/// Reading accepts the lowerCamelCase JSON name and the proto field name of every field; refuses an unknown field
/// or a field given twice (under either name) with an error naming it; treats `null` as the field's default;
/// takes 64-bit integers as numbers or strings, enums by name or number, `bytes` in either base64 alphabet with or
/// without padding, floats as numbers, numeric strings or `"NaN"`/`"Infinity"`/`"-Infinity"`. Writing is what
/// protobuf's `json_format.MessageToJson` writes by default: JSON names, fields in number order, default values
/// left out, 64-bit integers as strings, enums by name (a number for a value the schema does not name), `bytes` as
/// padded standard base64, floats in shortest round-trip form with non-finite values as those three strings.
public protocol ProtoJSONMessage {
    init()
    /// The message's name in errors (`PredictRequest`).
    static var protoJSONName: String { get }
    /// Reads the value of the member `name` (a JSON name or a proto field name) into its field, recording the field
    /// in `fields`; an unknown name is an error.
    mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    /// Writes every field that does not hold its default as a member (the caller opens and closes the object).
    func writeJSONMembers(to writer: inout JSONWriter)
}

extension ProtoJSONMessage {
    /// Decodes a JSON document that is exactly this message (an object; whitespace around it is allowed).
    public init(jsonUTF8 bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) {
        var reader = JSONReader(bytes, maxDepth: maxDepth)
        self.init()
        try readJSONObject(from: &reader)
        try reader.finish()
    }

    /// Reads one object of this message at the reader's position.
    public mutating func readJSONObject(from reader: inout JSONReader) throws(JSONError) {
        guard try reader.peekKind() == .object else {
            throw reader.error("expected an object (\(Self.protoJSONName))")
        }
        var fields = ProtoJSONFields()
        try reader.readObject { reader, name throws(JSONError) in
            try readJSONMember(name, from: &reader, fields: &fields)
        }
    }

    /// The message's JSON, compact.
    public func jsonUTF8() -> [UInt8] {
        var writer = JSONWriter()
        writeJSON(to: &writer)
        return writer.bytes
    }

    /// Writes the message as one JSON object.
    public func writeJSON(to writer: inout JSONWriter) {
        writer.beginObject()
        writeJSONMembers(to: &writer)
        writer.endObject()
    }
}

/// The fields of one JSON object read so far, by field number, so that a field given twice (`"rawData"` and
/// `"raw_data"`, or the same name twice) is refused. Also wraps each field's errors with the field's name.
public struct ProtoJSONFields {
    private var seen: UInt64 = 0

    public init() {}

    /// Reads the value of field `number` (named `name` in the document) with `body`, unless it is `null` (the
    /// field keeps its default). Errors from `body` gain the prefix `name: `.
    public mutating func read(
        _ number: Int, _ name: String, _ reader: inout JSONReader, in message: String,
        _ body: (inout JSONReader) throws(JSONError) -> Void
    ) throws(JSONError) {
        let bit: UInt64 = 1 << UInt64(number & 63)
        guard seen & bit == 0 else {
            throw reader.error("\(message) has the field '\(name)' more than once", at: reader.memberNameOffset)
        }
        seen |= bit
        if try reader.readNullIfPresent() { return }
        do {
            try body(&reader)
        } catch {
            throw JSONError(offset: error.offset, line: error.line, column: error.column, reason: "\(name): \(error.reason)")
        }
    }
}

// MARK: - Reading values

extension JSONReader {
    /// An error naming a member no field of `message` has.
    public func unknownField(_ name: String, in message: String) -> JSONError {
        error("\(message) has no field named '\(name)'", at: memberNameOffset)
    }

    /// A `string` field.
    mutating func readProtoString() throws(JSONError) -> String {
        try readString()
    }

    mutating func readProtoInt64() throws(JSONError) -> Int64 {
        try readInt64(options: .quoted)
    }

    mutating func readProtoUInt64() throws(JSONError) -> UInt64 {
        try readUInt64(options: .quoted)
    }

    mutating func readProtoInt32() throws(JSONError) -> Int32 {
        let start = offset
        let value = try readInt64(options: .quoted)
        guard let narrow = Int32(exactly: value) else { throw error("\(value) is out of range for int32", at: start) }
        return narrow
    }

    mutating func readProtoUInt32() throws(JSONError) -> UInt32 {
        let start = offset
        let value = try readUInt64(options: .quoted)
        guard let narrow = UInt32(exactly: value) else { throw error("\(value) is out of range for uint32", at: start) }
        return narrow
    }

    /// An enum by name (`names` indexed by number) or by number (a JSON number or a numeric string); numbers the
    /// schema does not name are kept (proto3 enums are open).
    mutating func readProtoEnum(_ names: [String]) throws(JSONError) -> Int32 {
        guard try peekKind() == .string else { return try readProtoInt32() }
        let start = offset
        let text = try readString()
        if let number = names.firstIndex(of: text) { return Int32(number) }
        if let number = Int32(text) { return number }
        throw error("'\(text)' is not a value of the enum", at: start)
    }

    /// A `bytes` field: standard or URL-safe base64, padded or not.
    mutating func readProtoBytes() throws(JSONError) -> [UInt8] {
        let start = offset
        let text = try readString()
        var standard = Array(text.utf8)
        for index in standard.indices {
            if standard[index] == UInt8(ascii: "-") { standard[index] = UInt8(ascii: "+") }
            if standard[index] == UInt8(ascii: "_") { standard[index] = UInt8(ascii: "/") }
        }
        guard let bytes = Base64.decode(String(decoding: standard, as: UTF8.self)) else {
            throw error("not valid base64", at: start)
        }
        return bytes
    }

    /// A repeated field of anything but numbers: a JSON array whose elements may not be `null`.
    mutating func readProtoRepeated(_ element: (inout JSONReader) throws(JSONError) -> Void) throws(JSONError) {
        try readArray { reader throws(JSONError) in
            if try reader.peekKind() == .null { throw reader.error("null is not allowed as an element of a repeated field") }
            try element(&reader)
        }
    }

    /// A repeated numeric field: `element` reads each number (`null` elements are refused).
    mutating func readProtoNumbers(_ element: (inout JSONReader) throws(JSONError) -> Void) throws(JSONError) {
        try readArrayLeaves(flattening: false, element)
    }
}

// MARK: - Writing values

extension JSONWriter {
    mutating func protoString(_ key: String, _ value: String) {
        guard !value.isEmpty else { return }
        self.key(key)
        string(value)
    }

    mutating func protoUInt32(_ key: String, _ value: UInt32) {
        guard value != 0 else { return }
        self.key(key)
        uint64(UInt64(value))
    }

    mutating func protoInt32(_ key: String, _ value: Int32) {
        guard value != 0 else { return }
        self.key(key)
        int64(Int64(value))
    }

    /// A 64-bit integer: a decimal string, as proto3 JSON writes them (JavaScript numbers hold 53 bits).
    mutating func protoUInt64(_ key: String, _ value: UInt64) {
        guard value != 0 else { return }
        self.key(key)
        string(String(value))
    }

    mutating func protoEnum(_ key: String, _ value: Int32, _ names: [String]) {
        guard value != 0 else { return }
        self.key(key)
        protoEnumValue(value, names)
    }

    mutating func protoEnumValue(_ value: Int32, _ names: [String]) {
        if names.indices.contains(Int(value)) {
            string(names[Int(value)])
        } else {
            int64(Int64(value))
        }
    }

    mutating func protoBytes(_ key: String, _ value: [UInt8]) {
        guard !value.isEmpty else { return }
        self.key(key)
        string(Base64.encode(value, padded: true))
    }

    mutating func protoFloatValue(_ value: Float) {
        value.isFinite ? float(value) : string(Self.nonFiniteName(Double(value)))
    }

    mutating func protoDoubleValue(_ value: Double) {
        value.isFinite ? double(value) : string(Self.nonFiniteName(value))
    }

    static func nonFiniteName(_ value: Double) -> String {
        value.isNaN ? "NaN" : value < 0 ? "-Infinity" : "Infinity"
    }

    /// A repeated field (left out when empty), one element at a time.
    mutating func protoRepeated<C: Collection>(_ key: String, _ values: C, _ element: (inout JSONWriter, C.Element) -> Void) {
        guard !values.isEmpty else { return }
        self.key(key)
        beginArray()
        for value in values { element(&self, value) }
        endArray()
    }

    mutating func protoMessage<M: ProtoJSONMessage>(_ key: String, _ value: M?) {
        guard let value else { return }
        self.key(key)
        value.writeJSON(to: &self)
    }
}
