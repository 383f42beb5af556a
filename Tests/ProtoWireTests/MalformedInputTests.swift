import ProtoWire
import Testing

/// Inputs the decoder must reject, each with the precise error it must name.
@Suite struct MalformedInputTests {
    // MARK: Varints

    @Test func elevenByteVarintIsOverlong() {
        assertDecodeFails([0x08] + [UInt8](repeating: 0x80, count: 10) + [0x00], .overlongVarint)
    }

    @Test func tenthVarintByteAboveOneIsOverlong() {
        for tenth: UInt8 in [0x02, 0x03, 0x7F, 0x81, 0xFF] {
            assertDecodeFails([0x08] + [UInt8](repeating: 0xFF, count: 9) + [tenth], .overlongVarint)
        }
        assertDecodeFails([UInt8](repeating: 0x80, count: 9) + [0x02], .overlongVarint)  // in a tag
    }

    @Test func tenByteVarintsUpToTwoToTheSixtyFourAreAccepted() throws {
        let max = try AllTypes(serializedBytes: [0x20] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(max.fUInt64 == .max)
        let padded = try AllTypes(serializedBytes: [0x20] + [UInt8](repeating: 0x80, count: 9) + [0x00])
        #expect(padded.fUInt64 == 0)
    }

    @Test func truncatedVarint() {
        assertDecodeFails([0x08, 0x80], .truncated)
        assertDecodeFails([0x08], .truncated)
        assertDecodeFails([0x80], .truncated)  // inside the tag
        assertDecodeFails([0x08] + [UInt8](repeating: 0xFF, count: 9), .truncated)
        assertDecodeFails(Wire.tag(31, 2) + [0x02, 0x80, 0x80], .truncated)  // inside a packed run
        assertDecodeFails(Wire.tag(1000, 0) + [0xFF], .truncated)  // an unknown field
    }

    @Test func truncatedFixedWidthValues() {
        assertDecodeFails(Wire.tag(7, 5) + [1, 2, 3], .truncated)
        assertDecodeFails(Wire.tag(8, 1) + [1, 2, 3, 4, 5, 6, 7], .truncated)
        assertDecodeFails(Wire.tag(11, 5), .truncated)
        assertDecodeFails(Wire.tag(12, 1) + [0], .truncated)
        assertDecodeFails(Wire.tag(57, 5) + [1, 2], .truncated)  // unpacked repeated
        assertDecodeFails(Wire.tag(1000, 5) + [1, 2, 3], .truncated)  // unknown
        assertDecodeFails(Wire.tag(1000, 1) + [1, 2, 3], .truncated)
    }

    @Test func truncatedLengthDelimitedValues() {
        assertDecodeFails(Wire.tag(14, 2), .truncated)
        assertDecodeFails(Wire.tag(14, 2) + [0x80], .truncated)
        assertDecodeFails(Wire.tag(14, 2) + [5] + Array("ab".utf8), .lengthExceedsInput(length: 5, remaining: 2))
        assertDecodeFails(Wire.tag(15, 2) + [1], .lengthExceedsInput(length: 1, remaining: 0))
        assertDecodeFails(Wire.tag(70, 2) + [3, 0x08], .lengthExceedsInput(length: 3, remaining: 1))
        assertDecodeFails(Wire.tag(41, 2) + [8, 0, 0, 0, 0], .lengthExceedsInput(length: 8, remaining: 4))
        assertDecodeFails(Wire.tag(1000, 2) + [2, 0], .lengthExceedsInput(length: 2, remaining: 1))
    }

    @Test func lengthInsideANestedMessageIsBoundedByThatMessage() {
        // Field 70 holds 2 bytes: a string tag and a length of 5. The 5 bytes exist after the nested message, but
        // belong to the outer one.
        let bytes = Wire.tag(70, 2) + [2] + Wire.tag(2, 2) + [5] + Array("hello".utf8)
        assertDecodeFails(bytes, .lengthExceedsInput(length: 5, remaining: 0))
        // The same for a varint and a fixed32 running past the end of the nested message.
        assertDecodeFails(Wire.tag(70, 2) + [2, 0x08, 0x80, 0x01], .truncated)
        assertDecodeFails(Wire.tag(70, 2) + [3, 0x4D, 0, 0, 0, 0], .truncated)  // unknown fixed32 field 9
    }

    // MARK: Tags

    @Test func wireTypesSixAndSevenAreInvalid() {
        assertDecodeFails(Wire.tag(1, 6), .invalidWireType(6))
        assertDecodeFails(Wire.tag(1, 7), .invalidWireType(7))
        assertDecodeFails(Wire.tag(1000, 6) + [0], .invalidWireType(6))
        assertDecodeFails(Wire.delimited(70, Wire.tag(9, 7)), .invalidWireType(7))
        assertDecodeFails(Wire.group(1000, Wire.tag(2, 6)), .invalidWireType(6))
    }

    @Test func fieldNumberZeroIsInvalid() {
        assertDecodeFails([0x00, 0x00], .invalidFieldNumber(0))
        assertDecodeFails([0x02, 0x00], .invalidFieldNumber(0))
        assertDecodeFails([0x80, 0x00], .invalidFieldNumber(0))  // a padded zero tag
        assertDecodeFails(Wire.delimited(70, [0x00]), .invalidFieldNumber(0))
    }

    @Test func fieldNumberAboveTwoToTheTwentyNineMinusOneIsInvalid() throws {
        assertDecodeFails(Wire.tag(1 << 29, 0) + [0], .invalidFieldNumber(1 << 29))
        assertDecodeFails(Wire.varint(UInt64.max &- 7) + [0], .invalidFieldNumber(UInt64.max >> 3))
        let highest = try AllTypes(serializedBytes: Wire.varint(maxFieldNumber, 7))
        #expect(highest.fMaxField == 7)
    }

    @Test func knownFieldWithTheWrongWireType() {
        assertDecodeFails(Wire.fixed32(1, 5), .wireTypeMismatch(field: 1, expected: .varint, got: .fixed32))
        assertDecodeFails(Wire.varint(7, 5), .wireTypeMismatch(field: 7, expected: .fixed32, got: .varint))
        assertDecodeFails(Wire.fixed32(8, 5), .wireTypeMismatch(field: 8, expected: .fixed64, got: .fixed32))
        assertDecodeFails(Wire.varint(14, 5), .wireTypeMismatch(field: 14, expected: .lengthDelimited, got: .varint))
        assertDecodeFails(Wire.varint(70, 5), .wireTypeMismatch(field: 70, expected: .lengthDelimited, got: .varint))
        assertDecodeFails(Wire.group(1, []), .wireTypeMismatch(field: 1, expected: .varint, got: .startGroup))
        assertDecodeFails(Wire.fixed64(31, 5), .wireTypeMismatch(field: 31, expected: .lengthDelimited, got: .fixed64))
        assertDecodeFails(Wire.varint(41, 5), .wireTypeMismatch(field: 41, expected: .lengthDelimited, got: .varint))
        assertDecodeFails(Wire.fixed32(42, 5), .wireTypeMismatch(field: 42, expected: .lengthDelimited, got: .fixed32))
    }

    // MARK: Strings

    @Test(arguments: [
        [0xC3, 0x28],  // a bad continuation byte
        [0xC0, 0x80],  // an overlong NUL
        [0xED, 0xA0, 0x80],  // a UTF-16 surrogate
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xE2, 0x82],  // a truncated sequence
        [0xFF],
        [0x61, 0x80],
    ] as [[UInt8]])
    func invalidUTF8IsRejectedInEveryStringField(invalid: [UInt8]) {
        assertDecodeFails(Wire.delimited(14, invalid), .invalidUTF8(field: 14))
        assertDecodeFails(Wire.delimited(44, "ok") + Wire.delimited(44, invalid), .invalidUTF8(field: 44))
        assertDecodeFails(Wire.delimited(80, invalid), .invalidUTF8(field: 80))
        assertDecodeFails(Wire.delimited(70, Wire.delimited(2, invalid)), .invalidUTF8(field: 2))
        assertDecodeFails(Wire.delimited(72, Wire.delimited(1, invalid)), .invalidUTF8(field: 1))
    }

