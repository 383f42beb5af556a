/// The size pass of two-pass encoding: adds up the exact encoded size of the fields it visits. Made with
/// `init(recordingInto:)`, it also keeps the sizes of the embedded messages it meets, in the order it meets them
/// (pre-order: a message before the messages inside it), for the write pass, which meets them in the same order and
/// so writes each length prefix without measuring the message again (once per enclosing level).
public struct ProtoSizer: ProtoFieldVisitor {
    @usableFromInline var total = 0
    /// Where the sizes of embedded messages go: the first `nestedCapacity` of them; later ones are measured again
    /// by the write pass.
    @usableFromInline var nestedSizes: UnsafeMutablePointer<Int>?
    @usableFromInline var nestedCapacity = 0
    /// Embedded messages met so far (beyond `nestedCapacity` too).
    @usableFromInline var nestedCount = 0
    /// The exact encoded size of everything visited so far.
    @inlinable public var size: Int { total }

    @inlinable public init() {}

    /// A sizer that keeps embedded message sizes in `sizes` (which must outlive it) for `ProtoWriter`.
    @inlinable
    init(recordingInto sizes: UnsafeMutableBufferPointer<Int>) {
        nestedSizes = sizes.baseAddress
        nestedCapacity = sizes.count
    }

    /// The sizes kept so far, in visiting order; valid while the buffer given to `init(recordingInto:)` is.
    @inlinable
    var recordedSizes: UnsafeBufferPointer<Int> {
        UnsafeBufferPointer(start: nestedSizes, count: Swift.min(nestedCount, nestedCapacity))
    }

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
        // The slot is taken before the message's own embedded messages are visited: pre-order, as the writer meets
        // them.
        let slot = nestedCount
        nestedCount &+= 1
        let outer = total
        total = 0
        message.traverse(&self)
        let size = total
        if slot < nestedCapacity, let nestedSizes { nestedSizes[slot] = size }
        total = outer + ProtoSize.lengthDelimited(size, field: field)
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
    /// Embedded message sizes from the size pass, in visiting order (none: each is measured when it is written).
    @usableFromInline let measured: UnsafeBufferPointer<Int>
    /// Embedded messages met so far, counted as the size pass counted them.
    @usableFromInline var nestedCount = 0
    /// Bytes written so far.
    @inlinable public var position: Int { offset }

