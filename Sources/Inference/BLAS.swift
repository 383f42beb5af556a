internal import COpenBLAS

/// Control of the OpenBLAS thread pool. This module is the only importer of `COpenBLAS`.
public enum BLAS {
    /// The number of threads OpenBLAS uses for one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(clamping: max(1, newValue))) }
    }

    /// The kernel family OpenBLAS picked at load time (e.g. "Haswell", "SkylakeX").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}

extension BLAS {
    /// C[m×n] = A[m×k] · B, all row-major with leading dimensions equal to the row lengths. `B` is [k×n]
    /// (`transposedB == false`) or [n×k] (`transposedB == true`). `beta` scales what `C` already holds.
    static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, transposedB: Bool,
        c: UnsafeMutablePointer<Float>, beta: Float = 0
    ) {
        if m == 1 {
            // One row: a matrix-vector product is faster than sgemm's packing (y = op(B)ᵀ x).
            if transposedB {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, b, Int32(k), a, 1, beta, c, 1)
            } else {
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, b, Int32(n), a, 1, beta, c, 1)
            }
            return
        }
        let threads = openblas_get_num_threads()
        // Why: OpenBLAS 0.3.21 splits any sgemm above m·n·k = 262,144 across its threads; below a few MFLOP
        // waking and joining the second thread costs more than it saves (digits at batch 128 ran 1.3–2× slower
        // on two threads than on one in Tools/engine/bench), and on a loaded machine the other core may not be
        // free at all. The count is process-wide in OpenBLAS, so it is lowered only around this call and only
        // when more than one thread is configured; with several instances the batcher already gives each one
        // thread (BLAS threads × instances ≤ cores), so instances do not race on it.
        let small = Double(m) * Double(n) * Double(k) < singleThreadWork
        if small && threads > 1 { openblas_set_num_threads(1) }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposedB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(transposedB ? k : n), beta, c, Int32(n)
        )
        if small && threads > 1 { openblas_set_num_threads(threads) }
    }

    /// GEMMs with fewer multiply-adds than this (m·n·k) run on one BLAS thread: about 4 MFLOP, ~50 µs on one core.
    static let singleThreadWork: Double = 2_097_152

    /// The raw `cblas_sgemm` baseline used by the engine benchmark: C = A·B with B [k×n], row-major.
    public static func benchmarkSgemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n)
        )
    }
}
