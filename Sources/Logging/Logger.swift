// Sources/Logging/Logger.swift: the server's log lines: one stream, one format, a seam for more formats.

internal import Glibc
internal import Locks

/// How much a log line matters. Lines below a sink's `minimumLevel` are not formatted at all.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case debug
    case info
    case warning
    case error

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The level as it appears in a line: `DEBUG`, `INFO`, `WARN`, `ERROR`.
    public var description: String {
        switch self {
        case .debug: "DEBUG"
        case .info: "INFO"
        case .warning: "WARN"
        case .error: "ERROR"
        }
    }

    /// Parses `debug`, `info`, `warning` (or `warn`) and `error`, any case.
    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }
}

/// A point in wall-clock time, in whole seconds and nanoseconds since the Unix epoch (UTC).
public struct WallTime: Sendable, Hashable {
    public var seconds: Int
    public var nanoseconds: Int

    public init(seconds: Int, nanoseconds: Int) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The system's real-time clock now.
    public static func now() -> WallTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return WallTime(seconds: spec.tv_sec, nanoseconds: spec.tv_nsec)
    }

    /// RFC 3339 in UTC with milliseconds: `2026-12-06T21:19:04.123Z`.
    public var rfc3339: String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millis = Int32(clamping: nanoseconds / 1_000_000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(millis, 3))Z"
    }
}

/// One log event before formatting.
public struct LogRecord: Sendable, Hashable {
    public var time: WallTime
    public var level: LogLevel
    /// The part of the server that speaks: `server`, `models`, `engine`, `transport`…
    public var component: String
    public var message: String

    public init(time: WallTime, level: LogLevel, component: String, message: String) {
        self.time = time
        self.level = level
        self.component = component
        self.message = message
    }
}

/// Turns a record into one line of text (no trailing newline). The observability issue adds JSON beside text.
public protocol LogFormat: Sendable {
    func format(_ record: LogRecord) -> String
}

/// `2026-12-06T21:19:04.123Z INFO  server: listening on 127.0.0.1:50051`: RFC 3339 UTC timestamp, level padded to
/// five characters, component, message. Line breaks inside a message are escaped, so one event is one line.
public struct TextLogFormat: LogFormat {
    public init() {}

    public func format(_ record: LogRecord) -> String {
        let level = record.level.description
        let padded = level + String(repeating: " ", count: max(0, 5 - level.count))
        let message = record.message.contains(where: \.isNewline)
            ? record.message.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: "\\n")
            : record.message
        return "\(record.time.rfc3339) \(padded) \(record.component): \(message)"
    }
}

/// Where formatted lines go.
public protocol LogOutput: Sendable {
    /// Writes one line; `line` has no trailing newline.
    func write(line: String)
}

/// Standard error, one `write(2)` per line so that lines from different threads never interleave.
public struct StandardErrorOutput: LogOutput {
    public init() {}

    public func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            offset += written
        }
    }
}

/// Keeps lines in memory (tests, and start-up checks that read back what was logged).
public final class MemoryLogOutput: LogOutput {
    private let stored = Lock<[String]>([])

    public init() {}

    public func write(line: String) { stored.withLock { $0.append(line) } }

    /// Every line written so far.
    public var lines: [String] { stored.withLock { $0 } }
}

/// The one place log lines go: a format, an output and the lowest level written. The composition root makes one
/// and hands `Logger`s derived from it to every component.
public struct LogSink: Sendable {
    public var format: any LogFormat
    public var output: any LogOutput
    public var minimumLevel: LogLevel
    public var clock: @Sendable () -> WallTime

    public init(
        format: any LogFormat = TextLogFormat(), output: any LogOutput = StandardErrorOutput(),
        minimumLevel: LogLevel = .info, clock: @escaping @Sendable () -> WallTime = { WallTime.now() }
    ) {
        self.format = format
        self.output = output
        self.minimumLevel = minimumLevel
        self.clock = clock
    }

    /// Writes nothing.
    public static let discarding = LogSink(output: DiscardingOutput(), minimumLevel: .error)

    func emit(_ level: LogLevel, component: String, _ message: () -> String) {
        guard level >= minimumLevel, !(output is DiscardingOutput) else { return }
        output.write(line: format.format(LogRecord(time: clock(), level: level, component: component, message: message())))
    }
}

/// Drops every line.
struct DiscardingOutput: LogOutput {
    func write(line: String) {}
}

/// A component's handle on the log: `logger.info("…")`. A value; pass it down, derive others with `component(_:)`.
public struct Logger: Sendable {
    public let component: String
    public let sink: LogSink

    public init(component: String, sink: LogSink) {
        self.component = component
        self.sink = sink
    }

    /// A logger for standard error in the text format at `info`, for code run without a composition root.
    public static func standardError(component: String) -> Logger {
        Logger(component: component, sink: LogSink())
    }

    /// A logger that writes nothing.
    public static let discarding = Logger(component: "", sink: .discarding)

    /// The same sink under another component name.
    public func component(_ name: String) -> Logger { Logger(component: name, sink: sink) }

    public func debug(_ message: @autoclosure () -> String) { sink.emit(.debug, component: component, message) }
    public func info(_ message: @autoclosure () -> String) { sink.emit(.info, component: component, message) }
    public func warning(_ message: @autoclosure () -> String) { sink.emit(.warning, component: component, message) }
    public func error(_ message: @autoclosure () -> String) { sink.emit(.error, component: component, message) }

    /// Writes at `level`.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        sink.emit(level, component: component, message)
    }
}
