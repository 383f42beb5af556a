/// A cursor over protobuf bytes: it owns the read position, the bounds of the message being read, the remaining
/// nesting budget and the tag of the field just read.
///
/// A reader borrows memory it does not own (the closure scope of `withUnsafeBytes`); it must not outlive that
/// scope. `ProtoMessage.init(serializedBytes:)` is the safe entry point; message types only see readers handed
/// to their `decodeField(_:from:)`.
///
/// Every length is checked against the bytes left before anything is allocated, so a hostile length prefix of
/// 2^31 fails with `lengthExceedsInput` instead of allocating.
public struct ProtoReader {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var position: Int
    @usableFromInline var end: Int
    @usableFromInline var depthLeft: Int
    @usableFromInline let maxDepth: Int
    /// Field number of the tag most recently returned by `nextField()`.
    @usableFromInline var currentField: Int = 0
    @usableFromInline var currentWireType: WireType = .varint
    /// Decoded bytes the message may still take (`DecodingLimits.decodeBudget`); shared by nested readers, which
    /// hand what is left back to their parent.
    @usableFromInline var budgetLeft: Int
    @usableFromInline let budget: Int

    /// Field number of the tag most recently returned by `nextField()`.
    @inlinable public var fieldNumber: Int { currentField }
    /// Wire type of the tag most recently returned by `nextField()`.
    @inlinable public var wireType: WireType { currentWireType }

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits = .default) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
        self.depthLeft = limits.maxDepth
        self.maxDepth = limits.maxDepth
        self.budget = limits.decodeBudget(wireBytes: bytes.count)
        self.budgetLeft = budget
    }

    /// Counts `bytes` of decoded memory against the message's budget; throws once it is spent.
    @inlinable @inline(__always)
    mutating func charge(_ bytes: Int) throws {
        budgetLeft &-= bytes
        if budgetLeft < 0 {
            throw WireDecodingError.decodedSizeExceedsBudget(wireBytes: self.bytes.count, budget: budget)
        }
    }

    /// True when every byte of the current message has been consumed.
    @inlinable public var isAtEnd: Bool { position >= end }

    /// Bytes left in the current message.
    @inlinable public var remaining: Int { end - position }

    // MARK: Tags

    /// Reads the next tag. Returns its field number, or nil at the end of the current message.
    @inlinable
    public mutating func nextField() throws -> Int? {
        guard position < end else { return nil }
        let (number, type) = try readTag()
        if type == .endGroup { throw WireDecodingError.mismatchedGroup }
        currentField = number
        currentWireType = type
        return number
    }

    @inlinable
    mutating func readTag() throws -> (Int, WireType) {
        // One-byte tags (fields 1-15) are the common case.
        if position < end, bytes[position] < 0x80 {
            let tag = bytes[position]
            if let type = WireType(rawValue: tag & 7), tag >= 8 {
                position += 1
                return (Int(tag >> 3), type)
            }
        }
        let tag = try readVarint()
        guard let type = WireType(rawValue: UInt8(truncatingIfNeeded: tag & 7)) else {
            throw WireDecodingError.invalidWireType(UInt8(truncatingIfNeeded: tag & 7))
        }
        let number = tag >> 3
        guard number >= 1, number <= UInt64(maxFieldNumber) else {
            throw WireDecodingError.invalidFieldNumber(number)
        }
        return (Int(number), type)
    }

    /// Skips the value of the current field (any wire type, groups included, however nested).
    public mutating func skipField() throws {
        try skipValue(wireType, number: fieldNumber)
    }

    @usableFromInline
    mutating func skipValue(_ type: WireType, number: Int) throws {
        switch type {
        case .varint:
            _ = try readVarint()
        case .fixed64:
            try advance(8)
        case .fixed32:
            try advance(4)
        case .lengthDelimited:
            let length = try readLength()
            position += length
        case .startGroup:
            guard depthLeft > 0 else { throw WireDecodingError.depthLimitExceeded(limit: maxDepth) }
            depthLeft -= 1
            defer { depthLeft += 1 }
            while true {
                guard position < end else { throw WireDecodingError.truncated }
                let (innerNumber, innerType) = try readTag()
                if innerType == .endGroup {
                    guard innerNumber == number else { throw WireDecodingError.mismatchedGroup }
                    return
                }
                try skipValue(innerType, number: innerNumber)
            }
        case .endGroup:
            throw WireDecodingError.mismatchedGroup
        }
    }

    @inlinable
    mutating func expect(_ type: WireType) throws {
        guard wireType == type else {
            throw WireDecodingError.wireTypeMismatch(field: fieldNumber, expected: type, got: wireType)
        }
    }

    @inlinable
    mutating func advance(_ count: Int) throws {
        guard end - position >= count else { throw WireDecodingError.truncated }
        position += count
    }

    // MARK: Primitive reads

    /// Reads a base-128 varint of at most 10 bytes; rejects longer encodings and values above 2^64 - 1.
    @inlinable @inline(__always)
    public mutating func readVarint() throws -> UInt64 {
        // One byte (values below 128: lengths of small fields, enums, small ints) is the common case and inlined;
        // longer varints take the out-of-line loop.
        if position < end {
            let first = bytes[position]
            if first < 0x80 {
                position += 1
                return UInt64(first)
            }
        }
        return try readMultiByteVarint()
    }

    @usableFromInline
    mutating func readMultiByteVarint() throws -> UInt64 {
        guard position < end else { throw WireDecodingError.truncated }
        let first = bytes[position]
        var result = UInt64(first & 0x7F)
        var shift: UInt64 = 7
        var cursor = position + 1
        while true {
            guard cursor < end else { throw WireDecodingError.truncated }
            let byte = bytes[cursor]
            cursor += 1
            if shift == 63 {
                // The 10th byte may only carry the 64th bit and must end the varint.
                guard byte <= 1 else { throw WireDecodingError.overlongVarint }
                result |= UInt64(byte) << 63
                position = cursor
                return result
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                position = cursor
                return result
            }
            shift += 7
        }
    }

    /// Reads a length prefix and checks it against the bytes left in the current message.
    @inlinable @inline(__always)
    public mutating func readLength() throws -> Int {
        // Two-byte lengths (128 B-16 KiB: tensors of small messages) are inlined here too.
        if end - position >= 2 {
            let first = bytes[position]
            let second = bytes[position + 1]
            if first >= 0x80, second < 0x80 {
                let length = Int(first & 0x7F) | Int(second) << 7
                position += 2
                guard length <= end - position else {
                    throw WireDecodingError.lengthExceedsInput(length: UInt64(length), remaining: end - position)
                }
                return length
            }
        }
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw WireDecodingError.lengthExceedsInput(length: length, remaining: end - position)
        }
        return Int(length)
    }

    @inlinable
    mutating func readRawFixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw WireDecodingError.truncated }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return UInt32(littleEndian: value)
    }

    @inlinable
    mutating func readRawFixed64() throws -> UInt64 {
        guard end - position >= 8 else { throw WireDecodingError.truncated }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position += 8
        return UInt64(littleEndian: value)
    }

    // MARK: Singular fields (the current field's wire type is checked)

    @inlinable public mutating func readUInt64() throws -> UInt64 {
        try expect(.varint)
        return try readVarint()
    }

    @inlinable public mutating func readInt64() throws -> Int64 {
        Int64(bitPattern: try readUInt64())
    }

    /// `int32` is sign-extended to 64 bits on the wire; protobuf truncates on decode.
    @inlinable public mutating func readInt32() throws -> Int32 {
        Int32(truncatingIfNeeded: try readUInt64())
    }

    @inlinable public mutating func readUInt32() throws -> UInt32 {
        UInt32(truncatingIfNeeded: try readUInt64())
    }

    @inlinable public mutating func readSInt32() throws -> Int32 {
        ZigZag.decode(UInt32(truncatingIfNeeded: try readUInt64()))
    }

    @inlinable public mutating func readSInt64() throws -> Int64 {
        ZigZag.decode(try readUInt64())
    }

    @inlinable public mutating func readBool() throws -> Bool {
        try readUInt64() != 0
    }

    /// Enums decode as their raw number so that values unknown to this build are kept.
    @inlinable public mutating func readEnum() throws -> Int32 {
        try readInt32()
    }

    @inlinable public mutating func readFixed32() throws -> UInt32 {
        try expect(.fixed32)
        return try readRawFixed32()
    }

    @inlinable public mutating func readSFixed32() throws -> Int32 {
        Int32(bitPattern: try readFixed32())
    }

    @inlinable public mutating func readFloat() throws -> Float {
        Float(bitPattern: try readFixed32())
    }

    @inlinable public mutating func readFixed64() throws -> UInt64 {
        try expect(.fixed64)
        return try readRawFixed64()
    }

    @inlinable public mutating func readSFixed64() throws -> Int64 {
        Int64(bitPattern: try readFixed64())
    }

    @inlinable public mutating func readDouble() throws -> Double {
        Double(bitPattern: try readFixed64())
    }

    /// Reads a `bytes` field into a new array (one copy, after the length is checked).
    @inlinable public mutating func readBytes() throws -> [UInt8] {
        try expect(.lengthDelimited)
        let length = try readLength()
        let result = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)]))
        position += length
        return result
    }

    /// Reads a `string` field; invalid UTF-8 is a decode error, as in proto3.
    @inlinable public mutating func readString() throws -> String {
        try expect(.lengthDelimited)
        let length = try readLength()
        let string = UTF8Validation.string(in: bytes, at: position, count: length)
        guard let string else {
            throw WireDecodingError.invalidUTF8(field: fieldNumber)
        }
        position += length
        return string
    }

    /// Reads a length-delimited field (string, bytes, message) and returns where its payload lies in the buffer the
    /// reader was made over: no copy and no UTF-8 check (a caller that peeks at one field without decoding).
    @inlinable public mutating func readLengthDelimitedRange() throws -> Range<Int> {
        try expect(.lengthDelimited)
        let length = try readLength()
        let start = position
        position += length
        return start..<position
    }

    // MARK: Embedded messages

    /// Decodes an embedded message field into a new value.
    @inlinable public mutating func readMessage<M: ProtoMessage>(_ type: M.Type = M.self) throws -> M {
        var message = M()
        try mergeMessage(into: &message)
        return message
    }

    /// Decodes an embedded message field and appends it to `messages` (a repeated message field). The element is
    /// decoded in place, where it will stay, instead of in a temporary that is then moved into the array; if
    /// decoding fails, the array is left as it was.
    @inlinable public mutating func appendMessage<M: ProtoMessage>(to messages: inout [M]) throws {
        try expect(.lengthDelimited)
        let length = try readLength()
        guard depthLeft > 0 else { throw WireDecodingError.depthLimitExceeded(limit: maxDepth) }
        try charge(MemoryLayout<M>.stride)
        if messages.isEmpty {
            // The first element (most repeated fields have one): an array literal allocates exactly one slot,
            // without `append`'s growth path.
            messages = [M()]
        } else {
            messages.append(M())
        }
        // As `withNestedMessage`, without its closure.
        var nested = self
        nested.end = position + length
        nested.depthLeft = depthLeft - 1
        do {
            try messages[messages.count - 1].merge(from: &nested)
        } catch {
            messages.removeLast()
            throw error
        }
        budgetLeft = nested.budgetLeft
        position += length
    }

    /// Merges an embedded message field into `message`: a singular message field that occurs several times is
    /// merged, as protobuf requires.
    @inlinable public mutating func mergeMessage<M: ProtoMessage>(into message: inout M) throws {
        try expect(.lengthDelimited)
        try withNestedMessage { nested in try message.merge(from: &nested) }
    }

    /// Runs `body` with a reader bounded to the current length-delimited field and one level less nesting budget;
    /// the outer reader continues after the field.
    @inlinable
    public mutating func withNestedMessage<R>(_ body: (inout ProtoReader) throws -> R) throws -> R {
        try expect(.lengthDelimited)
        let length = try readLength()
        guard depthLeft > 0 else { throw WireDecodingError.depthLimitExceeded(limit: maxDepth) }
        var nested = self
        nested.end = position + length
        nested.depthLeft = depthLeft - 1
        let result = try body(&nested)
        budgetLeft = nested.budgetLeft
        position += length
        return result
    }

    // MARK: Repeated scalars: packed and unpacked both accepted, and any number of runs of either

    @inlinable
    mutating func appendVarints<T>(into values: inout [T], _ convert: (UInt64) -> T) throws {
        switch wireType {
        case .varint:
            try charge(MemoryLayout<T>.stride)
            values.append(convert(try readVarint()))
        case .lengthDelimited:
            let length = try readLength()
            let runEnd = position + length
            // Every varint ends in exactly one byte below 0x80 (a 10th byte too), so counting those bytes gives
            // the exact number of elements, bounded by the input size; a run whose last byte continues a varint
            // is truncated.
            guard length == 0 || bytes[runEnd - 1] < 0x80 else { throw WireDecodingError.truncated }
            let count = Self.varintCount(bytes, from: position, to: runEnd)
            try charge(count &* MemoryLayout<T>.stride)
            let savedEnd = end
            end = runEnd
            defer { end = savedEnd }
            if values.isEmpty, count <= 4 {
                // Short runs into an empty field (shapes): an array literal, which allocates exactly `count`
                // elements without `reserveCapacity`'s growth path or its malloc size query.
                switch count {
                case 0:
                    break
                case 1:
                    values = [convert(try readVarint())]
                case 2:
                    let first = convert(try readVarint())
                    values = [first, convert(try readVarint())]
                case 3:
                    let first = convert(try readVarint())
                    let second = convert(try readVarint())
                    values = [first, second, convert(try readVarint())]
                default:
                    let first = convert(try readVarint())
                    let second = convert(try readVarint())
                    let third = convert(try readVarint())
                    values = [first, second, third, convert(try readVarint())]
                }
            } else {
                values.reserveCapacity(values.count + count)
                while position < end {
                    values.append(convert(try readVarint()))
                }
            }
        default:
            throw WireDecodingError.wireTypeMismatch(field: fieldNumber, expected: .lengthDelimited, got: wireType)
        }
    }

    /// The number of bytes below 0x80 in `bytes[start..<end]`, eight at a time.
    @inlinable @inline(__always)
    static func varintCount(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int {
        var count = 0
        var index = start
        while end - index >= 8 {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            count += 8 - (word & 0x8080_8080_8080_8080).nonzeroBitCount
            index += 8
        }
        while index < end {
            if bytes[index] < 0x80 { count += 1 }
            index += 1
        }
        return count
    }

    @inlinable public mutating func readRepeatedInt64(into values: inout [Int64]) throws {
        try appendVarints(into: &values) { Int64(bitPattern: $0) }
    }

    /// Reads a repeated `int64` field, packed or not, into a collection other than an array (a shape held
    /// inline), one element at a time; `[Int64]` has the overload above, which allocates a packed run once.
    @inlinable
    public mutating func readRepeatedInt64<C: RangeReplaceableCollection>(into values: inout C) throws
    where C.Element == Int64 {
        switch wireType {
        case .varint:
            try charge(MemoryLayout<Int64>.stride)
            values.append(Int64(bitPattern: try readVarint()))
        case .lengthDelimited:
            let length = try readLength()
            let runEnd = position + length
            // As in `appendVarints`: a run whose last byte continues a varint is truncated, and a run of more than
            // four bytes (more elements than a shape holds inline, perhaps) reserves its exact element count
            // (bounded by the input) once before the elements are appended.
            guard length == 0 || bytes[runEnd - 1] < 0x80 else { throw WireDecodingError.truncated }
            if length > 4 {
                let count = Self.varintCount(bytes, from: position, to: runEnd)
                try charge(count &* MemoryLayout<Int64>.stride)
                values.reserveCapacity(values.count + count)
            }
            let savedEnd = end
            end = runEnd
            defer { end = savedEnd }
            while position < end {
                values.append(Int64(bitPattern: try readVarint()))
            }
        default:
            throw WireDecodingError.wireTypeMismatch(field: fieldNumber, expected: .lengthDelimited, got: wireType)
        }
    }

    @inlinable public mutating func readRepeatedUInt64(into values: inout [UInt64]) throws {
        try appendVarints(into: &values) { $0 }
    }

    @inlinable public mutating func readRepeatedInt32(into values: inout [Int32]) throws {
        try appendVarints(into: &values) { Int32(truncatingIfNeeded: $0) }
    }

    @inlinable public mutating func readRepeatedUInt32(into values: inout [UInt32]) throws {
        try appendVarints(into: &values) { UInt32(truncatingIfNeeded: $0) }
    }

    @inlinable public mutating func readRepeatedSInt32(into values: inout [Int32]) throws {
        try appendVarints(into: &values) { ZigZag.decode(UInt32(truncatingIfNeeded: $0)) }
    }

    @inlinable public mutating func readRepeatedSInt64(into values: inout [Int64]) throws {
        try appendVarints(into: &values) { ZigZag.decode($0) }
    }

    @inlinable public mutating func readRepeatedBool(into values: inout [Bool]) throws {
        try appendVarints(into: &values) { $0 != 0 }
    }

    @inlinable public mutating func readRepeatedEnum(into values: inout [Int32]) throws {
        try readRepeatedInt32(into: &values)
    }

    /// Fixed-width elements: `T` is a 4- or 8-byte trivial type stored little-endian on the wire. On little-endian
    /// hosts a packed run is copied in bulk.
    @inlinable
    mutating func appendFixed<T: BitwiseCopyable>(
        into values: inout [T],
        unpackedType: WireType,
        _ single: (inout ProtoReader) throws -> T
    ) throws {
        if wireType == unpackedType {
            values.append(try single(&self))
            return
        }
        guard wireType == .lengthDelimited else {
            throw WireDecodingError.wireTypeMismatch(field: fieldNumber, expected: .lengthDelimited, got: wireType)
        }
        let length = try readLength()
        let size = MemoryLayout<T>.size
        guard length % size == 0 else { throw WireDecodingError.malformedPackedField(field: fieldNumber) }
        let source = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
        #if _endian(little)
        // The run copies itself into the array's storage in one `copyMemory` (`_copyContents`), from the
        // unaligned wire bytes: no stack copy to align, and the allocation paths specialised here
        // (`[T](unsafeUninitializedCapacity:)` costs a generic metadata lookup per call, most of a small decode's
        // float field). Into an empty field (one run per field, the usual case) the array has exactly the run's
        // elements.
        let run = UnalignedLittleEndianRun<T>(source)
        if values.isEmpty {
            values = Array(run)
        } else {
            values.append(contentsOf: run)
        }
        position += length
        #else
        let savedEnd = end
        end = position + length
        defer { end = savedEnd }
        values.reserveCapacity(values.count + length / size)
        while position < end { values.append(try single(&self)) }
        #endif
    }

    @inlinable public mutating func readRepeatedFloat(into values: inout [Float]) throws {
        try appendFixed(into: &values, unpackedType: .fixed32) { Float(bitPattern: try $0.readRawFixed32()) }
    }

    @inlinable public mutating func readRepeatedDouble(into values: inout [Double]) throws {
        try appendFixed(into: &values, unpackedType: .fixed64) { Double(bitPattern: try $0.readRawFixed64()) }
    }

    @inlinable public mutating func readRepeatedFixed32(into values: inout [UInt32]) throws {
        try appendFixed(into: &values, unpackedType: .fixed32) { try $0.readRawFixed32() }
    }

    @inlinable public mutating func readRepeatedFixed64(into values: inout [UInt64]) throws {
        try appendFixed(into: &values, unpackedType: .fixed64) { try $0.readRawFixed64() }
    }

    @inlinable public mutating func readRepeatedSFixed32(into values: inout [Int32]) throws {
        try appendFixed(into: &values, unpackedType: .fixed32) { Int32(bitPattern: try $0.readRawFixed32()) }
    }

    @inlinable public mutating func readRepeatedSFixed64(into values: inout [Int64]) throws {
        try appendFixed(into: &values, unpackedType: .fixed64) { Int64(bitPattern: try $0.readRawFixed64()) }
    }
}

