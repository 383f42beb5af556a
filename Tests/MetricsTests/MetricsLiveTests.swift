import Dispatch
import Foundation
import Metrics
import Testing
import TestSupport

/// Updates from many threads at once, promtool on a full exposition, and the registration errors that trap
/// (each in a child process).
@Suite(.tags(.live)) struct MetricsLiveTests {
    static let threads = 4
    static let updates = 250_000

    @Test func testIncrementsFromManyThreadsAddUpExactly() {
        let family = MetricsRegistry().counter("demo_requests_total", help: "R.", labelNames: ["code"])
        let shared = family.labels("OK")
        DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
            let own = family.labels("T\(thread)")
            for _ in 0..<Self.updates {
                shared.increment()
                own.increment(by: 2)
            }
        }
        #expect(shared.value == UInt64(Self.threads * Self.updates))
        for thread in 0..<Self.threads { #expect(family.labels("T\(thread)").value == UInt64(2 * Self.updates)) }
    }

    @Test func testObservationsFromManyThreadsAddUpExactly() {
        let histogram = MetricsRegistry().histogram("demo_h", help: "H.", buckets: [1, 2, 3]).labels()
        let gauge = MetricsRegistry().gauge("demo_g", help: "G.").labels()
        DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
            for index in 0..<Self.updates {
                // Small integers: every partial sum is exact in a Double, so the total must be too.
                histogram.observe(Double((index + thread) % 4))
                gauge.add(index % 2 == 0 ? 3 : -1)
            }
        }
        let total = Self.threads * Self.updates
        #expect(histogram.count == UInt64(total))
        #expect(histogram.cumulativeCounts == [UInt64(total / 2), UInt64(total * 3 / 4), UInt64(total), UInt64(total)])
        #expect(histogram.sum == Double(total / 4 * (0 + 1 + 2 + 3)))
        #expect(gauge.value == Double(total))
    }

    @Test func testChildrenCreatedConcurrentlyAreOneObject() {
        let family = MetricsRegistry().counter("demo_requests_total", help: "R.", labelNames: ["model"])
        DispatchQueue.concurrentPerform(iterations: Self.threads) { _ in
            for model in 0..<1_000 { family.labels("m\(model)").increment() }
        }
        for model in 0..<1_000 { #expect(family.labels("m\(model)").value == UInt64(Self.threads)) }
    }

    /// promtool, wherever PATH has it (Debian's `prometheus` package; Tools/setup installs it).
    static let promtool: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/promtool" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// A registry with every kind of family, hostile label values and help, and the process collector.
    static func everyKind() -> MetricsRegistry {
        let registry = MetricsRegistry()
        let requests = registry.counter(
            "tensorwire_requests_total", help: "Requests by outcome.",
            labelNames: ["model", "version", "protocol", "api", "code"])
        requests.labels("digits", "1", "grpc", "native", "OK").increment(by: 10)
        requests.labels("", "", "http", "kserve", "NOT_FOUND").increment()
        requests.labels("we\"ird\\na\nme", "2", "grpc", "kserve", "INVALID_ARGUMENT").increment()
        let duration = registry.histogram(
            "tensorwire_request_duration_seconds", help: "End-to-end request time in seconds.",
            labelNames: ["model", "version", "protocol", "api", "code"],
            buckets: Histogram.exponentialBuckets(start: 0.0001, factor: 4, count: 10))
        for value in [0.0002, 0.003, 0.05, 2, 100] { duration.labels("digits", "1", "grpc", "native", "OK").observe(value) }
        let batches = registry.histogram(
            "tensorwire_batch_size", help: "Rows per executed batch.", labelNames: ["model", "version"],
            buckets: Histogram.batchSizeBuckets(maxBatchSize: 48))
        for size in [1, 3, 48] { batches.labels("digits", "1").observe(Double(size)) }
        registry.gauge("tensorwire_queue_depth", help: "Requests waiting.", labelNames: ["model", "version"])
            .labels("digits", "1").set(3)
        registry.gauge("tensorwire_inflight_requests", help: "Requests being served.").labels().set(2)
        registry.gauge("tensorwire_build_info", help: "A \"1\" labelled by the build.\\n", labelNames: ["version", "commit"])
            .labels("0.1.0", "abc123").set(1)
        registry.register(collector: {
            [.gauge("tensorwire_model_state", help: "1 for the state the model version is in.",
                    labelNames: ["model", "version", "state"],
                    samples: ["LOADING", "READY", "FAILED"].map {
                        CollectedSample(labelValues: ["digits", "1", $0], value: $0 == "READY" ? 1 : 0)
                    })]
        })
        ProcessMetrics.register(on: registry)
        return registry
    }

    @Test(.enabled(if: promtool != nil, "promtool is not installed (Tools/setup installs prometheus): exposition NOT checked"))
    func testPromtoolAcceptsTextExpositionOfEveryKind() throws {
        let text = Self.everyKind().exposition(.prometheusText)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID()).prom")
        try Data(text).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.promtool))
        process.arguments = ["check", "metrics"]
        process.standardInput = try FileHandle(forReadingFrom: file)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // promtool exits 0 with no output when the text parses and lints clean; lint findings exit 3.
        #expect(process.terminationStatus == 0 && said.isEmpty, "promtool check metrics: \(said)\n\(String(decoding: text, as: UTF8.self))")
    }

    @Test func testOpenMetricsOfEveryKindEndsWithEOFAndHasOneTypePerFamily() {
        let text = String(decoding: Self.everyKind().exposition(.openMetrics), as: UTF8.self)
        #expect(text.hasSuffix("\n# EOF\n"))
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(types).count == types.count)
        #expect(types.contains("tensorwire_requests") && !types.contains("tensorwire_requests_total"))
        #expect(types.contains("process_cpu_seconds"))
        let series = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").dropLast().joined(separator: " ") }
        #expect(Set(series).count == series.count)
    }

    @Test func testReRegisteringWithOtherLabelsTraps() async {
        await #expect(processExitsWith: .failure) {
            let registry = MetricsRegistry()
            _ = registry.counter("demo_requests_total", help: "R.", labelNames: ["model"])
            _ = registry.counter("demo_requests_total", help: "R.", labelNames: ["code"])
        }
    }

    @Test func testFamilyWhoseSamplesClashWithAnotherTraps() async {
        await #expect(processExitsWith: .failure) {
            let registry = MetricsRegistry()
            _ = registry.histogram("demo_latency", help: "L.", buckets: [1])
            _ = registry.gauge("demo_latency_count", help: "Clash.")
        }
    }

    @Test func testInvalidNamesTrap() async {
        await #expect(processExitsWith: .failure) {
            _ = MetricsRegistry().gauge("demo-dash", help: "Invalid.")
        }
        await #expect(processExitsWith: .failure) {
            _ = MetricsRegistry().gauge("demo", help: "Invalid label.", labelNames: ["__name"])
        }
    }

    @Test func testWrongNumberOfLabelValuesTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = MetricsRegistry().gauge("demo", help: "G.", labelNames: ["a", "b"]).labels("only one")
        }
    }
}
