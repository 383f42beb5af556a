internal import AVX512Kernels
internal import Dispatch
internal import Foundation
internal import Glibc
internal import Synchronization

/// Which GEMM a compiled model runs its dense layers on.
public enum GEMMBackend: String, Sendable, Equatable, CustomStringConvertible {
    /// Tensorwire's AVX-512 kernels over weights packed at load time (`Sources/AVX512Kernels`).
    case packed
    /// OpenBLAS `cblas_sgemm`/`cblas_sgemv` over the row-major weights.
    case blas

    /// What this process uses unless told otherwise: `packed` on CPUs with AVX-512 (F, CD, BW, DQ, VL) and FMA,
    /// `blas` elsewhere; the environment variable `TENSORWIRE_GEMM=blas` (or `packed`) overrides the choice
    /// (`packed` is still refused on a CPU without AVX-512).
    public static let preferred: GEMMBackend = {
        let requested = ProcessInfo.processInfo.environment["TENSORWIRE_GEMM"]
        switch requested {
        case "blas": return .blas
        case nil, "", "packed": return PackedGEMM.isSupported ? .packed : .blas
        case let other?:
            let chosen: GEMMBackend = PackedGEMM.isSupported ? .packed : .blas
            ModelRepository.logToStandardError("TENSORWIRE_GEMM=\(other) is neither blas nor packed; using \(chosen)")
            return chosen
        }
    }()

    /// The backends this CPU runs: `blas` always, `packed` where the CPU has AVX-512.
    public static var available: [GEMMBackend] { PackedGEMM.isSupported ? [.blas, .packed] : [.blas] }

    public var description: String { rawValue }
}

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

/// The instruction-set flags Linux reports for this CPU in /proc/cpuinfo (it clears those whose register state the OS
/// does not save); empty where the file cannot be read.
enum CPUFlags {
    static let reported: Set<String> = {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(flagsLine.split(separator: " ").map(String.init))
    }()
}

/// Runs dense layers on the AVX-512 kernels: the CPU check, the thread split, the epilogue choice.
enum PackedGEMM {
    /// True when this CPU runs the AVX-512 kernels.
    static let isSupported: Bool = {
        #if arch(x86_64) && os(Linux)
        // skylake-avx512, the target the kernels are compiled for, implies these (and BMI1/2, which come with AVX2).
        let needed = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "bmi1", "bmi2",
                      "f16c", "movbe", "popcnt", "adx", "lzcnt"]
        let flags = CPUFlags.reported
        return needed.allSatisfy { flags.contains($0) || ($0 == "lzcnt" && flags.contains("abm")) }
        #else
        return false
        #endif
    }()

    /// Threads one multiplication may use (the calling thread included); set with `BLAS.threadCount`.
    static let threadLimit = Atomic<Int>(Swift.max(1, ProcessInfo.processInfo.activeProcessorCount))

    /// Multiply-adds per thread below which a second thread costs more than it saves (a fork and join through
    /// Dispatch is a few microseconds).
    static let multiplyAddsPerThread = 1 << 20

    /// C[m × n] = A[m × k] · W (+ bias, then ReLU when `relu`), with W packed. Every element of C is written.
    /// `threads` caps the threads of this call (default: `threadLimit`, which `BLAS.threadCount` sets).
    static func multiply(
        m: Int, a: UnsafePointer<Float>, weights: PackedWeights, c: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>?, relu: Bool, threads threadCap: Int? = nil
    ) {
        let (k, n, panels) = (weights.k, weights.n, weights.panelCount)
        guard m > 0, n > 0 else { return }
        let work = Double(m) * Double(n) * Double(Swift.max(k, 1))
        let byWork = Int(Swift.min(Swift.max(1, work / Double(multiplyAddsPerThread)), 1024))
        let cap = threadCap ?? threadLimit.load(ordering: .relaxed)
        let threads = Swift.max(1, Swift.min(cap, panels, byWork))
        let job = Job(m: m, a: a, weights: weights, c: c, bias: bias, relu: relu)
        if threads == 1 {
            job.run(panels: 0..<panels)
            return
        }
        // Chunks of panels handed out through a counter rather than a fixed half each: when another process or
        // the event loop holds one core, the other thread takes over the rest instead of waiting for it.
        let chunk = Swift.max(1, panels / (threads * chunksPerThread))
        let next = ChunkCounter()
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while true {
                let start = next.value.wrappingAdd(chunk, ordering: .relaxed).oldValue
                guard start < panels else { return }
                job.run(panels: start ..< Swift.min(start + chunk, panels))
            }
        }
    }

    /// Chunks of panels per thread when several threads share a multiplication.
    static let chunksPerThread = 8

    /// The next unclaimed panel of one multiplication.
    private final class ChunkCounter: Sendable {
        let value = Atomic<Int>(0)
    }

    /// One multiplication's operands, shared by the threads that split its panels.
    ///
    /// Owner and threads: the buffers belong to the calling instance thread, which blocks in `concurrentPerform`
    /// until every share has returned; the shares only read A, the weights and the bias, and each writes its own
    /// columns of C. That is why the pointers may cross threads (`@unchecked Sendable`).
    private struct Job: @unchecked Sendable {
        let m: Int
        let a: UnsafePointer<Float>
        let weights: PackedWeights
        let c: UnsafeMutablePointer<Float>
        let bias: UnsafePointer<Float>?
        let relu: Bool

        func run(panels range: Range<Int>) {
            let (k, n) = (weights.k, weights.n)
            let needsEdge = n % AVX512GEMM.panelWidth != 0 && range.upperBound == weights.panelCount
            withEdgeScratch(count: needsEdge ? m * AVX512GEMM.panelWidth : 0) { edge in
                AVX512GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, packed: weights.pointer, panels: range,
                                    c: c, ldc: n, bias: bias, relu: relu, edge: edge)
            }
        }
    }

    /// Scratch for a partial last panel: on the stack when small, on the heap otherwise.
    /// In debug builds (the tests) the scratch starts as NaN, so a kernel that reads it before writing it fails the
    /// comparison instead of reading whatever zeros the stack held.
    private static func withEdgeScratch(count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        if count <= 4096 {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Swift.max(count, 1)) { buffer in
                guard let base = buffer.baseAddress else { return }
                #if DEBUG
                base.initialize(repeating: .nan, count: buffer.count)
                #endif
                body(base)
            }
            return
        }
        let heap = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { heap.deallocate() }
        #if DEBUG
        heap.initialize(repeating: .nan, count: count)
        #endif
        body(heap)
    }
}

/// The packed kernels alone over one weight matrix, for the engine benchmark's raw-GEMM baseline (no plan, no
/// bias, no activation). Nil where the CPU cannot run them.
public struct PackedGEMMBaseline: Sendable {
    let weights: PackedWeights

    public init?(weights: [Float], k: Int, n: Int) {
        guard PackedGEMM.isSupported, k > 0, n > 0, k.multipliedReportingOverflow(by: n) == (weights.count, false),
              let packed = weights.withUnsafeBufferPointer({ buffer in
                  buffer.baseAddress.map { PackedWeights(weights: $0, k: k, n: n) }
              })
        else { return nil }
        self.weights = packed
    }

    /// C[m × n] = A[m × k] · W.
    public func multiply(m: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        PackedGEMM.multiply(m: m, a: a, weights: weights, c: c, bias: nil, relu: false)
    }
}
