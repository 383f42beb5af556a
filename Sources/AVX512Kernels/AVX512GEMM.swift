internal import CPrefetch

// GEMM over weights packed once at load time, written with 16-lane SIMD so that this module, compiled for
// `skylake-avx512` (see Package.swift), becomes AVX-512 FMA code. Every function here executes AVX-512
// instructions: callers check the CPU first (Inference's `PackedGEMM.isSupported`).

/// The AVX-512 GEMM micro-kernels: C[m×n] = A[m×k] · B (+ bias, optionally ReLU), where B was packed once by `pack`.
/// Owns no memory and no threads: the caller hands each thread a range of panels.
///
/// The packed layout is the order the kernels read it in: B is cut into depth blocks of `depthBlock` rows and
/// panels of `panelWidth` columns (the last panel padded with zeros); block (d, p) is `depth(d)` rows of 32
/// contiguous floats, and the blocks lie depth block by depth block, panel by panel within one. A thread that owns
/// a range of panels therefore streams one contiguous run of memory per depth block, which the hardware
/// prefetchers follow.
public enum AVX512GEMM {
    /// Columns per packed panel: two 16-float vectors per row of the micro-tile.
    public static let panelWidth = 32
    /// Rows of A (and C) per micro-tile: 16 accumulators of 16 floats, 19 of the 32 vector registers.
    static let tileRows = 8
    /// Depth of one pass: a panel's 256 × 32 block (32 KiB) stays in L1 while every row block of A streams by.
    static let depthBlock = 256
    /// Rows of A per pass: a 128 × 256 block of A (128 KiB) stays in L2 while the panels stream by.
    static let rowBlock = 128

    /// The number of floats `pack` writes for a [k × n] matrix.
    public static func packedCount(k: Int, n: Int) -> Int {
        (n + panelWidth - 1) / panelWidth * panelWidth * k
    }

    /// Packs row-major B [k × n] into `packed` (`packedCount(k:n:)` floats), padding the last panel with zeros.
    public static func pack(_ b: UnsafePointer<Float>, k: Int, n: Int, into packed: UnsafeMutablePointer<Float>) {
        let panels = (n + panelWidth - 1) / panelWidth
        var depthStart = 0
        while depthStart < k {
            let depth = min(depthBlock, k - depthStart)
            for panel in 0..<panels {
                let first = panel * panelWidth
                let columns = min(panelWidth, n - first)
                let block = packed + blockOffset(depthStart: depthStart, depth: depth, panel: panel, panels: panels)
                for row in 0..<depth {
                    let target = block + row * panelWidth
                    target.update(from: b + (depthStart + row) * n + first, count: columns)
                    if columns < panelWidth { (target + columns).update(repeating: 0, count: panelWidth - columns) }
                }
            }
            depthStart += depth
        }
    }

    @inline(__always)
    static func blockOffset(depthStart: Int, depth: Int, panel: Int, panels: Int) -> Int {
        depthStart * panels * panelWidth + panel * depth * panelWidth
    }