#if _endian(little)
/// The elements of a packed fixed-width run, read in place from (possibly unaligned) wire bytes on a little-endian
/// host. `Array(_:)` and `Array.append(contentsOf:)` ask it to copy itself into the array's new storage
/// (`_copyContents`), which it does with one `copyMemory`; element-wise access is only the protocols' fallback.
@usableFromInline
struct UnalignedLittleEndianRun<Element: BitwiseCopyable>: RandomAccessCollection {
    @usableFromInline let source: UnsafeRawBufferPointer

    /// `source.count` must be a multiple of the element size.
    @inlinable init(_ source: UnsafeRawBufferPointer) {
        self.source = source
    }

    @inlinable var elementCount: Int { source.count / MemoryLayout<Element>.size }

    @inlinable var underestimatedCount: Int { elementCount }

    @inlinable var startIndex: Int { 0 }

    @inlinable var endIndex: Int { elementCount }

    @inlinable subscript(position: Int) -> Element {
        precondition(position >= 0 && position < elementCount, "UnalignedLittleEndianRun index out of range")
        return source.loadUnaligned(fromByteOffset: position * MemoryLayout<Element>.size, as: Element.self)
    }

    @inlinable func makeIterator() -> Iterator {
        Iterator(source: source, index: 0)
    }

    @inlinable
    func _copyContents(initializing buffer: UnsafeMutableBufferPointer<Element>) -> (Iterator, Int) {
        let copied = Swift.min(elementCount, buffer.count)
        if copied > 0, let target = buffer.baseAddress, let start = source.baseAddress {
            UnsafeMutableRawPointer(target).copyMemory(from: start, byteCount: copied * MemoryLayout<Element>.size)
        }
        return (Iterator(source: source, index: copied), copied)
    }

    @usableFromInline
    struct Iterator: IteratorProtocol {
        @usableFromInline let source: UnsafeRawBufferPointer
        @usableFromInline var index: Int

        @inlinable init(source: UnsafeRawBufferPointer, index: Int) {
            self.source = source
            self.index = index
        }

        @inlinable mutating func next() -> Element? {
            let offset = index * MemoryLayout<Element>.size
            guard source.count - offset >= MemoryLayout<Element>.size else { return nil }
            index += 1
            return source.loadUnaligned(fromByteOffset: offset, as: Element.self)
        }
    }
}
#endif
