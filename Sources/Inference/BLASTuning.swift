internal import Foundation

extension BLAS {
    /// The `OPENBLAS_CORETYPE` this process should have been started with, or nil when OpenBLAS already chose well.
    ///
    /// Why: OpenBLAS 0.3.21 (Debian 12) does not know AMD Zen 4 and falls back to its AVX2 "Haswell" kernels; its
    /// "SkylakeX" AVX-512 kernels run on Zen 4 and are about 1.6× faster for the GEMMs of dense models (measured
    /// with Tools/engine/bench). OpenBLAS reads the variable once, when the library loads, so only a process
    /// started with it set (for example re-executed by the server's main) benefits.
    public static var recommendedCoreType: String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              coreName == "Haswell" || coreName == "Zen"
        else { return nil }
        let flags = CPUFlags.reported
        let needed = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
        return needed.allSatisfy(flags.contains) ? "SkylakeX" : nil
    }
}
