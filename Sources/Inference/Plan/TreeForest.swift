internal import Dispatch
internal import Glibc

// A tree ensemble (ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor) compiled at load into one flat node
// array and evaluated batch-major: a block of rows walks one tree (or a row walks a group of trees) in lock step,
// so independent traversals overlap their loads. The semantics follow onnxruntime's (docs/engine.md, "Tree ensembles").

/// A compiled, validated, immutable tree ensemble; shared by every execution context of a model.
final class TreeForest: Sendable {
    /// One node: 16 bytes, four to a cache line. A leaf points both children at itself, so a walk of a tree's
    /// full depth ends on its leaf whatever the path length; the leaf's threshold holds its weight when every leaf
    /// of the tree carries exactly one.
    struct Node: Sendable {
        /// The feature index (low 24 bits), the comparison (bits 24-25) and "NaN goes yes" (bit 26).
        var feature: UInt32
        var threshold: Float
        var yes: Int32
        var no: Int32
    }

    /// The comparisons after canonicalisation: GT, GTE and NEQ become LEQ, LT and EQ with the children swapped.
    enum Comparison: UInt32, Sendable {
        case lessOrEqual = 0, less = 1, equal = 2
    }

    static let featureMask: UInt32 = 0xFF_FFFF
    static let comparisonShift: UInt32 = 24
    static let nanYesBit: UInt32 = 1 << 26

    /// How the leaves' weights are stored.
    enum Leaves: Sendable {
        /// Every leaf of tree t carries one weight for output `outputOfTree[t]`, kept in the leaf's threshold.
        case onePerTree(outputOfTree: [Int32])
        /// Leaf entries in CSR form: node i's entries are `start[i] ..< start[i + 1]` of `outputs` and `weights`.
        case entries(start: [Int32], outputs: [Int32], weights: [Float])
    }

    enum Aggregate: Sendable, Equatable { case sum, average, min, max }

    enum Transform: Sendable, Equatable { case none, logistic, softmax, softmaxZero, probit }

    /// What the accumulated scores become.
    enum Head: Sendable {
        case regressor
        /// `labels`: the int64 labels, or 0..<n for string labels (their table travels with the output value).
        /// `binaryCase`: two labels and every weight for one class; `allPositive`: no negative weight.
        case classifier(labels: [Int64], binaryCase: Bool, allPositive: Bool)
    }

    let nodes: [Node]
    let roots: [Int32]
    let depths: [Int32]
    let leaves: Leaves
    let features: Int
    /// Classes (classifier) or targets (regressor).
    let outputs: Int
    let aggregate: Aggregate
    let transform: Transform
    let base: [Float]
    let head: Head
    /// The comparison every inner node makes, when they all make the same one (leaves take it too).
    let uniform: Comparison?
    /// Some node sends NaN to `yes` (a missing value tracked true, or a NEQ turned EQ).
    let anyNaNYes: Bool
    /// Per output: whether every row gets a score for it (nil: it depends on the row, tracked per row).
    let scored: [Bool]?
    /// The trees are unbalanced (a tree's deepest leaf far below its typical one) and carry one weight per leaf:
    /// lanes take (row, tree) walks from a queue and stop at their leaf, instead of walking every tree's full depth.
    let queued: Bool

    init(nodes: [Node], roots: [Int32], depths: [Int32], leaves: Leaves, features: Int, outputs: Int,
         aggregate: Aggregate, transform: Transform, base: [Float], head: Head, scored: [Bool]?,
         uniform: Comparison?, anyNaNYes: Bool, queued: Bool) {
        self.queued = queued
        self.nodes = nodes
        self.roots = roots
        self.depths = depths
        self.leaves = leaves
        self.features = features
        self.outputs = outputs
        self.aggregate = aggregate
        self.transform = transform
        self.base = base
        self.head = head
        self.scored = scored
        self.uniform = uniform
        self.anyNaNYes = anyNaNYes
    }

    /// Columns of the score output: the classes (at least two for a classifier) or the targets.
    var scoreColumns: Int { outputs }

    /// Bytes the compiled forest holds.
    var byteCount: Int {
        var bytes = nodes.count * MemoryLayout<Node>.stride + roots.count * 8
        if case .entries(let start, let outputs, let weights) = leaves {
            bytes += start.count * 4 + outputs.count * 4 + weights.count * 4
        }
        return bytes
    }