    /// Computes the columns of C covered by `panels` (panel `p` is columns `p*32 ..< min(p*32+32, n)`).
    ///
    /// - Parameters:
    ///   - a: A, `m` rows of `k` floats, leading dimension `lda`.
    ///   - packed: B as `pack` wrote it.
    ///   - c: C, leading dimension `ldc`; every element of the covered columns is written.
    ///   - bias: `n` floats added to every row, or nil.
    ///   - relu: clamps negative results to 0 after the bias.
    ///   - edge: scratch of at least `m * 32` floats for a partial last panel (used only when `n % 32 != 0` and the
    ///     range includes the last panel).
    public static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        packed: UnsafePointer<Float>, panels: Range<Int>,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>?, relu: Bool,
        edge: UnsafeMutablePointer<Float>
    ) {
        guard m > 0, !panels.isEmpty else { return }
        let panelCount = (n + panelWidth - 1) / panelWidth
        if k == 0 {
            for panel in panels {
                let first = panel * panelWidth
                let width = min(panelWidth, n - first)
                for row in 0..<m {
                    for column in 0..<width {
                        let value = bias?[first + column] ?? 0
                        c[row * ldc + first + column] = relu && value < 0 ? 0 : value
                    }
                }
            }
            return
        }
        var depthStart = 0
        while depthStart < k {
            let depth = min(depthBlock, k - depthStart)
            let mode: TileStart = depthStart == 0 ? (bias == nil ? .zero : .bias) : .accumulate
            let finish = depthStart + depth >= k
            var rowStart = 0
            while rowStart < m {
                let rowCount = min(rowBlock, m - rowStart)
                for panel in panels {
                    let first = panel * panelWidth
                    let width = min(panelWidth, n - first)
                    let panelBase = packed + blockOffset(depthStart: depthStart, depth: depth, panel: panel,
                                                         panels: panelCount)
                    let target: UnsafeMutablePointer<Float>
                    let targetStride: Int
                    if width == panelWidth {
                        target = c + rowStart * ldc + first
                        targetStride = ldc
                    } else {
                        target = edge + rowStart * panelWidth
                        targetStride = panelWidth
                    }
                    var biasVectors = (SIMD16<Float>(), SIMD16<Float>())
                    if mode == .bias, let bias {
                        // A partial panel has only `width` bias values; its padded columns are never copied out.
                        for column in 0..<width {
                            if column < 16 { biasVectors.0[column] = bias[first + column] }
                            else { biasVectors.1[column - 16] = bias[first + column] }
                        }
                    }
                    // With several micro-tiles per block only the first pass reads the block from memory; the
                    // later passes find it in L1. So every pass also pulls a share of the next block (the next
                    // panel's, contiguous) into L2, one line per depth step, and memory stays busy while they
                    // compute: the first pass the next block's first half, the second pass its second half.
                    let multiPass = rowCount > tileRows
                    let nextBlock = UnsafeRawPointer(panelBase + depth * panelWidth)
                    var tile = 0
                    var pass = 0
                    while tile < rowCount {
                        let rows = min(tileRows, rowCount - tile)
                        let tileA = a + (rowStart + tile) * lda + depthStart
                        let tileC = target + tile * targetStride
                        let outer = multiPass ? nextBlock + (pass % 2) * depth * 64 : nil
                        microTile(rows: rows, depth: depth, a: tileA, lda: lda, b: panelBase, c: tileC,
                                  ldc: targetStride, mode: mode, biasVectors: biasVectors, relu: finish && relu,
                                  outer: outer)
                        tile += rows
                        pass += 1
                    }
                    if finish && width < panelWidth {
                        for row in 0..<rowCount {
                            let source = edge + (rowStart + row) * panelWidth
                            let destination = c + (rowStart + row) * ldc + first
                            destination.update(from: source, count: width)
                        }
                    }
                }
                rowStart += rowCount
            }
            depthStart += depth
        }
    }

    @inline(__always)
    static func microTile(
        rows: Int, depth: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, mode: TileStart, biasVectors: (SIMD16<Float>, SIMD16<Float>),
        relu: Bool, outer: UnsafeRawPointer?
    ) {
        switch rows {
        case 8: tile(Rows8.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
        case 7: tile(Rows7.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
        case 6: tile(Rows6.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
        case 5: tile(Rows5.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
        case 4: tile(Rows4.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
        case 3: tile(Rows3.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
        case 2: tile(Rows2.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
        default:
            // The last row of a multi-pass block still pulls its share of the next block; a lone row is a GEMV.
            if outer != nil {
                tile(Rows1.self, depth, a, lda, b, c, ldc, mode, biasVectors, relu, outer)
            } else {
                singleRowTile(depth, a, b, c, mode, biasVectors, relu)
            }
        }
    }
}

/// How a micro-tile's accumulators start: zero, the bias row, or what C already holds (a later depth block).
enum TileStart: Equatable {
    case zero, bias, accumulate
}

/// The row count of a micro-tile as a type, so that each count gets its own specialised loop with only the
/// accumulators it uses.
protocol TileRowCount {
    static var count: Int { get }
}

enum Rows1: TileRowCount { static var count: Int { 1 } }
enum Rows2: TileRowCount { static var count: Int { 2 } }
enum Rows3: TileRowCount { static var count: Int { 3 } }
enum Rows4: TileRowCount { static var count: Int { 4 } }
enum Rows5: TileRowCount { static var count: Int { 5 } }
enum Rows6: TileRowCount { static var count: Int { 6 } }
enum Rows7: TileRowCount { static var count: Int { 7 } }
enum Rows8: TileRowCount { static var count: Int { 8 } }

/// Two accumulators (32 columns) for one row of a micro-tile.
struct RowAccumulator {
    var low: SIMD16<Float>
    var high: SIMD16<Float>

    @inline(__always)
    init(start: TileStart, bias: (SIMD16<Float>, SIMD16<Float>), c: UnsafeMutablePointer<Float>) {
        switch start {
        case .zero:
            low = SIMD16()
            high = SIMD16()
        case .bias:
            low = bias.0
            high = bias.1
        case .accumulate:
            let raw = UnsafeRawPointer(c)
            low = raw.loadUnaligned(as: SIMD16<Float>.self)
            high = raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        }
    }

    @inline(__always)
    mutating func add(_ a: Float, _ b0: SIMD16<Float>, _ b1: SIMD16<Float>) {
        let broadcast = SIMD16<Float>(repeating: a)
        low.addProduct(broadcast, b0)
        high.addProduct(broadcast, b1)
    }

    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, relu: Bool) {
        var low = low
        var high = high
        if relu {
            low.replace(with: 0, where: low .< 0)
            high.replace(with: 0, where: high .< 0)
        }
        let raw = UnsafeMutableRawPointer(c)
        raw.storeBytes(of: low, as: SIMD16<Float>.self)
        raw.storeBytes(of: high, toByteOffset: 64, as: SIMD16<Float>.self)
    }
}

/// One micro-tile: `R.count` rows × 32 columns over `depth` steps, accumulators in registers throughout. `outer`:
/// where this pass's L2 prefetch of the next block starts (one line per step), or nil for the L1 prefetch
/// `prefetchDistance` ahead alone (a block with one pass).
@inline(__always)
func tile<R: TileRowCount>(
    _: R.Type, _ depth: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mode: TileStart, _ bias: (SIMD16<Float>, SIMD16<Float>),
    _ relu: Bool, _ outer: UnsafeRawPointer?
) {
    let rows = R.count
    var po = outer ?? UnsafeRawPointer(b)
    var r0 = RowAccumulator(start: mode, bias: bias, c: c)
    var r1 = RowAccumulator(start: rows > 1 ? mode : .zero, bias: bias, c: c + ldc)
    var r2 = RowAccumulator(start: rows > 2 ? mode : .zero, bias: bias, c: c + 2 * ldc)
    var r3 = RowAccumulator(start: rows > 3 ? mode : .zero, bias: bias, c: c + 3 * ldc)
    var r4 = RowAccumulator(start: rows > 4 ? mode : .zero, bias: bias, c: c + 4 * ldc)
    var r5 = RowAccumulator(start: rows > 5 ? mode : .zero, bias: bias, c: c + 5 * ldc)
    var r6 = RowAccumulator(start: rows > 6 ? mode : .zero, bias: bias, c: c + 6 * ldc)
    var r7 = RowAccumulator(start: rows > 7 ? mode : .zero, bias: bias, c: c + 7 * ldc)
    var pa = a
    var pb = UnsafeRawPointer(b)
    for _ in 0..<depth {
        tw_prefetch(pb + prefetchDistance)
        tw_prefetch(pb + prefetchDistance + 64)
        if outer != nil {
            tw_prefetch_outer(po)
            po += 64
        }
        let b0 = pb.loadUnaligned(as: SIMD16<Float>.self)
        let b1 = pb.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        r0.add(pa[0], b0, b1)
        if rows > 1 { r1.add(pa[lda], b0, b1) }
        if rows > 2 { r2.add(pa[2 * lda], b0, b1) }
        if rows > 3 { r3.add(pa[3 * lda], b0, b1) }
        if rows > 4 { r4.add(pa[4 * lda], b0, b1) }
        if rows > 5 { r5.add(pa[5 * lda], b0, b1) }
        if rows > 6 { r6.add(pa[6 * lda], b0, b1) }
        if rows > 7 { r7.add(pa[7 * lda], b0, b1) }
        pa += 1
        pb += 128
    }
    r0.store(c, relu: relu)
    if rows > 1 { r1.store(c + ldc, relu: relu) }
    if rows > 2 { r2.store(c + 2 * ldc, relu: relu) }
    if rows > 3 { r3.store(c + 3 * ldc, relu: relu) }
    if rows > 4 { r4.store(c + 4 * ldc, relu: relu) }
    if rows > 5 { r5.store(c + 5 * ldc, relu: relu) }
    if rows > 6 { r6.store(c + 6 * ldc, relu: relu) }
    if rows > 7 { r7.store(c + 7 * ldc, relu: relu) }
}

/// One row × 32 columns: the matrix-vector case (batch 1), where the whole cost is streaming B. Two accumulator pairs
/// (even and odd depth steps) so that consecutive FMAs do not wait on each other's result.
@inline(__always)
func singleRowTile(
    _ depth: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    _ mode: TileStart, _ bias: (SIMD16<Float>, SIMD16<Float>), _ relu: Bool
) {
    var even = RowAccumulator(start: mode, bias: bias, c: c)
    var odd = RowAccumulator(start: .zero, bias: bias, c: c)
    var pb = UnsafeRawPointer(b)
    var step = 0
    while step + 1 < depth {
        tw_prefetch(pb + prefetchDistance)
        tw_prefetch(pb + prefetchDistance + 64)
        tw_prefetch(pb + prefetchDistance + 128)
        tw_prefetch(pb + prefetchDistance + 192)
        even.add(a[step], pb.loadUnaligned(as: SIMD16<Float>.self),
                 pb.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
        odd.add(a[step + 1], pb.loadUnaligned(fromByteOffset: 128, as: SIMD16<Float>.self),
                pb.loadUnaligned(fromByteOffset: 192, as: SIMD16<Float>.self))
        pb += 256
        step += 2
    }
    if step < depth {
        even.add(a[step], pb.loadUnaligned(as: SIMD16<Float>.self),
                 pb.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
    }
    even.low += odd.low
    even.high += odd.high
    even.store(c, relu: relu)
}

/// How far ahead of the kernels' reads of the packed weights a software prefetch runs, in bytes.
///
/// Why: without it the cost of a batch was the time to stream the weights from memory plus the time of the FMAs,
/// barely overlapped (mlp-large on 2 threads: 1.5 ms + 0.11 ms per row); the hardware prefetchers do not run far
/// enough ahead of a loop this dense. 8 KiB ahead (the next panels' blocks of the same depth block, which are next
/// in memory) was the best of 1–32 KiB in Tools/bench/swift/tensorwire-engine-bench: batch 8 3.3k → 4.6–4.9k rows/s,
/// batch 16 4.8–5.0k → 6.5–7.0k, batch 32 6.2–6.3k → 8.0k, batch 128 8.3–8.4k → 9.1–9.4k. A prefetch never faults,
/// so reaching past the end of the weights is harmless.
let prefetchDistance = 8192
