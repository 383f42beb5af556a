internal import AVX512Kernels
internal import Dispatch
internal import Synchronization

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

    /// Multiply-adds per thread below which a second thread costs more than it saves (a fork and join through
    /// Dispatch is a few microseconds).
    static let multiplyAddsPerThread = 1 << 20

    /// C[m × n] = A[m × k] · W (+ bias, then ReLU when `relu`), with W packed. Every element of C is written.
    /// `threadCap` caps the threads of this call, the calling thread included: the execution context's GEMM
    /// threads (`--blas-threads`, or cores / instances), so each batcher's instances stay within their share.
    static func multiply(
        m: Int, a: UnsafePointer<Float>, weights: PackedWeights, c: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>?, relu: Bool, threads threadCap: Int
    ) {
        let (k, n, panels) = (weights.k, weights.n, weights.panelCount)
        guard m > 0, n > 0 else { return }
        let work = Double(m) * Double(n) * Double(Swift.max(k, 1))
        let byWork = Int(Swift.min(Swift.max(1, work / Double(multiplyAddsPerThread)), 1024))
        let threads = Swift.max(1, Swift.min(threadCap, panels, byWork))
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