    /// Rows below which one thread does the whole batch (a fork and join costs more than it saves).
    static let rowsPerThread = 32
    /// Traversals walked in lock step: enough independent loads in flight to hide the cache's latency.
    static let lanes = 16
    /// Walks in flight in the queued walk, whose lanes never wait for each other.
    static let queueLanes = 32

    /// Evaluates `rows` rows of `x` ([rows × features]) into `scores` ([rows × scoreColumns]) and, for a
    /// classifier, `labels` ([rows]).
    func run(x: UnsafePointer<Float>, rows: Int, scores: UnsafeMutablePointer<Float>,
             labels: UnsafeMutablePointer<Int64>?, threads: Int) {
        let threads = Swift.max(1, Swift.min(threads, rows / Self.rowsPerThread))
        let job = Job(forest: self, x: x, scores: scores, labels: labels)
        if threads == 1 {
            job.run(rows: 0..<rows)
            return
        }
        let chunk = (rows + threads - 1) / threads
        DispatchQueue.concurrentPerform(iterations: threads) { part in
            let start = part * chunk
            guard start < rows else { return }
            job.run(rows: start..<Swift.min(rows, start + chunk))
        }
    }

    /// One evaluation's buffers, shared by the threads that split its rows.
    ///
    /// Owner and threads: the buffers belong to the calling instance thread, which blocks in `concurrentPerform`
    /// until every share has returned; the shares only read x and each writes its own rows of the outputs. That is
    /// why the pointers may cross threads (`@unchecked Sendable`).
    private struct Job: @unchecked Sendable {
        let forest: TreeForest
        let x: UnsafePointer<Float>
        let scores: UnsafeMutablePointer<Float>
        let labels: UnsafeMutablePointer<Int64>?

