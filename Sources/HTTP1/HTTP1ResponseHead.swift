// Sources/HTTP1/HTTP1ResponseHead.swift: the status line and header section of a response, as bytes.

public import HTTPTypes

/// A response's status and header fields, written as an HTTP/1.1 status line and header section. The caller adds
/// the framing fields (`Content-Length` or `Transfer-Encoding`, `Connection`). A plain value; any thread.
public struct HTTP1ResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: [HeaderField]

    public init(status: Int, headers: [HeaderField] = []) {
        self.status = status
        self.headers = headers
    }

    /// Appends `HTTP/1.1 <status> <reason>\r\n`, one `name: value\r\n` per field, then `\r\n`. A status outside
    /// 100…999 is our bug: it asserts in debug builds and is written as 500 in release. CR, LF and NUL in a name or
    /// value are written as spaces, so no field can end its line early and split the response.
    public func serialize(into buffer: inout [UInt8]) {
        var code = status
        if !(100...999).contains(code) {
            assertionFailure("HTTP1ResponseHead: status \(code) is not three digits")
            code = 500
        }
        buffer.append(contentsOf: "HTTP/1.1 \(code) \(Self.reasonPhrase(code))\r\n".utf8)
        for field in headers {
            Self.appendSafe(field.name.utf8, to: &buffer)
            buffer.append(contentsOf: ": ".utf8)
            Self.appendSafe(field.value.utf8, to: &buffer)
            buffer.append(contentsOf: "\r\n".utf8)
        }
        buffer.append(contentsOf: "\r\n".utf8)
    }

    /// The reason phrase RFC 9110 §15 gives a status (RFC 6585 for 428, 429, 431); "" for one it does not name,
    /// which the status line allows.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }

    private static func appendSafe(_ bytes: String.UTF8View, to buffer: inout [UInt8]) {
        // Copied at once when no byte needs replacing (the usual case; byte by byte cost ~25 instructions a byte).
        let copied = bytes.withContiguousStorageIfAvailable { text -> Bool in
            guard !text.contains(where: { $0 == ASCII.cr || $0 == ASCII.lf || $0 == 0 }) else { return false }
            buffer.append(contentsOf: text)
            return true
        } ?? false
        guard !copied else { return }
        for byte in bytes {
            buffer.append(byte == ASCII.cr || byte == ASCII.lf || byte == 0 ? ASCII.space : byte)
        }
    }
}
