internal import Glibc

// Kernels of the tensor-manipulation steps (Concat, Slice/Split/Expand, Gather, reductions, LayerNormalization,
// Imputer): concrete sizes in, no allocation beyond an odometer of one index per axis.

/// How a reduction combines the elements of its axes.
enum ReduceFunction: Sendable, Equatable {
    case sum, mean, max
    /// ReduceSumSquare: the sum of the squares (skl2onnx's L2 Normalizer in double exports).
    case sumSquare
    /// ReduceLogSumExp: log Σ eˣ, computed as max + log Σ e^(x − max) so that no term overflows (GaussianNB).
    case logSumExp
}

extension Kernels {
    /// Row-major element strides of concrete `dims`.
    static func strides(_ dims: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: dims.count)
        var running = 1
        for axis in stride(from: dims.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= dims[axis]
        }
        return strides
    }

    /// y[i₀, …] = x[offset + Σ iₖ·strides[k]] for every index of `outDims` (element strides; 0 repeats an element).
    static func stridedCopy(
        _ x: UnsafeRawPointer, _ y: UnsafeMutableRawPointer, outDims: [Int], strides: [Int], offset: Int,
        elementSize: Int
    ) {
        let rank = outDims.count
        let total = outDims.reduce(1, *)
        guard total > 0 else { return }
        guard rank > 0 else {
            y.copyMemory(from: x + offset * elementSize, byteCount: elementSize)
            return
        }
        let inner = outDims[rank - 1]
        let innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var source = offset
        var written = 0
        while written < total {
            if innerStride == 1 {
                (y + written * elementSize).copyMemory(from: x + source * elementSize, byteCount: inner * elementSize)
            } else {
                for j in 0..<inner {
                    (y + (written + j) * elementSize)
                        .copyMemory(from: x + (source + j * innerStride) * elementSize, byteCount: elementSize)
                }
            }
            written += inner
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                source += strides[axis]
                if index[axis] < outDims[axis] { break }
                source -= strides[axis] * outDims[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// Reduces `length` elements spaced `inner` apart for every (outer, inner) position.
    static func reduce<T: PlanFloat>(
        _ function: ReduceFunction, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, outer: Int,
        length: Int, inner: Int
    ) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = x + o * length * inner + i
                if function == .logSumExp {
                    var maximum = -T.infinity
                    for j in 0..<length { maximum = Swift.max(maximum, base[j * inner]) }
                    var sum: T = 0
                    if maximum.isFinite { for j in 0..<length { sum += T.exponential(base[j * inner] - maximum) } }
                    y[o * inner + i] = maximum.isFinite ? maximum + T.logarithm(sum) : maximum
                    continue
                }
                var accumulator: T = function == .max ? -.infinity : 0
                for j in 0..<length {
                    let v = base[j * inner]
                    switch function {
                    case .max: accumulator = v > accumulator || v.isNaN ? v : accumulator
                    case .sumSquare: accumulator += v * v
                    case .sum, .mean, .logSumExp: accumulator += v
                    }
                }
                y[o * inner + i] = function == .mean ? accumulator / T(Swift.max(length, 1)) : accumulator
            }
        }
    }

    /// The int64 reductions: Sum and SumSquare wrap on overflow, Mean divides the sum toward zero (integer
    /// division, as onnxruntime's int64 ReduceMean does), Max takes the largest (Int64.min over no elements).
    /// LogSumExp has no integer form; the compiler refuses it.
    static func reduceIntegers(
        _ function: ReduceFunction, _ x: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Int64>, outer: Int,
        length: Int, inner: Int
    ) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = x + o * length * inner + i
                var accumulator: Int64 = function == .max ? .min : 0
                for j in 0..<length {
                    let v = base[j * inner]
                    switch function {
                    case .max: accumulator = Swift.max(accumulator, v)
                    case .sumSquare: accumulator = accumulator &+ v &* v
                    case .sum, .mean, .logSumExp: accumulator = accumulator &+ v
                    }
                }
                y[o * inner + i] = function == .mean && length > 0 ? accumulator / Int64(length) : accumulator
            }
        }
    }

    /// LayerNormalization over the last `size` elements of each row: (x − mean) / √(var + ε) · scale + bias.
    static func layerNorm(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, size: Int, epsilon: Float,
        scale: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, scaleCount: Int, biasCount: Int
    ) {
        guard size > 0 else { return }
        for row in 0..<rows {
            let source = x + row * size, target = y + row * size
            var mean: Float = 0
            for j in 0..<size { mean += source[j] }
            mean /= Float(size)
            var variance: Float = 0
            for j in 0..<size {
                let d = source[j] - mean
                variance += d * d
            }
            variance /= Float(size)
            let inverse = 1 / (variance + epsilon).squareRoot()
            for j in 0..<size {
                var value = (source[j] - mean) * inverse
                if let scale { value *= scale[scaleCount == 1 ? 0 : j] }
                if let bias { value += bias[biasCount == 1 ? 0 : j] }
                target[j] = value
            }
        }
    }
}
