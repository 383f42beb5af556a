// Clients/TensorwireCLI/IO.swift: standard streams and files through the C library (no Foundation).
#if canImport(Glibc)
internal import Glibc
#endif

/// Standard output, standard error, files and monotonic time for the CLI.
public enum ConsoleIO {
    /// Writes all of `text` to a file descriptor (unbuffered; retries short writes and EINTR).
    static func write(_ text: String, fd: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { buffer in
                Glibc.write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
        bytes.removeAll()
    }

    /// Writes a line to standard output.
    public static func out(_ line: String) { write(line + "\n", fd: 1) }

    /// Writes a line to standard error.
    public static func err(_ line: String) { write(line + "\n", fd: 2) }

    /// True when standard output is a terminal.
    public static var stdoutIsTerminal: Bool { isatty(1) == 1 }

    /// Every byte of a file descriptor until end of file.
    static func readAll(fd: Int32) -> [UInt8]? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
        }
    }

    /// A file's bytes (`-` is standard input).
    public static func readFile(_ path: String) throws(CLIError) -> [UInt8] {
        if path == "-" {
            guard let data = readAll(fd: 0) else { throw .input("cannot read standard input") }
            return data
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .input("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let data = readAll(fd: fd) else { throw .input("cannot read \(path): \(String(cString: strerror(errno)))") }
        return data
    }

    /// Monotonic nanoseconds (CLOCK_MONOTONIC).
    public static func nowNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Sleeps until the monotonic time `deadline` (nanoseconds).
    static func sleep(untilNanos deadline: UInt64) {
        let now = nowNanos()
        guard deadline > now else { return }
        let delta = deadline - now
        var spec = timespec(tv_sec: Int(delta / 1_000_000_000), tv_nsec: Int(delta % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&spec, &remaining) != 0, errno == EINTR { spec = remaining }
    }
}

/// Where a command's output goes and its standard input comes from: the process's standard streams, or (in tests)
/// closures that capture output and feed input. Every member may be used from any thread (stream responses are
/// printed from a connection's loop thread).
public struct Console: Sendable {
    /// Writes one line (without its newline) to standard output.
    public var out: @Sendable (String) -> Void
    /// Writes one line (without its newline) to standard error.
    public var err: @Sendable (String) -> Void
    /// The next line of standard input without its newline, or nil at end of input.
    public var readLine: @Sendable () -> String?
    /// The rest of standard input, or nil when it cannot be read.
    public var readAll: @Sendable () -> [UInt8]?
    /// True when standard output is a terminal (bench then draws a progress line through `progress`).
    public var isTerminal: Bool
    /// Writes text to standard output as is (no newline added): bench's progress line.
    public var progress: @Sendable (String) -> Void

    public init(
        out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void,
        readLine: @escaping @Sendable () -> String? = { nil }, readAll: @escaping @Sendable () -> [UInt8]? = { [] },
        isTerminal: Bool = false, progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.out = out
        self.err = err
        self.readLine = readLine
        self.readAll = readAll
        self.isTerminal = isTerminal
        self.progress = progress
    }

    /// The process's standard streams.
    public static var standard: Console {
        Console(
            out: { ConsoleIO.out($0) }, err: { ConsoleIO.err($0) }, readLine: { Swift.readLine(strippingNewline: true) },
            readAll: { ConsoleIO.readAll(fd: 0) }, isTerminal: ConsoleIO.stdoutIsTerminal,
            progress: { ConsoleIO.write($0, fd: 1) })
    }

    /// A file's bytes (`-` is standard input).
    func readFile(_ path: String) throws(CLIError) -> [UInt8] {
        if path == "-" {
            guard let data = readAll() else { throw .input("cannot read standard input") }
            return data
        }
        return try ConsoleIO.readFile(path)
    }
}

/// The process environment as a dictionary (read through the C `environ`).
public enum ProcessEnvironment {
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
