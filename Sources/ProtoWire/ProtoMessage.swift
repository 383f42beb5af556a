/// A protobuf message type written by hand on this codec. It owns its field values; decoding and encoding are
/// pure functions of those values and bytes.
///
/// A conforming type supplies three things: an empty initialiser (every field at its default), `decodeField`
/// (one `case` per known field number, `reader.skipField()` for the rest) and `traverse` (the fields to emit, in
/// field-number order, defaults left out for implicit-presence fields). `traverse` drives every encoding pass: the
/// one-pass writer of small messages, and the exact-size pass and write pass of the two-pass encoder, so they can
/// never disagree.
public protocol ProtoMessage: Sendable {
    init()
    /// Decodes the value of the field `reader` just read the tag of (`reader.fieldNumber`, `reader.wireType`).
    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws
    /// Visits every field to be encoded.
    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V)
}

/// Messages up to this size are encoded in one pass (`OnePassWriter`) into a stack buffer of this size; 1 KiB is
/// the most `withUnsafeTemporaryAllocation` puts on the stack without asking the runtime whether the stack has room.
@usableFromInline let smallMessageBytes = 1024

/// Larger messages up to this size are written by the two-pass encoder into a stack buffer of their exact size
/// (after that runtime check), then copied into the result.
@usableFromInline let mediumMessageBytes = 2048

/// How many embedded message sizes `serializedBytes()` keeps from its size pass for its write pass (on the stack);
/// messages beyond these are measured again when written. Also how many embedded messages a one-pass encode may
/// hold.
@usableFromInline let nestedSizesKept = 32

extension ProtoMessage {
    /// Decodes a message from `bytes`.
    @inlinable
    public init(serializedBytes bytes: [UInt8], limits: DecodingLimits = .default) throws {
        self.init()
        try merge(serializedBytes: bytes, limits: limits)
    }

    /// Decodes a message from `bytes`, which must stay valid for the duration of the call only.
    @inlinable
    public init(serializedBytes bytes: UnsafeRawBufferPointer, limits: DecodingLimits = .default) throws {
        self.init()
        var reader = ProtoReader(bytes, limits: limits)
        try merge(from: &reader)
    }

    /// Merges the fields in `bytes` into this message: scalars are replaced, repeated fields appended, embedded
    /// messages merged (protobuf's concatenation semantics).
    @inlinable
    public mutating func merge(serializedBytes bytes: [UInt8], limits: DecodingLimits = .default) throws {
        try bytes.withUnsafeBytes { raw in
            var reader = ProtoReader(raw, limits: limits)
            try merge(from: &reader)
        }
    }

    /// Reads fields until the reader's current message ends.
    @inlinable
    public mutating func merge(from reader: inout ProtoReader) throws {
        while let field = try reader.nextField() {
            try decodeField(field, from: &reader)
        }
    }

    /// The exact number of bytes `serializedBytes()` returns.
    @inlinable
    public var encodedSize: Int {
        var sizer = ProtoSizer()
        traverse(&sizer)
        return sizer.size
    }

    /// Encodes the message. A message that fits in 1 KiB is written in one pass into a stack buffer and copied
    /// into the result with the length prefixes of its embedded messages inserted (`OnePassWriter`); any other is
    /// encoded in two passes: its exact size first (keeping the sizes of embedded messages), then one allocation
    /// and one write pass. Either way the result is allocated once, at its exact size, and the bytes are the same.
    @inlinable
    public func serializedBytes() -> [UInt8] {
        if let bytes = onePassBytes() { return bytes }
        return twoPassBytes()
    }

    /// The one-pass encoding, or nil when the message does not fit in 1 KiB or holds more than
    /// `nestedSizesKept` embedded messages.
    @inlinable
    func onePassBytes() -> [UInt8]? {
        withUnsafeTemporaryAllocation(byteCount: smallMessageBytes, alignment: 16) { buffer in
            withUnsafeTemporaryAllocation(of: LengthPrefix.self, capacity: nestedSizesKept) { prefixes in
                var writer = OnePassWriter(buffer, prefixes: prefixes)
                traverse(&writer)
                return writer.failed ? nil : Array(SplicedBytes(writer))
            }
        }
    }

    /// The two-pass encoding: exact size first (keeping the sizes of embedded messages), then one allocation and
    /// one write pass.
    @inlinable
    func twoPassBytes() -> [UInt8] {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: nestedSizesKept) { nestedSizes in
            var sizer = ProtoSizer(recordingInto: nestedSizes)
            traverse(&sizer)
            let size = sizer.size
            let measured = sizer.recordedSizes
            if size <= mediumMessageBytes {
                // On the stack first, then copied into an array through the standard library's specialised
                // collection-copy path: `Array(unsafeUninitializedCapacity:)` looks the array's generic metadata up
                // on every call.
                return withUnsafeTemporaryAllocation(byteCount: size, alignment: 16) { scratch in
                    var writer = ProtoWriter(scratch, measuredSizes: measured)
                    traverse(&writer)
                    precondition(writer.position == size, "ProtoMessage.traverse visited different fields on two passes")
                    return Array(UnsafeRawBufferPointer(scratch))
                }
            }
            return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                var writer = ProtoWriter(UnsafeMutableRawBufferPointer(buffer), measuredSizes: measured)
                traverse(&writer)
                precondition(writer.position == size, "ProtoMessage.traverse visited different fields on two passes")
                initialized = size
            }
        }
    }

    /// Encodes the message into a caller-provided region that is at least `encodedSize` bytes long (for example
    /// after a gRPC 5-byte prefix). Returns the number of bytes written.
    @inlinable
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var writer = ProtoWriter(buffer)
        traverse(&writer)
        return writer.position
    }
}
