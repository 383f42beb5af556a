// TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml, as skl2onnx and onnxmltools write them): every
// attribute is validated and the trees are laid out flat (TreeForest) at load. A malformed ensemble (a child that
// does not exist, a cycle, a feature past the input, a weight on an inner node) is a load error naming it.

extension GraphCompiler {
    /// The attributes both tree operators share, read and checked.
    private struct TreeAttributes {
        var treeIDs: [Int64]
        var nodeIDs: [Int64]
        var featureIDs: [Int64]
        var modes: [String]
        var thresholds: [Double]
        var trueIDs: [Int64]
        var falseIDs: [Int64]
        var missingTrue: [Int64]
    }

    /// Leaf entries: (tree, node) → (output, weight).
    private struct LeafAttributes {
        var treeIDs: [Int64]
        var nodeIDs: [Int64]
        var outputIDs: [Int64]
        var weights: [Float]
    }

    /// The input of a tree operator as float32 [rows, features], with its row and feature counts.
    private mutating func treeInput(_ node: ONNXNode) throws -> (source: ValueID, rows: Int, features: Int) {
        let source = try floatInput(node)
        let dims = values[source].dims
        guard dims.count == 2, dims[1] >= 0 else {
            throw CompileFailure("input of shape \(Shape(dims)) is not [rows, features]")
        }
        guard dims[1] < Int(TreeForest.featureMask) else { throw CompileFailure("\(dims[1]) features is too many") }
        return (source, dims[0], dims[1])
    }

    mutating func lowerTreeEnsemble(_ node: ONNXNode, classifier: Bool) throws {
        let (source, rows, features) = try treeInput(node)

        let tree = try treeAttributes(node)
        let prefix = classifier ? "class" : "target"
        let leaf = LeafAttributes(
            treeIDs: node.attribute("\(prefix)_treeids")?.ints ?? [],
            nodeIDs: node.attribute("\(prefix)_nodeids")?.ints ?? [],
            outputIDs: node.attribute("\(prefix)_ids")?.ints ?? [],
            weights: try floatsOrTensor(node, "\(prefix)_weights"))
        guard leaf.nodeIDs.count == leaf.treeIDs.count, leaf.outputIDs.count == leaf.treeIDs.count,
              leaf.weights.count == leaf.treeIDs.count
        else {
            throw CompileFailure("\(prefix)_treeids, \(prefix)_nodeids, \(prefix)_ids and \(prefix)_weights have "
                + "different lengths (\(leaf.treeIDs.count), \(leaf.nodeIDs.count), \(leaf.outputIDs.count), "
                + "\(leaf.weights.count))")
        }

        let outputs: Int
        var head = TreeForest.Head.regressor
        var labelTable: [String] = []
        var aggregate = TreeForest.Aggregate.sum
        if classifier {
            let ints = node.attribute("classlabels_int64s")?.ints ?? []
            labelTable = (node.attribute("classlabels_strings")?.strings ?? []).map { String(decoding: $0, as: UTF8.self) }
            guard ints.isEmpty != labelTable.isEmpty else {
                throw CompileFailure("exactly one of classlabels_int64s and classlabels_strings must be given")
            }
            outputs = ints.isEmpty ? labelTable.count : ints.count
            guard outputs >= 2 else { throw CompileFailure("\(outputs) class label(s); a classifier needs two or more") }
            let labels = ints.isEmpty ? (0..<Int64(outputs)).map { $0 } : ints
            head = .classifier(labels: labels, binaryCase: outputs == 2 && Set(leaf.outputIDs).count == 1,
                               allPositive: leaf.weights.allSatisfy { $0 >= 0 })
        } else {
            let targets = intAttribute(node, "n_targets", default: 1)
            guard targets >= 1, targets <= Int64(maxElementsPerValue) else {
                throw CompileFailure("n_targets \(targets) is not a positive count")
            }
            outputs = Int(targets)
            aggregate = try choice(node, "aggregate_function", default: "SUM",
                                   [("SUM", .sum), ("AVERAGE", .average), ("MIN", .min), ("MAX", .max)])
        }
        // Per output, every run holds a score and a flag for each of the 16 lanes (and the compiler a few flags):
        // charged before anything is sized by `outputs`, which a file states in one integer.
        try charge(outputs, elementSize: TreeForest.lanes * 6 + 8, for: "the scores of \(outputs) outputs")
        if let bad = leaf.outputIDs.first(where: { $0 < 0 || $0 >= Int64(outputs) }) {
            throw CompileFailure("\(prefix)_ids holds \(bad), outside 0..<\(outputs)")
        }
        let transform: TreeForest.Transform = try choice(
            node, "post_transform", default: "NONE",
            [("NONE", .none), ("LOGISTIC", .logistic), ("SOFTMAX", .softmax), ("SOFTMAX_ZERO", .softmaxZero),
             ("PROBIT", .probit)])
        let base = try floatsOrTensor(node, "base_values")
        guard base.count <= outputs || (!classifier && base.count == 1) else {
            throw CompileFailure("\(base.count) base_values for \(outputs) \(classifier ? "classes" : "targets")")
        }
        if !classifier, !(base.isEmpty || base.count == 1 || base.count == outputs) {
            throw CompileFailure("\(base.count) base_values for \(outputs) targets (expected 0, 1 or \(outputs))")
        }

        let forest = try buildForest(tree, leaf: leaf, features: features, outputs: outputs, aggregate: aggregate,
                                     transform: transform, base: base, head: head)
        try charge(forest.byteCount, elementSize: 1, for: "the compiled trees")

        if classifier {
            let labels = try newValue(node, 0, labelTable.isEmpty ? .int64 : .string, [rows], strings: labelTable)
            let scores = node.outputs.count > 1 && !node.outputs[1].isEmpty
                ? try newValue(node, 1, .float32, [rows, outputs])
                : define(CompiledValue(name: "", dataType: .float32, dims: [rows, outputs]))
            try emit(.treeEnsemble(input: source, scores: scores, labels: labels, rowDims: [rows], forest: forest))
        } else {
            let scores = try newValue(node, 0, .float32, [rows, outputs])
            try emit(.treeEnsemble(input: source, scores: scores, labels: nil, rowDims: [rows], forest: forest))
        }
    }

