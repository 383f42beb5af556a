import Crypto
import Foundation
import Inference
import Logging
import Testing

/// The repository reading `model.onnx.sealed` and checking config.json's `sha256` pin (docs/sealed-models.md).
@Suite struct SealedRepositoryTests {
    typealias Scratch = ModelRepositoryTests.Scratch

    static let key = (try? ModelKey(bytes: [UInt8](repeating: 0x5A, count: 32))) ?? ModelKey.generate()
    static let otherKey = (try? ModelKey(bytes: [UInt8](repeating: 0xA5, count: 32))) ?? ModelKey.generate()

    private func addSealed(_ scratch: Scratch, _ model: String, version: Int, fixture: String, key: ModelKey = key,
                           chunkBytes: Int = 4096) throws -> [UInt8] {
        let directory = scratch.root.appendingPathComponent("\(model)/\(version)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sealed = try SealedModel.seal(Fixtures.bytes(fixture), key: key, chunkBytes: chunkBytes)
        try Data(sealed).write(to: directory.appendingPathComponent("model.onnx.sealed"))
        return sealed
    }

    private func load(_ scratch: Scratch, keys: [ModelKey] = [key], output: MemoryLogOutput = MemoryLogOutput())
        throws -> ModelRepository
    {
        try ModelRepository.load(directory: scratch.root.path, logger: Logger(component: "models", sink: LogSink(output: output)),
                                 keys: ModelKeyRing(keys: keys))
    }

    /// Every fixture of the engine tests, sealed, gives exactly the plain model's outputs.
    @Test(arguments: ConformanceTests.fixtures)
    func sealedModelsServeTheSameOutputsAsPlainOnes(_ name: String) throws {
        let scratch = try Scratch()
        _ = try addSealed(scratch, name, version: 1, fixture: name + ".onnx")
        let repository = try load(scratch)
        let entry = try #require(repository.model(named: name))
        #expect(entry.sealed)
        #expect(entry.sha256 == Crypto.hex(Crypto.sha256(try Fixtures.bytes(name + ".onnx"))))
        let sealedModel = try #require(entry.model)
        let plain = try Fixtures.model(name)
        let record = try Fixtures.record(name)
        let inputs = record.inputs.map(\.tensor)
        let sealedOutputs = try sealedModel.makeContext(maxBatchSize: 8).run(inputs)
        let plainOutputs = try plain.makeContext(maxBatchSize: 8).run(inputs)
        #expect(sealedOutputs == plainOutputs)
    }

    @Test func theStartupLineReportsSealedAndTheDigest() throws {
        let scratch = try Scratch()
        _ = try addSealed(scratch, "s", version: 1, fixture: "torch_mlp.onnx")
        try scratch.add("p", version: 1, fixture: "torch_mlp.onnx")
        let output = MemoryLogOutput()
        let repository = try load(scratch, output: output)
        let digest = Crypto.hex(Crypto.sha256(try Fixtures.bytes("torch_mlp.onnx")))
        #expect(repository.entries.map(\.sealed) == [false, true])
        #expect(output.lines.contains { $0.contains("model s version 1: READY (sealed sha256=\(digest),") })
        #expect(output.lines.contains { $0.contains("model p version 1: READY (sha256=\(digest),") })
    }

    @Test func aMissingKeyOrATamperedFileFailsThatVersionOnly() throws {
        let scratch = try Scratch()
        _ = try addSealed(scratch, "nokey", version: 1, fixture: "torch_mlp.onnx", key: Self.otherKey)
        var sealed = try addSealed(scratch, "tampered", version: 2, fixture: "keras_mlp.onnx", chunkBytes: 64)
        sealed[44 + 3 * (64 + 16) + 5] ^= 1
        try Data(sealed).write(to: scratch.root.appendingPathComponent("tampered/2/model.onnx.sealed"))
        try scratch.add("plain", version: 1, fixture: "torch_mlp.onnx")
        let output = MemoryLogOutput()
        let repository = try load(scratch, output: output)
        #expect(repository.readyEntries.map(\.name) == ["plain"])
        let noKey = try #require(repository.entries.first { $0.name == "nokey" }?.failureReason)
        #expect(noKey.contains("nokey/1/model.onnx.sealed: no key with id \(Self.otherKey.idHex) (--model-keys holds ids \(Self.key.idHex))"))
        let tampered = try #require(repository.entries.first { $0.name == "tampered" }?.failureReason)
        #expect(tampered.contains("tampered/2/model.onnx.sealed: authentication failed at chunk 3"))
        #expect(output.lines.contains { $0.contains("ERROR models: model tampered version 2: FAILED: ") })
        // No key byte in any line (the key is 32 bytes of 0x5A: "5a5a…" in hex).
        #expect(!output.lines.contains { $0.contains("5a5a5a5a") || $0.contains("a5a5a5a5") })
    }

    @Test func pinnedDigestsAcceptTheApprovedFileAndNameBothDigestsOtherwise() throws {
        let scratch = try Scratch()
        let digest = Crypto.hex(Crypto.sha256(try Fixtures.bytes("torch_mlp.onnx")))
        let wrong = String(repeating: "0", count: 64)
        _ = try addSealed(scratch, "sealed-good", version: 1, fixture: "torch_mlp.onnx")
        try scratch.write("sealed-good/config.json", "{\"sha256\": \"\(digest.uppercased())\"}")
        _ = try addSealed(scratch, "sealed-bad", version: 1, fixture: "torch_mlp.onnx")
        try scratch.write("sealed-bad/config.json", "{\"sha256\": \"\(wrong)\"}")
        try scratch.add("plain-good", version: 1, fixture: "torch_mlp.onnx")
        try scratch.write("plain-good/config.json", "{\"sha256\": \"\(digest)\"}")
        try scratch.add("plain-bad", version: 1, fixture: "keras_mlp.onnx")
        try scratch.write("plain-bad/config.json", "{\"sha256\": \"\(digest)\"}")
        try scratch.add("typo", version: 1, fixture: "torch_mlp.onnx")
        try scratch.write("typo/config.json", "{\"sha256\": \"\(digest.dropLast())\"}")
        let repository = try load(scratch)
        #expect(repository.readyEntries.map(\.name) == ["plain-good", "sealed-good"])
        let sealedBad = try #require(repository.entries.first { $0.name == "sealed-bad" }?.failureReason)
        #expect(sealedBad.hasSuffix("sealed-bad/1/model.onnx.sealed: the model's SHA-256 is \(digest), but config.json pins \(wrong)"))
        let kerasDigest = Crypto.hex(Crypto.sha256(try Fixtures.bytes("keras_mlp.onnx")))
        let plainBad = try #require(repository.entries.first { $0.name == "plain-bad" }?.failureReason)
        #expect(plainBad.hasSuffix("plain-bad/1/model.onnx: the model's SHA-256 is \(kerasDigest), but config.json pins \(digest)"))
        let typo = try #require(repository.entries.first { $0.name == "typo" }?.failureReason)
        #expect(typo.contains("'sha256' must be the model file's SHA-256 as 64 hex digits"))
    }

    @Test func aFolderHoldingBothFilesIsRefused() throws {
        let scratch = try Scratch()
        _ = try addSealed(scratch, "m", version: 1, fixture: "torch_mlp.onnx")
        try scratch.add("m", version: 1, fixture: "torch_mlp.onnx")
        let repository = try load(scratch)
        let reason = try #require(repository.entries.first?.failureReason)
        #expect(reason.contains("holds both model.onnx and model.onnx.sealed"))
    }

    @Test func aSealedModelOverTheBudgetIsRefusedBeforeDecrypting() throws {
        let scratch = try Scratch()
        _ = try addSealed(scratch, "m", version: 1, fixture: "torch_mlp.onnx")
        let size = try Fixtures.bytes("torch_mlp.onnx").count
        let entries = ModelRepository.loadModel(named: "m", directory: scratch.root.path, logger: .discarding,
                                                maxModelBytes: size - 1, keys: try ModelKeyRing(keys: [Self.key]))
        #expect(entries.first?.failureReason?.contains("the model is \(size) bytes, over the model memory budget") == true)
    }

    /// The loader zeroes the decrypted bytes after compiling, which works only if the compiled model keeps no
    /// reference to the buffer it was given.
    @Test func compilingKeepsNoReferenceToTheFileBytes() throws {
        var bytes = try Fixtures.bytes("torch_mlp.onnx")
        let model = try Model(onnxBytes: bytes, name: "m", source: "m")
        #expect(Crypto.cleanse(&bytes))
        #expect(bytes.allSatisfy { $0 == 0 })
        #expect(model.signature.inputs.count == 1)
    }
}
