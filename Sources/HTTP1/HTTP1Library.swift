// Sources/HTTP1/HTTP1Library.swift: facts about the linked libhttp-parser, and its names turned into Swift values.

internal import CHTTPParser

/// Facts about the linked libhttp-parser. This module is the only importer of `CHTTPParser`; no C type leaves it.
public enum HTTP1Library {
    /// The runtime version of libhttp-parser, e.g. "2.9.4".
    public static var version: String {
        let packed = http_parser_version()
        return "\((packed >> 16) & 255).\((packed >> 8) & 255).\(packed & 255)"
    }
}

/// libhttp-parser's tables (methods, error names) as Swift values. Pure lookups; any thread.
enum LibHTTPParser {
    /// The methods libhttp-parser knows (its HTTP_METHOD_MAP), read from the library itself so the pre-scan
    /// refuses (501) exactly the methods the library would fail on.
    static let knownMethods: Set<[UInt8]> = {
        var names: Set<[UInt8]> = []
        for code in 0...UInt32(UInt8.max) {
            let name = methodName(code)
            if name == unknownMethod { break }
            names.insert(Array(name.utf8))
        }
        return names
    }()

    /// What `http_method_str` answers past the end of its table.
    private static let unknownMethod = "<unknown>"

    static func methodName(_ code: UInt32) -> String {
        guard let text = http_method_str(http_method(rawValue: code)) else { return unknownMethod }
        return String(cString: text)
    }

    /// Whether libhttp-parser's URL parser accepts `target` as a request target (not CONNECT's authority-form).
    static func isValidTarget(_ target: ArraySlice<UInt8>) -> Bool {
        var url = http_parser_url()
        http_parser_url_init(&url)
        return target.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, !raw.isEmpty else { return false }
            return http_parser_parse_url(base.assumingMemoryBound(to: CChar.self), raw.count, 0, &url) == 0
        }
    }

    /// A libhttp-parser error, as the status and reason we answer with. Rare: the pre-scan refuses first whatever
    /// it knows the library would refuse.
    static func error(_ code: UInt32) -> HTTP1ParseError {
        let errno = http_errno(rawValue: code)
        let name = http_errno_name(errno).map { String(cString: $0) } ?? "HPE_\(code)"
        let text = http_errno_description(errno).map { String(cString: $0) } ?? "unknown error"
        // The library's own header limit (80 KiB, HTTP_MAX_HEADER_SIZE); the pre-scan's is normally lower.
        let status = errno == HPE_HEADER_OVERFLOW ? 431 : 400
        return HTTP1ParseError(status: status, reason: "\(HTTP1RequestParser.libraryRefusalPrefix): \(name) (\(text))")
    }
}
