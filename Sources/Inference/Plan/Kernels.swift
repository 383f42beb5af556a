internal import Glibc

// The math of the execution plan: plain loops over raw buffers whose sizes the compiler proved at load time.
// Every function here takes concrete sizes; none of them allocates.

/// An activation applied in the same pass as a GEMM's bias, or on its own as an elementwise step.
enum Activation: Sendable, Equatable {
    case none
    case relu
    case leakyRelu(alpha: Float)
    case sigmoid
    case tanh
    case clip(min: Float, max: Float)
}

/// Elementwise functions of a float32 or float64 tensor (parameters are float attributes, widened for float64).
enum UnaryFunction: Sendable, Equatable {
    case activation(Activation)
    case erf
    case exp
    case log
    case sqrt
    case neg
    case abs
    case reciprocal
    case elu(alpha: Float)
    case selu(alpha: Float, gamma: Float)
    case softplus
    case hardSigmoid(alpha: Float, beta: Float)
    /// x·Φ(x), exactly (erf) or with the tanh approximation.
    case gelu(tanh: Bool)
    /// ai.onnx.ml Binarizer: 1 where x > threshold, else 0.
    case binarize(threshold: Float)
}

enum BinaryFunction: Sendable, Equatable {
    case add, sub, mul, div, pow, min, max
    /// Comparisons give 1 or 0 in the operands' type (bool tensors are int64 0/1 in the engine).
    case equal, notEqual, greater, less
}

enum Kernels {
    @inline(__always)
    static func exponential(_ x: Float) -> Float { expf(x) }

    @inline(__always)
    static func sigmoid<T: PlanFloat>(_ x: T) -> T {
        // Written so that neither branch overflows: exp of a non-positive number only.
        if x >= 0 {
            return 1 / (1 + T.exponential(-x))
        }
        let e = T.exponential(x)
        return e / (1 + e)
    }

    /// y[i] = act(y[i] + bias[i % n]) over `rows` rows of `n` columns: one vectorised pass after a GEMM.
    ///
    /// The activation is chosen once, outside the loops, and each inner loop is a plain scalar loop with no calls
    /// that the optimiser vectorises for whatever SIMD width the build targets. (Why not `SIMD8` with
    /// `pointwiseMax`: that generic function was not specialised and cost a call per 8 floats, 11% of a digits
    /// run under callgrind.)
    static func biasActivation(
        _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int, bias: UnsafePointer<Float>?, activation: Activation
    ) {
        if bias == nil {
            // Without a bias the rows are one flat array: one loop, no per-row dispatch or loop remainders.
            activate(activation, y, y, count: rows * n)
            return
        }
        for row in 0..<rows {
            let base = y + row * n
            switch activation {
            case .none:
                if let bias { for j in 0..<n { base[j] += bias[j] } }
            case .relu:
                if let bias {
                    for j in 0..<n {
                        let x = base[j] + bias[j]
                        base[j] = x > 0 ? x : 0
                    }
                } else {
                    for j in 0..<n { base[j] = base[j] > 0 ? base[j] : 0 }
                }
            case .leakyRelu(let alpha):
                for j in 0..<n {
                    let x = base[j] + (bias?[j] ?? 0)
                    base[j] = x < 0 ? x * alpha : x
                }
            case .clip(let low, let high):
                for j in 0..<n { base[j] = Swift.min(Swift.max(base[j] + (bias?[j] ?? 0), low), high) }
            case .sigmoid, .tanh:
                for j in 0..<n { base[j] = applyScalar(activation, base[j] + (bias?[j] ?? 0)) }
            }
        }
    }

    /// y[row × n + j] = bias[j] for every row: the starting value of a GEMM that accumulates onto its output.
    ///
    /// One row is written, then the filled prefix is copied after itself, doubling each time: every copy is one
    /// flat loop at full vector width, where a loop per row spent most of a short row (10 columns) in its scalar
    /// remainder and loop overhead.
    static func broadcastRows(_ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        guard rows > 0, n > 0 else { return }
        for j in 0..<n { y[j] = bias[j] }
        let total = rows * n
        var filled = n
        while filled < total {
            let count = Swift.min(filled, total - filled)
            let target = y + filled
            for i in 0..<count { target[i] = y[i] }
            filled += count
        }
    }

