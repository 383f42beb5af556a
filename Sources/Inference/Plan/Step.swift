// One step of a compiled execution plan, and how it runs.
//
// Values are numbered (`ValueID`); a plan binds every value to a pointer (a constant of the model or a slot of an
// execution context) before it runs. Shapes are symbolic: a dimension d < 0 stands for batch × |d|, so the same
// plan runs any batch size. The compiler proved at load time that every buffer is large enough for the shapes
// below, for any batch size the context was sized for.

typealias ValueID = Int

/// Shape arithmetic on symbolic dimensions (d < 0 means batch × |d|).
enum Dims {
    static func concrete(_ dims: [Int], batch: Int) -> [Int] {
        dims.map { $0 < 0 ? -$0 * batch : $0 }
    }

    static func count(_ dims: [Int], batch: Int) -> Int {
        var product = 1
        for dim in dims { product *= dim < 0 ? -dim * batch : dim }
        return product
    }

    /// The product of the magnitudes: elements per batch row for batched values, all elements otherwise.
    static func staticCount(_ dims: [Int]) -> Int {
        dims.reduce(1) { $0 * Swift.abs($1) }
    }

    static func isBatched(_ dims: [Int]) -> Bool { dims.contains { $0 < 0 } }
}

/// Where a classifier's label comes from.
enum LabelRule: Sendable, Equatable {
    /// argmax over the scores, mapped through the label list.
    case argMax
    /// One score per row: `labels[1]` when the score is positive, else `labels[0]`.
    case signOfScore
}

/// `LinearClassifier`'s post-processing of raw scores (onnxruntime's semantics).
enum ScoreTransform: Sendable, Equatable {
    case none, logistic, softmax, softmaxZero
}

enum NormKind: Sendable, Equatable {
    case max, l1, l2
}

