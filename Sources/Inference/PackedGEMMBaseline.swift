/// The packed kernels alone over one weight matrix, for the engine benchmark's raw-GEMM baseline (no plan, no
/// bias, no activation). Nil where the CPU cannot run them. `package`: a bench hook, not API.
package struct PackedGEMMBaseline: Sendable {
    let weights: PackedWeights

    package init?(weights: [Float], k: Int, n: Int) {
        guard PackedGEMM.isSupported, k > 0, n > 0, k.multipliedReportingOverflow(by: n) == (weights.count, false),
              let packed = weights.withUnsafeBufferPointer({ buffer in
                  buffer.baseAddress.map { PackedWeights(weights: $0, k: k, n: n) }
              })
        else { return nil }
        self.weights = packed
    }

    /// C[m × n] = A[m × k] · W on up to `threads` threads (the calling thread included).
    package func multiply(m: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, threads: Int = 1) {
        PackedGEMM.multiply(m: m, a: a, weights: weights, c: c, bias: nil, relu: false, threads: threads)
    }
}
