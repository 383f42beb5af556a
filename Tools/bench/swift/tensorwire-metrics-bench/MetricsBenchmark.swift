// Tools/bench/swift/tensorwire-metrics-bench: what one metric update costs on the request path.
//
// Times Counter.increment, Histogram.observe and Gauge.add (the compare-and-exchange loop that also keeps a
// histogram's sum) on one thread and on two threads (the same child, the contended case; and a child each, the
// usual one: different models or codes), beside what a lock per update would cost: the project's lock (Locks.Lock)
// around a plain integer, in the same run. Also the label lookup (`family.labels(…)`, which the hot path should not pay per
// request) and one scrape of a registry the size of a busy server's.
//
// Time is each thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that on a shared machine the time other processes
// hold the core is not counted; a cache line moving between cores, or a thread spinning on a lock, still is. The
// wall-clock figure (barrier release to the last thread's end) is printed beside it. Prints one tab-separated line
// per case: median, min and max CPU ns per update per thread over the repeats, the median wall ns, and the CPU
// median's ratio to the lock in the same setting. `--iterations N` (updates per thread per repeat) and
// `--repeats N` resize the run.
// Run it with `swift run -c release tensorwire-metrics-bench`.

internal import Dispatch
internal import Glibc
internal import Locks
internal import Metrics
internal import Synchronization

/// A spin barrier, so the threads of a case start their loops together.
final class StartLine: Sendable {
    private let arrived = Atomic<Int>(0)
    private let threads: Int

    init(threads: Int) { self.threads = threads }

    func arriveAndWait() {
        arrived.wrappingAdd(1, ordering: .acquiringAndReleasing)
        while arrived.load(ordering: .acquiring) < threads {}
    }
}

/// The reference: an integer behind a lock, as a metrics library without atomics would keep a counter.
final class LockedCount: Sendable {
    let count = Lock<UInt64>(0)
}

/// One case's figures: ns per update per thread.
struct Figures {
    var median: Double
    var min: Double
    var max: Double
    var wallMedian: Double

    func scaled(by factor: Double) -> Figures {
        Figures(median: median * factor, min: min * factor, max: max * factor, wallMedian: wallMedian * factor)
    }
}

/// This thread's CPU time in nanoseconds.
func threadCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

@main
enum MetricsBenchmark {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> Int? {
            guard let index = arguments.firstIndex(of: name), arguments.indices.contains(index + 1) else { return nil }
            return Int(arguments[index + 1])
        }
        let iterations = option("--iterations") ?? 10_000_000
        let repeats = option("--repeats") ?? 7

