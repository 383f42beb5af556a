import Foundation
import Inference
import Logging
import ProtoWire
import Testing

/// Tensors kept in a file beside the model (torch 2.13's default export writes `model.onnx.data`): read from the
/// model's folder only, with every hostile location, offset and length a load error that names it.
@Suite struct ExternalDataTests {
    /// x[N, 2] · W[2, 3] + b[3], with W and b in `weights.bin` at offsets 16 and 40 (W's location and range from
    /// `entries`, when given).
    static func model(_ entries: [ONNXStringEntry]? = nil) -> ONNXModel {
        func external(_ name: String, _ dims: [Int64], _ entries: [ONNXStringEntry]) -> ONNXTensor {
            var tensor = ONNXTensor()
            tensor.name = name
            tensor.dims = dims
            tensor.dataType = ONNXTensor.ElementType.float
            tensor.isExternal = true
            tensor.externalData = entries
            return tensor
        }
        let weights = entries ?? [ONNXStringEntry(key: "location", value: "weights.bin"),
                                  ONNXStringEntry(key: "offset", value: "16"), ONNXStringEntry(key: "length", value: "24")]
        return ModelBuilder.model(
            nodes: [ModelBuilder.node("MatMul", ["x", "w"], ["h"]), ModelBuilder.node("Add", ["h", "b"], ["y"])],
            inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 2)])],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 3)])],
            initializers: [external("w", [2, 3], weights),
                           external("b", [3], [ONNXStringEntry(key: "location", value: "weights.bin"),
                                               ONNXStringEntry(key: "offset", value: "40")])])
    }

    /// A folder with `model.onnx` and `weights.bin` (16 bytes of padding, W = 1…6, b = 10, 20, 30).
    static func folder(_ model: ONNXModel) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tw-external-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(model.serializedBytes()).write(to: folder.appendingPathComponent("model.onnx"))
        let floats: [Float] = [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 10, 20, 30]
        try Data(floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
            .write(to: folder.appendingPathComponent("weights.bin"))
        return folder
    }

    @Test func testWeightsAreReadFromBesideTheModel() throws {
        let folder = try Self.folder(Self.model())
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try Model(contentsOf: folder.appendingPathComponent("model.onnx").path, name: "external")
        #expect(model.externalDataFiles == ["weights.bin"])
        let y = try model.makeContext(maxBatchSize: 2).run([Tensor(shape: [2, 2], floats: [1, 0, 1, 1])])
        #expect(y.first?.floats == [11, 22, 33, 15, 27, 39])
        // The same bytes without a folder (in memory, or sealed) say how to embed the weights.
        #expect { try Model(onnx: Self.model(), name: "memory") } throws: { "\($0)".contains("external_data=False") }
    }

    @Test(arguments: [
        ([("location", "../weights.bin")], "not a relative path inside"),
        ([("location", "/etc/passwd")], "not a relative path inside"),
        ([("location", "sub/../../weights.bin")], "not a relative path inside"),
        ([("location", "")], "without a location"),
        ([("offset", "0")], "without a location"),
        ([("location", "missing.bin")], "cannot be opened"),
        ([("location", ".")], "not a regular file"),
        ([("location", "weights.bin"), ("length", "23")], "differs from the 24 bytes"),
        ([("location", "weights.bin"), ("offset", "40")], "holds 52 bytes"),
        ([("location", "weights.bin"), ("offset", "\(Int.max)")], "holds 52 bytes"),
        ([("location", "weights.bin"), ("offset", "-4")], "not a non-negative integer"),
        ([("location", "weights.bin"), ("offset", "1e3")], "not a non-negative integer"),
    ])
    func testHostileEntriesAreLoadErrors(_ entries: [(String, String)], _ reason: String) throws {
        let folder = try Self.folder(Self.model(entries.map { ONNXStringEntry(key: $0.0, value: $0.1) }))
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("model.onnx").path
        #expect { try Model(contentsOf: path, name: "hostile") } throws: { error in
            let text = "\(error)"
            return text.contains(reason) && text.contains("initializer 'w'") && text.contains(path)
        }
    }

    /// A sha256 pin in config.json covers model.onnx only: a model whose weights live elsewhere is refused rather
    /// than served as pinned.
    @Test func testAShaPinDoesNotCoverExternalWeights() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tw-external-repo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = try Self.folder(Self.model())
        try FileManager.default.createDirectory(at: root.appendingPathComponent("m"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: folder, to: root.appendingPathComponent("m/1"))
        let output = MemoryLogOutput()
        let logger = Logger(component: "models", sink: LogSink(output: output))
        let unpinned = try ModelRepository.load(directory: root.path, logger: logger)
        #expect(unpinned.readyEntries.map(\.name) == ["m"])
        #expect(output.lines.contains { $0.contains("READY") && $0.contains("weights in weights.bin") })
        let sha = try #require(unpinned.entries.first?.sha256)
        try Data(#"{"sha256": "\#(sha)"}"#.utf8).write(to: root.appendingPathComponent("m/config.json"))
        let pinned = try ModelRepository.load(directory: root.path, logger: logger)
        #expect(pinned.readyEntries.isEmpty)
        #expect(pinned.entries.first?.failureReason?.contains("pins this file only") == true)
    }
}
