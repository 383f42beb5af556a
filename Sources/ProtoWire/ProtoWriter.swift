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

    @inlinable @inline(__always)
    public mutating func visitVarint(_ value: UInt64, field: Int) {
        total &+= ProtoSize.tag(field) &+ ProtoSize.varint(value)
    }

    @inlinable @inline(__always) public mutating func visitFixed32(_ value: UInt32, field: Int) {
        total &+= ProtoSize.tag(field) &+ 4
    }

    @inlinable @inline(__always) public mutating func visitFixed64(_ value: UInt64, field: Int) {
        total &+= ProtoSize.tag(field) &+ 8
    }

    @inlinable @inline(__always) public mutating func visitBytes(_ bytes: UnsafeRawBufferPointer, field: Int) {
        total &+= ProtoSize.lengthDelimited(bytes.count, field: field)
    }

    @inlinable @inline(__always)
    public mutating func visitStringValue(_ value: String, field: Int) {
        total &+= ProtoSize.lengthDelimited(value.utf8.count, field: field)
    }

    @inlinable @inline(__always) public mutating func visitMessage<M: ProtoMessage>(_ message: borrowing M, field: Int) {
        // The slot is taken before the message's own embedded messages are visited: pre-order, as the writer meets
        // them.
        let slot = nestedCount
        nestedCount &+= 1
        let outer = total
        total = 0
        message.traverse(&self)
        let size = total
        if slot < nestedCapacity, let nestedSizes { nestedSizes[slot] = size }
        total = outer &+ ProtoSize.lengthDelimited(size, field: field)
    }

    @inlinable @inline(__always)
    public mutating func visitPackedVarints<C: Collection>(
        _ values: C, size contentSize: Int, field: Int, _ convert: (C.Element) -> UInt64
    ) {
        total &+= ProtoSize.lengthDelimited(contentSize, field: field)
    }

    @inlinable @inline(__always) public mutating func visitPackedFixed<T: BitwiseCopyable>(_ values: [T], field: Int) {
        total &+= ProtoSize.lengthDelimited(values.count &* MemoryLayout<T>.size, field: field)
    }
}

/// Writes fields into a caller's buffer: the write pass of two-pass encoding, and the byte layer under
/// `OnePassWriter` and `SplicedBytes`. It owns the write position; the memory belongs to the caller. Every field
/// checks, once, that all of its bytes fit before it writes any of them, so a size pass that disagreed with the
/// write pass stops the process instead of writing past the buffer.
public struct ProtoWriter: ProtoFieldVisitor {
    /// The first byte of the buffer.
    @usableFromInline let start: UnsafeMutableRawPointer
    /// One past the last byte of the buffer.
    @usableFromInline let end: UnsafeMutableRawPointer
    /// Where the next byte goes; always within `start...end`.
    @usableFromInline var cursor: UnsafeMutableRawPointer
    /// Embedded message sizes from the size pass, in visiting order (none: each is measured when it is written).
    @usableFromInline let measured: UnsafePointer<Int>?
    @usableFromInline let measuredCount: Int
    /// Embedded messages met so far, counted as the size pass counted them.
    @usableFromInline var nestedCount = 0
    /// Bytes written so far.
    @inlinable public var position: Int { Int(bitPattern: cursor) &- Int(bitPattern: start) }

