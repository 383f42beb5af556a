@testable import Inference
import ProtoWire
import Testing

/// The queued walk (unbalanced forests of one-weight leaves, as LightGBM grows them) against a plain evaluation of
/// the same trees: 40 one-sided trees (more trees than the walk's 32 lanes, so lanes take new walks and drain),
/// NaN routed both ways, batches that end inside a row block. Sums are added in tree order on both sides, so the
/// results must be equal bit for bit.
@Suite struct TreeForestQueueTests {
    /// A forest of "caterpillar" trees: each inner node has a leaf on one side and the rest of the tree on the other.
    struct Forest {
        var features = 5
        var treeIDs: [Int64] = [], nodeIDs: [Int64] = [], featureIDs: [Int64] = [], modes: [String] = []
        var values: [Float] = [], trueIDs: [Int64] = [], falseIDs: [Int64] = [], missing: [Int64] = []
        var leafTrees: [Int64] = [], leafNodes: [Int64] = [], weights: [Float] = []

        init(trees: Int, seed: UInt64) {
            var state = seed
            func next() -> UInt64 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return state >> 33
            }
            for tree in 0..<trees {
                let depth = 3 + Int(next() % 10)
                var id: Int64 = 0
                for _ in 0..<depth {
                    let leafOnTrue = next() % 2 == 0
                    append(tree, id, feature: Int64(next() % UInt64(features)), mode: "BRANCH_LEQ",
                           value: Float(Int(next() % 9) - 4) * 0.5, yes: leafOnTrue ? id + 1 : id + 2,
                           no: leafOnTrue ? id + 2 : id + 1, missing: Int64(next() % 2))
                    leaf(tree, id + 1, weight: Float(Int(next() % 200) - 100) * 0.01)
                    id += 2
                }
                // The last inner node's "rest of the tree" is a leaf too.
                leaf(tree, id, weight: Float(Int(next() % 200) - 100) * 0.01)
            }
        }

        mutating func append(_ tree: Int, _ id: Int64, feature: Int64, mode: String, value: Float, yes: Int64,
                             no: Int64, missing: Int64) {
            treeIDs.append(Int64(tree)); nodeIDs.append(id); featureIDs.append(feature); modes.append(mode)
            values.append(value); trueIDs.append(yes); falseIDs.append(no); self.missing.append(missing)
        }

        mutating func leaf(_ tree: Int, _ id: Int64, weight: Float) {
            append(tree, id, feature: 0, mode: "LEAF", value: 0, yes: 0, no: 0, missing: 0)
            leafTrees.append(Int64(tree)); leafNodes.append(id); weights.append(weight)
        }

        var model: ONNXModel {
            let node = ModelBuilder.node("TreeEnsembleRegressor", ["x"], ["y"], domain: "ai.onnx.ml", attributes: [
                TreeEnsembleTests.ints("nodes_treeids", treeIDs), TreeEnsembleTests.ints("nodes_nodeids", nodeIDs),
                TreeEnsembleTests.ints("nodes_featureids", featureIDs), TreeEnsembleTests.strings("nodes_modes", modes),
                TreeEnsembleTests.floats("nodes_values", values), TreeEnsembleTests.ints("nodes_truenodeids", trueIDs),
                TreeEnsembleTests.ints("nodes_falsenodeids", falseIDs),
                TreeEnsembleTests.ints("nodes_missing_value_tracks_true", missing),
                TreeEnsembleTests.ints("target_treeids", leafTrees), TreeEnsembleTests.ints("target_nodeids", leafNodes),
                TreeEnsembleTests.ints("target_ids", leafNodes.map { _ in 0 }),
                TreeEnsembleTests.floats("target_weights", weights),
            ])
            var model = ModelBuilder.model(
                nodes: [node],
                inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: Int64(features))])],
                outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 1)])])
            model.opsetImports.append(ONNXOperatorSetID(domain: "ai.onnx.ml", version: 3))
            return model
        }

        /// The plain evaluation: each row down each tree, leaves summed in tree order.
        func evaluate(_ row: ArraySlice<Float>) -> Float {
            var position: [Int64: Int] = [:]
            for i in nodeIDs.indices { position[treeIDs[i] << 32 | nodeIDs[i]] = i }
            var weightOf: [Int64: Float] = [:]
            for i in leafNodes.indices { weightOf[leafTrees[i] << 32 | leafNodes[i]] = weights[i] }
            var sum: Float = 0
            for tree in Set(treeIDs).sorted() {
                var i = position[tree << 32] ?? 0
                while modes[i] != "LEAF" {
                    let value = row[row.startIndex + Int(featureIDs[i])]
                    let yes = value.isNaN ? missing[i] != 0 : value <= values[i]
                    i = position[tree << 32 | (yes ? trueIDs[i] : falseIDs[i])] ?? 0
                }
                sum += weightOf[tree << 32 | nodeIDs[i]] ?? 0
            }
            return sum
        }
    }

    @Test(arguments: [1, 5, 16, 37])
    func testQueuedWalkEqualsPlainEvaluation(_ rows: Int) throws {
        let forest = Forest(trees: 40, seed: UInt64(rows))
        let model = try Model(onnxBytes: forest.model.serializedBytes(), name: "q", source: "q.onnx")
        let queued = model.plan.steps.contains {
            if case .treeEnsemble(_, _, _, _, let compiled) = $0 { return compiled.queued }
            return false
        }
        #expect(queued, "the caterpillar forest must take the queued walk")
        let grid: [Float] = [-2, -1, -0.5, 0, 0.5, 1, 2, .nan, 0.25]
        var state = UInt64(rows) &* 977
        let x = (0..<(rows * forest.features)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1
            return grid[Int((state >> 33) % UInt64(grid.count))]
        }
        for threads in [1, 2] {
            let y = try model.makeContext(maxBatchSize: 64, gemmThreads: threads)
                .run([Tensor(shape: [rows, forest.features], floats: x)])
            let expected = (0..<rows).map { forest.evaluate(x[($0 * forest.features)..<(($0 + 1) * forest.features)]) }
            #expect(TreeEnsembleTests.bits(y[0].storage) == TreeEnsembleTests.bits(.float32(expected)))
        }
    }
}
