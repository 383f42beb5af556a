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
    /// one write pass straight into it (`MeasuredMessageBytes`).
    @inlinable
    func twoPassBytes() -> [UInt8] {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: nestedSizesKept) { nestedSizes in
            var sizer = ProtoSizer(recordingInto: nestedSizes)
            traverse(&sizer)
            let size = sizer.size
            let measured = sizer.recordedSizes
            return withUnsafePointer(to: self) { message in
                Array(MeasuredMessageBytes(message: message, size: size, measuredSizes: measured))
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

/// Bytes that `Array(_:)` copies into a new array in one call: `Array` allocates `size` bytes through the standard
/// library's specialised path for `[UInt8]` and asks the collection to copy itself into them (`_copyContents`),
/// which runs `fill` there. This is how encoders write straight into the array they return;
/// `Array(unsafeUninitializedCapacity:)` would look the array's generic metadata up on every call, which costs more
/// than the rest of a small encode.
///
/// Conforming values live only for the duration of that `Array(_:)` call (they point at stack memory). Element
/// access, which `Array(_:)` never uses, fills a whole array for each byte: correct, but slow.
@usableFromInline
protocol ArrayFillingBytes: RandomAccessCollection
where Element == UInt8, Index == Int, Indices == Range<Int>, Iterator == IndexingIterator<[UInt8]> {
    /// The number of bytes `fill` writes.
    var size: Int { get }
    /// Writes the `size` bytes into `target`, which is exactly that long.
    func fill(_ target: UnsafeMutableRawBufferPointer)
}

extension ArrayFillingBytes {
    @inlinable var startIndex: Int { 0 }
    @inlinable var endIndex: Int { size }
    @inlinable var underestimatedCount: Int { size }

    @inlinable
    subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < size, "ArrayFillingBytes index out of range")
        return Array(self)[position]
    }

    @inlinable
    func makeIterator() -> IndexingIterator<[UInt8]> {
        Array(self).makeIterator()
    }

    @inlinable
    func _copyContents(initializing buffer: UnsafeMutableBufferPointer<UInt8>) -> (IndexingIterator<[UInt8]>, Int) {
        precondition(buffer.count >= size, "ArrayFillingBytes: buffer smaller than the bytes")
        fill(UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[0..<size])))
        return ([UInt8]().makeIterator(), size)
    }
}

/// A message measured by the size pass, as the bytes the write pass makes of it (`ArrayFillingBytes`). It points at
/// the message and at the size pass's nested sizes.
@usableFromInline
struct MeasuredMessageBytes<Message: ProtoMessage>: ArrayFillingBytes {
    @usableFromInline let message: UnsafePointer<Message>
    @usableFromInline let size: Int
    @usableFromInline let measuredSizes: UnsafeBufferPointer<Int>

    /// `message` is the one the size pass measured; it and `measuredSizes` must outlive the collection.
    @inlinable
    init(message: UnsafePointer<Message>, size: Int, measuredSizes: UnsafeBufferPointer<Int>) {
        self.message = message
        self.size = size
        self.measuredSizes = measuredSizes
    }

    /// Runs the write pass. The message is borrowed as `forEachBorrowed` borrows an element: its bits are moved,
    /// unretained, into a local that the writer's stores cannot reach (calling `traverse` on `message.pointee` would
    /// copy it, a retain and a release per array and string field), and the stack slot they pass through is freed
    /// without being deinitialised. The caller's message keeps everything alive meanwhile.
    @inlinable
    func fill(_ target: UnsafeMutableRawBufferPointer) {
        let written = withUnsafeTemporaryAllocation(of: Message.self, capacity: 1) { slot -> Int in
            guard let slotAddress = slot.baseAddress else { return 0 }
            UnsafeMutableRawPointer(slotAddress).copyMemory(from: message, byteCount: MemoryLayout<Message>.size)
            let local = slotAddress.move()
            var writer = ProtoWriter(target, measuredSizes: measuredSizes)
            local.traverse(&writer)
            slotAddress.initialize(to: local)
            return writer.position
        }
        precondition(written == size, "ProtoMessage.traverse visited different fields on two passes")
    }
}
