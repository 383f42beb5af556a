// Clients/TensorwireCLI/Arguments.swift: hand-written argument parsing for the tensorwire CLI.
public import RPCCore

/// The options of one command line after parsing: positionals in order, the values of value options (by their
/// long name, repeatable) and the flags given. A plain value.
public struct ParsedArguments: Sendable, Equatable {
    public var positionals: [String] = []
    public var values: [String: [String]] = [:]
    public var flags: Set<String> = []

    /// The last value given for `option`.
    public func value(_ option: String) -> String? { values[option]?.last }
}

/// The options a command accepts: value options and flags by long name (`--rate`), with short aliases (`-c`).
public struct OptionSpec: Sendable {
    public var valueOptions: Set<String>
    public var flagOptions: Set<String>
    public var aliases: [String: String]

    public init(values: Set<String> = [], flags: Set<String> = [], aliases: [String: String] = [:]) {
        valueOptions = values
        flagOptions = flags
        self.aliases = aliases
    }

    /// The global options every subcommand accepts.
    public static let global = OptionSpec(
        values: [
            "--server", "--timeout", "--header", "--tls-ca", "--tls-cert", "--tls-key", "--api-key", "--max-attempts",
            "--initial-backoff", "--max-backoff", "--backoff-multiplier", "--retry-codes",
        ],
        flags: ["--help", "--http", "--wait-for-ready", "--non-idempotent"],
        aliases: ["-H": "--header", "-h": "--help"])

    public func merging(_ other: OptionSpec) -> OptionSpec {
        OptionSpec(
            values: valueOptions.union(other.valueOptions), flags: flagOptions.union(other.flagOptions),
            aliases: aliases.merging(other.aliases) { a, _ in a })
    }

    /// Parses `arguments`: `--opt value`, `--opt=value`, `-o value`, flags, `--` ending options; `-` alone is a
    /// positional (standard input). With `stopAtPositional`, parsing stops at the first positional and the rest is
    /// returned unparsed (the subcommand and its arguments).
    public func parse(_ arguments: [String], stopAtPositional: Bool = false) throws(CLIError)
        -> (ParsedArguments, rest: [String])
    {
        var parsed = ParsedArguments()
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                parsed.positionals.append(contentsOf: arguments[index...])
                break
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                if stopAtPositional { return (parsed, Array(arguments[(index - 1)...])) }
                parsed.positionals.append(argument)
                continue
            }
            var name = argument
            var inline: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            name = aliases[name] ?? name
            if flagOptions.contains(name) {
                guard inline == nil else { throw .usage("\(name) takes no value") }
                parsed.flags.insert(name)
            } else if valueOptions.contains(name) {
                let value: String
                if let inline {
                    value = inline
                } else {
                    guard index < arguments.count else { throw .usage("\(argument) needs a value") }
                    value = arguments[index]
                    index += 1
                }
                parsed.values[name, default: []].append(value)
            } else {
                throw .usage("unknown option \(argument)")
            }
        }
        return (parsed, [])
    }
}

/// Parsers for option values.
public enum ArgumentValues {
    /// A duration: `10s`, `500ms`, `250us`, `2m`, or a bare number of seconds (`1.5`).
    public static func duration(_ text: String, option: String) throws(CLIError) -> Duration {
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(text)
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale < 1e9 else {
            throw .usage("\(option): '\(text)' is not a duration (like 10s, 500ms, 2m)")
        }
        return .nanoseconds(Int64((value * scale * 1e9).rounded()))
    }

    /// A positive integer.
    public static func positiveInt(_ text: String, option: String) throws(CLIError) -> Int {
        guard let value = Int(text), value > 0 else { throw .usage("\(option): '\(text)' is not a positive integer") }
        return value
    }

    /// A positive finite number.
    public static func positiveDouble(_ text: String, option: String) throws(CLIError) -> Double {
        guard let value = Double(text), value.isFinite, value > 0 else {
            throw .usage("\(option): '\(text)' is not a positive number")
        }
        return value
    }