    /// ai.onnx.ml opset 5 TreeEnsemble: the same trees written as interior nodes (`nodes_*`, indexed from
    /// `tree_roots`) and leaves (`leaf_*`), modes as a uint8 tensor, BRANCH_MEMBER sets in `membership_values`,
    /// `aggregate_function` and `post_transform` as integers. Rewritten into the opset-3 regressor form and compiled
    /// the same way; a set test becomes a chain of BRANCH_EQ nodes (the value is in the set when one of them holds).
    // swiftlint:disable:next function_body_length cyclomatic_complexity
    mutating func lowerTreeEnsembleV5(_ node: ONNXNode) throws {
        let (source, rows, features) = try treeInput(node)

        func ints(_ name: String) -> [Int64] { node.attribute(name)?.ints ?? [] }
        func tensor(_ name: String, required: Bool) throws -> ONNXTensor? {
            guard let tensor = node.attribute(name)?.t else {
                if required { throw CompileFailure("\(name) is missing") }
                return nil
            }
            return tensor
        }
        let roots = ints("tree_roots")
        let featureIDs = ints("nodes_featureids"), trueIDs = ints("nodes_truenodeids")
        let falseIDs = ints("nodes_falsenodeids"), trueLeafs = ints("nodes_trueleafs")
        let falseLeafs = ints("nodes_falseleafs"), missing = ints("nodes_missing_value_tracks_true")
        let modeTensor = try tensor("nodes_modes", required: true) ?? ONNXTensor()
        guard modeTensor.dataType == ONNXTensor.ElementType.uint8 else {
            throw CompileFailure("nodes_modes is \(Self.elementTypeName(modeTensor.dataType)); expected uint8")
        }
        let (modeBuffer, _) = try decodeConstant(modeTensor, what: "nodes_modes")
        let modes = modeBuffer.int64s
        let splits = try doubles(try tensor("nodes_splits", required: true) ?? ONNXTensor(), name: "nodes_splits")
        let members = try tensor("membership_values", required: false).map { try doubles($0, name: "membership_values") }
            ?? []
        let leafTargets = ints("leaf_targetids")
        let leafWeights = try doubles(try tensor("leaf_weights", required: true) ?? ONNXTensor(), name: "leaf_weights")

        let count = modes.count
        let lengths = [featureIDs.count, splits.count, trueIDs.count, falseIDs.count, trueLeafs.count,
                       falseLeafs.count]
        guard lengths.allSatisfy({ $0 == count }), missing.isEmpty || missing.count == count else {
            throw CompileFailure("the nodes_* attributes have different lengths (modes \(count); featureids, splits, "
                + "truenodeids, falsenodeids, trueleafs, falseleafs: \(lengths); missing_value_tracks_true: "
                + "\(missing.count))")
        }
        guard leafTargets.count == leafWeights.count else {
            throw CompileFailure("leaf_targetids and leaf_weights have different lengths (\(leafTargets.count), "
                + "\(leafWeights.count))")
        }
        let leafCount = leafTargets.count
        guard !roots.isEmpty else { throw CompileFailure("tree_roots is empty") }
        guard count < Int(Int32.max) / 4, leafCount < Int(Int32.max) / 4, members.count < Int(Int32.max) / 4 else {
            throw CompileFailure("\(count) nodes and \(leafCount) leaves is too many")
        }
        let targets = intAttribute(node, "n_targets", default: 1)
        guard targets >= 1, targets <= Int64(maxElementsPerValue) else {
            throw CompileFailure("n_targets \(targets) is not a positive count")
        }
        let outputs = Int(targets)
        try charge(outputs, elementSize: TreeForest.lanes * 6 + 8, for: "the scores of \(outputs) outputs")
        if let bad = leafTargets.first(where: { $0 < 0 || $0 >= targets }) {
            throw CompileFailure("leaf_targetids holds \(bad), outside 0..<\(outputs)")
        }
        let aggregates: [TreeForest.Aggregate] = [.average, .sum, .min, .max]
        let aggregateCode = intAttribute(node, "aggregate_function", default: 1)
        guard aggregateCode >= 0, aggregateCode < Int64(aggregates.count) else {
            throw CompileFailure("aggregate_function \(aggregateCode) is not one of 0 (AVERAGE), 1 (SUM), 2 (MIN), "
                + "3 (MAX)")
        }
        let transforms: [TreeForest.Transform] = [.none, .softmax, .logistic, .softmaxZero, .probit]
        let transformCode = intAttribute(node, "post_transform", default: 0)
        guard transformCode >= 0, transformCode < Int64(transforms.count) else {
            throw CompileFailure("post_transform \(transformCode) is not one of 0 (NONE), 1 (SOFTMAX), 2 (LOGISTIC), "
                + "3 (SOFTMAX_ZERO), 4 (PROBIT)")
        }

        // The sets of the BRANCH_MEMBER nodes, in node order, NaN-separated.
        var sets: [[Double]] = [[]]
        for value in members {
            if value.isNaN { sets.append([]) } else { sets[sets.count - 1].append(value) }
        }
        if sets.last?.isEmpty == true, !members.isEmpty { sets.removeLast() }
        var setOf: [Int: [Double]] = [:]
        var nextSet = 0
        let modeNames = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
        for i in 0..<count {
            guard modes[i] >= 0, modes[i] <= 6 else {
                throw CompileFailure("node \(i) has mode \(modes[i]) (supported: 0 BRANCH_LEQ to 5 BRANCH_NEQ and 6 "
                    + "BRANCH_MEMBER)")
            }
            guard modes[i] == 6 else { continue }
            guard nextSet < sets.count, !members.isEmpty else {
                throw CompileFailure("node \(i) is BRANCH_MEMBER but membership_values holds only \(nextSet) set(s)")
            }
            setOf[i] = sets[nextSet]
            nextSet += 1
        }
        try charge(count + leafCount + members.count, elementSize: 64, for: "the rewritten trees")

        // Rewrite: tree t holds every node reachable from its root; interior node i keeps id i, leaf j is n + j,
        // and a set test's extra EQ nodes take ids after those.
        var tree = TreeAttributes(treeIDs: [], nodeIDs: [], featureIDs: [], modes: [], thresholds: [], trueIDs: [],
                                  falseIDs: [], missingTrue: [])
        var leaf = LeafAttributes(treeIDs: [], nodeIDs: [], outputIDs: [], weights: [])
        var nextID = Int64(count + leafCount)
        func add(_ t: Int64, _ id: Int64, _ feature: Int64, _ mode: String, _ threshold: Double, _ yes: Int64,
                 _ no: Int64, _ tracksTrue: Int64) {
            tree.treeIDs.append(t)
            tree.nodeIDs.append(id)
            tree.featureIDs.append(feature)
            tree.modes.append(mode)
            tree.thresholds.append(threshold)
            tree.trueIDs.append(yes)
            tree.falseIDs.append(no)
            tree.missingTrue.append(tracksTrue)
        }
        for (t, root) in roots.enumerated() {
            guard root >= 0, root < Int64(count) else {
                throw CompileFailure("tree_roots[\(t)] is \(root); there are \(count) nodes")
            }
            let treeID = Int64(t)
            var seen = Set<Int>(), seenLeaves = Set<Int>()
            var stack = [Int(root)]
            while let i = stack.popLast() {
                guard seen.insert(i).inserted else { continue }
                var children: [Int64] = []
                for (id, isLeaf, side) in [(trueIDs[i], trueLeafs[i] != 0, "true"), (falseIDs[i], falseLeafs[i] != 0, "false")] {
                    if isLeaf {
                        guard id >= 0, id < Int64(leafCount) else {
                            throw CompileFailure("node \(i)'s \(side) branch is leaf \(id); there are \(leafCount) leaves")
                        }
                        children.append(Int64(count) + id)
                        if seenLeaves.insert(Int(id)).inserted {
                            add(treeID, Int64(count) + id, 0, "LEAF", 0, 0, 0, 0)
                            leaf.treeIDs.append(treeID)
                            leaf.nodeIDs.append(Int64(count) + id)
                            leaf.outputIDs.append(leafTargets[Int(id)])
                            leaf.weights.append(Float(leafWeights[Int(id)]))
                        }
                    } else {
                        guard id >= 0, id < Int64(count) else {
                            throw CompileFailure("node \(i)'s \(side) branch is node \(id); there are \(count) nodes")
                        }
                        children.append(id)
                        stack.append(Int(id))
                    }
                }
                let tracks = missing.isEmpty ? 0 : missing[i]
                guard let set = setOf[i] else {
                    add(treeID, Int64(i), featureIDs[i], modeNames[Int(modes[i])], splits[i], children[0], children[1],
                        tracks)
                    continue
                }
                // x ∈ {v₁ … vₖ}: EQ v₁, else EQ v₂ …, else the false branch (an empty set is never met). A tracked
                // NaN takes the first test's true branch.
                let members = set.isEmpty ? [Double.nan] : set
                var id = Int64(i)
                for (k, value) in members.enumerated() {
                    let last = k == members.count - 1
                    let next = last ? children[1] : nextID
                    add(treeID, id, featureIDs[i], "BRANCH_EQ", value, children[0], next, tracks)
                    if !last {
                        id = nextID
                        nextID += 1
                    }
                }
            }
        }
        let forest = try buildForest(tree, leaf: leaf, features: features, outputs: outputs,
                                     aggregate: aggregates[Int(aggregateCode)],
                                     transform: transforms[Int(transformCode)], base: [], head: .regressor)
        try charge(forest.byteCount, elementSize: 1, for: "the compiled trees")
        let scores = try newValue(node, 0, .float32, [rows, outputs])
        try emit(.treeEnsemble(input: source, scores: scores, labels: nil, rowDims: [rows], forest: forest))
    }