        func run(rows: Range<Int>) {
            let block = TreeForest.lanes
            let columns = Swift.max(forest.outputs, 1)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: block * columns) { accBuffer in
                withUnsafeTemporaryAllocation(of: Bool.self, capacity: block * columns) { hitBuffer in
                    guard let acc = accBuffer.baseAddress, let hit = hitBuffer.baseAddress else { return }
                    var start = rows.lowerBound
                    while start < rows.upperBound {
                        let count = Swift.min(block, rows.upperBound - start)
                        forest.accumulate(x: x + start * forest.features, rows: count, acc: acc, hit: hit)
                        for row in 0..<count {
                            forest.finalize(acc: acc + row * columns, hit: hit + row * columns,
                                            scores: scores + (start + row) * columns,
                                            label: labels.map { $0 + start + row })
                        }
                        start += count
                    }
                }
            }
        }
    }

    // MARK: Walking

    /// Sums (or min/max) the leaves of every tree for `rows` (at most `lanes`) rows into acc[rows × outputs];
    /// `hit` says which outputs got a leaf, where that depends on the row.
    private func accumulate(x: UnsafePointer<Float>, rows: Int, acc: UnsafeMutablePointer<Float>,
                            hit: UnsafeMutablePointer<Bool>) {
        let columns = outputs
        let initial: Float
        switch aggregate {
        case .sum, .average: initial = 0
        case .min: initial = .infinity
        case .max: initial = -.infinity
        }
        acc.initialize(repeating: initial, count: rows * columns)
        hit.initialize(repeating: false, count: rows * columns)
        switch (uniform, anyNaNYes) {
        case (.lessOrEqual?, false): walkAll(LessOrEqualTest.self, x: x, rows: rows, acc: acc, hit: hit)
        case (.lessOrEqual?, true): walkAll(NaNYes<LessOrEqualTest>.self, x: x, rows: rows, acc: acc, hit: hit)
        case (.less?, false): walkAll(LessTest.self, x: x, rows: rows, acc: acc, hit: hit)
        case (.less?, true): walkAll(NaNYes<LessTest>.self, x: x, rows: rows, acc: acc, hit: hit)
        case (.equal?, false): walkAll(EqualTest.self, x: x, rows: rows, acc: acc, hit: hit)
        case (.equal?, true), (nil, _): walkAll(AnyTest.self, x: x, rows: rows, acc: acc, hit: hit)
        }
    }

    /// Walks every tree for the rows: a block of several rows takes one tree at a time; fewer rows take a group
    /// of trees at a time, so there are always up to `lanes` walks in flight. Leaves are added in tree order per
    /// row, as onnxruntime adds them.
    @inline(__always)
    private func walkAll<Test: BranchTest>(_ test: Test.Type, x: UnsafePointer<Float>, rows: Int,
                                           acc: UnsafeMutablePointer<Float>, hit: UnsafeMutablePointer<Bool>) {
        if queued, case .onePerTree(let outputOfTree) = leaves {
            walkQueued(test, x: x, rows: rows, outputOfTree: outputOfTree, acc: acc, hit: hit)
            return
        }
        let group = Swift.max(1, Self.lanes / rows)
        let treeCount = roots.count
        let stride = features
        nodes.withUnsafeBufferPointer { nodeBuffer in
            roots.withUnsafeBufferPointer { rootBuffer in
                depths.withUnsafeBufferPointer { depthBuffer in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: Self.lanes) { laneBuffer in
                        withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.lanes) { baseBuffer in
                            guard let nodes = nodeBuffer.baseAddress, let roots = rootBuffer.baseAddress,
                                  let depths = depthBuffer.baseAddress, let index = laneBuffer.baseAddress,
                                  let bases = baseBuffer.baseAddress
                            else { return }
                            var tree = 0
                            while tree < treeCount {
                                let trees = Swift.min(group, treeCount - tree)
                                var depth: Int32 = 0
                                var lane = 0
                                for t in 0..<trees {
                                    depth = Swift.max(depth, depths[tree + t])
                                    for row in 0..<rows {
                                        index[lane] = roots[tree + t]
                                        bases[lane] = row * stride
                                        lane += 1
                                    }
                                }
                                let laneCount = lane
                                for _ in 0..<depth {
                                    for lane in 0..<laneCount {
                                        let node = nodes[Int(index[lane])]
                                        let value = x[bases[lane] + Int(node.feature & Self.featureMask)]
                                        index[lane] = Test.goesYes(value, node) ? node.yes : node.no
                                    }
                                }
                                lane = 0
                                for t in 0..<trees {
                                    for row in 0..<rows {
                                        addLeaf(Int(index[lane]), tree: tree + t, nodes: nodes,
                                                acc: acc + row * outputs, hit: hit + row * outputs)
                                        lane += 1
                                    }
                                }
                                tree += trees
                            }
                        }
                    }
                }
            }
        }
    }

    /// Unbalanced trees with one weight per leaf: `queueLanes` walks in flight, each taking the next (tree, row)
    /// from a queue when it reaches its leaf, so no walk runs past its own leaf. The leaves' weights are kept per
    /// (row, tree) and added in tree order afterwards, the order the lock-step walk adds them in. The queue hands out
    /// the rows of one tree before the next tree, so neighbouring lanes share a tree's cache lines; a lane keeps its
    /// walk's row offset and weight slot, so taking a walk costs no division.
    @inline(__always)
    private func walkQueued<Test: BranchTest>(_ test: Test.Type, x: UnsafePointer<Float>, rows: Int,
                                              outputOfTree: [Int32], acc: UnsafeMutablePointer<Float>,
                                              hit: UnsafeMutablePointer<Bool>) {
        let treeCount = roots.count
        let jobs = rows * treeCount
        let stride = features
        nodes.withUnsafeBufferPointer { nodeBuffer in
            roots.withUnsafeBufferPointer { rootBuffer in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: Swift.max(jobs, 1)) { leafBuffer in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: Self.queueLanes) { laneBuffer in
                        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * Self.queueLanes) { jobBuffer in
                            guard let nodes = nodeBuffer.baseAddress, let roots = rootBuffer.baseAddress,
                                  let weights = leafBuffer.baseAddress, let index = laneBuffer.baseAddress,
                                  let slot = jobBuffer.baseAddress
                            else { return }
                            let base = slot + Self.queueLanes
                            // The next walk: row `nextRow` of tree `nextTree`; its weight goes to
                            // weights[nextRow * treeCount + nextTree].
                            var nextRow = 0, nextTree = 0
                            @inline(__always) func take(_ lane: Int) {
                                slot[lane] = nextRow * treeCount + nextTree
                                index[lane] = roots[nextTree]
                                base[lane] = nextRow * stride
                                nextRow += 1
                                if nextRow == rows {
                                    nextRow = 0
                                    nextTree += 1
                                }
                            }
                            let laneCount = Swift.min(Self.queueLanes, jobs)
                            for lane in 0..<laneCount { take(lane) }
                            // Sweeps: every lane takes one step, branch-free (a lane on a leaf stays there: a
                            // leaf is its own child), and the lanes found on a leaf are noted in a mask; then those
                            // lanes hand in their leaf's weight and take the next walk. One hard-to-predict branch
                            // per sweep (the refill loop's exit) instead of one per finished walk.
                            var live: UInt32 = laneCount == 32 ? .max : (1 << UInt32(laneCount)) &- 1
                            while live != 0 {
                                var atLeaf: UInt32 = 0
                                for lane in 0..<laneCount {
                                    let current = index[lane]
                                    let node = nodes[Int(current)]
                                    atLeaf |= (node.yes == current ? 1 : 0) << UInt32(lane)
                                    let value = x[base[lane] + Int(node.feature & Self.featureMask)]
                                    index[lane] = Test.goesYes(value, node) ? node.yes : node.no
                                }
                                atLeaf &= live
                                while atLeaf != 0 {
                                    let lane = atLeaf.trailingZeroBitCount
                                    atLeaf &= atLeaf &- 1
                                    weights[slot[lane]] = nodes[Int(index[lane])].threshold
                                    if nextTree < treeCount { take(lane) } else { live &= ~(1 << UInt32(lane)) }
                                }
                            }
                            for row in 0..<rows {
                                let leafWeights = weights + row * treeCount
                                for tree in 0..<treeCount {
                                    combine(Int(outputOfTree[tree]), leafWeights[tree], acc: acc + row * outputs,
                                            hit: hit + row * outputs)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func addLeaf(_ leaf: Int, tree: Int, nodes: UnsafePointer<Node>, acc: UnsafeMutablePointer<Float>,
                         hit: UnsafeMutablePointer<Bool>) {
        switch leaves {
        case .onePerTree(let outputOfTree):
            combine(Int(outputOfTree[tree]), nodes[leaf].threshold, acc: acc, hit: hit)
        case .entries(let start, let outputs, let weights):
            for entry in Int(start[leaf])..<Int(start[leaf + 1]) {
                combine(Int(outputs[entry]), weights[entry], acc: acc, hit: hit)
            }
        }
    }

    @inline(__always)
    private func combine(_ output: Int, _ weight: Float, acc: UnsafeMutablePointer<Float>,
                         hit: UnsafeMutablePointer<Bool>) {
        switch aggregate {
        case .sum, .average: acc[output] += weight
        case .min: acc[output] = Swift.min(acc[output], weight)
        case .max: acc[output] = Swift.max(acc[output], weight)
        }
        hit[output] = true
    }

    // MARK: Scores and labels

    /// Turns one row's accumulated leaves into its scores and label, as onnxruntime does.
    private func finalize(acc: UnsafeMutablePointer<Float>, hit: UnsafeMutablePointer<Bool>,
                          scores: UnsafeMutablePointer<Float>, label: UnsafeMutablePointer<Int64>?) {
        let count = outputs
        if let scored {
            for j in 0..<count { hit[j] = scored[j] }
        }
        for j in 0..<count where !hit[j] { acc[j] = 0 }
        if aggregate == .average {
            let trees = Float(roots.count)
            for j in 0..<count { acc[j] /= trees }
        }
        switch head {
        case .regressor:
            if count == 1 {
                // One target: only PROBIT applies, and a single base value is added.
                let value = acc[0] + (base.count == 1 ? base[0] : 0)
                scores[0] = transform == .probit ? Self.probit(value) : value
                return
            }
            if base.count == count { for j in 0..<count { acc[j] += base[j] } }
            Self.transform(acc, scores, count: count, transform)
        case .classifier(let labels, let binaryCase, let allPositive):
            if count > 2 {
                for j in 0..<Swift.min(base.count, count) {
                    acc[j] += base[j]
                    hit[j] = true
                }
                var best = -1
                for j in 0..<count where hit[j] && (best < 0 || acc[j] > acc[best]) { best = j }
                label?.pointee = labels[Swift.max(best, 0)]
                Self.transform(acc, scores, count: count, transform)
                return
            }
            binary(acc: acc, hit: hit, scores: scores, label: label, labels: labels, binaryCase: binaryCase,
                   allPositive: allPositive)
        }
    }

    /// Two classes: onnxruntime's rules for one score or two, by base values and weight signs.
    private func binary(acc: UnsafeMutablePointer<Float>, hit: UnsafeMutablePointer<Bool>,
                        scores: UnsafeMutablePointer<Float>, label: UnsafeMutablePointer<Int64>?, labels: [Int64],
                        binaryCase: Bool, allPositive: Bool) {
        var single = false
        var mode = -1
        if base.count == 2 {
            if hit[1] {
                acc[1] = base[1] + acc[0]
                acc[0] = -acc[1]
            } else {
                acc[1] += base[1]
                acc[0] += base[0]
            }
        } else if base.count == 1 {
            acc[0] += base[0]
            single = !hit[1]
        } else if base.isEmpty {
            mode = 3
            single = !hit[1]
        }
        let positive: Float = !single && hit[1] ? acc[1] : (hit[0] ? acc[0] : 0)
        let winner: Int64
        if binaryCase {
            if allPositive {
                mode = positive > 0.5 ? 0 : 1
            } else {
                mode = positive > 0 ? 2 : 3
            }
            winner = positive > (allPositive ? 0.5 : 0) ? labels[1] : labels[0]
        } else {
            winner = positive > 0 ? 1 : 0
        }
        label?.pointee = winner
        guard single else {
            Self.transform(acc, scores, count: 2, transform)
            return
        }
        let s = acc[0]
        if transform == .probit {
            scores[0] = Self.probit(s)
            scores[1] = 0
            return
        }
        switch mode {
        case 0, 1:
            scores[0] = 1 - s
            scores[1] = s
        case 2, 3:
            if transform == .logistic {
                scores[0] = Self.logistic(-s)
                scores[1] = Self.logistic(s)
            } else if mode == 2 {
                scores[0] = -s
                scores[1] = s
            } else {
                scores[0] = s
                scores[1] = -s
            }
        default:
            scores[0] = s
            scores[1] = 0
        }
    }

    static func transform(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                          _ transform: Transform) {
        switch transform {
        case .none: for j in 0..<count { y[j] = x[j] }
        case .logistic: for j in 0..<count { y[j] = logistic(x[j]) }
        case .probit: for j in 0..<count { y[j] = probit(x[j]) }
        case .softmax: Kernels.softmax(x, y, outer: 1, length: count, stride: 1, log: false)
        case .softmaxZero: Step.softmaxZero(x, y, count: count)
        }
    }

    static func logistic(_ x: Float) -> Float {
        let v = 1 / (1 + expf(-Swift.abs(x)))
        return x < 0 ? 1 - v : v
    }

    /// √2 · erfinv(2x − 1), with the single-step approximation of erfinv that onnxruntime uses.
    static func probit(_ x: Float) -> Float {
        let y = 2 * x - 1
        let sign: Float = y < 0 ? -1 : 1
        let w = (1 - y) * (1 + y)
        let l = logf(w)
        let a: Float = 0.147
        let v = 2 / (Float(3.14159) * a) + 0.5 * l
        let inner = -v + (v * v - l / a).squareRoot()
        return Float(2).squareRoot() * sign * inner.squareRoot()
    }
}

/// How a node's comparison decides the branch; specialised so that the common uniform forests skip flag decoding.
protocol BranchTest {
    static func goesYes(_ value: Float, _ node: TreeForest.Node) -> Bool
}

enum LessOrEqualTest: BranchTest {
    @inline(__always) static func goesYes(_ value: Float, _ node: TreeForest.Node) -> Bool { value <= node.threshold }
}

enum LessTest: BranchTest {
    @inline(__always) static func goesYes(_ value: Float, _ node: TreeForest.Node) -> Bool { value < node.threshold }
}

enum EqualTest: BranchTest {
    @inline(__always) static func goesYes(_ value: Float, _ node: TreeForest.Node) -> Bool { value == node.threshold }
}

/// LEQ or LT where some nodes send NaN to `yes`: such a node sees NaN as −∞, which LEQ and LT send to `yes` (the
/// compiler keeps this path for finite thresholds only). Written as selects, not `||`, so that the walk stays free
/// of data-dependent branches.
enum NaNYes<Base: BranchTest>: BranchTest {
    @inline(__always) static func goesYes(_ value: Float, _ node: TreeForest.Node) -> Bool {
        let substitute: Float = node.feature & TreeForest.nanYesBit != 0 ? -.infinity : .nan
        return Base.goesYes(value.isNaN ? substitute : value, node)
    }
}

/// Mixed comparisons and NaN routing, read from the node's flags.
enum AnyTest: BranchTest {
    @inline(__always) static func goesYes(_ value: Float, _ node: TreeForest.Node) -> Bool {
        let comparison = (node.feature >> TreeForest.comparisonShift) & 3
        let result: Bool
        switch comparison {
        case 0: result = value <= node.threshold
        case 1: result = value < node.threshold
        default: result = value == node.threshold
        }
        return result || (node.feature & TreeForest.nanYesBit != 0 && value.isNaN)
    }
}
