import Foundation
import Inference
import ProtoWire
import Testing

/// OneHot, LabelEncoder (opsets 1, 2 and 4) and the opset-5 TreeEnsemble: against onnxruntime on the committed
/// fixtures (Fixtures/encoders, from Tools/interop/models/exports.py --fixtures, kept fresh by Tools/check-fixtures),
/// and built from bytes here for the exact cases and for malformed attributes, which must be load errors naming the
/// node and the reason.
@Suite struct EncoderTests {
    static let fixtures = Fixtures.names(in: "encoders")

    @Test func testEveryCaseIsThere() {
        #expect(Self.fixtures.count >= 10)
    }

    @Test(arguments: fixtures)
    func testOutputsMatchOnnxruntime(_ name: String) throws {
        try Fixtures.expectMatchesRecord(name)
    }

    // MARK: Built from bytes

    static func tensorAttribute(_ name: String, _ tensor: ONNXTensor) -> ONNXAttribute {
        TreeEnsembleTests.attribute(name, ONNXAttribute.Kind.tensor) { $0.t = tensor }
    }

    static func uint8Tensor(_ values: [Int32]) -> ONNXTensor {
        var tensor = ONNXTensor()
        tensor.dims = [Int64(values.count)]
        tensor.dataType = ONNXTensor.ElementType.uint8
        tensor.int32Data = values
        return tensor
    }

    static func load(_ model: ONNXModel) throws -> Model {
        try Model(onnxBytes: model.serializedBytes(), name: "e", source: "e/1/model.onnx")
    }

    static func loadError(_ model: ONNXModel) -> ModelLoadError? {
        do {
            _ = try load(model)
            return nil
        } catch let error as ModelLoadError {
            return error
        } catch {
            return nil
        }
    }