    @inlinable public init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.init(buffer, measured: nil, count: 0)
    }

    /// A writer that takes the sizes of embedded messages from `sizes`, the `recordedSizes` of a sizer that
    /// measured exactly the message this writer will write; `sizes` must outlive the writer.
    @inlinable
    init(_ buffer: UnsafeMutableRawBufferPointer, measuredSizes sizes: UnsafeBufferPointer<Int>) {
        self.init(buffer, measured: sizes.baseAddress, count: sizes.count)
    }

    @inlinable
    init(_ buffer: UnsafeMutableRawBufferPointer, measured: UnsafePointer<Int>?, count: Int) {
        // An empty buffer may have no address; any non-null one does, since nothing is ever written to it: every
        // write first checks that its bytes fit in the zero bytes left.
        let base = buffer.baseAddress ?? UnsafeMutableRawPointer(bitPattern: MemoryLayout<UInt64>.alignment)
        guard let base else { preconditionFailure("ProtoWriter: no address for an empty buffer") }
        start = base
        end = base + buffer.count
        cursor = base
        self.measured = measured
        measuredCount = measured == nil ? 0 : count
    }

    /// Bytes left in the buffer.
    @inlinable @inline(__always)
    var remaining: Int { Int(bitPattern: end) &- Int(bitPattern: cursor) }

    /// Stops the process unless `count` more bytes fit: the one check before a field's unchecked writes.
    @inlinable @inline(__always)
    func require(_ count: Int) {
        precondition(remaining >= count, "ProtoWriter: write past the measured size")
    }

    /// `require` for a field of at most `15 + content` bytes (a tag of up to 5 bytes, a varint or length prefix of
    /// up to 10, then `content` bytes): one comparison when that much room is left, which is every field but the
    /// last few of an exactly sized buffer; those few are measured exactly (`exactSize`).
    @inlinable @inline(__always)
    func require(content: Int, exactSize: () -> Int) {
        if content <= remaining &- 15 { return }
        require(exactSize())
    }

    /// The size of the embedded message met next: from the size pass when it kept it, else measured now.
    @inlinable
    mutating func nextNestedSize<M: ProtoMessage>(of message: borrowing M) -> Int {
        let slot = nestedCount
        nestedCount &+= 1
        if slot < measuredCount, let measured { return measured[slot] }
        return message.encodedSize
    }

    // MARK: Unchecked writes, each after a `require` that covers it.

    @inlinable @inline(__always)
    mutating func putVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            cursor.storeBytes(of: UInt8(truncatingIfNeeded: rest) | 0x80, as: UInt8.self)
            cursor += 1
            rest &>>= 7
        }
        cursor.storeBytes(of: UInt8(truncatingIfNeeded: rest), as: UInt8.self)
        cursor += 1
    }

    @inlinable @inline(__always)
    mutating func putTag(_ field: Int, _ type: WireType) {
        putVarint(UInt64(truncatingIfNeeded: field) &<< 3 | UInt64(type.rawValue))
    }

    @inlinable @inline(__always)
    mutating func putFixed32(_ value: UInt32) {
        cursor.storeBytes(of: value.littleEndian, as: UInt32.self)
        cursor += 4
    }

    @inlinable @inline(__always)
    mutating func putFixed64(_ value: UInt64) {
        cursor.storeBytes(of: value.littleEndian, as: UInt64.self)
        cursor += 8
    }

    /// The elements of a packed fixed-width run, little-endian.
    @inlinable @inline(__always)
    mutating func putPackedFixed<T: BitwiseCopyable>(_ values: [T]) {
        #if _endian(little)
        values.withUnsafeBytes { putBytes($0) }
        #else
        let size = MemoryLayout<T>.size
        for value in values {
            withUnsafeBytes(of: value) { bytes in
                for offset in 0..<size { cursor.storeBytes(of: bytes[size - 1 - offset], toByteOffset: offset, as: UInt8.self) }
                cursor += size
            }
        }
        #endif
    }

    @inlinable @inline(__always)
    mutating func putBytes(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        guard let source = bytes.baseAddress else { return }
        if count <= 16 {
            // Short runs (names, ids) without a call into memcpy: two overlapping loads and stores cover 8-16
            // bytes, 4-8 and 1-3 likewise.
            ProtoWriter.copyShort(from: source, to: cursor, count: count)
        } else {
            cursor.copyMemory(from: source, byteCount: count)
        }
        cursor += count
    }

    // MARK: Checked writes, for hand-written encoders and tests.

    @inlinable @inline(__always)
    public mutating func writeVarint(_ value: UInt64) {
        require(ProtoSize.varint(value))
        putVarint(value)
    }

    @inlinable @inline(__always)
    public mutating func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        require(bytes.count)
        putBytes(bytes)
    }

    /// Copies 0-16 bytes. Every load lies within one aligned 8-byte half of the source: a small string's bytes
    /// were just stored to the stack as two 8-byte words (`withContiguousStorageIfAvailable`), and a load that
    /// straddles the two cannot be forwarded from those stores and stalls.
    @inlinable @inline(__always)
    static func copyShort(from source: UnsafeRawPointer, to target: UnsafeMutableRawPointer, count: Int) {
        if count >= 8 {
            target.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
            var offset = 8
            let rest = count &- 8
            if rest == 8 {
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: 8, as: UInt64.self), toByteOffset: 8, as: UInt64.self)
                return
            }
            if rest & 4 != 0 {
                let word = source.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                target.storeBytes(of: word, toByteOffset: offset, as: UInt32.self)
                offset &+= 4
            }
            if rest & 2 != 0 {
                let half = source.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
                target.storeBytes(of: half, toByteOffset: offset, as: UInt16.self)
                offset &+= 2
            }
            if rest & 1 != 0 {
                target.storeBytes(of: source.load(fromByteOffset: offset, as: UInt8.self), toByteOffset: offset, as: UInt8.self)
            }
        } else if count >= 4 {
            let head = source.loadUnaligned(as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self)
            target.storeBytes(of: head, as: UInt32.self)
            target.storeBytes(of: tail, toByteOffset: count &- 4, as: UInt32.self)
        } else if count > 0 {
            let first = source.load(as: UInt8.self)
            let middle = source.load(fromByteOffset: count / 2, as: UInt8.self)
            let last = source.load(fromByteOffset: count &- 1, as: UInt8.self)
            target.storeBytes(of: first, as: UInt8.self)
            target.storeBytes(of: middle, toByteOffset: count / 2, as: UInt8.self)
            target.storeBytes(of: last, toByteOffset: count &- 1, as: UInt8.self)
        }
    }

    // MARK: Fields: one `require` for all of a field's bytes, then unchecked writes.

    @inlinable @inline(__always) public mutating func visitVarint(_ value: UInt64, field: Int) {
        require(content: 0) { ProtoSize.tag(field) &+ ProtoSize.varint(value) }
        putTag(field, .varint)
        putVarint(value)
    }

    @inlinable @inline(__always) public mutating func visitFixed32(_ value: UInt32, field: Int) {
        require(content: 0) { ProtoSize.tag(field) &+ 4 }
        putTag(field, .fixed32)
        putFixed32(value)
    }

    @inlinable @inline(__always) public mutating func visitFixed64(_ value: UInt64, field: Int) {
        require(content: 0) { ProtoSize.tag(field) &+ 8 }
        putTag(field, .fixed64)
        putFixed64(value)
    }

    @inlinable @inline(__always)
    public mutating func visitBytes(_ bytes: UnsafeRawBufferPointer, field: Int) {
        let count = bytes.count
        require(content: count) { ProtoSize.lengthDelimited(count, field: field) }
        putTag(field, .lengthDelimited)
        putVarint(UInt64(truncatingIfNeeded: count))
        putBytes(bytes)
    }

    @inlinable @inline(__always)
    public mutating func visitStringValue(_ value: String, field: Int) {
        withUTF8Bytes(of: value) { visitBytes($0, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitMessage<M: ProtoMessage>(_ message: borrowing M, field: Int) {
        let size = nextNestedSize(of: message)
        // `size` comes from the caller, not from memory: a negative or oversized one stops here.
        precondition(size >= 0 && size <= remaining, "ProtoWriter: packed run longer than the buffer")
        require(content: size) { ProtoSize.lengthDelimited(size, field: field) }
        putTag(field, .lengthDelimited)
        putVarint(UInt64(truncatingIfNeeded: size))
        let expectedEnd = cursor + size
        message.traverse(&self)
        precondition(cursor == expectedEnd, "ProtoWriter: nested message size changed between passes")
    }

    /// Writes each element as `visitMessage` does, without copying it (`forEachBorrowed`).
    @inlinable @inline(__always)
    public mutating func visitRepeatedMessages<M: ProtoMessage>(_ messages: [M], field: Int) {
        forEachBorrowed(messages) { visitMessage($0, field: field) }
    }

    @inlinable @inline(__always)
    public mutating func visitPackedVarints<C: Collection>(
        _ values: C, size: Int, field: Int, _ convert: (C.Element) -> UInt64
    ) {
        // `size` comes from the caller, not from memory: a negative or oversized one stops here.
        precondition(size >= 0 && size <= remaining, "ProtoWriter: packed run longer than the buffer")
        require(content: size) { ProtoSize.lengthDelimited(size, field: field) }
        putTag(field, .lengthDelimited)
        putVarint(UInt64(truncatingIfNeeded: size))
        let expectedEnd = cursor + size
        for value in values {
            // `size` is the caller's sum over the same values; each element is checked against the end of the
            // whole field as well, so a wrong sum cannot write past the buffer.
            let varint = convert(value)
            precondition(Int(bitPattern: expectedEnd) &- Int(bitPattern: cursor) >= ProtoSize.varint(varint),
                         "ProtoWriter: packed run longer than its size")
            putVarint(varint)
        }
        precondition(cursor == expectedEnd, "ProtoWriter: packed run shorter than its size")
    }

    @inlinable @inline(__always) public mutating func visitPackedFixed<T: BitwiseCopyable>(_ values: [T], field: Int) {
        let byteCount = values.count &* MemoryLayout<T>.size
        require(content: byteCount) { ProtoSize.lengthDelimited(byteCount, field: field) }
        putTag(field, .lengthDelimited)
        putVarint(UInt64(truncatingIfNeeded: byteCount))
        putPackedFixed(values)
    }
}

/// Calls `body` with each element of `messages`, without copying it.
///
/// Borrowing an element in place (`buffer[index]`, or `for message in messages`) makes the compiler copy it whole,
/// a retain and a release per array and string field of the element, when `body` stores through a raw pointer (as
/// the writers do): as far as the optimiser can tell, such a store could change the element while it is borrowed.
/// Instead each element's bits are copied, unretained, into a stack slot, moved out of it into a local that no
/// store can reach, passed to `body`, and moved back; the slot is then freed without being deinitialised, so the
/// unretained copy is never released. The array, borrowed by the caller, keeps every element alive meanwhile.
@inlinable @inline(__always)
func forEachBorrowed<M>(_ messages: [M], _ body: (borrowing M) -> Void) {
    messages.withUnsafeBufferPointer { elements in
        guard let first = elements.baseAddress else { return }
        withUnsafeTemporaryAllocation(of: M.self, capacity: 1) { slot in
            guard let slotAddress = slot.baseAddress else { return }
            for index in elements.indices {
                UnsafeMutableRawPointer(slotAddress).copyMemory(from: first + index, byteCount: MemoryLayout<M>.size)
                let message = slotAddress.move()
                body(message)
                slotAddress.initialize(to: message)
            }
        }
    }
}

/// Calls `body` with the UTF-8 bytes of `value`: in place for native strings (a small string's bytes are copied to
/// the stack first), through a contiguous copy for bridged ones.
@inlinable @inline(__always)
func withUTF8Bytes(of value: String, _ body: (UnsafeRawBufferPointer) -> Void) {
    let done: Void? = value.utf8.withContiguousStorageIfAvailable { body(UnsafeRawBufferPointer($0)) }
    if done == nil {
        var copy = value
        copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}
