// The process collector: the standard `process_*` families (the names client_golang and client_python use, so
// stock dashboards work), read from /proc at every scrape.

internal import Glibc

/// The standard process metrics of Linux, computed at scrape time from `/proc`:
/// `process_cpu_seconds_total` (user + system time, `/proc/self/stat` fields 14–15),
/// `process_resident_memory_bytes` (`/proc/self/statm`'s resident pages × the page size),
/// `process_virtual_memory_bytes` (`/proc/self/stat` field 23),
/// `process_open_fds` (entries of `/proc/self/fd`, less the one reading it),
/// `process_max_fds` (the soft `RLIMIT_NOFILE`) and
/// `process_start_time_seconds` (`btime` of `/proc/stat` + field 22, `starttime`, of `/proc/self/stat`, in ticks
/// since boot). A file that cannot be read leaves its families out of that scrape. Stateless; any thread.
public enum ProcessMetrics {
    /// Adds the process collector to `registry`.
    @discardableResult
    public static func register(on registry: MetricsRegistry) -> CollectorID {
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        // The start time does not change: computed once, here.
        let startTime = startTimeSeconds(ticksPerSecond: ticksPerSecond)
        return registry.register(collector: {
            collect(ticksPerSecond: ticksPerSecond, pageSize: pageSize, startTime: startTime)
        })
    }

    static func collect(ticksPerSecond: Double, pageSize: Double, startTime: Double?) -> [CollectedFamily] {
        var families: [CollectedFamily] = []
        if let stat = readStat() {
            families.append(
                .counter(
                    "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.",
                    samples: [CollectedSample(value: Double(stat.userTicks + stat.systemTicks) / ticksPerSecond)]))
            families.append(
                .gauge(
                    "process_virtual_memory_bytes", help: "Virtual memory size in bytes.",
                    samples: [CollectedSample(value: Double(stat.virtualBytes))]))
        }
        if let statm = readFile("/proc/self/statm"), let resident = fields(statm).dropFirst().first.flatMap(number) {
            families.append(
                .gauge(
                    "process_resident_memory_bytes", help: "Resident memory size in bytes.",
                    samples: [CollectedSample(value: Double(resident) * pageSize)]))
        }
        if let open = openFileDescriptors() {
            families.append(
                .gauge(
                    "process_open_fds", help: "Number of open file descriptors.",
                    samples: [CollectedSample(value: Double(open))]))
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            // RLIM_INFINITY is all ones, which Swift cannot import as a literal of the unsigned rlim_t.
            let soft = limit.rlim_cur == rlim_t.max ? Double.infinity : Double(limit.rlim_cur)
            families.append(
                .gauge(
                    "process_max_fds", help: "Maximum number of open file descriptors.",
                    samples: [CollectedSample(value: soft)]))
        }
        if let startTime {
            families.append(
                .gauge(
                    "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.",
                    samples: [CollectedSample(value: startTime)]))
        }
        return families
    }

    /// The fields of `/proc/self/stat` that the collector reads.
    struct Stat {
        var userTicks: UInt64
        var systemTicks: UInt64
        var startTicks: UInt64
        var virtualBytes: UInt64
    }

    static func readStat() -> Stat? {
        guard let bytes = readFile("/proc/self/stat") else { return nil }
        return parseStat(bytes)
    }

    /// Parses `/proc/self/stat`. The second field, the command name in parentheses, may itself hold spaces and
    /// parentheses, so the fields are counted from the last `)` (proc(5)): field 3 (`state`) follows it.
    static func parseStat(_ bytes: [UInt8]) -> Stat? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = fields(Array(bytes[(close + 1)...]))
        // rest[0] is field 3; field n is rest[n - 3].
        func field(_ n: Int) -> UInt64? { rest.count > n - 3 ? number(rest[n - 3]) : nil }
        guard let user = field(14), let system = field(15), let start = field(22), let virtual = field(23) else {
            return nil
        }
        return Stat(userTicks: user, systemTicks: system, startTicks: start, virtualBytes: virtual)
    }

    /// `btime` (boot time, seconds since the epoch) from `/proc/stat`.
    static func parseBootTime(_ bytes: [UInt8]) -> UInt64? {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let parts = fields(Array(line))
            if parts.count == 2, parts[0] == Array("btime".utf8) { return number(parts[1]) }
        }
        return nil
    }

    static func startTimeSeconds(ticksPerSecond: Double) -> Double? {
        guard let stat = readStat(), let procStat = readFile("/proc/stat"), let boot = parseBootTime(procStat) else {
            return nil
        }
        return Double(boot) + Double(stat.startTicks) / ticksPerSecond
    }

    /// Entries of `/proc/self/fd` other than `.`, `..` and the descriptor of the directory being read.
    static func openFileDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            guard let first = name.first, first != UInt8(ascii: ".") else { continue }
            if number(name) == UInt64(own) { continue }
            count += 1
        }
        return count
    }

    /// A whole small file (files under /proc report size 0, so it reads until end of file).
    static func readFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return contents }
            contents.append(contentsOf: buffer[0..<count])
        }
    }

    /// The whitespace-separated fields of `bytes`.
    static func fields(_ bytes: [UInt8]) -> [[UInt8]] {
        bytes.split { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\t") }.map(Array.init)
    }

    /// A decimal number, or nil if `digits` is empty, holds anything else, or overflows.
    static func number(_ digits: [UInt8]) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return value
    }
}