    static func oneHot(axis: Int64, depth: Int64 = 3) -> ONNXModel {
        ModelBuilder.model(
            nodes: [ModelBuilder.node("OneHot", ["i", "depth", "values"], ["y"], attributes: [
                ModelBuilder.intAttribute("axis", axis),
            ])],
            inputs: [ModelBuilder.valueInfo("i", [ModelBuilder.batch, ONNXDimension(value: 2)],
                                            elementType: ONNXTensor.ElementType.int64)],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch])],
            initializers: [ModelBuilder.int64Tensor("depth", [], [depth]),
                           ModelBuilder.floatTensor("values", [2], [-1, 5])])
    }

    @Test func testOneHotWrapsNegativeIndicesAndBlanksOutOfRange() throws {
        let model = try Self.load(Self.oneHot(axis: -1))
        let y = try model.makeContext().run([Tensor(shape: [2, 2], int64s: [0, -1, 3, -4])])
        #expect(y[0].shape == [2, 2, 3])
        #expect(y[0].floats == [5, -1, -1, -1, -1, 5, -1, -1, -1, -1, -1, -1])
        // axis 1 of a [N, 2] input: [N, depth, 2], positions down the middle axis.
        let middle = try Self.load(Self.oneHot(axis: 1)).makeContext().run([Tensor(shape: [1, 2], int64s: [2, 0])])
        #expect(middle[0].shape == [1, 3, 2])
        #expect(middle[0].floats == [-1, 5, -1, -1, 5, -1])
    }

    @Test(arguments: [
        (Int64(0), Int64(3), "before the batch axis"),
        (Int64(4), Int64(3), "axis 4 is out of range"),
        (Int64(-1), Int64(0), "depth must be one number"),
        (Int64(-1), Int64(1) << 40, "depth must be one number"),
    ])
    func testMalformedOneHotIsALoadError(_ axis: Int64, _ depth: Int64, _ reason: String) throws {
        let error = try #require(Self.loadError(Self.oneHot(axis: axis, depth: depth)))
        #expect(error.op == "OneHot")
        #expect(error.reason.contains(reason), "\(error.reason)")
    }

    static func labelEncoder(_ attributes: [ONNXAttribute], input: Int32 = ONNXTensor.ElementType.int64,
                             ml: Int64 = 2) -> ONNXModel {
        var model = ModelBuilder.model(
            nodes: [ModelBuilder.node("LabelEncoder", ["x"], ["y"], name: "encode", domain: "ai.onnx.ml",
                                      attributes: attributes)],
            inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch], elementType: input)],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch])])
        model.opsetImports.append(ONNXOperatorSetID(domain: "ai.onnx.ml", version: ml))
        return model
    }

    @Test func testLabelEncoderLastKeyWinsAndDefaultsApply() throws {
        let model = try Self.load(Self.labelEncoder([
            TreeEnsembleTests.ints("keys_int64s", [4, 2, 4]), TreeEnsembleTests.ints("values_int64s", [40, 20, 41]),
            ModelBuilder.intAttribute("default_int64", -9),
        ]))
        let y = try model.makeContext().run([Tensor(shape: [4], int64s: [4, 2, 3, .min])])
        #expect(y[0].int64s == [41, 20, -9, -9])
        // Float keys: −0 finds 0, NaN finds the NaN key (opset 4); float values default to −0.
        let floats = try Self.load(Self.labelEncoder([
            TreeEnsembleTests.floats("keys_floats", [0, .nan]), TreeEnsembleTests.floats("values_floats", [1, 2]),
        ], input: ONNXTensor.ElementType.float, ml: 4))
        let z = try floats.makeContext().run([Tensor(shape: [4], floats: [-0.0, .nan, 1, 0])])
        #expect(TreeEnsembleTests.bits(z[0].storage) == TreeEnsembleTests.bits(.float32([1, 2, -0.0, 1])))
    }

    @Test(arguments: [
        ("mismatch", "2 keys for 1 values"),
        ("two keys", "exactly one of keys_tensor, keys_int64s, keys_floats and keys_strings must be given (found "
            + "keys_int64s, keys_floats)"),
        ("no values", "exactly one of values_tensor"),
        ("key type", "the keys are float32 but the input is int64"),
        ("default", "default_tensor must be one int64 element"),
    ])
    func testMalformedLabelEncoderIsALoadError(_ fault: String, _ reason: String) throws {
        var attributes = [TreeEnsembleTests.ints("keys_int64s", [1, 2]), TreeEnsembleTests.ints("values_int64s", [3, 4])]
        switch fault {
        case "mismatch": attributes[1] = TreeEnsembleTests.ints("values_int64s", [3])
        case "two keys": attributes.append(TreeEnsembleTests.floats("keys_floats", [1, 2]))
        case "no values": attributes.removeLast()
        case "key type": attributes[0] = TreeEnsembleTests.floats("keys_floats", [1, 2])
        default: attributes.append(Self.tensorAttribute("default_tensor", ModelBuilder.floatTensor("d", [1], [0])))
        }
        let error = try #require(Self.loadError(Self.labelEncoder(attributes)), "\(fault) loaded")
        #expect(error.node == "encode")
        #expect(error.op == "LabelEncoder")
        #expect(error.reason.contains(reason), "\(fault): \(error.reason)")
    }

    /// One opset-5 tree: node 0 tests x₀ ∈ {1, 3} (NaN tracked true), true → node 1, false → leaf 2; node 1 tests
    /// x₁ ≤ 0.5: leaves 0 and 1. Leaves weigh 10, 20, 30.
    struct Ensemble {
        var modes: [Int32] = [6, 0]
        var features: [Int64] = [0, 1]
        var splits: [Float] = [0, 0.5]
        var trueIDs: [Int64] = [1, 0]
        var trueLeafs: [Int64] = [0, 1]
        var falseIDs: [Int64] = [2, 1]
        var falseLeafs: [Int64] = [1, 1]
        var missing: [Int64] = [1, 0]
        var members: [Float] = [1, 3, .nan]
        var roots: [Int64] = [0]
        var targets: [Int64] = [0, 0, 0]
        var weights: [Float] = [10, 20, 30]
        var aggregate: Int64 = 1
        var transform: Int64 = 0

        var model: ONNXModel {
            let node = ModelBuilder.node("TreeEnsemble", ["x"], ["y"], name: "forest", domain: "ai.onnx.ml", attributes: [
                EncoderTests.tensorAttribute("nodes_modes", EncoderTests.uint8Tensor(modes)),
                TreeEnsembleTests.ints("nodes_featureids", features),
                EncoderTests.tensorAttribute("nodes_splits", ModelBuilder.floatTensor("s", [Int64(splits.count)], splits)),
                TreeEnsembleTests.ints("nodes_truenodeids", trueIDs), TreeEnsembleTests.ints("nodes_trueleafs", trueLeafs),
                TreeEnsembleTests.ints("nodes_falsenodeids", falseIDs),
                TreeEnsembleTests.ints("nodes_falseleafs", falseLeafs),
                TreeEnsembleTests.ints("nodes_missing_value_tracks_true", missing),
                EncoderTests.tensorAttribute("membership_values",
                                             ModelBuilder.floatTensor("m", [Int64(members.count)], members)),
                TreeEnsembleTests.ints("tree_roots", roots), TreeEnsembleTests.ints("leaf_targetids", targets),
                EncoderTests.tensorAttribute("leaf_weights", ModelBuilder.floatTensor("w", [Int64(weights.count)], weights)),
                ModelBuilder.intAttribute("n_targets", 1), ModelBuilder.intAttribute("aggregate_function", aggregate),
                ModelBuilder.intAttribute("post_transform", transform),
            ])
            var model = ModelBuilder.model(
                nodes: [node], inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 2)])],
                outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 1)])])
            model.opsetImports.append(ONNXOperatorSetID(domain: "ai.onnx.ml", version: 5))
            return model
        }
    }

    /// A set holds exactly its members (the ONNX definition; onnxruntime 1.32 truncates the feature to an integer
    /// for sets with a negative member or one above 30, and compares exactly otherwise).
    @Test func testSetMembershipAndLeavesByIndex() throws {
        let model = try Self.load(Ensemble().model)
        let rows: [Float] = [1, 0, 3, 9, 2, 0, .nan, 0, 1.5, 0, -1, 0, 3, 0]
        let y = try model.makeContext().run([Tensor(shape: [7, 2], floats: rows)])
        #expect(y[0].floats == [10, 20, 30, 10, 30, 30, 10])
        var fractional = Ensemble()
        fractional.members = [-2, 0.25, .nan]
        fractional.missing = [0, 0]
        let z = try Self.load(fractional.model).makeContext().run([
            Tensor(shape: [5, 2], floats: [0.25, 0, 0.3, 0, -2, 1, -1.5, 0, .nan, 0]),
        ])
        #expect(z[0].floats == [10, 30, 20, 30, 30])
    }

    @Test(arguments: [
        ("leaf index", "node 1's true branch is leaf 7; there are 3 leaves"),
        ("node index", "node 0's true branch is node 5; there are 2 nodes"),
        ("root", "tree_roots[0] is 2; there are 2 nodes"),
        ("mode", "node 1 has mode 9"),
        ("no sets", "node 0 is BRANCH_MEMBER but membership_values holds only 0 set(s)"),
        ("lengths", "the nodes_* attributes have different lengths"),
        ("target", "leaf_targetids holds 1, outside 0..<1"),
        ("aggregate", "aggregate_function 4 is not one of"),
        ("transform", "post_transform 5 is not one of"),
        ("cycle", "cycle"),
        ("feature", "tests feature 2; the input has 2"),
    ])
    func testMalformedTreeEnsembleIsALoadError(_ fault: String, _ reason: String) throws {
        var e = Ensemble()
        switch fault {
        case "leaf index": e.trueIDs[1] = 7
        case "node index": e.trueIDs[0] = 5
        case "root": e.roots = [2]
        case "mode": e.modes[1] = 9
        case "no sets": e.members = []
        case "lengths": e.splits = [0]
        case "target": e.targets[2] = 1
        case "aggregate": e.aggregate = 4
        case "transform": e.transform = 5
        case "cycle": e.falseIDs[1] = 0; e.falseLeafs[1] = 0
        default: e.features[1] = 2
        }
        let error = try #require(Self.loadError(e.model), "\(fault) loaded")
        #expect(error.node == "forest")
        #expect(error.op == "TreeEnsemble")
        #expect(error.reason.contains(reason), "\(fault): \(error.reason)")
    }
}
