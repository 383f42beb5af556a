internal import COpenBLAS

/// Control of the OpenBLAS thread pool. This module is the only importer of `COpenBLAS`.
public enum BLAS {
    /// OpenBLAS's own thread pool size: process-wide, because OpenBLAS 0.3.21 has no per-call thread count. Set it
    /// once, from the composition root, before serving starts (`tensorwire-server` does, from `--blas-threads`).
    /// The packed kernels do not read it: each execution context passes its own thread count to every call.
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
        // Why no thread-count switching here: OpenBLAS 0.3.21 already runs any sgemm of m·n·k ≤ 262,144 on one
        // thread. Lowering the count to one around GEMMs under 2M multiply-adds (as this did before) made digits
        // at batch 128 (m·n·k = 524,288 for its first layer) 1.26× slower on a quiet machine: 15.3 µs per run
        // against 12.1 µs on two threads, where onnxruntime takes 13.2 µs (Tools/bench/engine). On a loaded
        // machine two threads lose (21 µs), but so does onnxruntime with its two; the batcher gives each of
        // several instances one BLAS thread anyway.
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposedB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(transposedB ? k : n), beta, c, Int32(n)
        )
    }

    /// C[m×n] = A[m×k] · B[k×n] in double precision, all row-major (the dense layers of FP64 graphs). One row
    /// takes `cblas_dgemv`, as `sgemm` does.
    static func dgemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>
    ) {
        if m == 1 {
            cblas_dgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, b, Int32(n), a, 1, 0, c, 1)
            return
        }
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans,
            Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n)
        )
    }

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
