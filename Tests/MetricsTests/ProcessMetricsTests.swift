import Glibc
@testable import Metrics
import Testing

/// The /proc parsing of the process collector, on fixed text and on this test process.
@Suite struct ProcessMetricsTests {
    @Test func testStatFieldsCountFromTheLastParenthesis() throws {
        // A command name with spaces and parentheses, as `prctl(PR_SET_NAME)` allows.
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 3 0 123456 987654321 2048 "
            + "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n"
        let stat = try #require(ProcessMetrics.parseStat(Array(line.utf8)))
        #expect(stat.userTicks == 250)
        #expect(stat.systemTicks == 75)
        #expect(stat.startTicks == 123456)
        #expect(stat.virtualBytes == 987654321)
    }

    @Test func testTruncatedStatIsRejected() {
        #expect(ProcessMetrics.parseStat(Array("4242 (a) S 1 2 3".utf8)) == nil)
        #expect(ProcessMetrics.parseStat(Array("no parenthesis".utf8)) == nil)
    }

    @Test func testBootTimeFromProcStat() {
        let text = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1700000000\nprocesses 7\n"
        #expect(ProcessMetrics.parseBootTime(Array(text.utf8)) == 1_700_000_000)
        #expect(ProcessMetrics.parseBootTime(Array("cpu 1\n".utf8)) == nil)
    }

    @Test func testCollectorReportsThisProcess() throws {
        let registry = MetricsRegistry()
        ProcessMetrics.register(on: registry)
        let text = String(decoding: registry.exposition(.prometheusText), as: UTF8.self)
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            values[String(parts[0])] = Double(parts[1])
        }
        let resident = try #require(values["process_resident_memory_bytes"])
        #expect(resident > 1_000_000)
        #expect(try #require(values["process_virtual_memory_bytes"]) >= resident)
        #expect(try #require(values["process_open_fds"]) >= 1)
        #expect(try #require(values["process_max_fds"]) >= values["process_open_fds"]!)
        // Whole clock ticks (10 ms): a test process that has just started may not have used one yet.
        #expect(try #require(values["process_cpu_seconds_total"]) >= 0)
        // Started after 2020 and not in the future.
        let start = try #require(values["process_start_time_seconds"])
        #expect(start > 1_577_836_800 && start < Double(time(nil)) + 60)
    }
}

