import Foundation
import Inference
import ProtoWire
import Testing

/// Tree ensembles against onnxruntime on the committed hand-made fixtures (Fixtures/trees, written by
/// Tools/interop/models/exports.py --fixtures and checked for freshness by Tools/check-fixtures): every node mode,
/// NaN routed by missing-value tracks, ties on thresholds, every post_transform, base values, aggregates, int64 and
/// string labels. Real scikit-learn / XGBoost / LightGBM exports are checked end to end by Tools/interop/models.sh.
@Suite struct TreeEnsembleTests {
    static let fixtures = Fixtures.names(in: "trees")

    @Test func testEveryCaseIsThere() {
        #expect(Self.fixtures.count >= 35)
    }

    @Test(arguments: fixtures)
    func testOutputsMatchOnnxruntime(_ name: String) throws {
        try Fixtures.expectMatchesRecord(name)
    }

    /// One row at a time walks groups of trees in lock step, a batch walks blocks of rows: same sums, same order.
    @Test(arguments: fixtures)
    func testRowsAloneEqualTheBatchExactly(_ name: String) throws {
        let model = try Fixtures.model(name)
        let input = try Fixtures.record(name).inputs[0].tensor
        let context = model.makeContext(maxBatchSize: 64)
        let batch = try context.run([input])
        let features = input.shape.dims[1]
        let values = try #require(input.floats)
        for row in 0..<input.shape.dims[0] {
            let single = Tensor(shape: [1, features], floats: Array(values[(row * features)..<((row + 1) * features)]))
            let outputs = try context.run([single])
            for (one, all) in zip(outputs, batch) {
                #expect(Self.bits(Self.row(all, row)) == Self.bits(one.storage), "\(name) row \(row)")
            }
        }
    }

    /// A batch large enough to be split between threads gives what one thread gives.
    @Test func testThreadsSplitRowsWithoutChangingResults() throws {
        let name = "trees/hand_cls3_softmax_b3"
        let model = try Fixtures.model(name)
        let input = try Fixtures.record(name).inputs[0].tensor
        let values = try #require(input.floats)
        let repeats = 30
        let big = Tensor(shape: [input.shape.dims[0] * repeats, input.shape.dims[1]],
                         floats: Array([[Float]](repeating: values, count: repeats).joined()))
        let one = try model.makeContext(maxBatchSize: 2048, gemmThreads: 1).run([big])
        let two = try model.makeContext(maxBatchSize: 2048, gemmThreads: 2).run([big])
        #expect(one.map { Self.bits($0.storage) } == two.map { Self.bits($0.storage) })
        #expect(one[1].shape == [input.shape.dims[0] * repeats, 3])
    }

    @Test func testZipMapIsServedAsProbabilitiesInClassOrder() throws {
        let model = try Model(onnxBytes: Fixtures.bytes("sklearn_zipmap.onnx"), name: "z", source: "z.onnx")
        let outputs = model.signature.outputs
        #expect(outputs.map(\.name) == ["output_label", "output_probability"])
        #expect(outputs[1] == TensorSignature(name: "output_probability", dataType: .float32, dims: [-1, 3]))
        let result = try model.makeContext().run([Tensor(shape: [2, 4], floats: [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3])])
        let probabilities = try #require(result[1].floats)
        #expect(result[0].int64s == [0, 2])
        #expect(abs(probabilities[0..<3].reduce(0, +) - 1) < 1e-5)
        #expect(probabilities[0] > 0.9 && probabilities[5] > 0.5)
    }

    // MARK: Hostile files: a load error naming the problem, never a crash

    static func attribute(_ name: String, _ kind: Int32, _ fill: (inout ONNXAttribute) -> Void) -> ONNXAttribute {
        var attribute = ONNXAttribute()
        attribute.name = name
        attribute.type = kind
        fill(&attribute)
        return attribute
    }

    static func ints(_ name: String, _ values: [Int64]) -> ONNXAttribute {
        attribute(name, ONNXAttribute.Kind.ints) { $0.ints = values }
    }

    static func floats(_ name: String, _ values: [Float]) -> ONNXAttribute {
        attribute(name, ONNXAttribute.Kind.floats) { $0.floats = values }
    }

    static func strings(_ name: String, _ values: [String]) -> ONNXAttribute {
        attribute(name, ONNXAttribute.Kind.strings) { $0.strings = values.map { Array($0.utf8) } }
    }

    /// One tree: node 0 tests feature 0 ≤ 0.5, true → node 1, false → node 2 (leaves 1 and 2 weigh 10 and 20).
    struct Regressor {
        var treeIDs: [Int64] = [0, 0, 0]
        var nodeIDs: [Int64] = [0, 1, 2]
        var features: [Int64] = [0, 0, 0]
        var modes = ["BRANCH_LEQ", "LEAF", "LEAF"]
        var values: [Float] = [0.5, 0, 0]
        var trueIDs: [Int64] = [1, 0, 0]
        var falseIDs: [Int64] = [2, 0, 0]
        var targetNodes: [Int64] = [1, 2]
        var targetIDs: [Int64] = [0, 0]
        var weights: [Float] = [10, 20]
        var aggregate = "SUM"
        var targets: Int64 = 1
        var opsets = [ONNXOperatorSetID(domain: "", version: 17), ONNXOperatorSetID(domain: "ai.onnx.ml", version: 3)]

