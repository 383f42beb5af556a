// Sources/Logging/LogFields.swift: the structured part of a log line: typed values under keys, in order.

/// One field's value. Numbers and booleans stay typed so that the JSON format writes them as JSON numbers and
/// booleans; the text format writes every kind as text. A key should carry one kind in every line (a log store maps
/// a key to one type), so a missing number is written as 0 or left out, never as "".
///
/// Literals work: `["model": "iris", "rows": 3, "ratio": 0.5, "cached": true, "peer": "\(address)"]`.
public enum LogValue: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringInterpolation,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    case string(String)
    case int(Int)
    /// A finite value is a JSON number; NaN and the infinities, which JSON has no number for, are the strings
    /// `"NaN"`, `"Infinity"` and `"-Infinity"` (proto3 JSON's spelling).
    case double(Double)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    /// Text from bytes a peer sent (a header, a metadata value, a path): invalid UTF-8 becomes U+FFFD, so a log
    /// line is always valid UTF-8. A Swift `String` is valid UTF-8 already; bytes must come through here.
    public static func utf8<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> LogValue {
        .string(String(decoding: bytes, as: UTF8.self))
    }

    /// The value as the text format writes it, before quoting: the string itself, the number in Swift's shortest
    /// round-trip form, `true` or `false`.
    public var description: String {
        switch self {
        case .string(let text): text
        case .int(let number): String(number)
        case .double(let number): number.description
        case .bool(let flag): flag ? "true" : "false"
        }
    }
}

/// One key and its value.
public struct LogField: Sendable, Hashable {
    public var key: String
    public var value: LogValue

    public init(_ key: String, _ value: LogValue) {
        self.key = key
        self.value = value
    }
}

/// A log line's fields: keys in the order they were added, each key at most once (setting a key again replaces its
/// value in place, so a JSON line never repeats a key). Keys are short snake_case names chosen in code
/// (`duration_us`), not peer input.
public struct LogFields: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    private var storage: [LogField]

    public init() { storage = [] }

    /// A literal's repeated key keeps its first position and its last value.
    public init(dictionaryLiteral elements: (String, LogValue)...) {
        storage = []
        storage.reserveCapacity(elements.count)
        for (key, value) in elements { self[key] = value }
    }

    public var startIndex: Int { storage.startIndex }
    public var endIndex: Int { storage.endIndex }
    public subscript(position: Int) -> LogField { storage[position] }

    /// The value under `key`; setting nil removes the key, setting a value for a new key appends it.
    public subscript(key: String) -> LogValue? {
        get { storage.first { $0.key == key }?.value }
        set {
            let index = storage.firstIndex { $0.key == key }
            switch (index, newValue) {
            case (let index?, let value?): storage[index].value = value
            case (let index?, nil): storage.remove(at: index)
            case (nil, let value?): storage.append(LogField(key, value))
            case (nil, nil): break
            }
        }
    }

    /// The keys in order.
    public var keys: [String] { storage.map(\.key) }
}
