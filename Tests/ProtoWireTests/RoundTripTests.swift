import ProtoWire
import Testing
import TestSupport

/// decode(encode(x)) == x on random messages from a fixed seed, and the size pass agreeing with the write pass.
@Suite struct RoundTripTests {
    @Test func randomMessagesRoundTrip() throws {
        var random = SplitMix64(seed: 0x7E45_0A1E)
        for index in 0..<1000 {
            let message = AllTypes.random(using: &random)
            let bytes = message.serializedBytes()
            #expect(bytes.count == message.encodedSize, "message \(index)")
            let decoded = try AllTypes(serializedBytes: bytes)
            #expect(decoded == message, "message \(index)")
            // `==` treats -0.0 and 0.0 as equal; the bytes do not.
            #expect(decoded.serializedBytes() == bytes, "message \(index)")
        }
    }

    @Test func mergingTwoEncodingsEqualsDecodingTheirConcatenation() throws {
        var random = SplitMix64(seed: 42)
        for index in 0..<200 {
            let first = AllTypes.random(using: &random).serializedBytes()
            let second = AllTypes.random(using: &random).serializedBytes()
            var merged = try AllTypes(serializedBytes: first)
            try merged.merge(serializedBytes: second)
            let concatenated = try AllTypes(serializedBytes: first + second)
            #expect(merged.serializedBytes() == concatenated.serializedBytes(), "pair \(index)")
        }
    }

    @Test func recursiveChainsRoundTripUpToTheDepthLimit() throws {
        for depth in [0, 1, 2, 10, 99, 100] {
            let chain = Recursive.chain(depth: depth)
            let decoded = try Recursive(serializedBytes: chain.serializedBytes())
            #expect(decoded == chain)
            #expect(decoded.depth == depth)
        }
    }

    @Test func recursiveChainMatchesTheReferenceEncoding() throws {
        let fixture = try Fixture.load("Recursive-depth_100")
        #expect(Recursive.chain(depth: 100).serializedBytes() == fixture.bytes)
    }

    @Test func mapsEncodeInKeyOrderWhateverTheInsertionOrder() {
        var forwards = AllTypes()
        var backwards = AllTypes()
        let keys = ["", "Z", "a", "aa", "b", "é", "🎉"]
        for (index, key) in keys.enumerated() {
            forwards.mapStringInt32[key] = Int32(index)
            forwards.mapInt32Nested[Int32(index) - 3] = Nested(a: Int32(index))
        }
        for (index, key) in keys.enumerated().reversed() {
            backwards.mapStringInt32[key] = Int32(index)
            backwards.mapInt32Nested[Int32(index) - 3] = Nested(a: Int32(index))
        }
        #expect(forwards.serializedBytes() == backwards.serializedBytes())
    }
}
