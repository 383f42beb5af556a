/// Receives the fields of a message from `ProtoMessage.traverse`. Two visitors exist: `ProtoSizer` (the exact
/// size) and `ProtoWriter` (the bytes). Message code calls the typed helpers in the extension below; the
/// requirements are the five primitive shapes every protobuf field is made of.
public protocol ProtoFieldVisitor {
    mutating func visitVarint(_ value: UInt64, field: Int)
    mutating func visitFixed32(_ value: UInt32, field: Int)
    mutating func visitFixed64(_ value: UInt64, field: Int)
    /// A length-delimited field whose content is `bytes`.
    mutating func visitBytes(_ bytes: UnsafeRawBufferPointer, field: Int)
    /// A `string` field, always written (the sizer needs only its UTF-8 length, which native strings know).
    mutating func visitStringValue(_ value: String, field: Int)
    /// An embedded message (or map entry), always written: its presence is the information. Taking the message
    /// itself, rather than a closure over it, keeps the message borrowed instead of copied.
    mutating func visitMessage<M: ProtoMessage>(_ message: borrowing M, field: Int)
    /// A repeated message field, each element written as `visitMessage` writes it.
    mutating func visitRepeatedMessages<M: ProtoMessage>(_ messages: [M], field: Int)
    /// A packed run of varints whose content is `size` bytes long.
    mutating func visitPackedVarints<C: Collection>(_ values: C, size: Int, field: Int, _ convert: (C.Element) -> UInt64)
    /// A packed run of fixed-width little-endian elements, copied in bulk on little-endian hosts.
    mutating func visitPackedFixed<T: BitwiseCopyable>(_ values: [T], field: Int)
}

/// Byte counts of the wire format's pieces.
public enum ProtoSize {
    @inlinable
    public static func varint(_ value: UInt64) -> Int {
        // 1 + floor((bits - 1) / 7) for value > 0, computed without a loop.
        let bits = 64 &- (value | 1).leadingZeroBitCount
        return (bits &+ 6) / 7
    }

    @inlinable
    public static func tag(_ field: Int) -> Int {
        varint(UInt64(truncatingIfNeeded: field) << 3)
    }

    /// Size of a length-delimited field with `length` bytes of content, tag included.
    @inlinable
    public static func lengthDelimited(_ length: Int, field: Int) -> Int {
        // In-memory lengths: far from overflowing.
        tag(field) &+ varint(UInt64(truncatingIfNeeded: length)) &+ length
    }
}

// MARK: Typed helpers. Singular helpers leave out default values (proto3 implicit presence); pass
// `explicit: true` for `optional` and oneof members, which are written even when they hold the default.
extension ProtoFieldVisitor {
    @inlinable @inline(__always) public mutating func visitInt32(_ value: Int32, field: Int, explicit: Bool = false) {
        if value != 0 || explicit { visitVarint(UInt64(bitPattern: Int64(value)), field: field) }
    }

    @inlinable @inline(__always) public mutating func visitInt64(_ value: Int64, field: Int, explicit: Bool = false) {
        if value != 0 || explicit { visitVarint(UInt64(bitPattern: value), field: field) }
    }

    @inlinable @inline(__always) public mutating func visitUInt32(_ value: UInt32, field: Int, explicit: Bool = false) {
        if value != 0 || explicit { visitVarint(UInt64(value), field: field) }
    }

