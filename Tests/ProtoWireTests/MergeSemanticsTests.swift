import ProtoWire
import Testing

/// protobuf's concatenation semantics: a field that occurs again replaces a scalar, appends to a repeated field
/// and merges into a message.
@Suite struct MergeSemanticsTests {
    @Test func singularNestedMessageOccurringTwiceMerges() throws {
        let bytes = Wire.delimited(70, Wire.varint(1, 1) + Wire.varint(3, 10))
            + Wire.delimited(70, Wire.delimited(2, "second") + Wire.varint(3, 11))
        let message = try AllTypes(serializedBytes: bytes)
        #expect(message.nested == Nested(a: 1, b: "second", c: [10, 11]))
    }

    @Test func laterNestedOccurrenceOverridesItsScalarsOnly() throws {
        let bytes = Wire.delimited(70, Wire.varint(1, 1) + Wire.delimited(2, "kept"))
            + Wire.delimited(70, Wire.varint(1, 2))
        #expect(try AllTypes(serializedBytes: bytes).nested == Nested(a: 2, b: "kept"))
    }

    @Test func scalarOccurringTwiceLastWins() throws {
        let bytes = Wire.varint(1, 1) + Wire.varint(1, 2) + Wire.delimited(14, "a") + Wire.delimited(14, "b")
            + Wire.fixed64(12, Double(1).bitPattern) + Wire.fixed64(12, Double(2).bitPattern)
            + Wire.varint(13, 1) + Wire.varint(13, 0) + Wire.varint(90, 5) + Wire.varint(90, 0)
            + Wire.delimited(15, [1]) + Wire.delimited(15, [])
        let message = try AllTypes(serializedBytes: bytes)
        #expect(message.fInt32 == 2)
        #expect(message.fString == "b")
        #expect(message.fDouble == 2)
        #expect(message.fBool == false)
        #expect(message.optInt32 == 0)
        #expect(message.fBytes == [])
    }

    @Test func packedAndUnpackedRunsAppendInOrder() throws {
        let bytes = Wire.delimited(31, Wire.varint(1) + Wire.varint(2))
            + Wire.varint(1, 99)
            + Wire.varint(31, 3)
            + Wire.delimited(31, [])
            + Wire.delimited(31, Wire.varint(4) + Wire.varint(UInt64(bitPattern: -5)))
            + Wire.varint(31, 6)
            + Wire.fixed32(41, Float(1).bitPattern)
            + Wire.delimited(41, [Float(2), 3].flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { [UInt8]($0) } })
            + Wire.fixed32(41, Float(4).bitPattern)
            + Wire.delimited(51, Wire.varint(7) + Wire.varint(8))  // an unpacked field sent packed
            + Wire.varint(51, 9)
        let message = try AllTypes(serializedBytes: bytes)
        #expect(message.rInt32 == [1, 2, 3, 4, -5, 6])
        #expect(message.rFloat == [1, 2, 3, 4])
        #expect(message.uInt32 == [7, 8, 9])
        #expect(message.fInt32 == 99)
    }

    @Test func repeatedMessagesAndStringsAppend() throws {
        let bytes = Wire.delimited(71, Wire.varint(1, 1)) + Wire.delimited(44, "x") + Wire.delimited(71, [])
            + Wire.delimited(44, "")
        let message = try AllTypes(serializedBytes: bytes)
        #expect(message.rNested == [Nested(a: 1), Nested()])
        #expect(message.rString == ["x", ""])
    }

    @Test func oneofLastMemberWinsAndTheNestedMemberMerges() throws {
        let stringThenInt = Wire.delimited(80, "s") + Wire.varint(81, 5)
        #expect(try AllTypes(serializedBytes: stringThenInt).choice == .int64(5))
        let nestedTwice = Wire.delimited(82, Wire.varint(1, 1)) + Wire.delimited(82, Wire.delimited(2, "b"))
        #expect(try AllTypes(serializedBytes: nestedTwice).choice == .nested(Nested(a: 1, b: "b")))
        let nestedStringNested = Wire.delimited(82, Wire.varint(1, 1)) + Wire.delimited(80, "s")
            + Wire.delimited(82, Wire.delimited(2, "b"))
        #expect(try AllTypes(serializedBytes: nestedStringNested).choice == .nested(Nested(b: "b")))
    }

    @Test func mapDuplicateKeysLastWins() throws {
        let bytes = Wire.delimited(72, Wire.delimited(1, "k") + Wire.varint(2, 1))
            + Wire.delimited(72, Wire.delimited(1, "k") + Wire.varint(2, 2))
            + Wire.delimited(73, Wire.varint(1, 3) + Wire.delimited(2, Wire.varint(1, 1)))
            + Wire.delimited(73, Wire.varint(1, 3) + Wire.delimited(2, Wire.delimited(2, "x")))
        let message = try AllTypes(serializedBytes: bytes)
        #expect(message.mapStringInt32 == ["k": 2])
        #expect(message.mapInt32Nested == [3: Nested(b: "x")])
    }

    /// upb moves such an entry into the parent's unknown fields; C++ and Java keep the entry, and so do we.
    @Test func mapEntryWithAnUnknownFieldIsKept() throws {
        let bytes = Wire.delimited(72, Wire.delimited(1, "k") + Wire.varint(9, 1) + Wire.group(10, []) + Wire.varint(2, 4))
        #expect(try AllTypes(serializedBytes: bytes).mapStringInt32 == ["k": 4])
    }

    @Test func mergeSerializedBytesKeepsWhatIsThere() throws {
        var message = try AllTypes(serializedBytes: Wire.varint(1, 1) + Wire.varint(31, 1) + Wire.delimited(70, Wire.varint(1, 1)))
        try message.merge(serializedBytes: Wire.varint(2, 2) + Wire.varint(31, 2) + Wire.delimited(70, Wire.delimited(2, "b")))
        #expect(message.fInt32 == 1)
        #expect(message.fInt64 == 2)
        #expect(message.rInt32 == [1, 2])
        #expect(message.nested == Nested(a: 1, b: "b"))
    }

    @Test func failedMergeThrowsTheDecodeError() {
        var message = AllTypes()
        #expect(throws: WireDecodingError.truncated) {
            try message.merge(serializedBytes: Wire.varint(1, 7) + [0x10])
        }
    }
}
