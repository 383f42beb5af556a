internal import Crypto
internal import Foundation
internal import Testing

/// AES-256-GCM against the GCM specification's known answers, and the sealed-model format: round trips, every kind
/// of tampering, keys, key files and rotation (docs/sealed-models.md).
@Suite struct SealedModelTests {
    private func bytes(_ hex: String) -> [UInt8] { Crypto.bytes(hex: hex) ?? [] }

    // MARK: AES-256-GCM known answers

    // Test cases 13, 14 and 16 of McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)" (the vectors NIST's
    // GCM validation lists for 256-bit keys).
    @Test func aesGCMMatchesTheSpecificationVectors() throws {
        let zeroKey = [UInt8](repeating: 0, count: 32)
        let zeroNonce = [UInt8](repeating: 0, count: 12)
        let case13 = try AESGCM.seal(key: zeroKey, nonce: zeroNonce, plaintext: [])
        #expect(case13.ciphertext.isEmpty)
        #expect(Crypto.hex(case13.tag) == "530f8afbc74536b9a963b4f1c4cb738b")
        let case14 = try AESGCM.seal(key: zeroKey, nonce: zeroNonce, plaintext: [UInt8](repeating: 0, count: 16))
        #expect(Crypto.hex(case14.ciphertext) == "cea7403d4d606b6e074ec5d3baf39d18")
        #expect(Crypto.hex(case14.tag) == "d0d1c8a799996bf0265b98b5d48ab919")

        let key = bytes("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let nonce = bytes("cafebabefacedbaddecaf888")
        let aad = bytes("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let plaintext = bytes("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let case16 = try AESGCM.seal(key: key, nonce: nonce, aad: aad, plaintext: plaintext)
        #expect(Crypto.hex(case16.ciphertext) == "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662")
        #expect(Crypto.hex(case16.tag) == "76fc6ece0f4e1768cddf8853bb2d551b")
        #expect(try AESGCM.open(key: key, nonce: nonce, aad: aad, ciphertext: case16.ciphertext, tag: case16.tag) == plaintext)
    }

    @Test func aesGCMRefusesAnyChangedInput() throws {
        let key = bytes("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let nonce = bytes("cafebabefacedbaddecaf888")
        let sealed = try AESGCM.seal(key: key, nonce: nonce, aad: [1, 2, 3], plaintext: Array("weights".utf8))
        var flipped = sealed.ciphertext
        flipped[0] ^= 1
        var otherKey = key
        otherKey[31] ^= 0x80
        var badTag = sealed.tag
        badTag[15] ^= 1
        #expect(try AESGCM.open(key: key, nonce: nonce, aad: [1, 2, 3], ciphertext: flipped, tag: sealed.tag) == nil)
        #expect(try AESGCM.open(key: otherKey, nonce: nonce, aad: [1, 2, 3], ciphertext: sealed.ciphertext, tag: sealed.tag) == nil)
        #expect(try AESGCM.open(key: key, nonce: nonce, aad: [1, 2, 4], ciphertext: sealed.ciphertext, tag: sealed.tag) == nil)
        #expect(try AESGCM.open(key: key, nonce: nonce, aad: [1, 2, 3], ciphertext: sealed.ciphertext, tag: badTag) == nil)
        #expect(throws: CryptoFailure.self) { try AESGCM.seal(key: [1, 2, 3], nonce: nonce, plaintext: []) }
    }

    // MARK: Keys

    private func key(_ fill: UInt8) throws -> ModelKey { try ModelKey(bytes: [UInt8](repeating: fill, count: 32)) }

    @Test func keyIDIsTheDomainSeparatedDigestPrefix() throws {
        let key = try key(7)
        let expected = Crypto.sha256(Array("tensorwire/sealed-model/key-id/v1".utf8) + [UInt8](repeating: 7, count: 32))
        #expect(key.id == Array(expected.prefix(8)))
        #expect(key.idHex.count == 16)
        #expect(try self.key(8).id != key.id)
        #expect(throws: ModelKeyError.self) { try ModelKey(bytes: [UInt8](repeating: 1, count: 31)) }
    }

    @Test func keysNeverPrintTheirBytes() throws {
        let key = try key(0xAB)
        let secretHex = String(repeating: "ab", count: 32)
        for text in [String(describing: key), String(reflecting: key), "\(key)", String(describing: try ModelKeyRing(keys: [key]))] {
            #expect(!text.contains(secretHex) && !text.contains("171"))
            #expect(text.contains(key.idHex))
        }
    }

    // MARK: Round trips

    private func plaintext(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) } }

    @Test(arguments: [0, 1, 15, 16, 17, 63, 64, 65, 200])
    func sealThenUnsealGivesBackTheModel(count: Int) throws {
        let key = try key(1)
        let sealed = try SealedModel.seal(plaintext(count), key: key, chunkBytes: 16)
        let header = try SealedModelHeader(parsing: sealed)
        #expect(header.chunkCount == max(1, (count + 15) / 16))
        #expect(sealed.count == SealedModelHeader.encodedBytes + count + 16 * header.chunkCount)
        #expect(try SealedModel.unseal(sealed, keys: ModelKeyRing(keys: [key])) == plaintext(count))
    }

    @Test func headerLayoutIsTheDocumentedOne() throws {
        let raw = [UInt8](repeating: 2, count: 32)
        let key = try ModelKey(bytes: raw)
        let nonce: [UInt8] = Array(1...12)
        let sealed = try SealedModel.seal(plaintext(40), key: key, chunkBytes: 16, nonce: nonce)
        #expect(Array(sealed[0..<8]) == Array("TWSEALED".utf8))
        #expect(Array(sealed[8..<12]) == [0, 1, 0, 0])
        #expect(Array(sealed[12..<16]) == [0, 0, 0, 16])
        #expect(Array(sealed[16..<24]) == key.id)
        #expect(Array(sealed[24..<36]) == nonce)
        #expect(Array(sealed[36..<44]) == [0, 0, 0, 0, 0, 0, 0, 40])
        let header = try SealedModelHeader(parsing: sealed)
        #expect(header.nonce(ofChunk: 2) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 ^ 2])
        #expect(header.associatedData(ofChunk: 2) == Array(sealed[0..<44]) + [0, 0, 0, 0, 0, 0, 0, 2, 1])
        #expect(header.associatedData(ofChunk: 0).suffix(9) == [0, 0, 0, 0, 0, 0, 0, 0, 0])
        // Chunk 1 opens with AES-GCM alone, given the documented nonce and associated data.
        let chunk1 = Array(sealed[44 + 32..<44 + 64])
        let opened = try AESGCM.open(key: raw, nonce: header.nonce(ofChunk: 1), aad: header.associatedData(ofChunk: 1),
                                     ciphertext: Array(chunk1[..<16]), tag: Array(chunk1[16...]))
        #expect(opened == Array(plaintext(40)[16..<32]))
    }

    // MARK: Tampering

    private func sealedSample() throws -> (sealed: [UInt8], keys: ModelKeyRing) {
        let key = try key(3)
        return (try SealedModel.seal(plaintext(50), key: key, chunkBytes: 16), try ModelKeyRing(keys: [key]))
    }

    private func failure(_ sealed: [UInt8], _ keys: ModelKeyRing) -> SealedModelError? {
        do {
            _ = try SealedModel.unseal(sealed, keys: keys)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyChangedHeaderByteIsRefused() throws {
        let (sealed, keys) = try sealedSample()
        for offset in 0..<SealedModelHeader.encodedBytes {
            var changed = sealed
            changed[offset] ^= 0x01
            let error = failure(changed, keys)
            #expect(error != nil, "header byte \(offset)")
            switch offset {
            case 0..<8: #expect(error == .notSealed)
            case 8..<10: #expect(error == .unsupportedVersion(offset == 8 ? 0x0101 : 0))
            case 16..<24: if case .noKey = error {} else { Issue.record("key id byte \(offset): \(String(describing: error))") }
            case 24..<36: #expect(error == .authenticationFailed(chunk: 0))
            default: break
            }
        }
    }

    @Test func everyChangedChunkByteNamesItsChunk() throws {
        let (sealed, keys) = try sealedSample()
        // 50 bytes in chunks of 16: three of 16 + 16 tag bytes (32 each), then 2 + 16.
        for offset in SealedModelHeader.encodedBytes..<sealed.count {
            var changed = sealed
            changed[offset] ^= 0x80
            let chunk = (offset - SealedModelHeader.encodedBytes) / 32
            #expect(failure(changed, keys) == .authenticationFailed(chunk: chunk), "byte \(offset)")
        }
    }

    @Test func truncatedReorderedAndExtendedFilesAreRefused() throws {
        let (sealed, keys) = try sealedSample()
        for length in 0..<sealed.count {
            #expect(failure(Array(sealed[..<length]), keys) != nil, "cut at \(length)")
        }
        // Cut at a chunk boundary with the length field patched to match: the new last chunk was not sealed as last.
        var shortened = Array(sealed[..<(44 + 64)])
        shortened[43] = 32
        #expect(failure(shortened, keys) == .authenticationFailed(chunk: 0))
        var reordered = sealed
        reordered.replaceSubrange(44..<76, with: sealed[76..<108])
        reordered.replaceSubrange(76..<108, with: sealed[44..<76])
        #expect(failure(reordered, keys) == .authenticationFailed(chunk: 0))
        #expect(failure(sealed + [0], keys) == .trailingBytes(expected: sealed.count, actual: sealed.count + 1))
    }

    @Test func chunksSwappedBetweenFilesOfOneKeyAreRefused() throws {
        let key = try key(4)
        let keys = try ModelKeyRing(keys: [key])
        let a = try SealedModel.seal(plaintext(50), key: key, chunkBytes: 16)
        let b = try SealedModel.seal(plaintext(50), key: key, chunkBytes: 16)
        var mixed = a
        mixed.replaceSubrange(76..<108, with: b[76..<108])
        #expect(failure(mixed, keys) == .authenticationFailed(chunk: 1))
        // b's header on a's chunks: another nonce.
        var rehomed = a
        rehomed.replaceSubrange(0..<44, with: b[0..<44])
        #expect(failure(rehomed, keys) == .authenticationFailed(chunk: 0))
    }

    @Test func boundsAreCheckedBeforeAllocating() throws {
        let (sealed, keys) = try sealedSample()
        var huge = sealed
        huge.replaceSubrange(36..<44, with: [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(failure(huge, keys) == .malformedHeader("the sizes overflow"))
        var large = sealed
        large.replaceSubrange(36..<44, with: [0, 0, 1, 0, 0, 0, 0, 0])
        if case .truncated = failure(large, keys) {} else { Issue.record("a 2^40-byte length must fail on the file size") }
        #expect(throws: SealedModelError.tooLarge(bytes: 50, limit: 49)) {
            try SealedModel.unseal(sealed, keys: keys, maxPlaintextBytes: 49)
        }
        var bigChunks = sealed
        bigChunks.replaceSubrange(12..<16, with: [0x7F, 0, 0, 0])
        #expect(failure(bigChunks, keys) == .chunkSizeOutOfRange(0x7F00_0000))
        var tinyChunks = sealed
        tinyChunks.replaceSubrange(12..<16, with: [0, 0, 0, 1])
        #expect(failure(tinyChunks, keys) == .chunkSizeOutOfRange(1))
    }

    // MARK: Wrong keys and rotation

    @Test func wrongKeyNamesTheMissingID() throws {
        let (sealed, _) = try sealedSample()
        let other = try ModelKeyRing(keys: [key(9)])
        let error = failure(sealed, other)
        #expect(error == .noKey(id: try key(3).idHex, held: [try key(9).idHex]))
        #expect(error?.description.hasPrefix("no key with id \(try key(3).idHex)") == true)
    }

    @Test func aRingOfTwoKeysOpensFilesOfEitherAndRotationDropsTheOld() throws {
        let old = try key(10)
        let new = try key(11)
        let sealedOld = try SealedModel.seal(plaintext(20), key: old, chunkBytes: 16)
        let sealedNew = try SealedModel.seal(plaintext(20), key: new, chunkBytes: 16)
        let both = try ModelKeyRing(keys: [old, new])
        #expect(try SealedModel.unseal(sealedOld, keys: both) == plaintext(20))
        #expect(try SealedModel.unseal(sealedNew, keys: both) == plaintext(20))
        let rotated = try ModelKeyRing(keys: [new])
        #expect(failure(sealedOld, rotated) == .noKey(id: old.idHex, held: [new.idHex]))
        #expect(try SealedModel.unseal(sealedNew, keys: rotated) == plaintext(20))
        #expect(throws: ModelKeyError.self) { try ModelKeyRing(keys: [old, new, old]) }
    }

    // MARK: Files

    private func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tw-sealed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func keyFilesAreWrittenPrivatelyAndReadAsFilesOrFolders() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = ModelKey.generate()
        let second = ModelKey.generate()
        try first.write(toNewFile: folder.appendingPathComponent("a.key").path)
        try second.write(toNewFile: folder.appendingPathComponent("b.key").path)
        let mode = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("a.key").path)[.posixPermissions]
        #expect((mode as? NSNumber)?.intValue == 0o600)
        #expect(throws: ModelKeyError.self) { try first.write(toNewFile: folder.appendingPathComponent("a.key").path) }
        #expect(try ModelKeyRing.load(path: folder.appendingPathComponent("a.key").path).keys == [first])
        #expect(try ModelKeyRing.load(path: folder.path).keys == [first, second])
        #expect(try ModelKeyRing.load(path: folder.path).exposedFiles.isEmpty)
        let shared = folder.appendingPathComponent("b.key").path
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: shared)
        #expect(try ModelKeyRing.load(path: folder.path).exposedFiles == [shared])
        #expect(try ModelKeyRing.load(path: shared).exposedFiles == [shared])
        #expect(FileManager.default.createFile(atPath: folder.appendingPathComponent("c.key").path, contents: Data(repeating: 1, count: 33)))
        #expect {
            try ModelKeyRing.load(path: folder.path)
        } throws: { error in
            (error as? ModelKeyError)?.description.contains("c.key: is 33 bytes") == true
        }
    }