/// The steps that compute on floating-point values carry their `elementType`: `.float32`, or `.float64` in a graph
/// that computes in double precision (its inputs, weights and buffers all hold doubles). It defaults to float32.
enum Step: Sendable {
    /// out[rows × n] = act(in[rows × k] · W[k × n] + bias[n]). A float64 dense step runs `cblas_dgemm`, then its bias
    /// and activation in double (Gemm's C is its only bias: the compiler fuses and packs float32 steps alone).
    case dense(input: ValueID, weights: ValueID, bias: ValueID?, output: ValueID, inputDims: [Int], k: Int, n: Int,
               activation: Activation, elementType: DataType = .float32)
    case binary(BinaryFunction, a: ValueID, aDims: [Int], b: ValueID, bDims: [Int], output: ValueID, outDims: [Int],
                elementType: DataType)
    case unary(UnaryFunction, input: ValueID, output: ValueID, dims: [Int], elementType: DataType = .float32)
    case softmax(input: ValueID, output: ValueID, dims: [Int], axis: Int, coerceTo2D: Bool, log: Bool,
                 elementType: DataType = .float32)
    case channelAffine(input: ValueID, output: ValueID, dims: [Int], scale: ValueID, shift: ValueID)
    case transpose(input: ValueID, output: ValueID, dims: [Int], permutation: [Int], elementSize: Int)
    /// ArgMax, or ArgMin when `smallest`.
    case argMax(input: ValueID, output: ValueID, dims: [Int], axis: Int, selectLast: Bool,
                elementType: DataType = .float32, smallest: Bool = false)
    /// A conversion; `narrowing` wraps int64 results into a narrower integer type (int32 and the like are int64
    /// inside the engine, as bool is).
    case cast(input: ValueID, output: ValueID, dims: [Int], from: DataType, to: DataType,
              narrowing: IntegerNarrowing? = nil)
    case copy(input: ValueID, output: ValueID, dims: [Int], elementSize: Int)
    /// Labels and (transformed) scores from raw scores [rows × classes]; `scoresOut` has `outClasses` columns.
    case classifierHead(scores: ValueID, labelsOut: ValueID, scoresOut: ValueID, rowDims: [Int], classes: Int,
                        outClasses: Int, rule: LabelRule, labels: [Int64], transform: ScoreTransform,
                        addSecondClass: Bool)
    case normalizer(input: ValueID, output: ValueID, dims: [Int], kind: NormKind)
    /// ArrayFeatureExtractor: out[..., j] = data[..., indices[j]] along the last axis.
    case gatherLast(data: ValueID, dataDims: [Int], indices: ValueID, indexDims: [Int], output: ValueID,
                    outDims: [Int], elementSize: Int)
    /// Concatenation along `axis` (inputs of equal rank, equal dims but on `axis`).
    case concat(inputs: [ValueID], inputDims: [[Int]], output: ValueID, axis: Int, elementSize: Int)
    /// out[i] = in[Σ (starts[k] + iₖ·steps[k])·strideₖ]: Slice, Split and Expand (step 0 repeats).
    case strided(input: ValueID, inputDims: [Int], output: ValueID, outDims: [Int], starts: [Int], steps: [Int],
                 elementSize: Int)
    /// Gather along `axis`; indices are checked against the axis at run time.
    case gather(data: ValueID, dataDims: [Int], indices: ValueID, indexDims: [Int], output: ValueID, axis: Int,
                elementSize: Int)
    /// A reduction over the contiguous axes first..<last.
    case reduce(ReduceFunction, input: ValueID, output: ValueID, dims: [Int], first: Int, last: Int,
                elementType: DataType = .float32)
    /// LayerNormalization over the axes from `axis` on.
    case layerNorm(input: ValueID, output: ValueID, dims: [Int], axis: Int, scale: ValueID?, scaleCount: Int,
                   bias: ValueID?, biasCount: Int, epsilon: Float)
    /// Imputer: elements equal to `replaced` (or NaN when it is NaN) become values[column] (or values[0]).
    case imputer(input: ValueID, output: ValueID, dims: [Int], replaced: Float, values: [Float])
    /// Where: out = condition ≠ 0 ? x : y, the three broadcast to `outDims`.
    case select(condition: ValueID, conditionDims: [Int], x: ValueID, xDims: [Int], y: ValueID, yDims: [Int],
                output: ValueID, outDims: [Int], elementSize: Int)
    /// ai.onnx.ml OneHotEncoder: each element's category (int64, or a float read as int64) becomes a row of
    /// `classes` floats, 1 at its index in the category list; an unknown one gives zeros when `zeros`, else fails.
    case oneHotEncode(input: ValueID, dims: [Int], output: ValueID, categories: [Int64: Int], classes: Int,
                      zeros: Bool, fromFloat: Bool)
    /// A tree ensemble over input [rows × features]: scores [rows × outputs] and, for a classifier, labels [rows].
    case treeEnsemble(input: ValueID, scores: ValueID, labels: ValueID?, rowDims: [Int], forest: TreeForest)
    /// ai.onnx.ml LabelEncoder: each element mapped through `table`.
    case labelEncode(input: ValueID, output: ValueID, dims: [Int], table: LabelTable)

    /// The values this step reads.
    var inputs: [ValueID] {
        switch self {
        case .dense(let input, let weights, let bias, _, _, _, _, _, _):
            return bias.map { [input, weights, $0] } ?? [input, weights]
        case .binary(_, let a, _, let b, _, _, _, _): return [a, b]
        case .unary(_, let input, _, _, _): return [input]
        case .softmax(let input, _, _, _, _, _, _): return [input]
        case .channelAffine(let input, _, _, let scale, let shift): return [input, scale, shift]
        case .transpose(let input, _, _, _, _): return [input]
        case .argMax(let input, _, _, _, _, _, _): return [input]
        case .cast(let input, _, _, _, _, _): return [input]
        case .copy(let input, _, _, _): return [input]
        case .classifierHead(let scores, _, _, _, _, _, _, _, _, _): return [scores]
        case .normalizer(let input, _, _, _): return [input]
        case .gatherLast(let data, _, let indices, _, _, _, _): return [data, indices]
        case .treeEnsemble(let input, _, _, _, _): return [input]
        case .labelEncode(let input, _, _, _): return [input]
        case .concat(let inputs, _, _, _, _): return inputs
        case .oneHotEncode(let input, _, _, _, _, _, _): return [input]
        case .select(let condition, _, let x, _, let y, _, _, _, _): return [condition, x, y]
        case .strided(let input, _, _, _, _, _, _): return [input]
        case .gather(let data, _, let indices, _, _, _, _): return [data, indices]
        case .reduce(_, let input, _, _, _, _, _): return [input]
        case .layerNorm(let input, _, _, _, let scale, _, let bias, _, _): return [input] + [scale, bias].compactMap { $0 }
        case .imputer(let input, _, _, _, _): return [input]
        }
    }

