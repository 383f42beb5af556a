import ProtoWire

// Hand-written mirrors of Tools/fixtures/wiretest.proto, written the way product message types are: one `case`
// per field in `decodeField`, fields visited in number order in `traverse`. Field numbers are repeated here on
// purpose; the golden fixtures catch any drift from the .proto file.

/// `tensorwire.wiretest.Color`, kept as its raw number so unknown values survive.
enum WireColor {
    static let unspecified: Int32 = 0
    static let red: Int32 = 1
    static let green: Int32 = 2
    static let blue: Int32 = 3
    static let negative: Int32 = -1
}

/// `tensorwire.wiretest.Nested`.
struct Nested: ProtoMessage, Equatable {
    var a: Int32 = 0
    var b = ""
    var c: [Int32] = []

    init() {}

    init(a: Int32 = 0, b: String = "", c: [Int32] = []) {
        self.a = a
        self.b = b
        self.c = c
    }

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: a = try reader.readInt32()
        case 2: b = try reader.readString()
        case 3: try reader.readRepeatedInt32(into: &c)
        default: try reader.skipField()
        }
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitInt32(a, field: 1)
        visitor.visitString(b, field: 2)
        visitor.visitPackedInt32(c, field: 3)
    }
}

/// `tensorwire.wiretest.Recursive`.
struct Recursive: ProtoMessage, Equatable {
    private var storage: [Recursive] = []
    var value: Int32 = 0

    /// The child message, boxed in an array because a struct cannot contain itself.
    var child: Recursive? {
        get { storage.first }
        set { storage = newValue.map { [$0] } ?? [] }
    }

    init() {}

    /// A chain of `depth` messages below the root; the one at level `n` has value `n`.
    static func chain(depth: Int) -> Recursive {
        var node = Recursive()
        for level in stride(from: depth, through: 1, by: -1) {
            var parent = Recursive()
            node.value = Int32(level)
            parent.child = node
            node = parent
        }
        return node
    }

    /// Levels below this message.
    var depth: Int {
        var count = 0
        var node = self
        while let next = node.child {
            count += 1
            node = next
        }
        return count
    }

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1:
            var existing = child ?? Recursive()
            try reader.mergeMessage(into: &existing)
            child = existing
        case 2: value = try reader.readInt32()
        default: try reader.skipField()
        }
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        if let child { visitor.visitMessage(child, field: 1) }
        visitor.visitInt32(value, field: 2)
    }
}

/// Map entry of `map<string, int32>`: key and value are always written, as protobuf's encoders do.
struct StringInt32Entry: ProtoMessage {
    var key = ""
    var value: Int32 = 0

    init() {}

    init(key: String, value: Int32) {
        self.key = key
        self.value = value
    }

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: key = try reader.readString()
        case 2: value = try reader.readInt32()
        default: try reader.skipField()
        }
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(key, field: 1, explicit: true)
        visitor.visitInt32(value, field: 2, explicit: true)
    }
}

/// Map entry of `map<int32, Nested>`.
struct Int32NestedEntry: ProtoMessage {
    var key: Int32 = 0
    var value = Nested()

    init() {}

    init(key: Int32, value: Nested) {
        self.key = key
        self.value = value
    }

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: key = try reader.readInt32()
        case 2: try reader.mergeMessage(into: &value)
        default: try reader.skipField()
        }
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitInt32(key, field: 1, explicit: true)
        visitor.visitMessage(value, field: 2)
    }
}

/// `tensorwire.wiretest.AllTypes`: every field shape protobuf has.
struct AllTypes: ProtoMessage, Equatable {
    enum Choice: Equatable, Sendable {
        case string(String)
        case int64(Int64)
        case nested(Nested)
    }

    var fInt32: Int32 = 0
    var fInt64: Int64 = 0
    var fUInt32: UInt32 = 0
    var fUInt64: UInt64 = 0
    var fSInt32: Int32 = 0
    var fSInt64: Int64 = 0
    var fFixed32: UInt32 = 0
    var fFixed64: UInt64 = 0
    var fSFixed32: Int32 = 0
    var fSFixed64: Int64 = 0
    var fFloat: Float = 0
    var fDouble: Double = 0
    var fBool = false
    var fString = ""
    var fBytes: [UInt8] = []
    var fEnum: Int32 = 0

    var rInt32: [Int32] = []
    var rInt64: [Int64] = []
    var rUInt32: [UInt32] = []
    var rUInt64: [UInt64] = []
    var rSInt32: [Int32] = []
    var rSInt64: [Int64] = []
    var rFixed32: [UInt32] = []
    var rFixed64: [UInt64] = []
    var rSFixed32: [Int32] = []
    var rSFixed64: [Int64] = []
    var rFloat: [Float] = []
    var rDouble: [Double] = []
    var rBool: [Bool] = []
    var rString: [String] = []
    var rBytes: [[UInt8]] = []
    var rEnum: [Int32] = []

