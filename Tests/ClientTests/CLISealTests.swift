import Crypto
import Foundation
import Testing

@testable import TensorwireCLI

/// `tensorwire seal` and `tensorwire unseal`: files, modes, what they print and their exit codes. No server.
@Suite struct CLISealTests {
    static func run(_ arguments: [String]) -> CLICommandLiveTests.Result { CLICommandLiveTests.run(arguments, port: nil) }

    @Test func newKeySealAndUnsealRoundTrip() throws {
        try CLICommandLiveTests.withTemporaryDirectory { folder in
            let keys = folder.appendingPathComponent("keys")
            try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
            let key = keys.appendingPathComponent("model.key").path
            let model = folder.appendingPathComponent("model.onnx").path
            let content = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try content.write(to: URL(fileURLWithPath: model))
            let made = Self.run(["seal", "--new-key", key])
            #expect(made.code == 0 && made.stdout.contains("(mode 0600), key id "))
            let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            #expect(Self.run(["seal", "--new-key", key]).code == 3)  // never overwrites a key

            let sealed = Self.run(["seal", "--key-file", key, model, "--chunk-bytes", "1024"])
            #expect(sealed.code == 0)
            #expect(sealed.stdout.contains("(5000 bytes, 5 chunk(s)) into \(model).sealed"))
            let digest = Crypto.hex(Crypto.sha256([UInt8](content)))
            #expect(sealed.out.last == "sha256 \(digest)")
            let output = folder.appendingPathComponent("back.onnx").path
            let opened = Self.run(["unseal", "--key-file", keys.path, model + ".sealed", "-o", output])
            #expect(opened.code == 0 && opened.out.last == "sha256 \(digest)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == content)
            let outputMode = try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? NSNumber
            #expect(outputMode?.intValue == 0o600)

            var bytes = try Data(contentsOf: URL(fileURLWithPath: model + ".sealed"))
            bytes[44 + 2 * 1040 + 3] ^= 1
            try bytes.write(to: URL(fileURLWithPath: model + ".sealed"))
            let refused = Self.run(["unseal", "--key-file", key, model + ".sealed", "-o", output])
            #expect(refused.code == 3 && refused.stderr.contains("authentication failed at chunk 2"))
        }
    }

    @Test func usageMistakesAreExitTwo() throws {
        try CLICommandLiveTests.withTemporaryDirectory { folder in
            let a = folder.appendingPathComponent("keys/a").path
            let b = folder.appendingPathComponent("keys/b").path
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("keys"), withIntermediateDirectories: true)
            #expect(Self.run(["seal", "--new-key", a]).code == 0 && Self.run(["seal", "--new-key", b]).code == 0)
            let model = folder.appendingPathComponent("m.onnx").path
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: model))
            #expect(Self.run(["seal", model]).code == 2)
            #expect(Self.run(["seal", "--key-file", folder.appendingPathComponent("keys").path, model]).code == 2)
            #expect(Self.run(["seal", "--key-file", a, model, "--chunk-bytes", "8"]).code == 2)
            #expect(Self.run(["seal", "--key-file", a, model, "-o", model]).code == 2)
            #expect(Self.run(["unseal", "--key-file", a, model]).code == 2)
            #expect(Self.run(["seal", "--key-file", model, model, "-o", model + ".s"]).code == 3)  // a 3-byte "key"
        }
    }
}
