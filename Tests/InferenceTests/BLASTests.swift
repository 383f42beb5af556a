// Tests/InferenceTests/BLASTests.swift: the OpenBLAS seam (`BLAS`): both GEMM paths against a plain triple loop, and
// the thread-pool setting.

import Testing
import TestSupport
@testable import Inference

/// OpenBLAS's results at a few shapes, including the one-row (GEMV) path, a transposed B and an accumulating C,
/// against a reference loop in double precision. The pool's thread count is process-wide and other suites run
/// GEMMs in parallel with this one, so no test here changes it: the setter is checked with the value it already has.
@Suite struct BLASTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        let m: Int, n: Int, k: Int
        let transposedB: Bool
        let beta: Float
        var testDescription: String { "\(m)×\(k)·\(k)×\(n)\(transposedB ? " (Bᵀ)" : "")\(beta != 0 ? " + C" : "")" }
    }

    static let shapes: [Shape] = [
        Shape(m: 1, n: 5, k: 7, transposedB: false, beta: 0),
        Shape(m: 1, n: 5, k: 7, transposedB: true, beta: 0),
        Shape(m: 1, n: 9, k: 3, transposedB: false, beta: 1),
        Shape(m: 3, n: 4, k: 5, transposedB: false, beta: 0),
        Shape(m: 17, n: 33, k: 65, transposedB: true, beta: 0),
        Shape(m: 64, n: 10, k: 64, transposedB: false, beta: 1),
    ]

    /// Values in [-1, 1] from `generator`.
    static func values(_ count: Int, _ generator: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in Float(generator.next() % 2001) / 1000 - 1 }
    }

    /// C = A·op(B) + beta·C, row-major, summed in Double.
    static func reference(_ shape: Shape, a: [Float], b: [Float], c: [Float]) -> [Float] {
        (0..<shape.m * shape.n).map { index in
            let (row, column) = index.quotientAndRemainder(dividingBy: shape.n)
            var sum = Double(shape.beta) * Double(c[index])
            for p in 0..<shape.k {
                let bValue = shape.transposedB ? b[column * shape.k + p] : b[p * shape.n + column]
                sum += Double(a[row * shape.k + p]) * Double(bValue)
            }
            return Float(sum)
        }
    }

    @Test(arguments: shapes)
    func sgemmMatchesTheReferenceLoop(shape: Shape) {
        var generator = SplitMix64(seed: UInt64(shape.m * 10_000 + shape.n * 100 + shape.k))
        let a = Self.values(shape.m * shape.k, &generator)
        let b = Self.values(shape.k * shape.n, &generator)
        let initial = Self.values(shape.m * shape.n, &generator)
        var c = initial
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
                    BLAS.sgemm(m: shape.m, n: shape.n, k: shape.k, a: a, b: b, transposedB: shape.transposedB, c: c,
                               beta: shape.beta)
                }
            }
        }
        let expected = Self.reference(shape, a: a, b: b, c: initial)
        let worst = zip(c, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4 * Float(shape.k), "\(shape.testDescription): off by \(worst)")
    }

    @Test func benchmarkBaselineComputesTheSameProduct() {
        let shape = Shape(m: 8, n: 6, k: 12, transposedB: false, beta: 0)
        var generator = SplitMix64(seed: 86)
        let a = Self.values(shape.m * shape.k, &generator)
        let b = Self.values(shape.k * shape.n, &generator)
        var c = [Float](repeating: .nan, count: shape.m * shape.n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
                    BLAS.benchmarkSgemm(m: shape.m, n: shape.n, k: shape.k, a: a, b: b, c: c)
                }
            }
        }
        let expected = Self.reference(shape, a: a, b: b, c: [Float](repeating: 0, count: c.count))
        #expect(zip(c, expected).allSatisfy { abs($0 - $1) <= 1e-3 })
    }

    @Test func threadCountSetterRoundTripsTheCurrentValue() {
        let current = BLAS.threadCount
        #expect(current >= 1)
        BLAS.threadCount = current
        #expect(BLAS.threadCount == current)
    }

    @Test func reportsTheKernelFamilyOpenBLASChose() {
        let name = BLAS.coreName
        #expect(!name.isEmpty)
        #expect(name != "unknown", "openblas_get_corename returned nothing")
    }
}