    @Test func invalidUTF8InBytesFieldsIsKept() throws {
        let message = try AllTypes(serializedBytes: Wire.delimited(15, [0xFF, 0xC0, 0x80]))
        #expect(message.fBytes == [0xFF, 0xC0, 0x80])
    }

    // MARK: Depth

    @Test func nestingBeyondTheDepthLimitFails() throws {
        assertDecodeFails(Recursive.chain(depth: 101).serializedBytes(), as: Recursive.self, .depthLimitExceeded(limit: 100))
        assertDecodeFails(Recursive.chain(depth: 1000).serializedBytes(), as: Recursive.self, .depthLimitExceeded(limit: 100))
        #expect(try Recursive(serializedBytes: Recursive.chain(depth: 100).serializedBytes()).depth == 100)
    }

    @Test func customDepthLimit() throws {
        let limits = DecodingLimits(maxDepth: 5)
        #expect(try Recursive(serializedBytes: Recursive.chain(depth: 5).serializedBytes(), limits: limits).depth == 5)
        assertDecodeFails(Recursive.chain(depth: 6).serializedBytes(), as: Recursive.self, .depthLimitExceeded(limit: 5), limits: limits)
        assertDecodeFails(Wire.delimited(70, []), .depthLimitExceeded(limit: 0), limits: DecodingLimits(maxDepth: 0))
        #expect(try AllTypes(serializedBytes: Wire.varint(1, 3), limits: DecodingLimits(maxDepth: 0)).fInt32 == 3)
    }