    @Test func hexKeysFromTheEnvironmentParseAndErrorsHideThem() throws {
        let a = String(repeating: "0a", count: 32)
        let b = String(repeating: "0B", count: 32)
        let ring = try ModelKeyRing.parse(hexKeys: "\(a), \(b)\n", source: "--model-keys-env K")
        #expect(ring.keys == [try key(10), try key(11)])
        #expect {
            try ModelKeyRing.parse(hexKeys: "\(a),\(a.dropLast())", source: "--model-keys-env K")
        } throws: { error in
            let text = "\(error)"
            return text.contains("key 2 is not 64 hex digits") && !text.contains(String(a.dropLast()))
        }
        #expect(throws: ModelKeyError.self) { try ModelKeyRing.parse(hexKeys: " ", source: "K") }
    }

    @Test func filesSealAndUnsealStreamingAndTamperingIsNamed() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("model.onnx").path
        let sealed = folder.appendingPathComponent("model.onnx.sealed").path
        let content = plaintext(100_000)
        #expect(FileManager.default.createFile(atPath: model, contents: Data(content)))
        let key = try key(12)
        let keys = try ModelKeyRing(keys: [key])
        let (header, digest) = try SealedModelFile.seal(input: model, output: sealed, key: key, chunkBytes: 4096)
        #expect(header.chunkCount == 25 && digest == Crypto.sha256(content))
        var unsealed = try SealedModelFile.unseal(path: sealed, keys: keys, maxPlaintextBytes: 1 << 20)
        #expect(unsealed.plaintext == content && unsealed.sha256 == Crypto.sha256(content))
        #expect(Crypto.cleanse(&unsealed.plaintext))
        #expect(unsealed.plaintext.allSatisfy { $0 == 0 })

        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: sealed)))
        bytes[44 + 7 * (4096 + 16) + 100] ^= 4
        #expect(FileManager.default.createFile(atPath: sealed, contents: Data(bytes)))
        #expect(throws: SealedModelError.authenticationFailed(chunk: 7)) {
            try SealedModelFile.unseal(path: sealed, keys: keys, maxPlaintextBytes: 1 << 20)
        }
        #expect(FileManager.default.createFile(atPath: sealed, contents: Data(bytes[..<5000])))
        #expect {
            try SealedModelFile.unseal(path: sealed, keys: keys, maxPlaintextBytes: 1 << 20)
        } throws: { error in
            "\(error)".contains("truncated") && "\(error)".contains("chunk 1 of 25")
        }
        #expect(throws: SealedModelError.notSealed) { try SealedModelFile.unseal(path: model, keys: keys, maxPlaintextBytes: 1 << 20) }
    }
}