    @inlinable public init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.buffer = buffer
        self.measured = UnsafeBufferPointer(start: nil, count: 0)
    }

    /// A writer that takes the sizes of embedded messages from `sizes`, the `recordedSizes` of a sizer that
    /// measured exactly the message this writer will write; `sizes` must outlive the writer.
    @inlinable
    init(_ buffer: UnsafeMutableRawBufferPointer, measuredSizes sizes: UnsafeBufferPointer<Int>) {
        self.buffer = buffer
        self.measured = sizes
    }

    /// The size of the embedded message met next: from the size pass when it kept it, else measured now.
    @inlinable
    mutating func nextNestedSize<M: ProtoMessage>(of message: borrowing M) -> Int {
        let slot = nestedCount
        nestedCount &+= 1
        return slot < measured.count ? measured[slot] : message.encodedSize
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
        if value < 0x4000, buffer.count - offset >= 2 {
            // Two bytes: the lengths of fields from 128 bytes to 16 KiB, such as a small tensor's data.
            buffer[offset] = UInt8(truncatingIfNeeded: value) | 0x80
            buffer[offset + 1] = UInt8(truncatingIfNeeded: value >> 7)
            offset += 2
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

    @inlinable @inline(__always)
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

    @inlinable @inline(__always)
    public mutating func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        let start = reserve(count)
        guard let target = buffer.baseAddress, let source = bytes.baseAddress else { return }
        if count <= 16 {
            // Short runs (names, ids) without a call into memcpy: two overlapping loads and stores cover 8-16
            // bytes, 4-8 and 1-3 likewise.
            ProtoWriter.copyShort(from: source, to: target + start, count: count)
        } else {
            (target + start).copyMemory(from: source, byteCount: count)
        }
    }

    /// Copies 0-16 bytes. Every load lies within one aligned 8-byte half of the source: a small string's bytes
    /// were just stored to the stack as two 8-byte words (`withContiguousStorageIfAvailable`), and a load that
    /// straddles the two cannot be forwarded from those stores and stalls.
    @inlinable @inline(__always)
    static func copyShort(from source: UnsafeRawPointer, to target: UnsafeMutableRawPointer, count: Int) {
        if count >= 8 {
            target.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
            var offset = 8
            let rest = count - 8
            if rest == 8 {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: 8, as: UInt64.self), toByteOffset: 8, as: UInt64.self)
                return
            }
            if rest & 4 != 0 {
                let word = source.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                target.storeBytes(of: word, toByteOffset: offset, as: UInt32.self)
                offset += 4
            }
            if rest & 2 != 0 {
                let half = source.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
                target.storeBytes(of: half, toByteOffset: offset, as: UInt16.self)
                offset += 2
            }
            if rest & 1 != 0 {
                target.storeBytes(of: source.load(fromByteOffset: offset, as: UInt8.self), toByteOffset: offset, as: UInt8.self)
            }
        } else if count >= 4 {
            let head = source.loadUnaligned(as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
            target.storeBytes(of: head, as: UInt32.self)
            target.storeBytes(of: tail, toByteOffset: count - 4, as: UInt32.self)
        } else if count > 0 {
            let first = source.load(as: UInt8.self)
            let middle = source.load(fromByteOffset: count / 2, as: UInt8.self)
            let last = source.load(fromByteOffset: count - 1, as: UInt8.self)
            target.storeBytes(of: first, as: UInt8.self)
            target.storeBytes(of: middle, toByteOffset: count / 2, as: UInt8.self)
            target.storeBytes(of: last, toByteOffset: count - 1, as: UInt8.self)
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

    @inlinable @inline(__always)
    public mutating func visitStringValue(_ value: String, field: Int) {
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { visitBytes(UnsafeRawBufferPointer($0), field: field) }
        if written == nil {
            var copy = value
            copy.withUTF8 { visitBytes(UnsafeRawBufferPointer($0), field: field) }
        }
    }

    @inlinable public mutating func visitMessage<M: ProtoMessage>(_ message: borrowing M, field: Int) {
        let size = nextNestedSize(of: message)
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(size))
        let start = offset
        message.traverse(&self)
        precondition(offset - start == size, "ProtoWriter: nested message size changed between passes")
    }

    /// Writes each element as `visitMessage` does, without copying it.
    ///
    /// Borrowing an element in place (`buffer[index]`, or `for message in messages`) makes the compiler copy it
    /// whole, a retain and a release per array and string field of the element, because the writer's stores
    /// through its raw buffer could, as far as the optimiser can tell, change the element while it is borrowed.
    /// Instead each element's bits are copied, unretained, into a stack slot, moved out of it into a local that no
    /// store can reach, visited, and moved back; the slot is then freed without being deinitialised, so the
    /// unretained copy is never released. The array, borrowed by the caller, keeps every element alive meanwhile.
    @inlinable
    public mutating func visitRepeatedMessages<M: ProtoMessage>(_ messages: [M], field: Int) {
        messages.withUnsafeBufferPointer { elements in
            guard let first = elements.baseAddress else { return }
            withUnsafeTemporaryAllocation(of: M.self, capacity: 1) { slot in
                guard let slotAddress = slot.baseAddress else { return }
                for index in elements.indices {
                    UnsafeMutableRawPointer(slotAddress).copyMemory(from: first + index, byteCount: MemoryLayout<M>.size)
                    let message = slotAddress.move()
                    visitMessage(message, field: field)
                    slotAddress.initialize(to: message)
                }
            }
        }
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