    /// The values this step writes.
    var outputs: [ValueID] {
        switch self {
        case .dense(_, _, _, let output, _, _, _, _, _): return [output]
        case .binary(_, _, _, _, _, let output, _, _): return [output]
        case .unary(_, _, let output, _, _): return [output]
        case .softmax(_, let output, _, _, _, _, _): return [output]
        case .channelAffine(_, let output, _, _, _): return [output]
        case .transpose(_, let output, _, _, _): return [output]
        case .argMax(_, let output, _, _, _, _, _): return [output]
        case .cast(_, let output, _, _, _, _): return [output]
        case .copy(_, let output, _, _): return [output]
        case .classifierHead(_, let labelsOut, let scoresOut, _, _, _, _, _, _, _): return [labelsOut, scoresOut]
        case .normalizer(_, let output, _, _): return [output]
        case .gatherLast(_, _, _, _, let output, _, _): return [output]
        case .treeEnsemble(_, let scores, let labels, _, _): return labels.map { [$0, scores] } ?? [scores]
        case .labelEncode(_, let output, _, _): return [output]
        case .concat(_, _, let output, _, _): return [output]
        case .oneHotEncode(_, _, let output, _, _, _, _): return [output]
        case .select(_, _, _, _, _, _, let output, _, _): return [output]
        case .strided(_, _, let output, _, _, _, _): return [output]
        case .gather(_, _, _, _, let output, _, _): return [output]
        case .reduce(_, _, let output, _, _, _, _): return [output]
        case .layerNorm(_, let output, _, _, _, _, _, _, _): return [output]
        case .imputer(_, let output, _, _, _): return [output]
        }
    }
}

/// An integer type narrower than int64 (int32, int16, int8, uint32, uint16, uint8), held in int64: a cast to it
/// keeps the low `bits` bits and extends them by the type's sign, as a C cast of an in-range value does.
struct IntegerNarrowing: Sendable, Equatable {
    let bits: Int
    let signed: Bool

    @inline(__always)
    func wrap(_ value: Int64) -> Int64 {
        let shift = 64 - bits
        if signed { return (value &<< shift) &>> shift }
        return Int64(bitPattern: (UInt64(bitPattern: value) &<< shift) &>> shift)
    }
}

/// A runtime failure that depends on the data, not the shapes (which are checked before a plan runs).
struct StepFailure: Error {
    let reason: String
}