    /// e^x for softmax, as plain arithmetic so that loops over it vectorise: Cody–Waite range reduction by ln 2
    /// and the degree-5 minimax polynomial from Cephes' expf (about 1 ulp on the reduced range). Inputs are
    /// clamped to [-87, 88], so e^-inf gives 1.6e-38 rather than 0 (far inside the 1e-5 absolute tolerance the
    /// engine is held to) and no result overflows; NaN stays NaN.
    @inline(__always)
    static func fastExponential(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x, -87), 88)
        // Adding 1.5 × 2^23 rounds x·log2(e) to the nearest integer n and leaves n in the low mantissa bits.
        let shifted = clamped * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let e = (r * r) * p + r + 1
        // 2^n from the integer in the mantissa: n + 127 in the exponent field (n is within -126...127).
        let scale = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
        return e * scale
    }

    @inline(__always)
    static func applyScalar<T: PlanFloat>(_ activation: Activation, _ x: T) -> T {
        switch activation {
        case .none: return x
        case .relu: return x > 0 ? x : 0
        case .leakyRelu(let alpha): return x < 0 ? x * T(alpha) : x
        case .clip(let low, let high): return Swift.min(Swift.max(x, T(low)), T(high))
        case .sigmoid: return sigmoid(x)
        case .tanh: return T.hyperbolicTangent(x)
        }
    }

    /// y = act(x) over `count` elements (`x` and `y` may be the same buffer). The activation is chosen once,
    /// outside the loops, so that each loop vectorises.
    static func activate<T: PlanFloat>(
        _ activation: Activation, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int
    ) {
        switch activation {
        case .none:
            if UnsafePointer(y) != x { y.update(from: x, count: count) }
        case .relu:
            for i in 0..<count { y[i] = x[i] > 0 ? x[i] : 0 }
        case .leakyRelu(let alpha):
            let a = T(alpha)
            for i in 0..<count { y[i] = x[i] < 0 ? x[i] * a : x[i] }
        case .clip(let low, let high):
            let l = T(low), h = T(high)
            for i in 0..<count { y[i] = Swift.min(Swift.max(x[i], l), h) }
        case .sigmoid, .tanh:
            for i in 0..<count { y[i] = applyScalar(activation, x[i]) }
        }
    }

    static func unary<T: PlanFloat>(
        _ function: UnaryFunction, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int
    ) {
        switch function {
        case .activation(let activation): activate(activation, x, y, count: count)
        case .erf: for i in 0..<count { y[i] = T.errorFunction(x[i]) }
        case .exp: for i in 0..<count { y[i] = T.exponential(x[i]) }
        case .log: for i in 0..<count { y[i] = T.logarithm(x[i]) }
        case .sqrt: for i in 0..<count { y[i] = x[i].squareRoot() }
        case .neg: for i in 0..<count { y[i] = -x[i] }
        case .abs: for i in 0..<count { y[i] = Swift.abs(x[i]) }
        case .reciprocal: for i in 0..<count { y[i] = 1 / x[i] }
        case .elu(let alpha):
            let a = T(alpha)
            for i in 0..<count { y[i] = x[i] < 0 ? a * (T.exponential(x[i]) - 1) : x[i] }
        case .selu(let alpha, let gamma):
            let a = T(alpha), g = T(gamma)
            for i in 0..<count { y[i] = x[i] > 0 ? g * x[i] : g * (a * T.exponential(x[i]) - a) }
        case .softplus:
            // log(1 + e^x) without overflow for large x.
            for i in 0..<count {
                let v = x[i]
                y[i] = v > 0 ? v + T.logOnePlus(T.exponential(-v)) : T.logOnePlus(T.exponential(v))
            }
        case .hardSigmoid(let alpha, let beta):
            let a = T(alpha), b = T(beta)
            for i in 0..<count { y[i] = Swift.max(0, Swift.min(1, a * x[i] + b)) }
        case .gelu(let tanh):
            if tanh {
                let c: T = (2 / T.pi).squareRoot()
                let cubic: T = 0.044715
                for i in 0..<count {
                    let v = x[i]
                    y[i] = 0.5 * v * (1 + T.hyperbolicTangent(c * (v + cubic * v * v * v)))
                }
            } else {
                let root2 = T(2).squareRoot()
                for i in 0..<count { y[i] = 0.5 * x[i] * (1 + T.errorFunction(x[i] / root2)) }
            }
        case .binarize(let threshold):
            let t = T(threshold)
            for i in 0..<count { y[i] = x[i] > t ? 1 : 0 }
        }
    }

    /// The unary functions an int64 tensor takes (the compiler refuses the others): Abs, Neg and Relu, wrapping at
    /// Int64.min as two's complement does.
    static func integerUnary(
        _ function: UnaryFunction, _ x: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Int64>, count: Int
    ) {
        switch function {
        case .abs: for i in 0..<count { y[i] = x[i] < 0 ? 0 &- x[i] : x[i] }
        case .neg: for i in 0..<count { y[i] = 0 &- x[i] }
        case .activation(.relu): for i in 0..<count { y[i] = Swift.max(x[i], 0) }
        default: if UnsafePointer(y) != x { y.update(from: x, count: count) }
        }
    }

    /// Whether `function` has an int64 kernel (`integerUnary`).
    static func hasIntegerKernel(_ function: UnaryFunction) -> Bool {
        function == .abs || function == .neg || function == .activation(.relu)
    }

    @inline(__always)
    static func apply<T: PlanFloat>(_ function: BinaryFunction, _ a: T, _ b: T) -> T {
        switch function {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .pow: return T.power(a, b)
        case .min: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
        case .max: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
        case .equal: return a == b ? 1 : 0
        case .notEqual: return a != b ? 1 : 0
        case .greater: return a > b ? 1 : 0
        case .less: return a < b ? 1 : 0
        }
    }

    @inline(__always)
    static func apply(_ function: BinaryFunction, _ a: Int64, _ b: Int64) -> Int64 {
        switch function {
        case .add: return a &+ b
        case .sub: return a &- b
        case .mul: return a &* b
        case .div: return b == 0 ? 0 : (a == .min && b == -1 ? .min : a / b)
        case .pow: return integerPower(a, b)
        case .min: return Swift.min(a, b)
        case .max: return Swift.max(a, b)
        case .equal: return a == b ? 1 : 0
        case .notEqual: return a != b ? 1 : 0
        case .greater: return a > b ? 1 : 0
        case .less: return a < b ? 1 : 0
        }
    }

    /// a^b in int64 by repeated squaring: at most 64 squarings whatever the exponent, so an exponent from a model
    /// or a request cannot make a step loop for long. Products wrap on overflow (`&*`, as numpy's int64 power does).
    /// A negative exponent gives the integer part of the real result, as onnxruntime's cast of `pow` does: ±1 for
    /// a base of ±1, 0 for any other base (including 0, whose real result is infinite).
    static func integerPower(_ base: Int64, _ exponent: Int64) -> Int64 {
        if exponent < 0 {
            if base == 1 { return 1 }
            if base == -1 { return exponent & 1 == 0 ? 1 : -1 }
            return 0
        }
        var result: Int64 = 1
        var square = base
        var remaining = exponent
        while remaining > 0 {
            if remaining & 1 == 1 { result = result &* square }
            remaining >>= 1
            if remaining > 0 { square = square &* square }
        }
        return result
    }

    /// Numpy-broadcasting binary operation. `aStrides`/`bStrides` are element strides per output axis (0 where the
    /// operand is broadcast); the innermost axis is looped with its strides.
    static func broadcastBinary<T>(
        _ function: BinaryFunction,
        a: UnsafePointer<T>, aStrides: [Int], b: UnsafePointer<T>, bStrides: [Int],
        out: UnsafeMutablePointer<T>, dims: [Int], apply: (BinaryFunction, T, T) -> T
    ) {
        let rank = dims.count
        guard rank > 0 else {
            out[0] = apply(function, a[0], b[0])
            return
        }
        let total = dims.reduce(1, *)
        if total == 0 { return }
        let inner = dims[rank - 1]
        let aInner = aStrides[rank - 1]
        let bInner = bStrides[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var aOffset = 0
        var bOffset = 0
        var outOffset = 0
        while outOffset < total {
            if aInner == 1 && bInner == 1 {
                for j in 0..<inner { out[outOffset + j] = apply(function, a[aOffset + j], b[bOffset + j]) }
            } else if aInner == 1 && bInner == 0 {
                let bv = b[bOffset]
                for j in 0..<inner { out[outOffset + j] = apply(function, a[aOffset + j], bv) }
            } else {
                for j in 0..<inner {
                    out[outOffset + j] = apply(function, a[aOffset + j * aInner], b[bOffset + j * bInner])
                }
            }
            outOffset += inner
            // Advance the odometer over the outer axes.
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                aOffset += aStrides[axis]
                bOffset += bStrides[axis]
                if index[axis] < dims[axis] { break }
                aOffset -= aStrides[axis] * dims[axis]
                bOffset -= bStrides[axis] * dims[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// Softmax or log-softmax over `length` elements spaced `stride` apart, for every (outer, inner) position.
    static func softmax(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, length: Int, stride: Int, log: Bool
    ) {
        guard length > 0 else { return }
        if stride == 1 && !log {
            batchedSoftmax(x, y, rows: outer, length: length)
            return
        }
        stridedSoftmax(x, y, outer: outer, length: length, stride: stride, log: log)
    }

    /// Softmax or log-softmax with the C library's exponential, in `T`'s precision: float32 softmax along a strided
    /// axis and log-softmax, and every float64 softmax.
    static func stridedSoftmax<T: PlanFloat>(
        _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, outer: Int, length: Int, stride: Int, log: Bool
    ) {
        guard length > 0 else { return }
        for o in 0..<outer {
            for inner in 0..<stride {
                let base = o * length * stride + inner
                var maximum = -T.infinity
                for j in 0..<length { maximum = Swift.max(maximum, x[base + j * stride]) }
                var sum: T = 0
                for j in 0..<length {
                    let e = T.exponential(x[base + j * stride] - maximum)
                    y[base + j * stride] = e
                    sum += e
                }
                if log {
                    let logSum = T.logarithm(sum)
                    for j in 0..<length { y[base + j * stride] = x[base + j * stride] - maximum - logSum }
                } else {
                    let scale = 1 / sum
                    for j in 0..<length { y[base + j * stride] *= scale }
                }
            }
        }
    }

    /// Softmax of one contiguous row: the exponentials in a loop without calls (vectorised), then the sum.
    @inline(__always)
    static func contiguousSoftmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, length: Int) {
        var maximum = -Float.infinity
        for j in 0..<length { maximum = Swift.max(maximum, x[j]) }
        for j in 0..<length { y[j] = fastExponential(x[j] - maximum) }
        var sum: Float = 0
        for j in 0..<length { sum += y[j] }
        let scale = 1 / sum
        for j in 0..<length { y[j] *= scale }
    }

    /// Softmax of `rows` contiguous rows of `length` elements, in three passes over the whole batch: the row
    /// maxima subtracted, then every exponential in one flat loop, then the row sums and scaling. The same
    /// arithmetic in the same order as `contiguousSoftmax` row by row (identical results), but the exponential
    /// loop runs over rows × length elements at full vector width: with a short row (digits: 10 classes) a
    /// per-row loop spent most of its time in scalar remainders (about 35k of 49k instructions per batch of 128
    /// under callgrind). `x` and `y` may be the same buffer.
    static func batchedSoftmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, length: Int) {
        let total = rows * length
        // Copied first, so that the per-row loops below touch one buffer: no overlap checks in every short loop.
        if UnsafePointer(y) != x { for i in 0..<total { y[i] = x[i] } }
        for row in 0..<rows {
            let target = y + row * length
            // `v > maximum ? v : maximum` is one maxss on x86 where `Swift.max` is a compare and a blend. Both
            // skip NaNs (the maximum starts at -inf); they differ only in which zero wins a tie of +0 and -0,
            // which changes no difference below and so no result.
            var maximum = -Float.infinity
            for j in 0..<length { maximum = target[j] > maximum ? target[j] : maximum }
            for j in 0..<length { target[j] -= maximum }
        }
        for i in 0..<total { y[i] = fastExponential(y[i]) }
        for row in 0..<rows {
            let target = y + row * length
            var sum: Float = 0
            for j in 0..<length { sum += target[j] }
            let scale = 1 / sum
            for j in 0..<length { target[j] *= scale }
        }
    }

    /// ArgMax (or ArgMin, `smallest`) over `length` elements spaced `stride` apart: the first extreme, or the last
    /// with `selectLast`.
    static func argMax<T: Comparable & ExpressibleByIntegerLiteral>(
        _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<Int64>, outer: Int, length: Int, stride: Int,
        selectLast: Bool, smallest: Bool = false
    ) {
        /// Whether `v` beats the best so far (ArgMin when `smallest`).
        @inline(__always) func beats(_ v: T, _ best: T) -> Bool { smallest ? v < best : v > best }
        if stride == 1 && length > 0 && !selectLast {
            // The common case (class scores along the last axis): one plain loop per row, no stride arithmetic.
            for o in 0..<outer {
                let row = x + o * length
                var best = 0
                var bestValue = row[0]
                for j in 1..<Swift.max(length, 1) where beats(row[j], bestValue) {
                    best = j
                    bestValue = row[j]
                }
                y[o] = Int64(best)
            }
            return
        }
        for o in 0..<outer {
            for inner in 0..<stride {
                let base = o * length * stride + inner
                var best = 0
                var bestValue: T = length > 0 ? x[base] : 0
                if length > 1 {
                    for j in 1..<length {
                        let v = x[base + j * stride]
                        if beats(v, bestValue) || (selectLast && v == bestValue) {
                            best = j
                            bestValue = v
                        }
                    }
                }
                y[o * stride + inner] = Int64(best)
            }
        }
    }

    /// y = x * scale[c] + shift[c] where c is the index along axis 1 of [outer, channels, inner].
    static func channelAffine(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, channels: Int, inner: Int,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
    ) {
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                let s = scale[c]
                let t = shift[c]
                for i in 0..<inner { y[base + i] = x[base + i] * s + t }
            }
        }
    }

    /// Permutes the axes of a tensor of `dims` (elements of `elementSize` bytes).
    static func transpose(
        _ x: UnsafeRawPointer, _ y: UnsafeMutableRawPointer, dims: [Int], permutation: [Int], elementSize: Int
    ) {
        let inputStrides = strides(dims)
        stridedCopy(x, y, outDims: permutation.map { dims[$0] }, strides: permutation.map { inputStrides[$0] },
                    offset: 0, elementSize: elementSize)
    }

    /// Float or double → int64 the way a C cast does for in-range values; NaN becomes 0 and values at or beyond
    /// ±2^63 saturate instead of trapping.
    @inline(__always)
    static func saturatingInt64<T: PlanFloat>(_ value: T) -> Int64 {
        if value.isNaN { return 0 }
        if value >= 9.223_372_036_854_775_808e18 { return .max }
        if value <= -9.223_372_036_854_775_808e18 { return .min }
        return Int64(value)
    }
}
