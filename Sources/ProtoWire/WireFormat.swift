/// The six protobuf wire types (the low three bits of a field tag).
public enum WireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Why a protobuf decode failed. Every error names what was wrong; none of them carries bytes from the input,
/// so an error can be logged or put into a gRPC status message safely.
public enum WireDecodingError: Error, Equatable, Sendable {
    /// The input ended inside a tag, a value or a length-delimited field.
    case truncated
    /// A varint longer than 10 bytes, or a 10th byte carrying more than the 64th bit.
    case overlongVarint
    /// Wire type 6 or 7, which no protobuf version defines.
    case invalidWireType(UInt8)
    /// Field number 0, or one above 2^29 - 1.
    case invalidFieldNumber(UInt64)
    /// A known field arrived with a wire type its declared type cannot have.
    case wireTypeMismatch(field: Int, expected: WireType, got: WireType)
    /// A length prefix larger than the bytes left in the enclosing message.
    case lengthExceedsInput(length: UInt64, remaining: Int)
    /// A `string` field that is not valid UTF-8.
    case invalidUTF8(field: Int)
    /// Messages or groups nested deeper than `DecodingLimits.maxDepth`.
    case depthLimitExceeded(limit: Int)
    /// An end-group tag with no matching start-group, or a group ended by a different field number.
    case mismatchedGroup
    /// A packed fixed-width run whose length is not a multiple of the element size.
    case malformedPackedField(field: Int)
    /// A value that does not fit the field's type where protobuf requires rejection (e.g. a bad map entry).
    case invalidValue(field: Int, reason: String)
    /// The decoded message would take more memory than `DecodingLimits` allows for its wire size (thousands of
    /// empty repeated messages, two wire bytes each, become a ~136-byte value each).
    case decodedSizeExceedsBudget(wireBytes: Int, budget: Int)
}

/// Limits applied while decoding untrusted bytes.
public struct DecodingLimits: Sendable, Equatable {
    /// Maximum nesting of embedded messages and groups (protobuf's own default is 100).
    public var maxDepth: Int
    /// The memory a decoded message may take, per byte of its wire form: repeated message elements (each one's
    /// in-memory size) and repeated varint elements (each one's width) are counted as they are decoded against
    /// `wire size × decodedBytesPerWireByte + decodedBytesAllowance`. Strings, bytes and packed fixed-width runs cost
    /// at most their wire size and are not counted. 8 admits every honest message (a packed int64 of one-byte varints
    /// is exactly 8×); the allowance covers small messages with a few elements.
    public var decodedBytesPerWireByte: Int
    /// Added to the budget whatever the message size (see `decodedBytesPerWireByte`).
    public var decodedBytesAllowance: Int

    public init(maxDepth: Int = 100, decodedBytesPerWireByte: Int = 8, decodedBytesAllowance: Int = 4096) {
        self.maxDepth = maxDepth
        self.decodedBytesPerWireByte = decodedBytesPerWireByte
        self.decodedBytesAllowance = decodedBytesAllowance
    }

    /// The decoded-memory budget of a message of `wireBytes` bytes (saturating, never negative).
    @inlinable
    public func decodeBudget(wireBytes: Int) -> Int {
        let (scaled, overflow) = max(0, wireBytes).multipliedReportingOverflow(by: max(0, decodedBytesPerWireByte))
        let (total, overflow2) = scaled.addingReportingOverflow(max(0, decodedBytesAllowance))
        return overflow || overflow2 ? Int.max : total
    }

    public static let `default` = DecodingLimits()
}

/// Highest legal field number (2^29 - 1).
public let maxFieldNumber = (1 << 29) - 1

/// Zigzag encoding for `sint32`/`sint64`: small magnitudes of either sign become small varints.
public enum ZigZag {
    @inlinable
    public static func encode(_ value: Int32) -> UInt32 {
        UInt32(bitPattern: (value &<< 1) ^ (value >> 31))
    }

    @inlinable
    public static func encode(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value &<< 1) ^ (value >> 63))
    }

    @inlinable
    public static func decode(_ value: UInt32) -> Int32 {
        Int32(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    @inlinable
    public static func decode(_ value: UInt64) -> Int64 {
        Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }
}