        /// `body(thread)` runs `iterations` updates on each of `threads` threads, `repeats` times.
        func measure(threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> Figures {
            var cpu: [Double] = []
            var wall: [Double] = []
            for _ in 0..<repeats {
                let start = StartLine(threads: threads)
                let spans = Lock<[(began: UInt64, ended: UInt64, cpu: UInt64)]>([])
                DispatchQueue.concurrentPerform(iterations: threads) { thread in
                    start.arriveAndWait()
                    let began = DispatchTime.now().uptimeNanoseconds
                    let cpuBegan = threadCPUNanoseconds()
                    body(thread)
                    let cpuUsed = threadCPUNanoseconds() - cpuBegan
                    let ended = DispatchTime.now().uptimeNanoseconds
                    spans.withLock { $0.append((began, ended, cpuUsed)) }
                }
                let (first, last, used) = spans.withLock {
                    ($0.map(\.began).min() ?? 0, $0.map(\.ended).max() ?? 0, $0.map(\.cpu).reduce(0, +))
                }
                cpu.append(Double(used) / Double(threads * iterations))
                wall.append(Double(last - first) / Double(iterations))
            }
            cpu.sort()
            wall.sort()
            return Figures(
                median: cpu[cpu.count / 2], min: cpu[0], max: cpu[cpu.count - 1], wallMedian: wall[wall.count / 2])
        }

        let registry = MetricsRegistry()
        let labelNames = ["model", "version", "protocol", "api", "code"]
        let requests = registry.counter("bench_requests_total", help: "Requests.", labelNames: labelNames)
        let durations = registry.histogram(
            "bench_request_duration_seconds", help: "Request time.", labelNames: labelNames,
            buckets: Histogram.exponentialBuckets(start: 0.0001, factor: 2, count: 16))
        let depths = registry.gauge("bench_queue_depth", help: "Queue depth.", labelNames: ["model", "version"])
        let counters = (0..<2).map { requests.labels("m\($0)", "1", "grpc", "native", "OK") }
        let histograms = (0..<2).map { durations.labels("m\($0)", "1", "grpc", "native", "OK") }
        let gauges = (0..<2).map { depths.labels("m\($0)", "1") }
        let locked = [LockedCount(), LockedCount()]
        // Latency-like observations spread over the buckets (0.1 ms to 6 s), cycled so that the bucket search does
        // not always take the same branches.
        let observations: [Double] = (0..<1024).map { (index: Int) -> Double in
            let bucket = Double(1 << (index * 7919 % 16))
            return 0.0001 * bucket * (1 + Double(index % 10) / 10)
        }

        var rows: [(name: String, setting: String, figures: Figures)] = []
        for setting in ["1 thread", "2 threads, same child", "2 threads, a child each"] {
            let threads = setting == "1 thread" ? 1 : 2
            let shared = setting.hasSuffix("same child")
            let child: @Sendable (Int) -> Int = { shared ? 0 : $0 }
            rows.append(("Lock<UInt64> += 1 (a lock per update)", setting, measure(threads: threads) { thread in
                let lock = child(thread)
                for _ in 0..<iterations { locked[lock].count.withLock { $0 &+= 1 } }
            }))
            rows.append(("Counter.increment", setting, measure(threads: threads) { thread in
                let counter = counters[child(thread)]
                for _ in 0..<iterations { counter.increment() }
            }))
            rows.append(("Gauge.add (CAS loop on a Double)", setting, measure(threads: threads) { thread in
                let gauge = gauges[child(thread)]
                for _ in 0..<iterations { gauge.add(1) }
            }))
            rows.append(("Histogram.observe", setting, measure(threads: threads) { thread in
                let histogram = histograms[child(thread)]
                for index in 0..<iterations { histogram.observe(observations[index & 1023]) }
            }))
        }
        // The lookup is ~50× dearer than an update: fewer of them, scaled back to ns per lookup.
        let lookups = max(1, iterations / 50)
        let lookup = measure(threads: 1) { _ in
            for index in 0..<lookups { _ = requests.labels(index & 1 == 0 ? "m0" : "m1", "1", "grpc", "native", "OK") }
        }
        rows.append(("family.labels(5 values) lookup", "1 thread", lookup.scaled(by: Double(iterations) / Double(lookups))))

        // A scrape of 20 model versions × 2 protocols × 2 APIs × 3 codes: 240 counters and 240 histograms of 17
        // buckets (about 4,800 lines).
        for model in 0..<20 {
            for (protocolName, api) in [("grpc", "native"), ("grpc", "kserve"), ("http", "native"), ("http", "kserve")] {
                for code in ["OK", "INVALID_ARGUMENT", "NOT_FOUND"] {
                    let labels = ["model\(model)", "1", protocolName, api, code]
                    requests.labels(labels).increment()
                    durations.labels(labels).observe(0.002)
                }
            }
        }
        var scrapeBytes = 0
        var scrapeMicroseconds: [Double] = []
        for _ in 0..<max(3, repeats) {
            let began = threadCPUNanoseconds()
            scrapeBytes = registry.exposition(.prometheusText).count
            scrapeMicroseconds.append(Double(threadCPUNanoseconds() - began) / 1_000)
        }
        scrapeMicroseconds.sort()

        print("# \(iterations) updates per thread, \(repeats) repeats; thread CPU ns per update per thread")
        print("case\tsetting\tcpu_ns_median\tcpu_ns_min\tcpu_ns_max\twall_ns_median\tratio_to_lock")
        for row in rows {
            let lock = rows.first { $0.setting == row.setting && $0.name.hasPrefix("Lock<") }
            let ratio = lock.map { fixed(row.figures.median / $0.figures.median) } ?? "-"
            let figures = row.figures
            print(
                "\(row.name)\t\(row.setting)\t\(fixed(figures.median))\t\(fixed(figures.min))\t\(fixed(figures.max))"
                    + "\t\(fixed(figures.wallMedian))\t\(ratio)")
        }
        print("exposition, \(scrapeBytes) bytes of text\t1 thread\t\(fixed(scrapeMicroseconds[scrapeMicroseconds.count / 2])) CPU us per scrape (median)")
    }

    /// Two decimals, without Foundation.
    static func fixed(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = String(hundredths % 100)
        return "\(hundredths / 100)." + String(repeating: "0", count: 2 - fraction.count) + fraction
    }
}
