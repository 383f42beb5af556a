// Sources/Logging/JSONLogFormat.swift: one JSON object per line, for log stores (Loki, Elasticsearch), and the
// `--log-format` names.

internal import JSONWire

/// `{"ts":"2026-12-06T21:19:04.123Z","level":"info","component":"server","msg":"listening","port":50051}`: one JSON
/// object (RFC 8259) per line with `ts` (RFC 3339 UTC with milliseconds, as in the text format), `level` (`debug`,
/// `info`, `warn`, `error`), `component`, `msg`, then the record's fields as top-level keys in order: strings as JSON
/// strings, `.int` and finite `.double` as JSON numbers (doubles in their shortest round-trip form), `.bool` as
/// `true`/`false`. JSONWire's writer writes it.
///
/// Strings are escaped as RFC 8259 §7 requires: `"` and `\` with a backslash, U+0000–U+001F as `\n`, `\r`, `\t`, `\b`,
/// `\f` or `\u00XX`; everything else is written as UTF-8. A Swift `String` is always valid UTF-8 (bytes from a peer
/// reach a field through `LogValue.utf8`, which replaces invalid sequences with U+FFFD), so every line is valid UTF-8
/// and a single line. A field named like an envelope key (`ts`, `level`, `component`, `msg`) is written as
/// `fields.<name>` so that no key appears twice in an object.
public struct JSONLogFormat: LogFormat {
    /// The keys every line starts with.
    public static let envelopeKeys = ["ts", "level", "component", "msg"]

    public init() {}

    public func format(_ record: LogRecord) -> String {
        var writer = JSONWriter(reservingCapacity: 96 + record.message.utf8.count + 32 * record.fields.count)
        writer.beginObject()
        writer.key("ts")
        writer.string(record.time.rfc3339)
        writer.key("level")
        writer.string(Self.levelName(record.level))
        writer.key("component")
        writer.string(record.component)
        writer.key("msg")
        writer.string(record.message)
        for field in record.fields {
            writer.key(Self.envelopeKeys.contains(field.key) ? "fields." + field.key : field.key)
            switch field.value {
            case .string(let text): writer.string(text)
            case .int(let number): writer.int64(Int64(number))
            case .bool(let flag): writer.bool(flag)
            case .double(let number) where number.isFinite: writer.double(number)
            case .double(let number): writer.string(number.isNaN ? "NaN" : number < 0 ? "-Infinity" : "Infinity")
            }
        }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    static func levelName(_ level: LogLevel) -> String {
        switch level {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warn"
        case .error: "error"
        }
    }
}

/// The formats `--log-format` names: `text` (the default, for people) and `json` (for log stores).
public enum LogFormatKind: String, Sendable, Equatable, CaseIterable {
    case text
    case json

    /// A format of this kind, for `LogSink(format:)`.
    public var format: any LogFormat {
        switch self {
        case .text: TextLogFormat()
        case .json: JSONLogFormat()
        }
    }
}