    @inlinable @inline(__always) public mutating func visitUInt64(_ value: UInt64, field: Int, explicit: Bool = false) {
        if value != 0 || explicit { visitVarint(value, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitSInt32(_ value: Int32, field: Int, explicit: Bool = false) {
        if value != 0 || explicit { visitVarint(UInt64(ZigZag.encode(value)), field: field) }
    }

    @inlinable @inline(__always) public mutating func visitSInt64(_ value: Int64, field: Int, explicit: Bool = false) {
        if value != 0 || explicit { visitVarint(ZigZag.encode(value), field: field) }
    }

    @inlinable @inline(__always) public mutating func visitBool(_ value: Bool, field: Int, explicit: Bool = false) {
        if value || explicit { visitVarint(value ? 1 : 0, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitEnum(_ rawValue: Int32, field: Int, explicit: Bool = false) {
        visitInt32(rawValue, field: field, explicit: explicit)
    }

    @inlinable @inline(__always) public mutating func visitFixed32(_ value: UInt32, field: Int, explicit: Bool) {
        if value != 0 || explicit { visitFixed32(value, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitFixed64(_ value: UInt64, field: Int, explicit: Bool) {
        if value != 0 || explicit { visitFixed64(value, field: field) }
    }

    /// proto3 leaves out +0.0 only; -0.0 has a set sign bit and is written.
    @inlinable @inline(__always) public mutating func visitFloat(_ value: Float, field: Int, explicit: Bool = false) {
        if value.bitPattern != 0 || explicit { visitFixed32(value.bitPattern, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitDouble(_ value: Double, field: Int, explicit: Bool = false) {
        if value.bitPattern != 0 || explicit { visitFixed64(value.bitPattern, field: field) }
    }

    @inlinable @inline(__always)
    public mutating func visitString(_ value: String, field: Int, explicit: Bool = false) {
        guard !value.isEmpty || explicit else { return }
        visitStringValue(value, field: field)
    }

    @inlinable @inline(__always) public mutating func visitBytes(_ value: [UInt8], field: Int, explicit: Bool = false) {
        guard !value.isEmpty || explicit else { return }
        value.withUnsafeBytes { visitBytes($0, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitRepeatedMessages<M: ProtoMessage>(_ messages: [M], field: Int) {
        // Through the buffer: `for message in messages` (or `messages[i]`) copies every element, retaining and
        // releasing each of its fields; an unsafe buffer element is borrowed in place.
        messages.withUnsafeBufferPointer { buffer in
            for index in buffer.indices { visitMessage(buffer[index], field: field) }
        }
    }

    @inlinable @inline(__always) public mutating func visitRepeatedStrings(_ values: [String], field: Int) {
        for index in values.indices { visitStringValue(values[index], field: field) }
    }

    @inlinable @inline(__always) public mutating func visitRepeatedBytes(_ values: [[UInt8]], field: Int) {
        for value in values { visitBytes(value, field: field, explicit: true) }
    }

    // Packed repeated scalars (proto3's default encoding). Empty arrays are left out.

    @inlinable @inline(__always)
    mutating func visitPacked<T>(_ values: [T], field: Int, _ convert: (T) -> UInt64) {
        guard !values.isEmpty else { return }
        values.withUnsafeBufferPointer { visitPacked($0, field: field, convert) }
    }

    @inlinable @inline(__always)
    mutating func visitPacked<T>(_ buffer: UnsafeBufferPointer<T>, field: Int, _ convert: (T) -> UInt64) {
        guard !buffer.isEmpty else { return }
        var size = 0
        for index in buffer.indices { size &+= ProtoSize.varint(convert(buffer[index])) }
        visitPackedVarints(buffer, size: size, field: field, convert)
    }

    @inlinable @inline(__always) public mutating func visitPackedInt32(_ values: [Int32], field: Int) {
        visitPacked(values, field: field) { UInt64(bitPattern: Int64($0)) }
    }

    @inlinable @inline(__always) public mutating func visitPackedInt64(_ values: [Int64], field: Int) {
        visitPacked(values, field: field) { UInt64(bitPattern: $0) }
    }

    /// A packed `int64` run held outside an array (a shape held inline); empty runs are left out.
    @inlinable @inline(__always)
    public mutating func visitPackedInt64(_ values: UnsafeBufferPointer<Int64>, field: Int) {
        visitPacked(values, field: field) { UInt64(bitPattern: $0) }
    }

    @inlinable @inline(__always) public mutating func visitPackedUInt32(_ values: [UInt32], field: Int) {
        visitPacked(values, field: field) { UInt64($0) }
    }

    @inlinable @inline(__always) public mutating func visitPackedUInt64(_ values: [UInt64], field: Int) {
        visitPacked(values, field: field) { $0 }
    }

    @inlinable @inline(__always) public mutating func visitPackedSInt32(_ values: [Int32], field: Int) {
        visitPacked(values, field: field) { UInt64(ZigZag.encode($0)) }
    }

    @inlinable @inline(__always) public mutating func visitPackedSInt64(_ values: [Int64], field: Int) {
        visitPacked(values, field: field) { ZigZag.encode($0) }
    }

    @inlinable @inline(__always) public mutating func visitPackedBool(_ values: [Bool], field: Int) {
        visitPacked(values, field: field) { $0 ? 1 : 0 }
    }

    @inlinable @inline(__always) public mutating func visitPackedEnum(_ values: [Int32], field: Int) {
        visitPackedInt32(values, field: field)
    }

    @inlinable @inline(__always) public mutating func visitPackedFloat(_ values: [Float], field: Int) {
        if !values.isEmpty { visitPackedFixed(values, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitPackedDouble(_ values: [Double], field: Int) {
        if !values.isEmpty { visitPackedFixed(values, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitPackedFixed32(_ values: [UInt32], field: Int) {
        if !values.isEmpty { visitPackedFixed(values, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitPackedFixed64(_ values: [UInt64], field: Int) {
        if !values.isEmpty { visitPackedFixed(values, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitPackedSFixed32(_ values: [Int32], field: Int) {
        if !values.isEmpty { visitPackedFixed(values, field: field) }
    }

    @inlinable @inline(__always) public mutating func visitPackedSFixed64(_ values: [Int64], field: Int) {
        if !values.isEmpty { visitPackedFixed(values, field: field) }
    }
}
