// The two text formats a scraper may ask for, the choice between them, and the writer that renders snapshots.
//
// Prometheus text format 0.0.4: https://prometheus.io/docs/instrumenting/exposition_formats/
// OpenMetrics 1.0: https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md

/// The exposition formats. `negotiate(accept:)` picks one from a scraper's `Accept` header; `contentType` is the
/// response's `Content-Type`. A value: any thread.
public enum ExpositionFormat: Sendable, Hashable {
    /// Prometheus text 0.0.4: counters named `<base>_total` in `# TYPE`, no `_created`, no terminator.
    case prometheusText
    /// OpenMetrics 1.0.0: counter families named without `_total` (samples keep it), `_created` samples for
    /// counters and histograms, and `# EOF` last.
    case openMetrics

    /// The `Content-Type` of a response in this format.
    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format to answer an `Accept` header with. Each media range's `q` (default 1) ranks the formats it
    /// matches: `application/openmetrics-text` (version absent, 1.0.0 or 0.0.1) matches OpenMetrics,
    /// `text/plain` (version absent, 0.0.4 or 1.0.0) the text format, `*/*` and `type/*` both of theirs. A range
    /// naming a format outranks a wildcard at the same `q` (RFC 9110 §12.5.1: the most specific range applies).
    /// The text format wins ties and answers a missing header, an empty one, or one matching neither format
    /// (as client_golang does, so a browser or `curl` gets text).
    ///
    /// Prometheus 2.x sends `application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;
    /// q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1` and gets OpenMetrics; Prometheus 3.x's default adds
    /// `escaping=allow-utf-8` and `text/plain;version=1.0.0` ranges with lower `q` and gets it too.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText }
        // Per format: (q, specific), where a named range sets q once and a wildcard only if nothing named it.
        var openMetrics: (q: Double, named: Bool)?
        var text: (q: Double, named: Bool)?
        func offer(_ current: inout (q: Double, named: Bool)?, q: Double, named: Bool) {
            switch current {
            case .none: current = (q, named)
            case .some(let old) where named && !old.named: current = (q, named)
            case .some(let old) where named == old.named && q > old.q: current = (q, named)
            default: break
            }
        }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingSpaces().lowercased() }
            guard let mediaType = parts.first, !mediaType.isEmpty else { continue }
            var q = 1.0
            var version: String?
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                guard pair.count == 2 else { continue }
                let value = pair[1].trimmingCharacters(quote: "\"")
                switch pair[0] {
                case "q": q = Double(value).map { min(max($0, 0), 1) } ?? 0
                case "version": version = value
                default: break
                }
            }
            switch mediaType {
            case "application/openmetrics-text" where version == nil || version == "1.0.0" || version == "0.0.1":
                offer(&openMetrics, q: q, named: true)
            case "text/plain" where version == nil || version == "0.0.4" || version == "1.0.0":
                offer(&text, q: q, named: true)
            case "*/*":
                offer(&openMetrics, q: q, named: false)
                offer(&text, q: q, named: false)
            case "application/*":
                offer(&openMetrics, q: q, named: false)
            case "text/*":
                offer(&text, q: q, named: false)
            default:
                break
            }
        }
        let openMetricsQ = openMetrics?.q ?? 0
        let textQ = text?.q ?? 0
        return openMetricsQ > textQ ? .openMetrics : .prometheusText
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var trimmed = self
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        return trimmed
    }
}

extension Substring {
    fileprivate func trimmingCharacters(quote: Character) -> String {
        if count >= 2, first == quote, last == quote { return String(dropFirst().dropLast()) }
        return String(self)
    }
}

/// The name rules of both formats (the legacy character sets, which every Prometheus version accepts).
enum MetricName {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    static func isValidMetricName(_ name: String) -> Bool {
        var first = true
        for byte in name.utf8 {
            let letter = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || byte == 0x3A
            let digit = byte >= 0x30 && byte <= 0x39
            guard letter || (!first && digit) else { return false }
            first = false
        }
        return !first
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, and not `__…` (reserved for Prometheus's own labels).
    static func isValidLabelName(_ name: String) -> Bool {
        !name.contains(":") && !name.hasPrefix("__") && isValidMetricName(name)
    }

    /// A counter's family name: the name without one trailing `_total`.
    static func counterBase(_ name: String) -> String {
        name.hasSuffix("_total") && name.utf8.count > 6 ? String(name.dropLast(6)) : name
    }

    /// Every name a family exposes in either format (its family names and sample names): two families may not
    /// share any, or the exposition would hold two `# TYPE` lines or samples of one name under two families.
    static func claims(of kind: MetricKind, key: String) -> [String] {
        switch kind {
        case .counter: [key, key + "_total", key + "_created"]
        case .gauge: [key]
        case .histogram: [key, key + "_bucket", key + "_sum", key + "_count", key + "_created"]
        }
    }
}

/// A family's values at one instant of a scrape. Counter families carry their base name.
struct FamilySnapshot {
    var name: String
    var help: String
    var kind: MetricKind
    var labelNames: [String]
    var bounds: [Double]
    var series: [SeriesSnapshot]
}

struct SeriesSnapshot {
    var labelValues: [String]
    /// `name="value",…`, escaped, without braces (`ChildTable.render`).
    var labelText: [UInt8]
    var value: SeriesValue
    /// Seconds since the Unix epoch when the child was created (OpenMetrics `_created`), if known.
    var created: Double?
}

enum SeriesValue {
    /// Registered counters count in integers; collected ones (CPU seconds) in `Double`.
    enum Number {
        case integer(UInt64)
        case real(Double)
    }

