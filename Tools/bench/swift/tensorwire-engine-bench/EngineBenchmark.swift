// The engine benchmark: in-process rows/s of a model at several batch sizes (on the default GEMM and, where that is
// the packed kernels, on OpenBLAS too: kind "engine@blas"), and of raw cblas_sgemm ("gemm") and the raw packed
// kernels ("gemm@packed") over the same layer shapes (the GEMM bounds). Prints TSV for Tools/bench/engine, which sets these figures beside onnxruntime's.
//
//   tensorwire-engine-bench --model PATH --name NAME [--batches 1,8,32,128] [--threads 2]
//                           [--gemm 1024,4096,4096,1024] [--repeats 7] [--seconds 2] [--iterations N] [--variants K]
//                           [--clock wall|cpu]
//
// Each (case, batch) is timed `repeats` times; a repeat runs enough iterations to last seconds/repeats, or exactly
// `--iterations` (for instruction counts under callgrind, where timing is meaningless). Output rows: kind, name,
// batch, rows/s (median), median µs per run, min µs, max µs. `--clock cpu` times with the process's CPU time
// instead of the wall clock: on a machine shared with other work, the time this process ran, not the time it waited
// for a core (meaningful with --threads 1).

import Glibc
import Inference

@main
struct EngineBenchmark {
    struct Options {
        var model: String?
        var name = "model"
        var batches = [1, 8, 32, 128]
        var threads = 2
        var gemm: [Int] = []
        var repeats = 7
        var seconds = 2.0
        var iterations: Int?
        /// Distinct input batches run in turn, so that branch predictors cannot learn one batch (tree models).
        var variants = 1
        /// Time with the process's CPU clock instead of the wall clock.
        var cpuClock = false
    }

    static func parse() -> Options {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        func list(_ text: String?) -> [Int] { (text ?? "").split(separator: ",").compactMap { Int($0) } }
        while let argument = arguments.next() {
            switch argument {
            case "--model": options.model = arguments.next()
            case "--name": options.name = arguments.next() ?? options.name
            case "--batches": options.batches = list(arguments.next())
            case "--threads": options.threads = Int(arguments.next() ?? "") ?? options.threads
            case "--gemm": options.gemm = list(arguments.next())
            case "--repeats": options.repeats = max(1, Int(arguments.next() ?? "") ?? options.repeats)
            case "--seconds": options.seconds = Double(arguments.next() ?? "") ?? options.seconds
            case "--iterations": options.iterations = Int(arguments.next() ?? "").map { max(1, $0) }
            case "--variants": options.variants = max(1, Int(arguments.next() ?? "") ?? 1)
            case "--clock": options.cpuClock = arguments.next() == "cpu"
            default:
                print("unknown argument \(argument)")
                exitWith(2)
            }
        }
        return options
    }

