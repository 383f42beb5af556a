@testable import ProtoWire
import Testing
import TestSupport

/// `serializedBytes()` writes messages that fit in 1 KiB in one pass and inserts the length prefixes of embedded
/// messages afterwards (`OnePassWriter`, `SplicedBytes`); everything else takes the two-pass encoder. These tests
/// hold the one-pass bytes to the two-pass bytes where prefixes change width, where the buffer runs out and where
/// the prefix slots do, and check that each message takes the path it should.
@Suite struct OnePassEncodingTests {
    @Test func embeddedLengthsAcrossThePrefixWidthsMatchTwoPass() throws {
        // Nested messages of 0 to 300 bytes: one- and two-byte prefixes, one level and two levels deep.
        for length in 0...300 {
            var outer = AllTypes()
            outer.rNested = [Nested(a: 7, b: String(repeating: "x", count: length))]
            outer.choice = .nested(Nested(b: String(repeating: "é", count: length / 2), c: [1, -1, 300]))
            let onePass = try #require(outer.onePassBytes(), "length \(length)")
            #expect(onePass == outer.twoPassBytes(), "length \(length)")
            #expect(try AllTypes(serializedBytes: onePass) == outer, "length \(length)")
        }
    }

    @Test func nestedChainsUseOnePrefixSlotPerLevel() throws {
        for depth in [0, 1, 2, 31, 32, 33, 40] {
            let chain = Recursive.chain(depth: depth)
            let onePass = chain.onePassBytes()
            // A chain of `depth` levels holds `depth` embedded messages; 32 slots.
            #expect((onePass == nil) == (depth > nestedSizesKept), "depth \(depth)")
            if let onePass { #expect(onePass == chain.twoPassBytes(), "depth \(depth)") }
            #expect(chain.serializedBytes() == chain.twoPassBytes(), "depth \(depth)")
            #expect(try Recursive(serializedBytes: chain.serializedBytes()) == chain, "depth \(depth)")
        }
    }

    @Test func moreRepeatedMessagesThanPrefixSlotsTakeTwoPasses() throws {
        for count in [31, 32, 33, 100] {
            var message = AllTypes()
            message.rNested = (0..<count).map { Nested(a: Int32($0), b: "n\($0)") }
            #expect((message.onePassBytes() == nil) == (count > nestedSizesKept), "count \(count)")
            #expect(message.serializedBytes() == message.twoPassBytes(), "count \(count)")
        }
    }

    @Test func messagesAroundOneKiBTakeWhicheverPathFits() throws {
        for padding in stride(from: 900, through: 1100, by: 1) {
            var message = AllTypes()
            message.fString = "model"
            message.fBytes = [UInt8](repeating: 0xAB, count: padding)
            message.rNested = [Nested(a: 1, b: "tail")]
            let size = message.encodedSize
            let onePass = message.onePassBytes()
            // Each field needs its bytes plus 15 free: anything up to 1024 - 15 bytes fits, nothing over 1024 does.
            if size <= smallMessageBytes - 15 { #expect(onePass != nil, "size \(size)") }
            if size > smallMessageBytes { #expect(onePass == nil, "size \(size)") }
            let bytes = message.serializedBytes()
            #expect(bytes.count == size, "size \(size)")
            #expect(bytes == message.twoPassBytes(), "size \(size)")
            if let onePass { #expect(onePass == bytes, "size \(size)") }
        }
    }

    @Test func randomMessagesEncodeAlikeOnBothPaths() throws {
        var random = SplitMix64(seed: 0x0E1)
        var onePassCount = 0
        for index in 0..<500 {
            let message = AllTypes.random(using: &random)
            let twoPass = message.twoPassBytes()
            if let onePass = message.onePassBytes() {
                onePassCount += 1
                #expect(onePass == twoPass, "message \(index)")
            }
            #expect(message.serializedBytes() == twoPass, "message \(index)")
        }
        // The random messages are mostly small; a one-pass path that always gave up would still pass the above.
        #expect(onePassCount > 100)
    }

    @Test func splicedBytesAsACollectionAgreeWithTheirCopy() {
        var message = AllTypes()
        message.rNested = [Nested(a: 3, b: String(repeating: "y", count: 200)), Nested(c: [5, 6])]
        let expected = message.twoPassBytes()
        withUnsafeTemporaryAllocation(byteCount: smallMessageBytes, alignment: 16) { buffer in
            withUnsafeTemporaryAllocation(of: LengthPrefix.self, capacity: nestedSizesKept) { prefixes in
                var writer = OnePassWriter(buffer, prefixes: prefixes)
                message.traverse(&writer)
                #expect(!writer.failed)
                let spliced = SplicedBytes(writer)
                #expect(spliced.count == expected.count)
                #expect(Array(spliced) == expected)
                // The element-wise paths (never used by `Array(_:)`) give the same bytes.
                #expect(spliced.map { $0 } == expected)
                for index in stride(from: 0, to: expected.count, by: 37) {
                    #expect(spliced[index] == expected[index])
                }
            }
        }
    }

    @Test func measuredMessageBytesAsACollectionAgreeWithTheirCopy() {
        var message = AllTypes()
        message.fBytes = [UInt8](repeating: 7, count: 1500)
        message.rNested = [Nested(a: 3, b: "y"), Nested(c: [5, 6])]
        let expected = EncodingPassTests.plainEncoding(message)
        #expect(message.onePassBytes() == nil)
        #expect(message.serializedBytes() == expected)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: nestedSizesKept) { nestedSizes in
            var sizer = ProtoSizer(recordingInto: nestedSizes)
            message.traverse(&sizer)
            withUnsafePointer(to: message) { pointer in
                let bytes = MeasuredMessageBytes(message: pointer, size: sizer.size, measuredSizes: sizer.recordedSizes)
                #expect(bytes.count == expected.count)
                #expect(Array(bytes) == expected)
                // The element-wise paths (never used by `Array(_:)`) give the same bytes.
                #expect(bytes.map { $0 } == expected)
                for index in stride(from: 0, to: expected.count, by: 401) {
                    #expect(bytes[index] == expected[index])
                }
            }
        }
    }
}