    case counter(Number)
    case gauge(Double)
    /// One cumulative count per bound, then the `+Inf` bucket.
    case histogram(cumulative: [UInt64], sum: Double)
}

/// Renders snapshots in one format into bytes. A value used by one thread for one scrape. Names and label pairs
/// arrive rendered or are rendered once per family, so a sample line costs a few appends and one number.
struct ExpositionWriter {
    let format: ExpositionFormat
    private var bytes: [UInt8] = []

    init(format: ExpositionFormat) {
        self.format = format
        bytes.reserveCapacity(16_384)
    }

    mutating func write(_ family: FamilySnapshot) {
        let openMetrics = format == .openMetrics
        // Text 0.0.4 names a counter family by its samples' name; OpenMetrics by the base.
        let familyName = family.kind == .counter && !openMetrics ? family.name + "_total" : family.name
        if !family.help.isEmpty {
            append("# HELP ")
            append(familyName)
            append(" ")
            Self.appendEscaped(family.help, quotes: openMetrics, to: &bytes)
            append("\n")
        }
        append("# TYPE ")
        append(familyName)
        append(" \(family.kind)\n")
        let name = Array(family.name.utf8)
        switch family.kind {
        case .counter:
            let total = name + Array("_total".utf8)
            let created = name + Array("_created".utf8)
            for series in family.series {
                guard case .counter(let number) = series.value else { continue }
                sample(total, series.labelText, number: number)
                if openMetrics, let time = series.created { sample(created, series.labelText, number: .real(time)) }
            }
        case .gauge:
            for series in family.series {
                guard case .gauge(let value) = series.value else { continue }
                sample(name, series.labelText, number: .real(value))
            }
        case .histogram:
            let bucket = name + Array("_bucket".utf8)
            let sum = name + Array("_sum".utf8)
            let count = name + Array("_count".utf8)
            let created = name + Array("_created".utf8)
            let le = (family.bounds.map(Self.format) + ["+Inf"]).map { Array("le=\"\($0)\"".utf8) }
            for series in family.series {
                guard case .histogram(let cumulative, let total) = series.value else { continue }
                for (index, observations) in cumulative.enumerated() {
                    sample(bucket, series.labelText, extra: le[index], number: .integer(observations))
                }
                let observations = SeriesValue.Number.integer(cumulative.last ?? 0)
                if openMetrics {
                    sample(count, series.labelText, number: observations)
                    sample(sum, series.labelText, number: .real(total))
                    if let time = series.created { sample(created, series.labelText, number: .real(time)) }
                } else {
                    sample(sum, series.labelText, number: .real(total))
                    sample(count, series.labelText, number: observations)
                }
            }
        }
    }

    mutating func finish() -> [UInt8] {
        if format == .openMetrics { append("# EOF\n") }
        return bytes
    }

    /// `name{labels,extra} value\n`, the braces left out when there is no label at all.
    private mutating func sample(_ name: [UInt8], _ labels: [UInt8], extra: [UInt8] = [], number: SeriesValue.Number) {
        bytes.append(contentsOf: name)
        if !labels.isEmpty || !extra.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            bytes.append(contentsOf: labels)
            if !labels.isEmpty && !extra.isEmpty { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: extra)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
        switch number {
        case .integer(let value): appendDecimal(value)
        case .real(let value): append(Self.format(value))
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// A float as both formats spell it: the shortest decimal that reads back to the same `Double` (`1.0`, `0.005`,
    /// `1e-07`), `+Inf`, `-Inf` and `NaN`. Integral bounds keep their `.0`, OpenMetrics's canonical `le` form, which
    /// Prometheus 3 also normalises the text format's `le` to, so a series keeps one `le` across formats and versions.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return value.description
    }

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// The decimal digits of `value`, without making a `String`.
    private mutating func appendDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var remaining = value
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
            } while remaining > 0
            bytes.append(contentsOf: buffer[index...])
        }
    }

    /// Label values (both formats) and OpenMetrics help escape `\`, `"` and newline; text-format help escapes only
    /// `\` and newline (a `\"` there would be read as two characters).
    static func appendEscaped(_ text: String, quotes: Bool, to bytes: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\"") where quotes: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            default: bytes.append(byte)
            }
        }
    }
}
