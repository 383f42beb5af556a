import Foundation
import Inference
import ProtoWire
import Testing

/// docs/operators.md is the engine's own operator list, and every operator on it is one the compiler dispatches.
@Suite struct OperatorListTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/operators.md")

    @Test func testDocsListTheRegistry() throws {
        let expected = SupportedOperators.markdown()
        let committed = (try? String(contentsOf: Self.docs, encoding: .utf8)) ?? ""
        if committed != expected {
            let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("operators.md")
            try expected.write(to: fresh, atomically: true, encoding: .utf8)
            Issue.record("docs/operators.md differs from SupportedOperators; regenerate: cp \(fresh.path) docs/operators.md")
        }
    }

    /// A one-node model of each listed operator reaches its lowering: whatever its load error, it is not
    /// "not supported".
    @Test func testEveryListedOperatorIsDispatched() {
        let lists = [("", SupportedOperators.defaultDomain), ("ai.onnx.ml", SupportedOperators.ml)]
        for (domain, operators) in lists {
            for op in operators {
                var model = ModelBuilder.model(
                    nodes: [ModelBuilder.node(op, ["x"], ["y"], domain: domain)],
                    inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 4)])],
                    outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 4)])])
                model.opsetImports.append(ONNXOperatorSetID(domain: "ai.onnx.ml", version: 3))
                do {
                    _ = try Model(onnxBytes: model.serializedBytes(), name: "m", source: "m.onnx")
                } catch {
                    #expect(!error.reason.contains("is not supported; supported"), "\(op): \(error.reason)")
                }
            }
        }
    }
}