    /// Times `layers` GEMMs run back to back, each reading the previous one's output (`layer(index, a, c)` writes C
    /// from A; the two buffers of `batch × widest` floats swap between layers).
    static func chain(
        _ layers: Int, batch: Int, widest: Int, input: [Float], _ options: Options,
        _ layer: (Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) -> [Double] {
        var a = input
        var c = [Float](repeating: 0, count: batch * widest)
        return measure(repeats: options.repeats, seconds: options.seconds, iterations: options.iterations,
                       cpu: options.cpuClock) {
            for index in 0..<layers {
                a.withUnsafeBufferPointer { aPointer in
                    c.withUnsafeMutableBufferPointer { cPointer in
                        guard let a = aPointer.baseAddress, let c = cPointer.baseAddress else { return }
                        layer(index, a, c)
                    }
                }
                swap(&a, &c)
            }
        }
    }

    static func exitWith(_ code: Int32) -> Never {
        exit(code)
    }

    /// Times `body` and returns per-run durations in microseconds, one per repeat.
    static func measure(
        repeats: Int, seconds: Double, iterations fixed: Int?, cpu: Bool = false, _ body: () throws -> Void
    ) rethrows -> [Double] {
        let clock = ContinuousClock()
        let origin = clock.now
        func now() -> Double {
            guard cpu else { return durationSeconds(clock.now - origin) }
            var spec = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
            return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
        }
        try body()  // warm-up: page in weights, size buffers
        let start = now()
        try body()
        let once = max(now() - start, 1e-7)
        let iterations = fixed ?? max(1, Int(seconds / Double(repeats) / once))
        var samples: [Double] = []
        for _ in 0..<repeats {
            let begin = now()
            for _ in 0..<iterations { try body() }
            samples.append((now() - begin) / Double(iterations) * 1e6)
        }
        return samples.sorted()
    }

    static func durationSeconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    static func report(_ kind: String, _ name: String, _ batch: Int, _ samples: [Double]) {
        let median = samples[samples.count / 2]
        let rowsPerSecond = Double(batch) / (median * 1e-6)
        print([kind, name, String(batch), format2(rowsPerSecond), format2(median),
               format2(samples.first ?? 0), format2(samples.last ?? 0)].joined(separator: "\t"))
    }

    static func format2(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return String(scaled)
    }

    static func main() throws {
        let options = parse()
        BLAS.threadCount = options.threads
        var seed: UInt32 = 12345
        func random() -> Float {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return Float(seed >> 8) / Float(1 << 24) * 2 - 1
        }
        print("kind\tname\tbatch\trows_per_s\tmedian_us\tmin_us\tmax_us")
        // The engine on the GEMM this CPU gets by default ("engine"), and on OpenBLAS ("engine@blas") when the
        // default is the packed kernels, so both are measured in the same process.
        var backends: [(kind: String, gemm: GEMMBackend)] = [("engine", .preferred)]
        if GEMMBackend.preferred != .blas { backends.append(("engine@blas", .blas)) }
        for (kind, gemm) in backends {
            guard let path = options.model else { break }
            let model = try Model(contentsOf: path, name: options.name, gemm: gemm)
            guard let input = model.signature.inputs.first, model.signature.inputs.count == 1 else {
                print("the benchmark feeds models with one float input")
                exitWith(2)
            }
            for batch in options.batches {
                let dims = input.dims.map { $0 < 0 ? batch : $0 }
                let count = dims.reduce(1, *)
                // Digits pixels are 0–16; other models get [-1, 1].
                let scale: Float = options.name == "digits" ? 8 : 1
                let tensors = (0..<options.variants).map { _ in
                    Tensor(shape: Shape(dims), floats: (0..<count).map { _ in (random() + (scale > 1 ? 1 : 0)) * scale })
                }
                let context = model.makeContext(maxBatchSize: batch, gemmThreads: options.threads)
                var turn = 0
                let samples = try measure(
                    repeats: options.repeats, seconds: options.seconds, iterations: options.iterations,
                    cpu: options.cpuClock
                ) {
                    turn += 1
                    _ = try context.run([tensors[turn % tensors.count]])
                }
                report(kind, options.name, batch, samples)
            }
        }
        if options.gemm.count >= 2 {
            let layers = Array(zip(options.gemm, options.gemm.dropFirst()))
            let weights = layers.map { k, n in (0..<(k * n)).map { _ in random() * 0.01 } }
            let widest = options.gemm.max() ?? 1
            for batch in options.batches {
                let input = (0..<(batch * widest)).map { _ in random() }
                let samples = chain(layers.count, batch: batch, widest: widest, input: input, options) { index, a, c in
                    weights[index].withUnsafeBufferPointer { b in
                        guard let b = b.baseAddress else { return }
                        BLAS.benchmarkSgemm(m: batch, n: layers[index].1, k: layers[index].0, a: a, b: b, c: c)
                    }
                }
                report("gemm", options.name, batch, samples)
            }
            // The packed AVX-512 kernels alone over the same shapes: the GEMM bound of the default engine.
            let packed = zip(layers, weights).compactMap { shape, w in PackedGEMMBaseline(weights: w, k: shape.0, n: shape.1) }
            if packed.count == layers.count {
                for batch in options.batches {
                    let input = (0..<(batch * widest)).map { _ in random() }
                    let samples = chain(packed.count, batch: batch, widest: widest, input: input, options) { index, a, c in
                        packed[index].multiply(m: batch, a: a, c: c, threads: options.threads)
                    }
                    report("gemm@packed", options.name, batch, samples)
                }
            }
        }
    }
}
