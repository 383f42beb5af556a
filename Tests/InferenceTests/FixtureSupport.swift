import Foundation
import Inference
import Testing

/// Reads the committed fixtures written by Tools/fixtures/generate_models.py.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func path(_ file: String) -> String { directory.appendingPathComponent(file).path }

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
    }

    static func model(_ name: String, gemm: GEMMBackend = .preferred) throws -> Model {
        try Model(onnxBytes: bytes(name + ".onnx"), name: name, source: name + ".onnx", gemm: gemm)
    }

    /// The fixtures (ONNX file and record) in `folder`, as names for `model` and `record`.
    static func names(in folder: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path(folder))) ?? []
        return files.filter { $0.hasSuffix(".onnx") }.map { folder + "/" + $0.dropLast(5) }.sorted()
    }

    /// Runs fixture `name` on its recorded inputs and compares every output with onnxruntime's.
    static func expectMatchesRecord(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let model = try Fixtures.model(name)
        let record = try Fixtures.record(name)
        #expect(model.signature.outputs.map(\.name) == record.outputs.map(\.name), sourceLocation: sourceLocation)
        let outputs = try model.makeContext(maxBatchSize: 64).run(record.inputs.map(\.tensor))
        for (output, expected) in zip(outputs, record.outputs) {
            TreeEnsembleTests.expectClose(output, expected.tensor, "\(name).\(expected.name)",
                                          sourceLocation: sourceLocation)
        }
    }

    /// Every GEMM this machine can run: OpenBLAS always, the packed AVX-512 kernels where the CPU has them.
    static let backends: [GEMMBackend] = GEMMBackend.available

    struct Record {
        var inputs: [(name: String, tensor: Tensor)]
        var outputs: [(name: String, tensor: Tensor)]
    }

    static func record(_ name: String) throws -> Record {
        let json = try JSONSerialization.jsonObject(with: Data(bytes(name + ".json"))) as? [String: Any] ?? [:]
        func tensors(_ key: String) throws -> [(name: String, tensor: Tensor)] {
            let list = json[key] as? [[String: Any]] ?? []
            return try list.map { try tensor(from: $0) }
        }
        return Record(inputs: try tensors("inputs"), outputs: try tensors("outputs"))
    }

    struct BadFixture: Error { let reason: String }

    static func tensor(from object: [String: Any]) throws -> (name: String, tensor: Tensor) {
        let name = object["name"] as? String ?? ""
        let shape = Shape((object["shape"] as? [NSNumber] ?? []).map(\.intValue))
        let data = object["data"] as? [Any] ?? []
        let storage: Tensor.Storage
        switch object["dtype"] as? String {
        case "float32": storage = .float32(data.map { ($0 as? NSNumber)?.floatValue ?? .nan })
        case "float64": storage = .float64(data.map { ($0 as? NSNumber)?.doubleValue ?? .nan })
        case "int64": storage = .int64(data.map { ($0 as? NSNumber)?.int64Value ?? 0 })
        case "string": storage = .string(data.map { $0 as? String ?? "" })
        default: throw BadFixture(reason: "\(name): unknown dtype")
        }
        guard let tensor = Tensor(shape: shape, storage: storage) else {
            throw BadFixture(reason: "\(name): data does not match shape")
        }
        return (name, tensor)
    }

    /// The tests' agreement rule: |a - e| ≤ 1e-5 + 1e-4·|e| for floats, equality for labels and shapes.
    static func expectClose(_ actual: Tensor, _ expected: Tensor, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.shape == expected.shape, "\(what): shape", sourceLocation: sourceLocation)
        switch (actual.storage, expected.storage) {
        case (.float32(let a), .float32(let e)):
            var worst = 0
            var worstExcess: Float = 0
            for i in 0..<min(a.count, e.count) {
                let excess = abs(a[i] - e[i]) - (1e-5 + 1e-4 * abs(e[i]))
                if excess > worstExcess || a[i].isNaN {
                    worstExcess = a[i].isNaN ? .infinity : excess
                    worst = i
                }
            }
            #expect(worstExcess <= 0,
                    "\(what): element \(worst) is \(a.indices.contains(worst) ? a[worst] : .nan), expected \(e.indices.contains(worst) ? e[worst] : .nan)",
                    sourceLocation: sourceLocation)
        case (.int64(let a), .int64(let e)):
            #expect(a == e, "\(what): labels differ", sourceLocation: sourceLocation)
        case (.string(let a), .string(let e)):
            #expect(a == e, "\(what): labels differ", sourceLocation: sourceLocation)
        default:
            Issue.record("\(what): \(actual.dataType) vs expected \(expected.dataType)", sourceLocation: sourceLocation)
        }
    }
}
