import GRPCCompression
import RPCCore
import Testing

/// Deterministic bytes: a mix of runs and noise, so compression has something to find but is not trivial.
private func sampleBytes(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var bytes = [UInt8]()
    bytes.reserveCapacity(count)
    while bytes.count < count {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let value = UInt8(truncatingIfNeeded: state >> 56)
        let run = Int(state >> 60) % 4 == 0 ? Int(state >> 33) % 64 : 1
        bytes.append(contentsOf: repeatElement(value, count: min(run, count - bytes.count)))
    }
    return bytes
}

@Suite struct MessageCompressionTests {
    @Test(arguments: CompressionAlgorithm.allCases, [0, 1, 5, 4096, 271_828, 3_000_000])
    func roundTripsEverySize(algorithm: CompressionAlgorithm, size: Int) throws {
        let original = sampleBytes(count: size)
        let compressed = try MessageCompression.compress(original, using: algorithm)
        let restored = try MessageCompression.decompress(compressed, using: algorithm, limit: size)
        #expect(restored == original)
    }

    @Test func gzipAndDeflateUseTheirRFCWrappers() throws {
        let gzip = try MessageCompression.compress(Array("hello".utf8), using: .gzip)
        #expect(Array(gzip.prefix(3)) == [0x1F, 0x8B, 0x08])  // RFC 1952 magic and CM=deflate
        let zlib = try MessageCompression.compress(Array("hello".utf8), using: .deflate)
        // RFC 1950: CM=8 in the low nibble of CMF, and CMF·256 + FLG divisible by 31.
        #expect(zlib[0] & 0x0F == 8)
        #expect((Int(zlib[0]) * 256 + Int(zlib[1])) % 31 == 0)
    }

    @Test func decodesReferenceGzipBytes() throws {
        // `printf 'tensorwire' | gzip -n -9`: a stream written by another implementation.
        let reference: [UInt8] = [
            0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x2B, 0x49, 0xCD, 0x2B, 0xCE, 0x2F, 0x2A,
            0xCF, 0x2C, 0x4A, 0x05, 0x00, 0x49, 0x19, 0xB2, 0xF9, 0x0A, 0x00, 0x00, 0x00,
        ]
        #expect(try MessageCompression.decompress(reference, using: .gzip, limit: 100) == Array("tensorwire".utf8))
    }

    @Test func theWrongAlgorithmIsCorrupt() throws {
        let gzip = try MessageCompression.compress(sampleBytes(count: 1000), using: .gzip)
        #expect(throws: CompressionError.self) {
            try MessageCompression.decompress(gzip, using: .deflate, limit: 10_000)
        }
    }

    @Test(arguments: CompressionAlgorithm.allCases)
    func corruptInputIsAnInternalError(algorithm: CompressionAlgorithm) throws {
        let original = sampleBytes(count: 50_000)
        let compressed = try MessageCompression.compress(original, using: algorithm)
        var cases: [[UInt8]] = [
            [],
            [0x00],
            Array(compressed.prefix(compressed.count / 2)),  // truncated body
            Array(compressed.dropLast(1)),  // truncated checksum
            compressed + [0x00],  // bytes after the end of the stream
            Array(repeating: 0xFF, count: 64),
        ]
        var flipped = compressed
        flipped[flipped.count - 2] ^= 0x55  // checksum / length trailer mismatch
        cases.append(flipped)
        var header = compressed
        header[0] ^= 0xFF
        cases.append(header)
        for input in cases {
            do {
                _ = try MessageCompression.decompress(input, using: algorithm, limit: 1 << 20)
                Issue.record("decompressing \(input.count) corrupt bytes succeeded")
            } catch {
                guard case .corrupt = error else {
                    Issue.record("expected corrupt, got \(error)")
                    continue
                }
                #expect(error.rpcError.code == .internal)
            }
        }
    }

    @Test(arguments: CompressionAlgorithm.allCases)
    func aZipBombStopsAtTheLimit(algorithm: CompressionAlgorithm) throws {
        // 64 MiB of zeros compress to about 64 KiB; a 1 MiB limit must stop the inflate at 1 MiB + 1 byte.
        let bomb = try MessageCompression.compress([UInt8](repeating: 0, count: 64 << 20), using: algorithm, level: 9)
        #expect(bomb.count < 128 << 10)
        do {
            _ = try MessageCompression.decompress(bomb, using: algorithm, limit: 1 << 20)
            Issue.record("the bomb decompressed")
        } catch {
            #expect(error == .messageTooLarge(limit: 1 << 20))
            #expect(error.rpcError.code == .resourceExhausted)
            #expect(error.rpcError.message.contains("1048576"))
        }
    }

    @Test(arguments: CompressionAlgorithm.allCases)
    func theLimitIsInclusive(algorithm: CompressionAlgorithm) throws {
        let original = sampleBytes(count: 10_000)
        let compressed = try MessageCompression.compress(original, using: algorithm)
        #expect(try MessageCompression.decompress(compressed, using: algorithm, limit: 10_000) == original)
        #expect(throws: CompressionError.messageTooLarge(limit: 9_999)) {
            try MessageCompression.decompress(compressed, using: algorithm, limit: 9_999)
        }
        #expect(throws: CompressionError.messageTooLarge(limit: 0)) {
            try MessageCompression.decompress(compressed, using: algorithm, limit: 0)
        }
        let empty = try MessageCompression.compress([], using: algorithm)
        #expect(try MessageCompression.decompress(empty, using: algorithm, limit: 0) == [])
    }

    @Test func encodingNames() {
        #expect(CompressionAlgorithm(encoding: "gzip") == .gzip)
        #expect(CompressionAlgorithm(encoding: "deflate") == .deflate)
        #expect(CompressionAlgorithm(encoding: "identity") == nil)
        #expect(CompressionAlgorithm(encoding: "snappy") == nil)
        #expect(CompressionAlgorithm.advertised.map(\.name) == ["deflate", "gzip"])
    }
}