    @Test func deeplyNestedUnknownGroupsFail() throws {
        _ = try AllTypes(serializedBytes: Wire.nestedGroups(depth: 100))
        assertDecodeFails(Wire.nestedGroups(depth: 101), .depthLimitExceeded(limit: 100))
        assertDecodeFails(Wire.nestedGroups(depth: 100_000), .depthLimitExceeded(limit: 100))
        // Groups and messages draw on one budget: 50 messages deep leaves room for 50 groups, not 51.
        func groupsInsideChain(_ groups: Int) -> [UInt8] {
            var bytes = Wire.nestedGroups(depth: groups)
            for _ in 0..<50 { bytes = Wire.delimited(1, bytes) }
            return bytes
        }
        #expect(try Recursive(serializedBytes: groupsInsideChain(50)).depth == 50)
        assertDecodeFails(groupsInsideChain(51), as: Recursive.self, .depthLimitExceeded(limit: 100))
    }

    @Test func hugelyNestedMessagesFailWithoutExhaustingTheStack() {
        // 2,000 levels of Recursive.child: each level is a tag and a length around the next.
        var bytes: [UInt8] = []
        for _ in 0..<2000 { bytes = Wire.delimited(1, bytes) }
        assertDecodeFails(bytes, as: Recursive.self, .depthLimitExceeded(limit: 100))
    }

    // MARK: Groups

    @Test func mismatchedEndGroup() {
        assertDecodeFails(Wire.tag(1, 4), .mismatchedGroup)  // an end with no start
        assertDecodeFails(Wire.tag(1000, 4), .mismatchedGroup)
        assertDecodeFails(Wire.tag(1005, 3) + Wire.tag(1006, 4), .mismatchedGroup)  // ended by another number
        assertDecodeFails(Wire.tag(1000, 3) + Wire.tag(1001, 3) + Wire.tag(1000, 4) + Wire.tag(1001, 4), .mismatchedGroup)
        assertDecodeFails(Wire.delimited(70, Wire.tag(1000, 4)), .mismatchedGroup)  // inside a nested message
        assertDecodeFails(Wire.delimited(70, Wire.tag(1000, 3)) + Wire.tag(1000, 4), .truncated)  // across its end
    }

    @Test func unterminatedGroupIsTruncated() {
        assertDecodeFails(Wire.tag(1000, 3), .truncated)
        assertDecodeFails(Wire.tag(1000, 3) + Wire.varint(1, 1), .truncated)
    }

    @Test func groupWithContentIsSkipped() throws {
        let content = Wire.varint(1, 1) + Wire.fixed32(2, 3) + Wire.fixed64(3, 4) + Wire.delimited(4, "x")
            + Wire.group(5, Wire.varint(1, 1))
        let message = try AllTypes(serializedBytes: Wire.group(1000, content) + Wire.varint(1, 9))
        #expect(message.fInt32 == 9)
    }

    // MARK: Packed runs

    @Test func packedFixedWidthRunWithAPartialElement() {
        for length in [1, 2, 3, 5, 7] {
            assertDecodeFails(Wire.delimited(41, [UInt8](repeating: 0, count: length)), .malformedPackedField(field: 41))
            assertDecodeFails(Wire.delimited(37, [UInt8](repeating: 0, count: length)), .malformedPackedField(field: 37))
            assertDecodeFails(Wire.delimited(61, [UInt8](repeating: 0, count: length)), .malformedPackedField(field: 61))
        }
        for length in [1, 4, 7, 9, 12] {
            assertDecodeFails(Wire.delimited(42, [UInt8](repeating: 0, count: length)), .malformedPackedField(field: 42))
            assertDecodeFails(Wire.delimited(40, [UInt8](repeating: 0, count: length)), .malformedPackedField(field: 40))
        }
        // After a good run, a bad one still fails (the append path rather than the bulk copy).
        let good = Wire.delimited(41, [UInt8](repeating: 0, count: 8))
        assertDecodeFails(good + Wire.delimited(41, [0, 0, 0, 0, 0]), .malformedPackedField(field: 41))
    }

    @Test func emptyPackedRunsAddNothing() throws {
        let message = try AllTypes(serializedBytes: Wire.delimited(31, []) + Wire.delimited(41, []) + Wire.delimited(42, []))
        #expect(message == AllTypes())
    }
}
