import ProtoWire
import Testing

/// Hand-assembled wire bytes, written independently of `ProtoWriter` so that tests of the writer and the reader
/// do not lean on each other.
enum Wire {
    static func varint(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
        return out
    }

    static func tag(_ field: Int, _ wireType: UInt8) -> [UInt8] {
        varint(UInt64(field) << 3 | UInt64(wireType))
    }

    static func varint(_ field: Int, _ value: UInt64) -> [UInt8] {
        tag(field, 0) + varint(value)
    }

    static func varint(_ field: Int, signed value: Int64) -> [UInt8] {
        varint(field, UInt64(bitPattern: value))
    }

    static func fixed32(_ field: Int, _ value: UInt32) -> [UInt8] {
        tag(field, 5) + withUnsafeBytes(of: value.littleEndian) { [UInt8]($0) }
    }

    static func fixed64(_ field: Int, _ value: UInt64) -> [UInt8] {
        tag(field, 1) + withUnsafeBytes(of: value.littleEndian) { [UInt8]($0) }
    }

    static func delimited(_ field: Int, _ content: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(content.count)) + content
    }

    static func delimited(_ field: Int, _ text: String) -> [UInt8] {
        delimited(field, Array(text.utf8))
    }

    static func group(_ field: Int, _ content: [UInt8]) -> [UInt8] {
        tag(field, 3) + content + tag(field, 4)
    }

    /// `depth` unknown groups, each inside the previous one.
    static func nestedGroups(depth: Int, field: Int = 1000) -> [UInt8] {
        var bytes: [UInt8] = []
        for level in 0..<depth { bytes += tag(field + level, 3) }
        for level in (0..<depth).reversed() { bytes += tag(field + level, 4) }
        return bytes
    }
}

/// Expects decoding `bytes` as `M` to fail with exactly `expected`.
func assertDecodeFails<M: ProtoMessage>(
    _ bytes: [UInt8],
    as type: M.Type = AllTypes.self,
    _ expected: WireDecodingError,
    limits: DecodingLimits = .default,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(throws: expected, sourceLocation: sourceLocation) {
        _ = try M(serializedBytes: bytes, limits: limits)
    }
}
