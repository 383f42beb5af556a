// Sources/Tracing/TraceContext.swift: W3C Trace Context (https://www.w3.org/TR/trace-context/), the `traceparent`
// field: parsing it strictly, writing it, and the ids a server makes for its own span. Pure values: no I/O, no clock,
// randomness only from a generator the caller passes.

/// A trace id: 16 bytes naming one distributed trace, never all zero (an all-zero id is invalid on the wire). Stored
/// as two big-endian halves: `high` holds bytes 0–7, `low` bytes 8–15.
public struct TraceID: Sendable, Hashable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    /// Nil when both halves are zero.
    public init?(high: UInt64, low: UInt64) {
        guard high | low != 0 else { return nil }
        self.high = high
        self.low = low
    }

    /// 32 lowercase hex digits; nil for anything else, or for all zeros.
    public init?(hex: String) {
        let bytes = Array(hex.utf8)
        guard bytes.count == 32, let high = HexDigits.value(bytes[0..<16]), let low = HexDigits.value(bytes[16..<32]) else {
            return nil
        }
        self.init(high: high, low: low)
    }

    /// 16 random bytes, drawn again in the (2⁻¹²⁸) case that all are zero.
    public static func random<Generator: RandomNumberGenerator>(using generator: inout Generator) -> TraceID {
        while true {
            if let id = TraceID(high: generator.next(), low: generator.next()) { return id }
        }
    }

    /// 32 lowercase hex digits, as `traceparent` and the access log's `trace_id` carry it.
    public var hex: String { HexDigits.string(high, low) }

    /// The 16 bytes in wire order (OTLP's `trace_id` bytes field).
    public var bytes: [UInt8] { HexDigits.bigEndianBytes(high) + HexDigits.bigEndianBytes(low) }

    public var description: String { hex }
}

/// A span id: 8 bytes naming one span (one service's handling of one request), never all zero.
public struct SpanID: Sendable, Hashable, CustomStringConvertible {
    /// The 8 bytes read big-endian.
    public let value: UInt64

    /// Nil for zero.
    public init?(_ value: UInt64) {
        guard value != 0 else { return nil }
        self.value = value
    }

    /// 16 lowercase hex digits; nil for anything else, or for all zeros.
    public init?(hex: String) {
        let bytes = Array(hex.utf8)
        guard bytes.count == 16, let value = HexDigits.value(bytes[...]) else { return nil }
        self.init(value)
    }

    /// 8 random bytes, drawn again while all are zero: a fresh span id for the server's own span. Tests pass a seeded
    /// generator; the server a fast per-thread one or `SystemRandomNumberGenerator`.
    public static func random<Generator: RandomNumberGenerator>(using generator: inout Generator) -> SpanID {
        while true {
            if let id = SpanID(generator.next()) { return id }
        }
    }

    /// 16 lowercase hex digits.
    public var hex: String { HexDigits.string(value) }

    /// The 8 bytes in wire order (OTLP's `span_id` bytes field).
    public var bytes: [UInt8] { HexDigits.bigEndianBytes(value) }

    public var description: String { hex }
}

/// The `trace-flags` byte. Version 00 defines one bit, `sampled` (the caller may have recorded its span); the other
/// bits are reserved and a sender must write them as zero.
public struct TraceFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let sampled = TraceFlags(rawValue: 0x01)
}

/// One `traceparent` value: the trace a request belongs to, the span that sent it, and the flags. A value.
///
/// The rules of the field, as we apply them (W3C Trace Context Level 1, "traceparent Header" and "Versioning of
/// traceparent"):
///
/// - The value is `version-traceid-parentid-flags`: 2, 32, 16 and 2 **lowercase** hex digits joined by `-`, 55
///   characters in all. An upper-case digit or any other character makes the whole value invalid.
/// - Version `ff` is invalid. Version `00` has exactly the four parts: anything after the flags is invalid.
/// - A higher version (`01`…`fe`) is read by the `00` rules, since later versions may only add parts at the end: the
///   value must be at least 55 characters, and if longer, the flags must be followed by `-`. Only the `sampled` bit of
///   its flags is kept (we know no other bit of an unknown version), and what we write back is version `00`.
/// - A trace id of 32 zeros or a parent id of 16 zeros is invalid.
/// - An invalid value is ignored entirely: the receiver starts a new trace (and does not read `tracestate`). So is a
///   request with more than one `traceparent` field (`init(traceparentFields:)`).
/// - Spaces and tabs around the value are not part of it (HTTP's optional whitespace, RFC 9110 §5.5), so they are
///   dropped before the checks.
///
/// A server that takes part in the trace keeps the trace id, makes its own span with a new span id whose parent is
/// the received one (`childSpan(newSpanID:)`), and sends `traceparent` on with that span id. Unknown flag bits are
/// cleared there; `sampled` passes through unchanged, since we make no recording decision of our own.
public struct TraceContext: Sendable, Hashable, CustomStringConvertible {
    /// The field's name in HTTP headers and gRPC metadata (the spec asks senders for lower case; receivers match any
    /// case, which our header maps already do).
    public static let fieldName = "traceparent"
    /// The version this type writes, the highest it knows.
    public static let version: UInt8 = 0x00