    var uInt32: [Int32] = []
    var uInt64: [Int64] = []
    var uUInt32: [UInt32] = []
    var uUInt64: [UInt64] = []
    var uSInt32: [Int32] = []
    var uSInt64: [Int64] = []
    var uFixed32: [UInt32] = []
    var uFixed64: [UInt64] = []
    var uSFixed32: [Int32] = []
    var uSFixed64: [Int64] = []
    var uFloat: [Float] = []
    var uDouble: [Double] = []
    var uBool: [Bool] = []
    var uEnum: [Int32] = []

    var nested: Nested?
    var rNested: [Nested] = []
    var mapStringInt32: [String: Int32] = [:]
    var mapInt32Nested: [Int32: Nested] = [:]
    var choice: Choice?
    var optInt32: Int32?
    var fMaxField: Int32 = 0

    init() {}

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: fInt32 = try reader.readInt32()
        case 2: fInt64 = try reader.readInt64()
        case 3: fUInt32 = try reader.readUInt32()
        case 4: fUInt64 = try reader.readUInt64()
        case 5: fSInt32 = try reader.readSInt32()
        case 6: fSInt64 = try reader.readSInt64()
        case 7: fFixed32 = try reader.readFixed32()
        case 8: fFixed64 = try reader.readFixed64()
        case 9: fSFixed32 = try reader.readSFixed32()
        case 10: fSFixed64 = try reader.readSFixed64()
        case 11: fFloat = try reader.readFloat()
        case 12: fDouble = try reader.readDouble()
        case 13: fBool = try reader.readBool()
        case 14: fString = try reader.readString()
        case 15: fBytes = try reader.readBytes()
        case 16: fEnum = try reader.readEnum()

        case 31: try reader.readRepeatedInt32(into: &rInt32)
        case 32: try reader.readRepeatedInt64(into: &rInt64)
        case 33: try reader.readRepeatedUInt32(into: &rUInt32)
        case 34: try reader.readRepeatedUInt64(into: &rUInt64)
        case 35: try reader.readRepeatedSInt32(into: &rSInt32)
        case 36: try reader.readRepeatedSInt64(into: &rSInt64)
        case 37: try reader.readRepeatedFixed32(into: &rFixed32)
        case 38: try reader.readRepeatedFixed64(into: &rFixed64)
        case 39: try reader.readRepeatedSFixed32(into: &rSFixed32)
        case 40: try reader.readRepeatedSFixed64(into: &rSFixed64)
        case 41: try reader.readRepeatedFloat(into: &rFloat)
        case 42: try reader.readRepeatedDouble(into: &rDouble)
        case 43: try reader.readRepeatedBool(into: &rBool)
        case 44: rString.append(try reader.readString())
        case 45: rBytes.append(try reader.readBytes())
        case 46: try reader.readRepeatedEnum(into: &rEnum)

        case 51: try reader.readRepeatedInt32(into: &uInt32)
        case 52: try reader.readRepeatedInt64(into: &uInt64)
        case 53: try reader.readRepeatedUInt32(into: &uUInt32)
        case 54: try reader.readRepeatedUInt64(into: &uUInt64)
        case 55: try reader.readRepeatedSInt32(into: &uSInt32)
        case 56: try reader.readRepeatedSInt64(into: &uSInt64)
        case 57: try reader.readRepeatedFixed32(into: &uFixed32)
        case 58: try reader.readRepeatedFixed64(into: &uFixed64)
        case 59: try reader.readRepeatedSFixed32(into: &uSFixed32)
        case 60: try reader.readRepeatedSFixed64(into: &uSFixed64)
        case 61: try reader.readRepeatedFloat(into: &uFloat)
        case 62: try reader.readRepeatedDouble(into: &uDouble)
        case 63: try reader.readRepeatedBool(into: &uBool)
        case 66: try reader.readRepeatedEnum(into: &uEnum)

        case 70:
            var existing = nested ?? Nested()
            try reader.mergeMessage(into: &existing)
            nested = existing
        case 71: rNested.append(try reader.readMessage())
        case 72:
            let entry: StringInt32Entry = try reader.readMessage()
            mapStringInt32[entry.key] = entry.value
        case 73:
            let entry: Int32NestedEntry = try reader.readMessage()
            mapInt32Nested[entry.key] = entry.value

