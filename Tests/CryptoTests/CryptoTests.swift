internal import Crypto
internal import Testing

@Suite struct CryptoTests {
    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    @Test func sha256MatchesTheFIPSVectors() {
        #expect(hex(Crypto.sha256([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Crypto.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // A non-contiguous collection takes the copying path and must agree.
        #expect(Crypto.sha256("abc".utf8) == Crypto.sha256(Array("abc".utf8)))
    }

    @Test func randomBytesHaveTheRequestedCountAndDiffer() {
        #expect(Crypto.randomBytes(count: 0).isEmpty)
        let a = Crypto.randomBytes(count: 32)
        let b = Crypto.randomBytes(count: 32)
        #expect(a.count == 32)
        // 2^-256 chance of a false failure.
        #expect(a != b)
    }

    @Test func constantTimeEqualsComparesContentAndLength() {
        #expect(Crypto.constantTimeEquals([], []))
        #expect(Crypto.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2]))
        // Eight bytes at a time, then the tail: a difference in any byte of any length is found.
        for length in [1, 7, 8, 9, 16, 17, 56] {
            let base = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Crypto.constantTimeEquals(base, base))
            for position in 0..<length {
                var changed = base
                changed[position] ^= 0x80
                #expect(!Crypto.constantTimeEquals(base, changed), "length \(length), byte \(position)")
            }
        }
    }
}