    public var traceID: TraceID
    /// The wire's `parent-id`: in a received value, the caller's span (the parent of ours); in a value we send, our
    /// own span.
    public var spanID: SpanID
    public var flags: TraceFlags

    public init(traceID: TraceID, spanID: SpanID, flags: TraceFlags = []) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    /// Parses one `traceparent` field value by the rules above; nil when it is invalid.
    public init?(traceparent: String) {
        var text = traceparent
        guard let parsed = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    /// The context of a request's `traceparent` fields: nil unless there is exactly one and it is valid (two fields
    /// cannot be told apart, so the request starts a new trace, as the W3C test suite expects).
    public init?<Values: Collection<String>>(traceparentFields values: Values) {
        guard values.count == 1, let value = values.first else { return nil }
        self.init(traceparent: value)
    }

    /// A new trace begun here: random trace and span ids, flags zero (not sampled: we record nothing ourselves).
    public static func newTrace<Generator: RandomNumberGenerator>(using generator: inout Generator) -> TraceContext {
        TraceContext(traceID: .random(using: &generator), spanID: .random(using: &generator))
    }

    /// Our span in the same trace: the same trace id, `newSpanID` as the span id, `sampled` kept and the reserved
    /// flag bits cleared. `spanID` of `self` is the new span's parent.
    public func childSpan(newSpanID: SpanID) -> TraceContext {
        TraceContext(traceID: traceID, spanID: newSpanID, flags: flags.intersection(.sampled))
    }

    /// The field value, always version 00: `00-<trace id>-<span id>-<flags>`, lowercase.
    public var traceparent: String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(55)
        bytes.append(contentsOf: "00-".utf8)
        bytes.append(contentsOf: traceID.hex.utf8)
        bytes.append(UInt8(ascii: "-"))
        bytes.append(contentsOf: spanID.hex.utf8)
        bytes.append(UInt8(ascii: "-"))
        bytes.append(HexDigits.lowercase[Int(flags.rawValue >> 4)])
        bytes.append(HexDigits.lowercase[Int(flags.rawValue & 0xF)])
        return String(decoding: bytes, as: UTF8.self)
    }

    public var description: String { traceparent }

    /// Offsets in a version 00 value: `vv-` then the trace id at 3, `-` at 35, the parent id at 36, `-` at 52, the
    /// flags at 53, and the end (or, for a higher version, a `-`) at 55.
    private static let length = 55

    private static func parse(_ whole: UnsafeBufferPointer<UInt8>) -> TraceContext? {
        var start = whole.startIndex
        var end = whole.endIndex
        func isOptionalWhitespace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        while start < end, isOptionalWhitespace(whole[start]) { start += 1 }
        while end > start, isOptionalWhitespace(whole[end - 1]) { end -= 1 }
        let value = UnsafeBufferPointer(rebasing: whole[start..<end])
        let dash = UInt8(ascii: "-")
        guard value.count >= length, value[2] == dash, let version = HexDigits.value(value[0..<2]), version != 0xFF else {
            return nil
        }
        if version == 0 {
            guard value.count == length else { return nil }
        } else {
            guard value.count == length || value[length] == dash else { return nil }
        }
        guard value[35] == dash, value[52] == dash,
            let high = HexDigits.value(value[3..<19]), let low = HexDigits.value(value[19..<35]),
            let parent = HexDigits.value(value[36..<52]), let rawFlags = HexDigits.value(value[53..<55]),
            let traceID = TraceID(high: high, low: low), let spanID = SpanID(parent)
        else { return nil }
        var flags = TraceFlags(rawValue: UInt8(rawFlags))
        if version != 0 { flags = flags.intersection(.sampled) }
        return TraceContext(traceID: traceID, spanID: spanID, flags: flags)
    }
}

/// Lowercase hex, the only spelling the spec allows.
enum HexDigits {
    static let lowercase = Array("0123456789abcdef".utf8)

    /// The big-endian value of up to 16 lowercase hex digits; nil if any is not one.
    static func value<Digits: Collection<UInt8>>(_ digits: Digits) -> UInt64? {
        var result: UInt64 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            default: return nil
            }
            result = result << 4 | UInt64(nibble)
        }
        return result
    }

    /// The values' 16 hex digits each, concatenated.
    static func string(_ values: UInt64...) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(16 * values.count)
        for value in values {
            for shift in stride(from: 60, through: 0, by: -4) { bytes.append(lowercase[Int(value >> UInt64(shift) & 0xF)]) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func bigEndianBytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}
