// Sources/Logging/Logger.swift: the server's log lines: levels, records, the text format, outputs, sinks, loggers.

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
    /// The part of the server that speaks: `server`, `models`, `engine`, `transport`, `access`…
    public var component: String
    public var message: String
    /// Structured data beside the message, in order (empty for most lines).
    public var fields: LogFields

    public init(time: WallTime, level: LogLevel, component: String, message: String, fields: LogFields = LogFields()) {
        self.time = time
        self.level = level
        self.component = component
        self.message = message
        self.fields = fields
    }
}

/// Turns a record into one line (no trailing newline): `TextLogFormat` for people, `JSONLogFormat` for log stores.
public protocol LogFormat: Sendable {
    func format(_ record: LogRecord) -> String
}

/// `2026-12-06T21:19:04.123Z INFO  server: listening on 127.0.0.1:50051 port=50051`: RFC 3339 UTC timestamp, level
/// padded to five characters, component, message, then the fields as `key=value` (logfmt style). Line breaks inside
/// a message are escaped, so one event is one line. A value is quoted when it is empty or holds a space, a control
/// character, `"`, `=` or `\`; inside quotes `"` and `\` are escaped and control characters written as `\n`, `\t`,
/// `\u{1b}`. A key's spaces, control characters, `=` and `"` become `_`.
public struct TextLogFormat: LogFormat {
    public init() {}

    public func format(_ record: LogRecord) -> String {
        let level = record.level.description
        let padded = level + String(repeating: " ", count: max(0, 5 - level.count))
        let message = record.message.contains(where: \.isNewline)
            ? record.message.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: "\\n")
            : record.message
        var line = "\(record.time.rfc3339) \(padded) \(record.component): \(message)"
        for (index, field) in record.fields.enumerated() {
            if index > 0 || !message.isEmpty { line.append(" ") }
            Self.appendKey(field.key, to: &line)
            line.append("=")
            Self.appendValue(field.value, to: &line)
        }
        return line
    }

    /// A space, a control character, or a character that delimits a logfmt pair.
    private static func breaksPair(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value <= 0x20 || scalar.value == 0x7F || scalar == "=" || scalar == "\""
    }

    private static func appendKey(_ key: String, to line: inout String) {
        guard key.unicodeScalars.contains(where: breaksPair) else {
            line.append(key)
            return
        }
        line.unicodeScalars.append(contentsOf: key.unicodeScalars.lazy.map { breaksPair($0) ? "_" : $0 })
    }

    private static func appendValue(_ value: LogValue, to line: inout String) {
        guard case .string(let text) = value else {
            line.append(value.description)
            return
        }
        guard text.isEmpty || text.unicodeScalars.contains(where: { breaksPair($0) || $0 == "\\" }) else {
            line.append(text)
            return
        }
        line.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line.append("\\\"")
            case "\\": line.append("\\\\")
            case "\n": line.append("\\n")
            case "\r": line.append("\\r")
            case "\t": line.append("\\t")
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                line.append("\\u{\(String(scalar.value, radix: 16))}")
            default: line.unicodeScalars.append(scalar)
            }
        }
        line.append("\"")
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

    /// Whether a line at `level` would be written: callers with costly fields can skip building them.
    public func isEnabled(_ level: LogLevel) -> Bool { level >= minimumLevel && !(output is DiscardingOutput) }

    func emit(_ level: LogLevel, component: String, _ message: () -> String, _ fields: () -> LogFields) {
        guard isEnabled(level) else { return }
        write(LogRecord(time: clock(), level: level, component: component, message: message(), fields: fields()))
    }

    /// Formats and writes `record` whatever `minimumLevel` says (the access log, which its own flag turns on).
    func write(_ record: LogRecord) {
        output.write(line: format.format(record))
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

    // Message and fields are autoclosures: below the sink's level neither is built.
    public func debug(_ message: @autoclosure () -> String, fields: @autoclosure () -> LogFields = LogFields()) {
        sink.emit(.debug, component: component, message, fields)
    }

    public func info(_ message: @autoclosure () -> String, fields: @autoclosure () -> LogFields = LogFields()) {
        sink.emit(.info, component: component, message, fields)
    }

    public func warning(_ message: @autoclosure () -> String, fields: @autoclosure () -> LogFields = LogFields()) {
        sink.emit(.warning, component: component, message, fields)
    }

    public func error(_ message: @autoclosure () -> String, fields: @autoclosure () -> LogFields = LogFields()) {
        sink.emit(.error, component: component, message, fields)
    }

    /// Writes at `level`.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, fields: @autoclosure () -> LogFields = LogFields()) {
        sink.emit(level, component: component, message, fields)
    }
}