    /// A server address: `host:port`, `[v6]:port` or a bare host (port 50051) for gRPC, or exactly
    /// `http://host:port` (a trailing `/` allowed) for HTTP/1.1 + JSON. `https://` is refused (no TLS yet), and so
    /// is any other scheme, with the address to use instead.
    public static func serverAddress(_ text: String) throws(CLIError) -> (host: String, port: Int, http: Bool) {
        guard let scheme = text.firstRange(of: "://") else {
            let (host, port) = try server(text)
            return (host, port, false)
        }
        let name = text[..<scheme.lowerBound].lowercased()
        var rest = text[scheme.upperBound...]
        if name == "https" {
            throw .usage("--server: https:// is not supported yet; for gRPC over TLS give HOST:PORT and --tls-ca FILE")
        }
        guard name == "http" else {
            let authority = rest.prefix { $0 != "/" }
            throw .usage(
                "--server takes HOST:PORT (gRPC) or http://HOST:PORT (HTTP/1.1), no other scheme: use "
                    + (authority.isEmpty ? "HOST:PORT" : String(authority)))
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("?"), !rest.contains("#"), !rest.contains("@") else {
            throw .usage("--server \(text): give only http://HOST:PORT (no path, query or user)")
        }
        let hasPort = rest.hasPrefix("[") ? rest.contains("]:") : rest.contains(":")
        guard hasPort else { throw .usage("--server \(text): http:// addresses need a port (http://HOST:PORT)") }
        let (host, port) = try server(String(rest))
        return (host, port, true)
    }

    /// `host:port`, `[v6]:port` or a bare host (port 50051), without a scheme (a URL is refused with the address to
    /// use instead). `localhost` becomes 127.0.0.1 unless `mapLocalhost` is false.
    public static func server(_ text: String, mapLocalhost: Bool = true) throws(CLIError) -> (host: String, port: Int) {
        if text.contains("://") {
            let address = try serverAddress(text)
            let plain = Reachability.address(host: address.host, port: address.port)
            throw .usage("--server takes HOST:PORT without a scheme here: use \(plain)")
        }
        var host = text
        var port = 50051
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .usage("--server: bad address '\(text)'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else {
                    throw .usage("--server: bad address '\(text)'")
                }
                port = value
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            guard let value = Int(text[text.index(after: colon)...]) else {
                throw .usage("--server: bad port in '\(text)' (expected host:port)")
            }
            port = value
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw .usage("--server: bad address '\(text)'") }
        if mapLocalhost, host == "localhost" { host = "127.0.0.1" }
        return (host, port)
    }

    /// The `--server` values as one list: each value may hold several addresses separated by commas.
    public static func serverList(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",").map { String($0.trimmingSpaces) } }.filter { !$0.isEmpty }
    }

    /// The host and port of gRPC's DNS target `dns:///HOST:PORT` (every A/AAAA record of HOST is a server), or nil
    /// for any other text. An authority (`dns://8.8.8.8/…`) is refused: the system resolver is used.
    public static func dnsTarget(_ text: String) throws(CLIError) -> (host: String, port: Int)? {
        guard text.lowercased().hasPrefix("dns:") else { return nil }
        let rest = text.dropFirst(4)
        guard rest.hasPrefix("///") else {
            throw .usage("--server \(text): write dns:///HOST:PORT (the system resolver; no DNS server in the address)")
        }
        let target = String(rest.dropFirst(3))
        guard !target.isEmpty, !target.contains("/") else { throw .usage("--server \(text): expected dns:///HOST:PORT") }
        return try server(target, mapLocalhost: false)
    }

    /// A set of status codes: names as gRPC writes them (`UNAVAILABLE`, `resource_exhausted`) or numbers, separated
    /// by commas; `none` is the empty set.
    public static func statusCodes(_ text: String, option: String) throws(CLIError) -> Set<Status.Code> {
        if text.lowercased() == "none" { return [] }
        var codes: Set<Status.Code> = []
        for item in text.split(separator: ",") {
            let word = item.trimmingSpaces.uppercased()
            if let number = Int(word), let code = Status.Code(rawValue: number) {
                codes.insert(code)
            } else if let code = Status.Code.allCases.first(where: { $0.name == word }) {
                codes.insert(code)
            } else {
                throw .usage("\(option): '\(item)' is not a gRPC status code (like UNAVAILABLE or 14)")
            }
        }
        return codes
    }

    /// `key:value` metadata (`-H`); the key is lower-cased, spaces after the colon are dropped.
    public static func header(_ text: String, into metadata: inout Metadata) throws(CLIError) {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw .usage("-H: expected key:value, got '\(text)'")
        }
        let key = text[..<colon].lowercased()
        let value = String(text[text.index(after: colon)...].drop { $0 == " " })
        do {
            if Metadata.isBinaryKey(key) {
                try metadata.addBinary(Array(value.utf8), forKey: key)
            } else {
                try metadata.addString(value, forKey: key)
            }
        } catch {
            throw .usage("-H \(text): \(error)")
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces.
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
