// The batcher benchmark: closed-loop throughput of C concurrent callers through one Batcher, batching on
// (max_batch_size 64, the default) against off (max_batch_size 1), measured in the same run.
//
//   tensorwire-batching-bench [--model PATH] [--concurrency 1,2,4,8,16,32,64] [--rows 1] [--instances 1]
//                             [--seconds 1] [--repeats 3]
//
// Each caller submits its next request from the previous one's completion (no client threads), so C requests are
// in flight at all times. Per (mode, C): medians over repeats of requests/s, p50 and p99 latency in µs, and the mean
// batch size (rows per model run). Without --model, the built-in digits model.

import Batching
import Dispatch
import Glibc
import Inference
import Synchronization

@main
struct BatchingBenchmark {
    struct Options {
        var model: String?
        var concurrency = [1, 2, 4, 8, 16, 32, 64]
        var rows = 1
        var instances = 1
        var seconds = 1.0
        var repeats = 3
    }

    static func parse() -> Options {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            switch argument {
            case "--model": options.model = arguments.next()
            case "--concurrency":
                options.concurrency = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--rows": options.rows = max(1, Int(arguments.next() ?? "") ?? 1)
            case "--instances": options.instances = max(1, Int(arguments.next() ?? "") ?? 1)
            case "--seconds": options.seconds = Double(arguments.next() ?? "") ?? options.seconds
            case "--repeats": options.repeats = max(1, Int(arguments.next() ?? "") ?? options.repeats)
            default:
                print("unknown argument \(argument)")
                exit(2)
            }
        }
        return options
    }

    struct Sample {
        var requestsPerSecond: Double
        var p50: Int
        var p99: Int
        var meanBatch: Double
    }

    /// Shared by the callers' completions (instance threads).
    final class Run: Sendable {
        let batcher: Batcher
        let input: Tensor
        let clock = SystemMonotonicClock()
        let stopAt: BatchInstant
        let latencies = Mutex<[Int]>([])
        let outstanding: Atomic<Int>
        let done = DispatchSemaphore(value: 0)

        init(batcher: Batcher, input: Tensor, callers: Int, seconds: Double) {
            self.batcher = batcher
            self.input = input
            self.outstanding = Atomic(callers)
            self.stopAt = SystemMonotonicClock().now().advanced(byMicroseconds: Int(seconds * 1_000_000))
        }

        func next() {
            let submitted = clock.now()
            guard submitted < stopAt else {
                if outstanding.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.signal() }
                return
            }
            let job = BatchJob(inputs: [input]) { result in
                if case .failure(let error) = result { print("error: \(error)") }
                let latency = self.clock.now().microseconds(since: submitted)
                self.latencies.withLock { $0.append(latency) }
                self.next()
            }
            do {
                try batcher.submit(job)
            } catch {
                print("refused: \(error)")
                if outstanding.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.signal() }
            }
        }
    }

    static func measure(model: Model, maxBatchSize: Int, callers: Int, options: Options) throws -> Sample {
        var config = ModelConfig()
        config.maxBatchSize = maxBatchSize
        config.instances = options.instances
        let batcher = try Batcher(model: model, config: config)
        defer { batcher.shutdown() }
        let perRow = model.signature.inputs[0].elementsPerRow
        let values = (0..<(options.rows * perRow)).map { Float($0 % 17) }
        let input = Tensor(shape: Shape([options.rows, perRow]), floats: values)
        let run = Run(batcher: batcher, input: input, callers: callers, seconds: options.seconds)
        let start = SystemMonotonicClock().now()
        for _ in 0..<callers { run.next() }
        run.done.wait()
        let elapsed = Double(SystemMonotonicClock().now().microseconds(since: start)) / 1_000_000
        let latencies = run.latencies.withLock { $0 }.sorted()
        func percentile(_ p: Double) -> Int {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        let batches = max(1, batcher.computedBatches)
        return Sample(
            requestsPerSecond: Double(latencies.count) / max(elapsed, 1e-9), p50: percentile(0.5),
            p99: percentile(0.99), meanBatch: Double(batcher.computedRows) / Double(batches)
        )
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// One decimal place, without Foundation.
    static func tenths(_ value: Double) -> String {
        let scaled = Int((value * 10).rounded())
        return "\(scaled / 10).\(abs(scaled % 10))"
    }

    static func main() throws {
        let options = parse()
        let model = try options.model.map { path throws(ModelLoadError) in try Model(contentsOf: path, name: "model") }
            ?? BuiltinModels.digits()
        print("model \(model.name), rows/request \(options.rows), instances \(options.instances), "
            + "\(options.seconds)s × \(options.repeats) repeats (medians)")
        print("callers\tmode\treq/s\tp50_us\tp99_us\tmean_batch\tspeedup")
        for callers in options.concurrency {
            var results: [String: Sample] = [:]
            for (mode, maxBatch) in [("off", 1), ("on", 64)] {
                var samples: [Sample] = []
                for _ in 0..<options.repeats {
                    samples.append(try measure(model: model, maxBatchSize: maxBatch, callers: callers, options: options))
                }
                results[mode] = Sample(
                    requestsPerSecond: median(samples.map(\.requestsPerSecond)),
                    p50: Int(median(samples.map { Double($0.p50) })), p99: Int(median(samples.map { Double($0.p99) })),
                    meanBatch: median(samples.map(\.meanBatch))
                )
            }
            for mode in ["off", "on"] {
                guard let sample = results[mode], let off = results["off"] else { continue }
                let speedup = sample.requestsPerSecond / max(off.requestsPerSecond, 1e-9)
                print("\(callers)\t\(mode)\t\(Int(sample.requestsPerSecond))\t\(sample.p50)\t\(sample.p99)\t"
                    + "\(tenths(sample.meanBatch))\t\(tenths(speedup))×")
            }
        }
    }
}