    /// A string attribute that names one of `options`; anything else is a load error listing them.
    private func choice<T>(_ node: ONNXNode, _ name: String, default value: String, _ options: [(String, T)]) throws -> T {
        let given = stringAttribute(node, name, default: value)
        guard let match = options.first(where: { $0.0 == given }) else {
            throw CompileFailure("\(name) \(given) is not one of " + options.map(\.0).joined(separator: ", "))
        }
        return match.1
    }

    /// A float list attribute or its `_as_tensor` double twin, as floats.
    private func floatsOrTensor(_ node: ONNXNode, _ name: String) throws -> [Float] {
        if let tensor = node.attribute(name + "_as_tensor")?.t {
            return try doubles(tensor, name: name + "_as_tensor").map { Float($0) }
        }
        return node.attribute(name)?.floats ?? []
    }

    /// The values of a double (or float) tensor attribute.
    private func doubles(_ tensor: ONNXTensor, name: String) throws -> [Double] {
        switch tensor.dataType {
        case ONNXTensor.ElementType.double:
            if !tensor.doubleData.isEmpty { return tensor.doubleData }
            let raw = tensor.rawData
            guard raw.count % 8 == 0 else { throw CompileFailure("\(name): raw data is not a whole number of doubles") }
            return raw.withUnsafeBytes { bytes in
                (0..<(raw.count / 8)).map {
                    Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
                }
            }
        case ONNXTensor.ElementType.float:
            if !tensor.floatData.isEmpty { return tensor.floatData.map { Double($0) } }
            let raw = tensor.rawData
            guard raw.count % 4 == 0 else { throw CompileFailure("\(name): raw data is not a whole number of floats") }
            return raw.withUnsafeBytes { bytes in
                (0..<(raw.count / 4)).map {
                    Double(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))))
                }
            }
        default:
            throw CompileFailure("\(name) is \(Self.elementTypeName(tensor.dataType)); expected double or float")
        }
    }

    private func treeAttributes(_ node: ONNXNode) throws -> TreeAttributes {
        let thresholds: [Double]
        if let tensor = node.attribute("nodes_values_as_tensor")?.t {
            thresholds = try doubles(tensor, name: "nodes_values_as_tensor")
        } else {
            thresholds = (node.attribute("nodes_values")?.floats ?? []).map { Double($0) }
        }
        let attributes = TreeAttributes(
            treeIDs: node.attribute("nodes_treeids")?.ints ?? [],
            nodeIDs: node.attribute("nodes_nodeids")?.ints ?? [],
            featureIDs: node.attribute("nodes_featureids")?.ints ?? [],
            modes: (node.attribute("nodes_modes")?.strings ?? []).map { String(decoding: $0, as: UTF8.self) },
            thresholds: thresholds,
            trueIDs: node.attribute("nodes_truenodeids")?.ints ?? [],
            falseIDs: node.attribute("nodes_falsenodeids")?.ints ?? [],
            missingTrue: node.attribute("nodes_missing_value_tracks_true")?.ints ?? [])
        let count = attributes.treeIDs.count
        let lengths = [attributes.nodeIDs.count, attributes.featureIDs.count, attributes.modes.count,
                       attributes.thresholds.count, attributes.trueIDs.count, attributes.falseIDs.count]
        guard lengths.allSatisfy({ $0 == count }),
              attributes.missingTrue.isEmpty || attributes.missingTrue.count == count
        else {
            throw CompileFailure("the nodes_* attributes have different lengths (treeids \(count), nodeids, "
                + "featureids, modes, values, truenodeids, falsenodeids: \(lengths), missing_value_tracks_true: "
                + "\(attributes.missingTrue.count))")
        }
        guard count < Int(Int32.max) / 2 else { throw CompileFailure("\(count) nodes is too many") }
        return attributes
    }

    private struct NodeKey: Hashable {
        let tree: Int64
        let node: Int64
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    private mutating func buildForest(
        _ tree: TreeAttributes, leaf: LeafAttributes, features: Int, outputs: Int, aggregate: TreeForest.Aggregate,
        transform: TreeForest.Transform, base: [Float], head: TreeForest.Head
    ) throws -> TreeForest {
        let count = tree.treeIDs.count
        var indexOf: [NodeKey: Int] = [:]
        for i in 0..<count {
            let key = NodeKey(tree: tree.treeIDs[i], node: tree.nodeIDs[i])
            guard indexOf.updateValue(i, forKey: key) == nil else {
                throw CompileFailure("node \(key.node) of tree \(key.tree) is defined twice")
            }
        }
        // Modes, children and features of the source nodes.
        enum Mode { case leq, lt, gte, gt, eq, neq, leaf }
        var modes: [Mode] = []
        modes.reserveCapacity(count)
        var yes = [Int](repeating: -1, count: count)
        var no = [Int](repeating: -1, count: count)
        var referenced = [Bool](repeating: false, count: count)
        for i in 0..<count {
            let mode: Mode
            switch tree.modes[i] {
            case "BRANCH_LEQ": mode = .leq
            case "BRANCH_LT": mode = .lt
            case "BRANCH_GTE": mode = .gte
            case "BRANCH_GT": mode = .gt
            case "BRANCH_EQ": mode = .eq
            case "BRANCH_NEQ": mode = .neq
            case "LEAF": mode = .leaf
            case let other:
                throw CompileFailure("node \(tree.nodeIDs[i]) of tree \(tree.treeIDs[i]) has mode '\(other)' (supported: "
                    + "BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF)")
            }
            modes.append(mode)
            guard mode != .leaf else { continue }
            let feature = tree.featureIDs[i]
            guard feature >= 0, feature < Int64(features) else {
                throw CompileFailure("node \(tree.nodeIDs[i]) of tree \(tree.treeIDs[i]) tests feature \(feature); the "
                    + "input has \(features)")
            }
            for (child, isYes) in [(tree.trueIDs[i], true), (tree.falseIDs[i], false)] {
                guard let target = indexOf[NodeKey(tree: tree.treeIDs[i], node: child)] else {
                    throw CompileFailure("node \(tree.nodeIDs[i]) of tree \(tree.treeIDs[i]) points to node \(child), "
                        + "which the tree does not have")
                }
                if isYes { yes[i] = target } else { no[i] = target }
                if target != i { referenced[target] = true }
            }
        }
        // Roots: the one unreferenced node of each tree, trees in ascending id order.
        var rootOfTree: [Int64: Int] = [:]
        for i in 0..<count where !referenced[i] {
            if let other = rootOfTree.updateValue(i, forKey: tree.treeIDs[i]) {
                throw CompileFailure("tree \(tree.treeIDs[i]) has two roots (nodes \(tree.nodeIDs[other]) and "
                    + "\(tree.nodeIDs[i])): a node no other node points to")
            }
        }
        let treeIDs = Array(Set(tree.treeIDs)).sorted()
        var sourceRoots: [Int] = []
        for id in treeIDs {
            guard let root = rootOfTree[id] else { throw CompileFailure("tree \(id) has no root (it is a cycle)") }
            sourceRoots.append(root)
        }

        // Depth of every node (longest path to a leaf), refusing cycles: iterative post-order with colours.
        var depth = [Int](repeating: -1, count: count)
        var onPath = [Bool](repeating: false, count: count)
        for root in sourceRoots {
            var stack: [(node: Int, expanded: Bool)] = [(root, false)]
            while let (current, expanded) = stack.popLast() {
                if modes[current] == .leaf {
                    depth[current] = 0
                    continue
                }
                if expanded {
                    onPath[current] = false
                    depth[current] = 1 + Swift.max(depth[yes[current]], depth[no[current]])
                    continue
                }
                if depth[current] >= 0 { continue }
                guard !onPath[current] else {
                    throw CompileFailure("tree \(tree.treeIDs[current]) has a cycle through node \(tree.nodeIDs[current])")
                }
                onPath[current] = true
                stack.append((current, true))
                for child in [yes[current], no[current]] where depth[child] < 0 {
                    if onPath[child] {
                        throw CompileFailure("tree \(tree.treeIDs[child]) has a cycle through node \(tree.nodeIDs[child])")
                    }
                    stack.append((child, false))
                }
            }
        }

        // Leaf entries by source node.
        var entriesOf = [[(output: Int32, weight: Float)]](repeating: [], count: count)
        for e in 0..<leaf.treeIDs.count {
            guard let target = indexOf[NodeKey(tree: leaf.treeIDs[e], node: leaf.nodeIDs[e])] else {
                throw CompileFailure("a weight names node \(leaf.nodeIDs[e]) of tree \(leaf.treeIDs[e]), which does not "
                    + "exist")
            }
            guard modes[target] == .leaf else {
                throw CompileFailure("a weight names node \(leaf.nodeIDs[e]) of tree \(leaf.treeIDs[e]), which is not a "
                    + "LEAF")
            }
            entriesOf[target].append((Int32(leaf.outputIDs[e]), leaf.weights[e]))
        }

        // Comparisons: the most common one is used for leaves too, so a uniform forest stays uniform.
        func canonical(_ mode: Mode) -> (TreeForest.Comparison, swapped: Bool) {
            switch mode {
            case .leq, .leaf: return (.lessOrEqual, false)
            case .gt: return (.lessOrEqual, true)
            case .lt: return (.less, false)
            case .gte: return (.less, true)
            case .eq: return (.equal, false)
            case .neq: return (.equal, true)
            }
        }
        var tally: [TreeForest.Comparison: Int] = [:]
        for mode in modes where mode != .leaf { tally[canonical(mode).0, default: 0] += 1 }
        let leafComparison = tally.max { $0.value < $1.value }?.key ?? .lessOrEqual

        // Lay each tree out breadth-first from its root; shared nodes keep one copy.
        var newIndex = [Int32](repeating: -1, count: count)
        var order: [Int] = []
        var roots: [Int32] = []
        var depths: [Int32] = []
        var treeOfNew: [Int] = []
        for (t, root) in sourceRoots.enumerated() {
            roots.append(Int32(order.count))
            depths.append(Int32(depth[root]))
            var queue = [root]
            newIndex[root] = Int32(order.count)
            order.append(root)
            treeOfNew.append(t)
            var head = 0
            while head < queue.count {
                let current = queue[head]
                head += 1
                guard modes[current] != .leaf else { continue }
                for child in [yes[current], no[current]] where newIndex[child] < 0 {
                    newIndex[child] = Int32(order.count)
                    order.append(child)
                    treeOfNew.append(t)
                    queue.append(child)
                }
            }
        }

        // Leaves: one weight per tree where every leaf of the tree has exactly one entry for the same output.
        var outputOfTree = [Int32](repeating: -1, count: sourceRoots.count)
        var onePerTree = true
        for (position, source) in order.enumerated() where modes[source] == .leaf {
            let entries = entriesOf[source]
            let t = treeOfNew[position]
            guard entries.count == 1, outputOfTree[t] < 0 || outputOfTree[t] == entries[0].output else {
                onePerTree = false
                break
            }
            outputOfTree[t] = entries[0].output
        }
        if onePerTree { for t in outputOfTree.indices where outputOfTree[t] < 0 { outputOfTree[t] = 0 } }

        var nodes: [TreeForest.Node] = []
        nodes.reserveCapacity(order.count)
        for (position, source) in order.enumerated() {
            let mode = modes[source]
            if mode == .leaf {
                let weight = onePerTree ? entriesOf[source].first?.weight ?? 0 : 0
                nodes.append(TreeForest.Node(feature: leafComparison.rawValue << TreeForest.comparisonShift,
                                             threshold: weight, yes: Int32(position), no: Int32(position)))
                continue
            }
            let (comparison, swapped) = canonical(mode)
            let tracksTrue = !tree.missingTrue.isEmpty && tree.missingTrue[source] != 0
            let nanTakesTrueChild = tracksTrue || mode == .neq
            let nanYes = swapped ? !nanTakesTrueChild : nanTakesTrueChild
            let trueChild = newIndex[yes[source]], falseChild = newIndex[no[source]]
            var flags = comparison.rawValue << TreeForest.comparisonShift
            if nanYes { flags |= TreeForest.nanYesBit }
            nodes.append(TreeForest.Node(
                feature: UInt32(tree.featureIDs[source]) | flags,
                threshold: Self.floatThreshold(tree.thresholds[source], comparison),
                yes: swapped ? falseChild : trueChild, no: swapped ? trueChild : falseChild))
        }

        let leaves: TreeForest.Leaves
        var scored: [Bool]?
        if onePerTree {
            leaves = .onePerTree(outputOfTree: outputOfTree)
            var mask = [Bool](repeating: false, count: outputs)
            for output in outputOfTree where !sourceRoots.isEmpty { mask[Int(output)] = true }
            scored = mask
        } else {
            var start: [Int32] = [0]
            var entryOutputs: [Int32] = []
            var entryWeights: [Float] = []
            for source in order {
                for entry in entriesOf[source] {
                    entryOutputs.append(entry.output)
                    entryWeights.append(entry.weight)
                }
                start.append(Int32(entryOutputs.count))
            }
            leaves = .entries(start: start, outputs: entryOutputs, weights: entryWeights)
            // An output is scored for every row when some tree has it on every leaf, for none when no leaf has it.
            var always = [Bool](repeating: false, count: outputs)
            var ever = [Bool](repeating: false, count: outputs)
            var leavesOfTree = [Int](repeating: 0, count: sourceRoots.count)
            var leavesWith = [[Int32: Int]](repeating: [:], count: sourceRoots.count)
            for (position, source) in order.enumerated() where modes[source] == .leaf {
                let t = treeOfNew[position]
                leavesOfTree[t] += 1
                for output in Set(entriesOf[source].map(\.output)) {
                    ever[Int(output)] = true
                    leavesWith[t][output, default: 0] += 1
                }
            }
            for (t, counts) in leavesWith.enumerated() {
                for (output, count) in counts where count == leavesOfTree[t] { always[Int(output)] = true }
            }
            let independent = (0..<outputs).allSatisfy { always[$0] || !ever[$0] }
            scored = independent ? always : nil
        }
        // Unbalanced forests (LightGBM's leaf-wise trees: deepest leaf ~13 levels, typical leaf ~8) walk from a
        // queue; balanced ones in lock step for their full depth.
        var depthSum = 0.0, typicalSum = 0.0
        for root in sourceRoots {
            depthSum += Double(depth[root])
            var leafDepths = 0, leafCount = 0
            var level: [Int] = [root]
            var distance = 0
            var seen = Set<Int>()
            while !level.isEmpty {
                var nextLevel: [Int] = []
                for current in level where seen.insert(current).inserted {
                    if modes[current] == .leaf {
                        leafDepths += distance
                        leafCount += 1
                    } else {
                        nextLevel.append(yes[current])
                        nextLevel.append(no[current])
                    }
                }
                level = nextLevel
                distance += 1
            }
            typicalSum += Double(leafDepths) / Double(Swift.max(leafCount, 1))
        }
        let queued = onePerTree && depthSum > 1.3 * typicalSum
        // The queued walk keeps one weight per (row, tree) of a 16-row block.
        if queued { try charge(sourceRoots.count, elementSize: TreeForest.lanes * 4, for: "the queued walk's leaves") }
        // The uniform LEQ/LT walks read a NaN sent to `yes` as −∞, right for finite thresholds only.
        let finite = nodes.allSatisfy { $0.feature & TreeForest.nanYesBit == 0 || $0.threshold.isFinite }
        let uniformComparison: TreeForest.Comparison? = tally.count <= 1 && finite ? leafComparison : nil
        return TreeForest(nodes: nodes, roots: roots, depths: depths, leaves: leaves, features: features,
                          outputs: outputs, aggregate: aggregate, transform: transform, base: base, head: head,
                          scored: scored, uniform: uniformComparison,
                          anyNaNYes: nodes.contains { $0.feature & TreeForest.nanYesBit != 0 }, queued: queued)
    }

    /// The float threshold that decides a float input exactly as the double one would: x ≤ t becomes
    /// x ≤ (the largest float ≤ t), x < t becomes x < (the smallest float ≥ t), and x == t never holds when t is
    /// not a float.
    static func floatThreshold(_ value: Double, _ comparison: TreeForest.Comparison) -> Float {
        let nearest = Float(value)
        guard !value.isNaN, Double(nearest) != value else { return nearest }
        switch comparison {
        case .lessOrEqual: return Double(nearest) > value ? nearest.nextDown : nearest
        case .less: return Double(nearest) < value ? nearest.nextUp : nearest
        case .equal: return .nan
        }
    }
}
