/// The size pass of two-pass encoding: adds up the exact encoded size of the fields it visits.
public struct ProtoSizer: ProtoFieldVisitor {
    @usableFromInline var total = 0
    /// The exact encoded size of everything visited so far.
    @inlinable public var size: Int { total }

    @inlinable public init() {}

    @inlinable public mutating func visitVarint(_ value: UInt64, field: Int) {
        total += ProtoSize.tag(field) + ProtoSize.varint(value)
    }

    @inlinable public mutating func visitFixed32(_ value: UInt32, field: Int) {
        total += ProtoSize.tag(field) + 4
    }

    @inlinable public mutating func visitFixed64(_ value: UInt64, field: Int) {
        total += ProtoSize.tag(field) + 8
    }

    @inlinable public mutating func visitBytes(_ bytes: UnsafeRawBufferPointer, field: Int) {
        total += ProtoSize.lengthDelimited(bytes.count, field: field)
    }

    @inlinable public mutating func visitStringValue(_ value: String, field: Int) {
        total += ProtoSize.lengthDelimited(value.utf8.count, field: field)
    }

    @inlinable public mutating func visitMessage<M: ProtoMessage>(_ message: borrowing M, field: Int) {
        total += ProtoSize.lengthDelimited(message.encodedSize, field: field)
    }

    @inlinable
    public mutating func visitPackedVarints<C: Collection>(
        _ values: C, size contentSize: Int, field: Int, _ convert: (C.Element) -> UInt64
    ) {
        total += ProtoSize.lengthDelimited(contentSize, field: field)
    }

    @inlinable public mutating func visitPackedFixed<T: BitwiseCopyable>(_ values: [T], field: Int) {
        total += ProtoSize.lengthDelimited(values.count * MemoryLayout<T>.size, field: field)
    }
}

/// The write pass of two-pass encoding: writes fields into a buffer the size pass measured. It owns the write
/// position; the memory belongs to the caller. Every write is bounds-checked, so a size pass that disagreed with
/// the write pass stops the process instead of writing past the buffer.
public struct ProtoWriter: ProtoFieldVisitor {
    @usableFromInline let buffer: UnsafeMutableRawBufferPointer
    @usableFromInline var offset = 0
    /// Bytes written so far.
    @inlinable public var position: Int { offset }

    @inlinable public init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.buffer = buffer
    }

    @inlinable
    mutating func reserve(_ count: Int) -> Int {
        precondition(buffer.count - offset >= count, "ProtoWriter: write past the measured size")
        let start = offset
        offset += count
        return start
    }

    @inlinable @inline(__always)
    public mutating func writeVarint(_ value: UInt64) {
        if value < 0x80, offset < buffer.count {
            buffer[offset] = UInt8(truncatingIfNeeded: value)
            offset += 1
            return
        }
        writeMultiByteVarint(value)
    }

    @inlinable
    mutating func writeMultiByteVarint(_ value: UInt64) {
        let count = ProtoSize.varint(value)
        let start = reserve(count)
        var rest = value
        for index in start..<(start + count - 1) {
            buffer[index] = UInt8(truncatingIfNeeded: rest) | 0x80
            rest >>= 7
        }
        buffer[start + count - 1] = UInt8(truncatingIfNeeded: rest)
    }

    @inlinable
    public mutating func writeTag(_ field: Int, _ type: WireType) {
        writeVarint(UInt64(truncatingIfNeeded: field) << 3 | UInt64(type.rawValue))
    }

    @inlinable
    public mutating func writeRawFixed32(_ value: UInt32) {
        let start = reserve(4)
        buffer.storeBytes(of: value.littleEndian, toByteOffset: start, as: UInt32.self)
    }

    @inlinable
    public mutating func writeRawFixed64(_ value: UInt64) {
        let start = reserve(8)
        buffer.storeBytes(of: value.littleEndian, toByteOffset: start, as: UInt64.self)
    }

    @inlinable
    public mutating func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        let start = reserve(bytes.count)
        if bytes.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + bytes.count)]).copyMemory(from: bytes)
        }
    }

    @inlinable public mutating func visitVarint(_ value: UInt64, field: Int) {
        writeTag(field, .varint)
        writeVarint(value)
    }

    @inlinable public mutating func visitFixed32(_ value: UInt32, field: Int) {
        writeTag(field, .fixed32)
        writeRawFixed32(value)
    }

    @inlinable public mutating func visitFixed64(_ value: UInt64, field: Int) {
        writeTag(field, .fixed64)
        writeRawFixed64(value)
    }

    @inlinable public mutating func visitBytes(_ bytes: UnsafeRawBufferPointer, field: Int) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(bytes.count))
        writeRawBytes(bytes)
    }

    @inlinable public mutating func visitStringValue(_ value: String, field: Int) {
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { visitBytes(UnsafeRawBufferPointer($0), field: field) }
        if written == nil {
            var copy = value
            copy.withUTF8 { visitBytes(UnsafeRawBufferPointer($0), field: field) }
        }
    }

    @inlinable public mutating func visitMessage<M: ProtoMessage>(_ message: borrowing M, field: Int) {
        let size = message.encodedSize
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(size))
        let start = offset
        message.traverse(&self)
        precondition(offset - start == size, "ProtoWriter: nested message size changed between passes")
    }

    @inlinable
    public mutating func visitPackedVarints<C: Collection>(
        _ values: C, size: Int, field: Int, _ convert: (C.Element) -> UInt64
    ) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(size))
        for value in values { writeVarint(convert(value)) }
    }

    @inlinable public mutating func visitPackedFixed<T: BitwiseCopyable>(_ values: [T], field: Int) {
        let size = MemoryLayout<T>.size
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(values.count * size))
        #if _endian(little)
        values.withUnsafeBytes { writeRawBytes($0) }
        #else
        for value in values {
            withUnsafeBytes(of: value) { bytes in
                let start = reserve(size)
                for offset in 0..<size { buffer[start + offset] = bytes[size - 1 - offset] }
            }
        }
        #endif
    }
}
