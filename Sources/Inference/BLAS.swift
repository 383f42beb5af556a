internal import COpenBLAS

/// Control of the OpenBLAS thread pool. This module is the only importer of `COpenBLAS`.
public enum BLAS {
    /// The number of threads OpenBLAS uses for one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(clamping: max(1, newValue))) }
    }
}