        case 80: choice = .string(try reader.readString())
        case 81: choice = .int64(try reader.readInt64())
        case 82:
            // A oneof message member that occurs again merges into the one already there, if it is the set case.
            var existing = Nested()
            if case .nested(let current) = choice { existing = current }
            try reader.mergeMessage(into: &existing)
            choice = .nested(existing)

        case 90: optInt32 = try reader.readInt32()
        case 536_870_911: fMaxField = try reader.readInt32()
        default: try reader.skipField()
        }
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitInt32(fInt32, field: 1)
        visitor.visitInt64(fInt64, field: 2)
        visitor.visitUInt32(fUInt32, field: 3)
        visitor.visitUInt64(fUInt64, field: 4)
        visitor.visitSInt32(fSInt32, field: 5)
        visitor.visitSInt64(fSInt64, field: 6)
        visitor.visitFixed32(fFixed32, field: 7, explicit: false)
        visitor.visitFixed64(fFixed64, field: 8, explicit: false)
        visitor.visitFixed32(UInt32(bitPattern: fSFixed32), field: 9, explicit: false)
        visitor.visitFixed64(UInt64(bitPattern: fSFixed64), field: 10, explicit: false)
        visitor.visitFloat(fFloat, field: 11)
        visitor.visitDouble(fDouble, field: 12)
        visitor.visitBool(fBool, field: 13)
        visitor.visitString(fString, field: 14)
        visitor.visitBytes(fBytes, field: 15)
        visitor.visitEnum(fEnum, field: 16)

        visitor.visitPackedInt32(rInt32, field: 31)
        visitor.visitPackedInt64(rInt64, field: 32)
        visitor.visitPackedUInt32(rUInt32, field: 33)
        visitor.visitPackedUInt64(rUInt64, field: 34)
        visitor.visitPackedSInt32(rSInt32, field: 35)
        visitor.visitPackedSInt64(rSInt64, field: 36)
        visitor.visitPackedFixed32(rFixed32, field: 37)
        visitor.visitPackedFixed64(rFixed64, field: 38)
        visitor.visitPackedSFixed32(rSFixed32, field: 39)
        visitor.visitPackedSFixed64(rSFixed64, field: 40)
        visitor.visitPackedFloat(rFloat, field: 41)
        visitor.visitPackedDouble(rDouble, field: 42)
        visitor.visitPackedBool(rBool, field: 43)
        visitor.visitRepeatedStrings(rString, field: 44)
        visitor.visitRepeatedBytes(rBytes, field: 45)
        visitor.visitPackedEnum(rEnum, field: 46)

        for value in uInt32 { visitor.visitInt32(value, field: 51, explicit: true) }
        for value in uInt64 { visitor.visitInt64(value, field: 52, explicit: true) }
        for value in uUInt32 { visitor.visitUInt32(value, field: 53, explicit: true) }
        for value in uUInt64 { visitor.visitUInt64(value, field: 54, explicit: true) }
        for value in uSInt32 { visitor.visitSInt32(value, field: 55, explicit: true) }
        for value in uSInt64 { visitor.visitSInt64(value, field: 56, explicit: true) }
        for value in uFixed32 { visitor.visitFixed32(value, field: 57) }
        for value in uFixed64 { visitor.visitFixed64(value, field: 58) }
        for value in uSFixed32 { visitor.visitFixed32(UInt32(bitPattern: value), field: 59) }
        for value in uSFixed64 { visitor.visitFixed64(UInt64(bitPattern: value), field: 60) }
        for value in uFloat { visitor.visitFloat(value, field: 61, explicit: true) }
        for value in uDouble { visitor.visitDouble(value, field: 62, explicit: true) }
        for value in uBool { visitor.visitBool(value, field: 63, explicit: true) }
        for value in uEnum { visitor.visitEnum(value, field: 66, explicit: true) }

        if let nested { visitor.visitMessage(nested, field: 70) }
        visitor.visitRepeatedMessages(rNested, field: 71)
        // Deterministic order, as protobuf's deterministic serialization: string keys by their UTF-8 bytes.
        for key in mapStringInt32.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            visitor.visitMessage(StringInt32Entry(key: key, value: mapStringInt32[key] ?? 0), field: 72)
        }
        for key in mapInt32Nested.keys.sorted() {
            visitor.visitMessage(Int32NestedEntry(key: key, value: mapInt32Nested[key] ?? Nested()), field: 73)
        }

        switch choice {
        case .string(let value): visitor.visitString(value, field: 80, explicit: true)
        case .int64(let value): visitor.visitInt64(value, field: 81, explicit: true)
        case .nested(let value): visitor.visitMessage(value, field: 82)
        case nil: break
        }
        if let optInt32 { visitor.visitInt32(optInt32, field: 90, explicit: true) }
        visitor.visitInt32(fMaxField, field: 536_870_911)
    }
}
