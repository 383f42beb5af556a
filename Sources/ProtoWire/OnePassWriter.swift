/// Where a length prefix goes when `OnePassWriter`'s bytes are copied out: at `offset` in its buffer (the first
/// content byte of an embedded message, right after its tag), the varint `length`.
@usableFromInline
struct LengthPrefix {
    @usableFromInline var offset: Int
    @usableFromInline var length: Int

    @inlinable init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

/// Encodes a small message in one pass, without a size pass: `serializedBytes()` runs it first for every message.
///
/// It writes into a fixed stack buffer everything but the length prefixes of embedded messages, which it cannot
/// know before their contents are written; it records each one instead (`LengthPrefix`, in buffer order, since a
/// message's prefix is taken before those inside it), and `SplicedBytes` inserts them while copying the bytes into
/// the exact-size result. A message that does not fit in the buffer, or has more embedded messages than there are
/// prefix slots, makes `failed` true, and `serializedBytes()` encodes it in two passes instead.
///
/// Every write first checks that its bytes fit in the buffer (the bytes of a field plus 15, a tag and a varint of
/// the most bytes they can take); a field that fails the check is left out and the whole attempt is discarded, so
/// nothing is written past the buffer whatever the message holds.
@usableFromInline
struct OnePassWriter: ProtoFieldVisitor {
    /// The buffer, its cursor and the unchecked writes.
    @usableFromInline var bytes: ProtoWriter
    @usableFromInline let prefixes: UnsafeMutableBufferPointer<LengthPrefix>
    @usableFromInline var prefixCount = 0
    /// Bytes of the length prefixes recorded so far (those of finished embedded messages).
    @usableFromInline var prefixBytes = 0
    /// A field did not fit, or an embedded message found no prefix slot: the bytes are incomplete.
    @usableFromInline var failed = false

    /// `buffer` and `prefixes` must outlive the writer.
    @inlinable
    init(_ buffer: UnsafeMutableRawBufferPointer, prefixes: UnsafeMutableBufferPointer<LengthPrefix>) {
        bytes = ProtoWriter(buffer)
        self.prefixes = prefixes
    }

    /// The size of the message once its length prefixes are inserted.
    @inlinable var encodedSize: Int { bytes.position &+ prefixBytes }

    /// True when `content` bytes plus a tag and a varint fit; else marks the attempt failed.
    @inlinable @inline(__always)
    mutating func fits(content: Int) -> Bool {
        if content <= bytes.remaining &- 15 { return true }
        failed = true
        return false
    }

    @inlinable @inline(__always)
    mutating func visitVarint(_ value: UInt64, field: Int) {
        guard fits(content: 0) else { return }
        bytes.putTag(field, .varint)
        bytes.putVarint(value)
    }

    @inlinable @inline(__always)
    mutating func visitFixed32(_ value: UInt32, field: Int) {
        guard fits(content: 4) else { return }
        bytes.putTag(field, .fixed32)
        bytes.putFixed32(value)
    }

    @inlinable @inline(__always)
    mutating func visitFixed64(_ value: UInt64, field: Int) {
        guard fits(content: 8) else { return }
        bytes.putTag(field, .fixed64)
        bytes.putFixed64(value)
    }

    @inlinable @inline(__always)
    mutating func visitBytes(_ content: UnsafeRawBufferPointer, field: Int) {
        let count = content.count
        guard fits(content: count) else { return }
        bytes.putTag(field, .lengthDelimited)
        bytes.putVarint(UInt64(truncatingIfNeeded: count))
        bytes.putBytes(content)
    }

    @inlinable @inline(__always)
    mutating func visitStringValue(_ value: String, field: Int) {
        withUTF8Bytes(of: value) { visitBytes($0, field: field) }
    }

    @inlinable @inline(__always)
    mutating func visitMessage<M: ProtoMessage>(_ message: borrowing M, field: Int) {
        guard fits(content: 0) else { return }
        guard prefixCount < prefixes.count else {
            failed = true
            return
        }
        bytes.putTag(field, .lengthDelimited)
        // The slot is taken before the message's own embedded messages take theirs: slots stay in buffer order.
        let slot = prefixCount
        prefixCount &+= 1
        let contentStart = bytes.position
        let prefixBytesBefore = prefixBytes
        message.traverse(&self)
        // The message's content: what it wrote here plus the prefixes of the messages inside it.
        let length = (bytes.position &- contentStart) &+ (prefixBytes &- prefixBytesBefore)
        prefixes[slot] = LengthPrefix(offset: contentStart, length: length)
        prefixBytes &+= ProtoSize.varint(UInt64(truncatingIfNeeded: length))
    }

    @inlinable @inline(__always)
    mutating func visitRepeatedMessages<M: ProtoMessage>(_ messages: [M], field: Int) {
        forEachBorrowed(messages) { visitMessage($0, field: field) }
    }

    @inlinable @inline(__always)
    mutating func visitPackedVarints<C: Collection>(
        _ values: C, size: Int, field: Int, _ convert: (C.Element) -> UInt64
    ) {
        // `size` comes from the caller; each element is checked too, so a wrong one cannot write past the buffer.
        guard size >= 0, fits(content: size) else {
            failed = true
            return
        }
        bytes.putTag(field, .lengthDelimited)
        bytes.putVarint(UInt64(truncatingIfNeeded: size))
        let expectedEnd = bytes.position &+ size
        for value in values {
            guard fits(content: 0) else { return }
            bytes.putVarint(convert(value))
        }
        if bytes.position != expectedEnd { failed = true }
    }

    @inlinable @inline(__always)
    mutating func visitPackedFixed<T: BitwiseCopyable>(_ values: [T], field: Int) {
        let byteCount = values.count &* MemoryLayout<T>.size
        guard fits(content: byteCount) else { return }
        bytes.putTag(field, .lengthDelimited)
        bytes.putVarint(UInt64(truncatingIfNeeded: byteCount))
        bytes.putPackedFixed(values)
    }
}

/// The bytes `OnePassWriter` wrote, with its length prefixes inserted (`ArrayFillingBytes`): the runs between
/// prefixes are copied and each prefix written between them. It points into the writer's stack buffers.
@usableFromInline
struct SplicedBytes: ArrayFillingBytes {
    @usableFromInline let written: UnsafeRawBufferPointer
    @usableFromInline let prefixes: UnsafeBufferPointer<LengthPrefix>
    @usableFromInline let size: Int

    @inlinable
    init(_ writer: OnePassWriter) {
        written = UnsafeRawBufferPointer(start: writer.bytes.start, count: writer.bytes.position)
        prefixes = UnsafeBufferPointer(rebasing: writer.prefixes[0..<writer.prefixCount])
        size = writer.encodedSize
    }

    @inlinable
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var target = ProtoWriter(buffer)
        var copied = 0
        for prefix in prefixes {
            // Offsets only grow (slots are taken in buffer order) and lie within what was written.
            precondition(prefix.offset >= copied && prefix.offset <= written.count, "SplicedBytes: prefix out of order")
            target.writeRawBytes(UnsafeRawBufferPointer(rebasing: written[copied..<prefix.offset]))
            target.writeVarint(UInt64(truncatingIfNeeded: prefix.length))
            copied = prefix.offset
        }
        target.writeRawBytes(UnsafeRawBufferPointer(rebasing: written[copied...]))
        precondition(target.position == size, "SplicedBytes: length prefixes disagree with the message size")
    }
}
