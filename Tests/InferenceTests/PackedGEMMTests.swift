@testable import Inference
import Testing

/// The packed AVX-512 kernels against a plain triple loop, over the shapes where their edges are: batches that are
/// not multiples of the 8-row tile, depths around the 256-row block, widths around the 32-column panel, several
/// threads sharing panels. Runs only where the CPU has AVX-512 (the CI machine does); elsewhere the engine never
/// calls these kernels.
@Suite(.enabled(if: PackedGEMM.isSupported, "the CPU has no AVX-512"))
struct PackedGEMMTests {
    struct Case: Sendable, CustomStringConvertible {
        var m: Int, k: Int, n: Int
        var description: String { "\(m)x\(k)x\(n)" }
    }

    static let cases: [Case] = [
        Case(m: 1, k: 1, n: 1), Case(m: 1, k: 64, n: 10), Case(m: 3, k: 255, n: 31), Case(m: 8, k: 256, n: 32),
        Case(m: 9, k: 257, n: 33), Case(m: 17, k: 600, n: 100), Case(m: 130, k: 300, n: 65),
        Case(m: 64, k: 1030, n: 257), Case(m: 2, k: 512, n: 96), Case(m: 7, k: 0, n: 40),
    ]

    /// A deterministic pseudo-random float in [-1, 1).
    static func values(_ count: Int, seed: UInt32) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 23) - 1
        }
    }

    @Test(arguments: cases, [(bias: false, relu: false), (bias: true, relu: false), (bias: true, relu: true)])
    func testMatchesTheReference(_ shape: Case, _ epilogue: (bias: Bool, relu: Bool)) {
        let (m, k, n) = (shape.m, shape.k, shape.n)
        let a = Self.values(m * k, seed: 1)
        let w = Self.values(k * n, seed: 2)
        let bias = Self.values(n, seed: 3)
        var expected = [Float](repeating: 0, count: m * n)
        for row in 0..<m {
            for column in 0..<n {
                var sum: Float = epilogue.bias ? bias[column] : 0
                for inner in 0..<k { sum += a[row * k + inner] * w[inner * n + column] }
                expected[row * n + column] = epilogue.relu ? Swift.max(sum, 0) : sum
            }
        }
        for threads in [1, 2, 3] {
            let packed = w.withUnsafeBufferPointer { PackedWeights(weights: $0.baseAddress!, k: k, n: n) }
            // NaN-filled so that an element the kernels forget to write fails the comparison.
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { a in
                bias.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        PackedGEMM.multiply(m: m, a: a.baseAddress!, weights: packed, c: c.baseAddress!,
                                            bias: epilogue.bias ? b.baseAddress : nil, relu: epilogue.relu,
                                            threads: threads)
                    }
                }
            }
            // A NaN (an element never written) fails `<=`, unlike `max()`, which would skip it.
            let bad = zip(c, expected).enumerated().first { !(abs($1.0 - $1.1) <= 1e-5 * (1 + abs($1.1))) }
            let detail = bad.map { "element \($0.offset) is \($0.element.0), expected \($0.element.1)" } ?? ""
            #expect(bad == nil, "\(shape) threads \(threads): \(detail)")
        }
    }

    @Test func testOnlyLayersWorthPackingArePacked() {
        #expect(PackedWeights.isWorthPacking(k: 4096, n: 4096))
        #expect(PackedWeights.isWorthPacking(k: 64, n: 10))  // small: the padding costs nothing that matters
        #expect(!PackedWeights.isWorthPacking(k: 1 << 20, n: 1))  // large and narrow: stays on sgemv
        #expect(!PackedWeights.isWorthPacking(k: 100_000, n: 33))  // a second panel of one column
    }

    @Test func testWeightsReadOnlyByPackedStepsAreNotKept() throws {
        // The digits model's dense weights are packed; the row-major copies are released with the compiler.
        let packed = try Fixtures.model("digits", gemm: .packed)
        let blas = try Fixtures.model("digits", gemm: .blas)
        let packedBytes = packed.plan.constants.reduce(0) { $0 + $1.count }
        let blasBytes = blas.plan.constants.reduce(0) { $0 + $1.count }
        #expect(packed.plan.packedWeights.contains { $0 != nil })
        #expect(!blas.plan.packedWeights.contains { $0 != nil })
        #expect(packedBytes < blasBytes)
    }
}