extension Step {
    // swiftlint:disable:next cyclomatic_complexity function_body_length
    /// Runs the step on `batch` rows. `packed` is the plan's packed copy of a dense step's weights, when it has one;
    /// `threads` caps the threads of its packed GEMM (the execution context's `gemmThreads`).
    func execute(
        batch: Int, pointers: UnsafePointer<UnsafeMutableRawPointer>, packed: PackedWeights? = nil, threads: Int = 1
    ) throws(StepFailure) {
        func floats(_ id: ValueID) -> UnsafeMutablePointer<Float> { pointers[id].assumingMemoryBound(to: Float.self) }
        func ints(_ id: ValueID) -> UnsafeMutablePointer<Int64> { pointers[id].assumingMemoryBound(to: Int64.self) }
        func doubles(_ id: ValueID) -> UnsafeMutablePointer<Double> {
            pointers[id].assumingMemoryBound(to: Double.self)
        }

        switch self {
        case .dense(let input, let weights, let bias, let output, let inputDims, let k, let n, let activation,
                    let elementType):
            let rows = Dims.count(inputDims, batch: batch) / Swift.max(k, 1)
            guard rows > 0, n > 0 else { return }
            if elementType == .float64 {
                let out = doubles(output)
                if k == 0 {
                    out.initialize(repeating: 0, count: rows * n)
                } else {
                    BLAS.dgemm(m: rows, n: n, k: k, a: doubles(input), b: doubles(weights), c: out)
                }
                if let bias {
                    let b = doubles(bias)
                    for row in 0..<rows { for j in 0..<n { out[row * n + j] += b[j] } }
                }
                Kernels.activate(activation, out, out, count: rows * n)
                return
            }
            let out = floats(output)
            if let packed, packed.k == k, packed.n == n {
                // The packed kernels add the bias and apply a ReLU in registers; other activations take one pass.
                let fused = activation == .relu
                PackedGEMM.multiply(m: rows, a: floats(input), weights: packed, c: out,
                                    bias: bias.map { UnsafePointer(floats($0)) }, relu: fused, threads: threads)
                if !fused { Kernels.biasActivation(out, rows: rows, n: n, bias: nil, activation: activation) }
                return
            }
            if k == 0 {
                out.initialize(repeating: 0, count: rows * n)
            } else if let bias {
                // The bias goes in first and the GEMM adds to it (beta = 1): this replaces OpenBLAS's zeroing of
                // C (beta = 0) and a separate read-modify-write bias pass with one write of the bias rows.
                Kernels.broadcastRows(UnsafePointer(floats(bias)), out, rows: rows, n: n)
                BLAS.sgemm(m: rows, n: n, k: k, a: floats(input), b: floats(weights), transposedB: false, c: out,
                           beta: 1)
                Kernels.biasActivation(out, rows: rows, n: n, bias: nil, activation: activation)
                return
            } else {
                BLAS.sgemm(m: rows, n: n, k: k, a: floats(input), b: floats(weights), transposedB: false, c: out)
            }
            Kernels.biasActivation(out, rows: rows, n: n, bias: bias.map { UnsafePointer(floats($0)) },
                                   activation: activation)

        case .binary(let function, let a, let aDims, let b, let bDims, let output, let outDims, let elementType):
            let dims = Dims.concrete(outDims, batch: batch)
            let aStrides = Self.broadcastStrides(Dims.concrete(aDims, batch: batch), to: dims)
            let bStrides = Self.broadcastStrides(Dims.concrete(bDims, batch: batch), to: dims)
            switch elementType {
            case .float32:
                Kernels.broadcastBinary(function, a: floats(a), aStrides: aStrides, b: floats(b), bStrides: bStrides,
                                        out: floats(output), dims: dims) { Kernels.apply($0, $1, $2) }
            case .float64:
                Kernels.broadcastBinary(function, a: doubles(a), aStrides: aStrides, b: doubles(b), bStrides: bStrides,
                                        out: doubles(output), dims: dims) { Kernels.apply($0, $1, $2) }
            case .int64, .string:
                Kernels.broadcastBinary(function, a: ints(a), aStrides: aStrides, b: ints(b), bStrides: bStrides,
                                        out: ints(output), dims: dims) { Kernels.apply($0, $1, $2) }
            }

        case .unary(let function, let input, let output, let dims, let elementType):
            let count = Dims.count(dims, batch: batch)
            if elementType == .float64 {
                Kernels.unary(function, doubles(input), doubles(output), count: count)
            } else if elementType == .int64 {
                Kernels.integerUnary(function, ints(input), ints(output), count: count)
            } else {
                Kernels.unary(function, floats(input), floats(output), count: count)
            }

        case .softmax(let input, let output, let dims, let axis, let coerceTo2D, let log, let elementType):
            let shape = Dims.concrete(dims, batch: batch)
            let outer = shape[..<axis].reduce(1, *)
            let length = coerceTo2D ? shape[axis...].reduce(1, *) : shape[axis]
            let stride = coerceTo2D ? 1 : shape[(axis + 1)...].reduce(1, *)
            if elementType == .float64 {
                Kernels.stridedSoftmax(doubles(input), doubles(output), outer: outer, length: length, stride: stride,
                                       log: log)
            } else {
                Kernels.softmax(floats(input), floats(output), outer: outer, length: length, stride: stride, log: log)
            }

        case .channelAffine(let input, let output, let dims, let scale, let shift):
            let shape = Dims.concrete(dims, batch: batch)
            Kernels.channelAffine(floats(input), floats(output), outer: shape[0], channels: shape[1],
                                  inner: shape[2...].reduce(1, *), scale: floats(scale), shift: floats(shift))

        case .transpose(let input, let output, let dims, let permutation, let elementSize):
            Kernels.transpose(pointers[input], pointers[output], dims: Dims.concrete(dims, batch: batch),
                              permutation: permutation, elementSize: elementSize)

        case .argMax(let input, let output, let dims, let axis, let selectLast, let elementType, let smallest):
            let shape = Dims.concrete(dims, batch: batch)
            let outer = shape[..<axis].reduce(1, *), stride = shape[(axis + 1)...].reduce(1, *)
            if elementType == .float64 {
                Kernels.argMax(doubles(input), ints(output), outer: outer, length: shape[axis], stride: stride,
                               selectLast: selectLast, smallest: smallest)
            } else if elementType == .int64 {
                Kernels.argMax(ints(input), ints(output), outer: outer, length: shape[axis], stride: stride,
                               selectLast: selectLast, smallest: smallest)
            } else {
                Kernels.argMax(floats(input), ints(output), outer: outer, length: shape[axis], stride: stride,
                               selectLast: selectLast, smallest: smallest)
            }

        case .cast(let input, let output, let dims, let from, let to, let narrowing):
            let count = Dims.count(dims, batch: batch)
            defer {
                if let narrowing {
                    let y = ints(output)
                    for i in 0..<count { y[i] = narrowing.wrap(y[i]) }
                }
            }
            switch (from, to) {
            case (.float32, .int64):
                let x = floats(input), y = ints(output)
                for i in 0..<count { y[i] = Kernels.saturatingInt64(x[i]) }
            case (.float64, .int64):
                let x = doubles(input), y = ints(output)
                for i in 0..<count { y[i] = Kernels.saturatingInt64(x[i]) }
            case (.int64, .float32):
                let x = ints(input), y = floats(output)
                for i in 0..<count { y[i] = Float(x[i]) }
            case (.int64, .float64):
                let x = ints(input), y = doubles(output)
                for i in 0..<count { y[i] = Double(x[i]) }
            case (.float32, .float64):
                let x = floats(input), y = doubles(output)
                for i in 0..<count { y[i] = Double(x[i]) }
            case (.float64, .float32):
                let x = doubles(input), y = floats(output)
                for i in 0..<count { y[i] = Float(x[i]) }
            default:
                pointers[output].copyMemory(from: pointers[input], byteCount: count * from.bufferElementSize)
            }

        case .copy(let input, let output, let dims, let elementSize):
            pointers[output].copyMemory(from: pointers[input], byteCount: Dims.count(dims, batch: batch) * elementSize)

        case .classifierHead(let scoresID, let labelsOut, let scoresOut, let rowDims, let classes, let outClasses,
                             let rule, let labels, let transform, let addSecondClass):
            let rows = Dims.count(rowDims, batch: batch)
            let raw = floats(scoresID), out = floats(scoresOut), labelPointer = ints(labelsOut)
            for row in 0..<rows {
                let scores = raw + row * classes
                let target = out + row * outClasses
                switch rule {
                case .signOfScore:
                    labelPointer[row] = scores[0] > 0 ? labels[1] : labels[0]
                case .argMax:
                    var best = 0
                    for j in 1..<Swift.max(classes, 1) where scores[j] > scores[best] { best = j }
                    labelPointer[row] = labels[best]
                }
                if classes == 1 {
                    // onnxruntime writes [1 - s, s] for one score and two labels, the score itself otherwise.
                    let s = scores[0]
                    if addSecondClass {
                        target[0] = 1 - s
                        target[1] = s
                    } else {
                        target[0] = s
                    }
                    continue
                }
                switch transform {
                case .none:
                    for j in 0..<classes { target[j] = scores[j] }
                case .logistic:
                    for j in 0..<classes { target[j] = Kernels.sigmoid(scores[j]) }
                case .softmax:
                    Kernels.softmax(scores, target, outer: 1, length: classes, stride: 1, log: false)
                case .softmaxZero:
                    Self.softmaxZero(scores, target, count: classes)
                }
            }

        case .normalizer(let input, let output, let dims, let kind):
            let shape = Dims.concrete(dims, batch: batch)
            let columns = shape.last ?? 1
            let rows = columns == 0 ? 0 : shape.reduce(1, *) / columns
            let x = floats(input), y = floats(output)
            for row in 0..<rows {
                let base = row * columns
                var norm: Float = 0
                switch kind {
                case .max:
                    norm = -Float.infinity
                    for j in 0..<columns { norm = Swift.max(norm, x[base + j]) }
                case .l1:
                    for j in 0..<columns { norm += Swift.abs(x[base + j]) }
                case .l2:
                    for j in 0..<columns { norm += x[base + j] * x[base + j] }
                    norm = norm.squareRoot()
                }
                // onnxruntime leaves a row unchanged when its norm is zero.
                for j in 0..<columns { y[base + j] = norm == 0 ? x[base + j] : x[base + j] / norm }
            }

        case .select(let condition, let conditionDims, let x, let xDims, let y, let yDims, let output, let outDims,
                     let elementSize):
            let dims = Dims.concrete(outDims, batch: batch)
            let strides = [conditionDims, xDims, yDims].map {
                Self.broadcastStrides(Dims.concrete($0, batch: batch), to: dims)
            }
            let total = dims.reduce(1, *)
            let flag = ints(condition)
            var index = [Int](repeating: 0, count: dims.count)
            var offsets = [0, 0, 0]
            for position in 0..<total {
                let source = flag[offsets[0]] != 0 ? pointers[x] + offsets[1] * elementSize
                    : pointers[y] + offsets[2] * elementSize
                (pointers[output] + position * elementSize).copyMemory(from: source, byteCount: elementSize)
                var axis = dims.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    for k in 0..<3 { offsets[k] += strides[k][axis] }
                    if index[axis] < dims[axis] { break }
                    for k in 0..<3 { offsets[k] -= strides[k][axis] * dims[axis] }
                    index[axis] = 0
                    axis -= 1
                }
            }

        case .oneHotEncode(let input, let dims, let output, let categories, let classes, let zeros, let fromFloat):
            let count = Dims.count(dims, batch: batch)
            let y = floats(output)
            y.initialize(repeating: 0, count: count * classes)
            for i in 0..<count {
                let value = fromFloat ? Kernels.saturatingInt64(floats(input)[i]) : ints(input)[i]
                if let index = categories[value] {
                    y[i * classes + index] = 1
                } else if !zeros {
                    throw StepFailure(reason: "OneHotEncoder: category \(value) is not one of the model's categories")
                }
            }

        case .concat(let inputs, let inputDims, let output, let axis, let elementSize):
            let shapes = inputDims.map { Dims.concrete($0, batch: batch) }
            let outer = shapes.first.map { $0[..<axis].reduce(1, *) } ?? 0
            let chunks = shapes.map { $0[axis...].reduce(1, *) * elementSize }
            var target = pointers[output]
            for o in 0..<outer {
                for (input, chunk) in zip(inputs, chunks) {
                    target.copyMemory(from: pointers[input] + o * chunk, byteCount: chunk)
                    target += chunk
                }
            }

        case .strided(let input, let inputDims, let output, let outDims, let starts, let steps, let elementSize):
            let inputStrides = Kernels.strides(Dims.concrete(inputDims, batch: batch))
            var offset = 0
            for (start, stride) in zip(starts, inputStrides) { offset += start * stride }
            Kernels.stridedCopy(pointers[input], pointers[output], outDims: Dims.concrete(outDims, batch: batch),
                                strides: zip(inputStrides, steps).map { $0 * $1 }, offset: offset,
                                elementSize: elementSize)

        case .gather(let data, let dataDims, let indices, let indexDims, let output, let axis, let elementSize):
            let shape = Dims.concrete(dataDims, batch: batch)
            let outer = shape[..<axis].reduce(1, *), length = shape[axis]
            let chunk = shape[(axis + 1)...].reduce(1, *) * elementSize
            let count = Dims.count(indexDims, batch: batch)
            let index = ints(indices)
            for j in 0..<count where index[j] < -Int64(length) || index[j] >= Int64(length) {
                throw StepFailure(reason: "Gather index \(index[j]) is outside -\(length)..<\(length)")
            }
            let source = pointers[data]
            var target = pointers[output]
            for o in 0..<outer {
                for j in 0..<count {
                    let row = index[j] < 0 ? Int(index[j]) + length : Int(index[j])
                    target.copyMemory(from: source + (o * length + row) * chunk, byteCount: chunk)
                    target += chunk
                }
            }

        case .reduce(let function, let input, let output, let dims, let first, let last, let elementType):
            let shape = Dims.concrete(dims, batch: batch)
            let outer = shape[..<first].reduce(1, *), length = shape[first..<last].reduce(1, *)
            let inner = shape[last...].reduce(1, *)
            if elementType == .float64 {
                Kernels.reduce(function, doubles(input), doubles(output), outer: outer, length: length, inner: inner)
            } else if elementType == .int64 {
                Kernels.reduceIntegers(function, ints(input), ints(output), outer: outer, length: length, inner: inner)
            } else {
                Kernels.reduce(function, floats(input), floats(output), outer: outer, length: length, inner: inner)
            }

        case .layerNorm(let input, let output, let dims, let axis, let scale, let scaleCount, let bias, let biasCount,
                        let epsilon):
            let shape = Dims.concrete(dims, batch: batch)
            let size = shape[axis...].reduce(1, *)
            Kernels.layerNorm(floats(input), floats(output), rows: size == 0 ? 0 : shape.reduce(1, *) / size,
                              size: size, epsilon: epsilon, scale: scale.map { UnsafePointer(floats($0)) },
                              bias: bias.map { UnsafePointer(floats($0)) }, scaleCount: scaleCount,
                              biasCount: biasCount)

        case .imputer(let input, let output, let dims, let replaced, let values):
            let shape = Dims.concrete(dims, batch: batch)
            let columns = Swift.max(shape.last ?? 1, 1)
            let x = floats(input), y = floats(output)
            for i in 0..<shape.reduce(1, *) {
                let v = x[i]
                let missing = replaced.isNaN ? v.isNaN : v == replaced
                y[i] = missing ? values[values.count == 1 ? 0 : i % columns] : v
            }

        case .treeEnsemble(let input, let scores, let labels, let rowDims, let forest):
            forest.run(x: floats(input), rows: Dims.count(rowDims, batch: batch), scores: floats(scores),
                       labels: labels.map { ints($0) }, threads: threads)

        case .labelEncode(let input, let output, let dims, let table):
            table.run(input: pointers[input], output: pointers[output], count: Dims.count(dims, batch: batch))

        case .gatherLast(let data, let dataDims, let indices, let indexDims, let output, let outDims,
                         let elementSize):
            let dataShape = Dims.concrete(dataDims, batch: batch)
            let stride = dataShape.last ?? 1
            let indexCount = Dims.count(indexDims, batch: batch)
            let rows = Dims.count(outDims, batch: batch) / Swift.max(indexCount, 1)
            let index = ints(indices)
            for j in 0..<indexCount where index[j] < 0 || index[j] >= Int64(stride) {
                throw StepFailure(reason: "ArrayFeatureExtractor index \(index[j]) is outside 0..<\(stride)")
            }
            let source = pointers[data], target = pointers[output]
            if elementSize == 8 {
                // Labels (int64 or string indices): typed loads and stores rather than a memcpy per element.
                let from = source.assumingMemoryBound(to: Int64.self), to = target.assumingMemoryBound(to: Int64.self)
                for row in 0..<rows {
                    for j in 0..<indexCount { to[row * indexCount + j] = from[row * stride + Int(index[j])] }
                }
                return
            }
            for row in 0..<rows {
                for j in 0..<indexCount {
                    let from = row * stride + Int(index[j])
                    (target + (row * indexCount + j) * elementSize)
                        .copyMemory(from: source + from * elementSize, byteCount: elementSize)
                }
            }
        }
    }

    /// Element strides of `dims` when broadcast to `target` (numpy rules: align right, 0 where broadcast).
    static func broadcastStrides(_ dims: [Int], to target: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: target.count)
        var stride = 1
        var axis = dims.count - 1
        var targetAxis = target.count - 1
        while axis >= 0 && targetAxis >= 0 {
            strides[targetAxis] = dims[axis] == 1 && target[targetAxis] != 1 ? 0 : stride
            stride *= dims[axis]
            axis -= 1
            targetAxis -= 1
        }
        return strides
    }

    /// onnxruntime's SOFTMAX_ZERO: softmax over the non-zero scores, zero where the score is zero.
    static func softmaxZero(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for j in 0..<count where x[j] != 0 { maximum = Swift.max(maximum, x[j]) }
        var sum: Float = 0
        for j in 0..<count {
            if x[j] == 0 {
                y[j] = 0
            } else {
                y[j] = Kernels.exponential(x[j] - maximum)
                sum += y[j]
            }
        }
        if sum > 0 { for j in 0..<count { y[j] /= sum } }
    }
}
