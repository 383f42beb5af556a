// Sources/HTTP1/HTTP1Types.swift: the values the HTTP/1.1 request parser takes and hands out.

public import HTTPTypes

/// The bounds one `HTTP1RequestParser` enforces, each answered with its own status (docs/http1.md, "Limits").
/// A plain value; any thread.
public struct HTTP1Limits: Sendable, Hashable {
    /// The request line and the header section together, CRLFs and leading empty lines included; over it: 431.
    /// The same bound applies to a chunked body's trailer section.
    public var maxHeadBytes: Int
    /// Header field lines per request (and trailer field lines per chunked body); over it: 431.
    public var maxHeaderCount: Int
    /// The request target (the URL as sent); over it: 414.
    public var maxTargetBytes: Int
    /// A body's bytes: a larger `Content-Length` is refused at head time, a chunked body as soon as its declared
    /// chunk sizes add up to more; both 413. The default is the server's `--max-receive-message-bytes` default.
    public var maxBodyBytes: Int

    public init(
        maxHeadBytes: Int = 16 << 10, maxHeaderCount: Int = 100, maxTargetBytes: Int = 8 << 10,
        maxBodyBytes: Int = 64 << 20
    ) {
        self.maxHeadBytes = max(maxHeadBytes, 0)
        self.maxHeaderCount = max(maxHeaderCount, 0)
        self.maxTargetBytes = max(maxTargetBytes, 0)
        self.maxBodyBytes = max(maxBodyBytes, 0)
    }
}

/// A parsed request line and header section. Header names are as the client sent them (case kept), values with
/// surrounding whitespace removed and bytes that are not UTF-8 replaced (U+FFFD). A plain value; any thread.
public struct HTTP1RequestHead: Sendable, Equatable {
    /// The method as sent, one libhttp-parser knows (`GET`, `POST`, …).
    public var method: String
    /// The request target as sent: `/v2/models/m/infer?x=1`, `*`, or an absolute URL.
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (other versions are refused with 505).
    public var versionMinor: Int
    public var headers: [HeaderField]
    /// Whether the connection may carry another request after this one: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive` (RFC 9112 §9.3).
    public var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1: ignored in HTTP/1.0).
    public var expectsContinue: Bool
    /// The declared body length, nil when there is none or the body is chunked.
    public var contentLength: Int?
    /// `Transfer-Encoding: chunked`.
    public var isChunked: Bool

    public init(
        method: String, target: String, versionMinor: Int, headers: [HeaderField], keepAlive: Bool,
        expectsContinue: Bool, contentLength: Int?, isChunked: Bool
    ) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
        self.contentLength = contentLength
        self.isChunked = isChunked
    }

    /// The value of the first field named `name`, compared without regard to ASCII case; nil when absent.
    public func value(_ name: String) -> String? {
        headers.first { ASCII.equalsIgnoringCase($0.name.utf8, name.utf8) }?.value
    }
}

/// What `HTTP1RequestParser.feed` hands out, in wire order: for each request a `head`, its body in zero or more
/// pieces, then `end`; then the next pipelined request. A plain value; any thread.
public enum HTTP1ParserEvent: Sendable, Equatable {
    case head(HTTP1RequestHead)
    /// Body bytes as they arrive (chunk framing removed); never empty.
    case body([UInt8])
    /// The request is complete (its last body byte, or its head when it has no body).
    case end

    /// `events` with adjacent body pieces joined: how a body is cut into events depends on the reads, so tests and
    /// the fuzzer compare outcomes in this form.
    package static func joiningBodies(_ events: [HTTP1ParserEvent]) -> [HTTP1ParserEvent] {
        var joined: [HTTP1ParserEvent] = []
        for event in events {
            if case .body(let more) = event, case .body(let earlier)? = joined.last {
                joined[joined.count - 1] = .body(earlier + more)
            } else {
                joined.append(event)
            }
        }
        return joined
    }
}

/// Why a request was refused: the status to answer with (400, 413, 414, 431, 501 or 505) and a precise reason
/// for the response body and the log. After it the connection answers once, with `Connection: close`, and closes.
/// A plain value; any thread.
public struct HTTP1ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var reason: String

    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status) \(HTTP1ResponseHead.reasonPhrase(status)): \(reason)" }

    static func badRequest(_ reason: String) -> HTTP1ParseError { HTTP1ParseError(status: 400, reason: reason) }
}

/// ASCII helpers shared by the pre-scan, the head and the response writer.
enum ASCII {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A

    /// RFC 9110 §5.6.2 tchar: the bytes of a method or a field name.
    static func isTokenChar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    static func equalsIgnoringCase<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        // Over contiguous bytes where both have them (a head's slices and string literals): `zip` over the
        // generic collections cost ~30 instructions a byte on every header field.
        if let answer = a.withContiguousStorageIfAvailable({ x in
            b.withContiguousStorageIfAvailable { y in
                for index in 0..<x.count where lowercased(x[index]) != lowercased(y[index]) { return false }
                return true
            }
        }), let answer {
            return answer
        }
        return zip(a, b).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// Bytes with optional whitespace (OWS, RFC 9110 §5.6.3) removed from both ends.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isWhitespace(last) { slice = slice.dropLast() }
        return slice
    }

    /// Bytes quoted for a reason: printable ASCII as is, anything else as `\xNN`, cut after 64 bytes.
    static func quoted<C: Collection<UInt8>>(_ bytes: C) -> String {
        var text = "'"
        for byte in bytes.prefix(64) {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "'") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\x" + hex(byte)
            }
        }
        return text + (bytes.count > 64 ? "…'" : "'")
    }

    /// Two uppercase hex digits.
    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".unicodeScalars)
        return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
    }
}
