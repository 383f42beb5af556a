internal import AVX512Kernels
internal import Glibc

/// The weights of one dense layer, packed once at load time in the layout of the AVX-512 kernels
/// (`AVX512GEMM.pack`: blocks of 256 rows × 32 columns, in the order the kernels stream them).
///
/// Owner and threads: written only by the loading thread inside `init`, before the model holding it is published;
/// afterwards only read, by any number of instance threads at once. That is why it is `@unchecked Sendable`.
final class PackedWeights: @unchecked Sendable {
    let k: Int
    let n: Int
    let panelCount: Int
    let pointer: UnsafeMutablePointer<Float>

    /// Whether a [k × n] layer goes on the packed kernels: when padding its last panel to 32 columns adds at most a
    /// quarter to its size, or it is small enough (≤ 1 MiB packed) that the padding does not matter. A narrow,
    /// large layer (a linear regressor over many features: n = 1) stays on OpenBLAS, whose sgemv suits it and which
    /// needs no second copy 32 times its size.
    static func isWorthPacking(k: Int, n: Int) -> Bool {
        let padded = AVX512GEMM.packedCount(k: k, n: n)
        return padded <= k * n + k * n / 4 || padded <= (1 << 20) / MemoryLayout<Float>.stride
    }

    /// The bytes `init(weights:k:n:)` allocates for a [k × n] layer (before rounding up to huge pages).
    static func packedBytes(k: Int, n: Int) -> Int {
        Swift.max(AVX512GEMM.packedCount(k: k, n: n), 16) * MemoryLayout<Float>.stride
    }

    /// Packs `weights`, row-major [k × n].
    init(weights: UnsafePointer<Float>, k: Int, n: Int) {
        self.k = k
        self.n = n
        self.panelCount = (n + AVX512GEMM.panelWidth - 1) / AVX512GEMM.panelWidth
        let count = Swift.max(AVX512GEMM.packedCount(k: k, n: n), 16)
        let bytes = count * MemoryLayout<Float>.stride
        let raw: UnsafeMutableRawPointer
        if bytes >= Self.hugePage {
            // Large weights on 2 MiB pages (where the kernel's transparent huge pages are on "madvise", the
            // default): streaming 100 MB of weights at batch 1 otherwise walks the page tables every 4 KiB.
            let rounded = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage
            raw = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: Self.hugePage)
            _ = madvise(raw, rounded, MADV_HUGEPAGE)
        } else {
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        }
        pointer = raw.bindMemory(to: Float.self, capacity: count)
        if count > AVX512GEMM.packedCount(k: k, n: n) { pointer.initialize(repeating: 0, count: count) }
        AVX512GEMM.pack(weights, k: k, n: n, into: pointer)  // writes every float of the packed layout
    }

    deinit {
        pointer.deallocate()
    }

    private static let hugePage = 2 << 20
}