        var model: ONNXModel {
            let node = ModelBuilder.node(
                "TreeEnsembleRegressor", ["x"], ["y"], name: "trees", domain: "ai.onnx.ml",
                attributes: [
                    ints("nodes_treeids", treeIDs), ints("nodes_nodeids", nodeIDs), ints("nodes_featureids", features),
                    strings("nodes_modes", modes), floats("nodes_values", values),
                    ints("nodes_truenodeids", trueIDs), ints("nodes_falsenodeids", falseIDs),
                    ints("target_treeids", targetNodes.map { _ in 0 }), ints("target_nodeids", targetNodes),
                    ints("target_ids", targetIDs), floats("target_weights", weights), ModelBuilder.intAttribute("n_targets", targets),
                    attribute("aggregate_function", ONNXAttribute.Kind.string) { $0.s = Array(aggregate.utf8) },
                ])
            var model = ModelBuilder.model(
                nodes: [node], inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 2)])],
                outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 1)])])
            model.opsetImports = opsets
            return model
        }
    }

    func loadError(_ regressor: Regressor) -> ModelLoadError? {
        do {
            _ = try Model(onnxBytes: regressor.model.serializedBytes(), name: "t", source: "t/1/model.onnx")
            return nil
        } catch {
            return error
        }
    }

    @Test func testTheWellFormedTreeRuns() throws {
        // An ai.onnx.ml-only graph may import no default-domain opset (onnxmltools' XGBoost export).
        var regressor = Regressor()
        regressor.opsets = [ONNXOperatorSetID(domain: "ai.onnx.ml", version: 3)]
        let model = try Model(onnxBytes: regressor.model.serializedBytes(), name: "t", source: "t")
        let y = try model.makeContext().run([Tensor(shape: [3, 2], floats: [0.5, 9, 0.6, 9, .nan, 9])])
        #expect(y[0].floats == [10, 20, 20])
    }

    @Test(arguments: [
        ("child", "points to node 7, which the tree does not have"),
        ("cycle", "cycle"),
        ("feature", "tests feature 2; the input has 2"),
        ("lengths", "different lengths"),
        ("inner weight", "which is not a LEAF"),
        ("target", "target_ids holds 3, outside 0..<1"),
        ("mode", "has mode 'BRANCH_SOMETIMES'"),
        ("two roots", "two roots"),
        ("duplicate", "defined twice"),
        ("aggregate", "aggregate_function MEDIAN"),
        ("missing weight node", "names node 9 of tree 0, which does not exist"),
        // One integer asks for 2^26 outputs: refused by the memory budget before anything is sized by it.
        ("huge n_targets", "the scores of 67108864 outputs needs"),
    ])
    func testMalformedEnsemblesAreLoadErrors(_ fault: String, _ reason: String) throws {
        var r = Regressor()
        switch fault {
        case "child": r.falseIDs = [7, 0, 0]
        case "cycle": r.modes = ["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"]; r.trueIDs = [1, 0, 0]; r.falseIDs = [2, 2, 0]
            r.targetNodes = [2]; r.targetIDs = [0]; r.weights = [1]
        case "feature": r.features = [2, 0, 0]
        case "lengths": r.values = [0.5]
        case "inner weight": r.targetNodes = [0, 2]
        case "target": r.targetIDs = [3, 0]
        case "mode": r.modes[0] = "BRANCH_SOMETIMES"
        case "two roots": r.trueIDs = [2, 0, 0]
        case "duplicate": r.nodeIDs = [0, 1, 1]
        case "aggregate": r.aggregate = "MEDIAN"
        case "huge n_targets": r.targets = 1 << 26
        default: r.targetNodes = [1, 9]
        }
        let error = try #require(loadError(r), "\(fault) loaded")
        #expect(error.file == "t/1/model.onnx")
        #expect(error.op == "TreeEnsembleRegressor")
        #expect(error.reason.contains(reason), "\(fault): \(error.reason)")
    }

    // MARK: Helpers

    static func row(_ tensor: Tensor, _ row: Int) -> Tensor.Storage {
        let perRow = (tensor.shape.elementCount ?? 0) / Swift.max(tensor.shape.dims[0], 1)
        let range = (row * perRow)..<((row + 1) * perRow)
        switch tensor.storage {
        case .float32(let v): return .float32(Array(v[range]))
        case .float64(let v): return .float64(Array(v[range]))
        case .int64(let v): return .int64(Array(v[range]))
        case .string(let v): return .string(Array(v[range]))
        }
    }

    /// Exact comparison that treats NaN like any other bit pattern.
    static func bits(_ storage: Tensor.Storage) -> [String] {
        switch storage {
        case .float32(let v): return v.map { String($0.bitPattern) }
        case .float64(let v): return v.map { String($0.bitPattern) }
        case .int64(let v): return v.map { String($0) }
        case .string(let v): return v
        }
    }

    /// The rule: |a − e| ≤ 1e-5·|e| + 1e-6·(the batch's largest |e|); labels exactly.
    static func expectClose(_ actual: Tensor, _ expected: Tensor, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.shape == expected.shape, "\(what): shape", sourceLocation: sourceLocation)
        guard case .float32(let a) = actual.storage, case .float32(let e) = expected.storage else {
            #expect(actual.storage == expected.storage, "\(what): labels differ", sourceLocation: sourceLocation)
            return
        }
        let floor = 1e-6 * (e.map { abs($0) }.filter { !$0.isNaN }.max() ?? 0)
        for i in 0..<min(a.count, e.count) {
            let close = a[i].isNaN ? e[i].isNaN : abs(a[i] - e[i]) <= 1e-5 * abs(e[i]) + floor
            #expect(close, "\(what)[\(i)]: \(a[i]) vs \(e[i])", sourceLocation: sourceLocation)
            if !close { return }
        }
    }
}
