/// Which GEMM a compiled model runs its dense layers on. The composition root chooses (`tensorwire-server --gemm`)
/// and passes the choice down to model compilation (`ModelRepository.load`, `loadModel`, `builtin`); nothing in
/// this module reads the environment.
public enum GEMMBackend: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// Tensorwire's AVX-512 kernels over weights packed at load time (`Sources/AVX512Kernels`).
    case packed
    /// OpenBLAS `cblas_sgemm`/`cblas_sgemv` over the row-major weights.
    case blas

    /// The best this CPU runs (`--gemm auto`): `packed` on CPUs with AVX-512 (F, CD, BW, DQ, VL) and FMA, `blas`
    /// elsewhere.
    public static let preferred: GEMMBackend = PackedGEMM.isSupported ? .packed : .blas

    /// The backends this CPU runs: `blas` always, `packed` where the CPU has AVX-512.
    public static var available: [GEMMBackend] { PackedGEMM.isSupported ? [.blas, .packed] : [.blas] }

    /// What a model asking for this backend gets on this CPU: `packed` falls back to `blas` without AVX-512.
    public var effective: GEMMBackend { self == .packed && !PackedGEMM.isSupported ? .blas : self }

    public var description: String { rawValue }
}
