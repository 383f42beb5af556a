// Sources/JSONWire/JSONWriter.swift: compact JSON into a byte array.

/// Writes one compact JSON document (no whitespace) into a byte array it owns: the caller opens and closes
/// containers, names members with `key(_:)` and writes values; commas are placed for it. A value type for one
/// caller at a time.
///
/// Strings are written as UTF-8 with only `"`, `\` and control characters escaped (`\n`, `\t`… and `\u00XX`),
/// as Python's `json.dumps(…, ensure_ascii=False)` writes them. Floats and doubles are written in the shortest form
/// that reads back to the same value, spelled as Python's `repr` spells it (`0.1`, `1.0`, `1e-05`, `1e+16`), so a
/// document can be compared byte for byte with one written by Python. JSON has no spelling for NaN or the
/// infinities: `double(_:)` and `float(_:)` write `null` for them, and callers with a convention of their own
/// (proto3 JSON's `"NaN"` strings) check `isFinite` first.
public struct JSONWriter {
    /// The document so far.
    public private(set) var bytes: [UInt8]
    /// Whether the next member or element needs a comma before it.
    private var needsComma = false

    public init(reservingCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    private mutating func beginValue() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    public mutating func beginObject() {
        beginValue()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        beginValue()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A member name; the member's value comes next.
    public mutating func key(_ name: String) {
        beginValue()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) {
        beginValue()
        appendQuoted(value)
    }

    public mutating func bool(_ value: Bool) {
        beginValue()
        bytes.append(contentsOf: value ? Self.trueBytes : Self.falseBytes)
    }

    public mutating func null() {
        beginValue()
        bytes.append(contentsOf: Self.nullBytes)
    }

    public mutating func int64(_ value: Int64) {
        beginValue()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
    }

    public mutating func uint64(_ value: UInt64) {
        beginValue()
        appendDecimal(value)
    }

    /// The shortest decimal that reads back as `value` (`null` when it is not finite).
    public mutating func double(_ value: Double) {
        beginValue()
        guard value.isFinite else {
            bytes.append(contentsOf: Self.nullBytes)
            return
        }
        DecimalFormatting.append(value, to: &bytes)
    }

    /// The shortest decimal that reads back as `value` as a float32 (`null` when it is not finite), chosen as
    /// protobuf's Python `json_format` chooses it, so float fields print identically.
    public mutating func float(_ value: Float) {
        beginValue()
        guard value.isFinite else {
            bytes.append(contentsOf: Self.nullBytes)
            return
        }
        DecimalFormatting.append(value, to: &bytes)
    }

    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)
    private static let nullBytes: [UInt8] = Array("null".utf8)
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendDecimal(_ value: UInt64) {
        DecimalFormatting.appendDigits(value, to: &bytes)
    }

    private mutating func appendQuoted(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for (position, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes.append(contentsOf: utf8[runStart..<position])
                runStart = position + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case 0x22: bytes.append(0x22)
                case 0x5C: bytes.append(0x5C)
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0x0F)])
                }
            }
            bytes.append(contentsOf: utf8[runStart...])
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
