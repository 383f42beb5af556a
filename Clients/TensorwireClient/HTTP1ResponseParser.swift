// Clients/TensorwireClient/HTTP1ResponseParser.swift: a strict, bounded HTTP/1.1 response parser, sans-I/O.
public import HTTPTypes

/// One HTTP/1.1 response: the status, the header fields in the order received (names lower-cased, values without
/// surrounding whitespace) and the body. A plain value.
public struct HTTP1ClientResponse: Sendable, Equatable {
    public var status: Int
    public var reason: String
    public var headers: [HeaderField]
    public var body: [UInt8]
    /// False when the server closes the connection after this response (`Connection: close`, or HTTP/1.0 without
    /// `Connection: keep-alive`).
    public var keepAlive: Bool

    public init(status: Int, reason: String = "", headers: [HeaderField] = [], body: [UInt8] = [], keepAlive: Bool = true) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    /// The first value of the header `name` (lower-case), or nil.
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// Why a response could not be read. Every case is fatal to the connection: after a response it cannot frame, the
/// bytes that follow cannot be trusted.
public enum HTTP1ResponseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The status line and header section did not end within `limit` bytes.
    case headTooLarge(limit: Int)
    /// More than `limit` header fields.
    case tooManyHeaders(limit: Int)
    /// The first line is not `HTTP/1.x NNN reason`.
    case badStatusLine(String)
    /// A header line that RFC 9112 §5 refuses: no colon, whitespace before it, obs-fold, a control byte, bare CR/LF.
    case badHeader(String)
    /// A response that may have a body came without `Content-Length` (our server always sends one; reading until
    /// the connection closes is not supported).
    case missingContentLength
    /// `Transfer-Encoding` (chunked) is not supported, for the same reason.
    case transferEncodingNotSupported(String)
    /// `Content-Length` is not a decimal number, or is given twice.
    case badContentLength(String)
    /// The announced body is larger than `limit`; refused before it is read.
    case bodyTooLarge(length: Int, limit: Int)
    /// A 101 Switching Protocols answer: this client never asks to switch.
    case unexpectedSwitchingProtocols
    /// The connection ended in the middle of a response.
    case truncated(String)

    public var description: String {
        switch self {
        case .headTooLarge(let limit): "the response head is larger than \(limit) bytes"
        case .tooManyHeaders(let limit): "the response has more than \(limit) header fields"
        case .badStatusLine(let line): "bad status line \(Self.quoted(line))"
        case .badHeader(let reason): "bad header field: \(reason)"
        case .missingContentLength: "the response has no Content-Length (only length-delimited bodies are read)"
        case .transferEncodingNotSupported(let coding):
            "the response uses Transfer-Encoding: \(coding) (only Content-Length bodies are read)"
        case .badContentLength(let value): "bad Content-Length \(Self.quoted(value))"
        case .bodyTooLarge(let length, let limit): "the response body of \(length) bytes is larger than \(limit) bytes"
        case .unexpectedSwitchingProtocols: "unexpected 101 Switching Protocols"
        case .truncated(let what): "the connection closed in the middle of a response (\(what))"
        }
    }

    /// A peer's text in quotes, cut short and with control bytes escaped, for an error message.
    static func quoted(_ text: String) -> String {
        var out = "'"
        for scalar in text.unicodeScalars.prefix(80) {
            out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return out + (text.unicodeScalars.count > 80 ? "…'" : "'")
    }
}

/// The client half of HTTP/1.1 message framing (RFC 9112), sans-I/O: bytes in with `receive`, whole responses out
/// with `nextResponse`. It reads only what our server sends, and refuses the rest with a precise error instead of
/// guessing: a status line `HTTP/1.x NNN reason`, header lines `name: value` ending in CRLF (no obs-fold, no
/// whitespace before the colon, no bare CR or LF, no control bytes), at most `Limits.maxHeadBytes` of head and
/// `Limits.maxHeaderCount` fields, and a body of exactly `Content-Length` bytes (at most `Limits.maxBodyBytes`,
/// refused before it arrives). `Transfer-Encoding` and a missing length (read-until-close) are refused; 1xx interim
/// answers are skipped; 204 and 304 have no body. Responses to HEAD are not supported (it never sends HEAD).
///
/// A plain value; one connection's reader owns it. Once it has thrown, it throws the same error again.
public struct HTTP1ResponseParser: Sendable {
    /// The bounds on what one response may hold.
    public struct Limits: Sendable, Equatable {
        /// The status line and header section, both CRLFs included.
        public var maxHeadBytes: Int
        public var maxHeaderCount: Int
        public var maxBodyBytes: Int

        public init(maxHeadBytes: Int = 64 << 10, maxHeaderCount: Int = 100, maxBodyBytes: Int = 256 << 20) {
            self.maxHeadBytes = maxHeadBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// A parsed head waiting for its body.
    struct Head {
        var status: Int
        var reason: String
        var headers: [HeaderField]
        var keepAlive: Bool
        var bodyLength: Int
    }

    public let limits: Limits
    private var buffer: [UInt8] = []
    /// `buffer[start...]` is not yet consumed.
    private var start = 0
    /// Where the search for the head's end resumes (bytes before it hold no CRLFCRLF).
    private var scanned = 0
    /// The head of the response whose body is being received.
    private var head: Head?
    private var failure: HTTP1ResponseError?

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// True when part of a response has been received (the connection closing now would truncate it).
    public var hasPartialResponse: Bool { head != nil || start < buffer.count }

    /// Adds bytes received from the connection.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
    }

    /// Adds bytes received from the connection.
    public mutating func receive(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete response, or nil when more bytes are needed.
    public mutating func nextResponse() throws(HTTP1ResponseError) -> HTTP1ClientResponse? {
        if let failure { throw failure }
        do {
            return try parseNext()
        } catch {
            failure = error
            throw error
        }
    }

    /// The connection has ended (end of file): throws `truncated` when a response was under way.
    public func finish() throws(HTTP1ResponseError) {
        if let failure { throw failure }
        if let head {
            let have = buffer.count - start
            throw .truncated("\(have) of \(head.bodyLength) body bytes")
        }
        if start < buffer.count { throw .truncated("\(buffer.count - start) bytes of an unfinished head") }
    }

    private mutating func parseNext() throws(HTTP1ResponseError) -> HTTP1ClientResponse? {
        while true {
            if head == nil {
                guard let end = findHeadEnd() else {
                    if buffer.count - start > limits.maxHeadBytes { throw .headTooLarge(limit: limits.maxHeadBytes) }
                    return nil
                }
                guard end - start <= limits.maxHeadBytes else { throw .headTooLarge(limit: limits.maxHeadBytes) }
                let parsed = try parseHead(buffer[start..<end - 4])
                consume(upTo: end)
                // RFC 9110 §15.2: a 1xx answer is interim; the final one follows.
                if parsed.status < 200 {
                    if parsed.status == 101 { throw .unexpectedSwitchingProtocols }
                    continue
                }
                head = parsed
            }
            guard let current = head, buffer.count - start >= current.bodyLength else { return nil }
            let body = Array(buffer[start..<start + current.bodyLength])
            consume(upTo: start + current.bodyLength)
            head = nil
            return HTTP1ClientResponse(
                status: current.status, reason: current.reason, headers: current.headers, body: body,
                keepAlive: current.keepAlive)
        }
    }

    /// The index just past the CRLFCRLF that ends the head, or nil when it has not arrived.
    private mutating func findHeadEnd() -> Int? {
        var index = max(scanned, start + 3)
        while index < buffer.count {
            if buffer[index] == 0x0A, buffer[index - 1] == 0x0D, buffer[index - 2] == 0x0A, buffer[index - 3] == 0x0D {
                return index + 1
            }
            index += 1
        }
        scanned = max(start + 3, buffer.count)
        return nil
    }

    private mutating func consume(upTo end: Int) {
        start = end
        scanned = start
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
            scanned = 0
        } else if start >= 64 << 10 {
            buffer.removeFirst(start)
            start = 0
            scanned = 0
        }
    }

    /// Parses the status line and header lines (`bytes` ends before the blank line's CRLF pair).
    private func parseHead(_ bytes: ArraySlice<UInt8>) throws(HTTP1ResponseError) -> Head {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == 0x0D {
                guard index + 1 < bytes.endIndex, bytes[index + 1] == 0x0A else {
                    throw lines.isEmpty ? .badStatusLine(Self.text(bytes[lineStart..<index])) : .badHeader("bare CR")
                }
                lines.append(bytes[lineStart..<index])
                index += 2
                lineStart = index
                continue
            }
            if byte == 0x0A { throw lines.isEmpty ? .badStatusLine(Self.text(bytes[lineStart..<index])) : .badHeader("bare LF") }
            index += 1
        }
        lines.append(bytes[lineStart..<bytes.endIndex])
        var head = try Self.parseStatusLine(lines[0])
        guard lines.count - 1 <= limits.maxHeaderCount else { throw .tooManyHeaders(limit: limits.maxHeaderCount) }
        var contentLength: Int?
        var connectionTokens: [String] = []
        for line in lines.dropFirst() {
            let field = try Self.parseField(line)
            switch field.name {
            case "content-length":
                guard contentLength == nil else { throw .badContentLength("given twice") }
                guard !field.value.isEmpty, field.value.utf8.count <= 18, field.value.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                    let length = Int(field.value)
                else { throw .badContentLength(field.value) }
                contentLength = length
            case "transfer-encoding":
                throw .transferEncodingNotSupported(field.value)
            case "connection":
                connectionTokens += field.value.split(separator: ",").map { $0.trimmingSpaces().lowercased() }
            default:
                break
            }
            head.headers.append(field)
        }
        if connectionTokens.contains("close") {
            head.keepAlive = false
        } else if connectionTokens.contains("keep-alive") {
            head.keepAlive = true
        }
        if head.status < 200 || head.status == 204 || head.status == 304 {
            head.bodyLength = 0
        } else {
            guard let contentLength else { throw .missingContentLength }
            guard contentLength <= limits.maxBodyBytes else {
                throw .bodyTooLarge(length: contentLength, limit: limits.maxBodyBytes)
            }
            head.bodyLength = contentLength
        }
        return head
    }

    /// `HTTP/1.x NNN[ reason]` (RFC 9112 §4); HTTP/1.0 closes by default.
    static func parseStatusLine(_ line: ArraySlice<UInt8>) throws(HTTP1ResponseError) -> Head {
        let bytes = Array(line)
        let prefix = Array("HTTP/1.".utf8)
        guard bytes.count >= 12, bytes.starts(with: prefix), bytes[7] == 0x30 || bytes[7] == 0x31, bytes[8] == 0x20,
            bytes[9...11].allSatisfy({ (0x30...0x39).contains($0) }), bytes.count == 12 || bytes[12] == 0x20
        else { throw .badStatusLine(text(line)) }
        let status = bytes[9...11].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        guard (100...599).contains(status) else { throw .badStatusLine(text(line)) }
        let reason = bytes.count > 13 ? Array(bytes[13...]) : []
        // reason-phrase = *( HTAB / SP / VCHAR / obs-text )
        guard reason.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { throw .badStatusLine(text(line)) }
        return Head(
            status: status, reason: String(decoding: reason, as: UTF8.self), headers: [], keepAlive: bytes[7] == 0x31,
            bodyLength: 0)
    }

    /// `name: value` with a token name, the colon right after it, and a value of visible bytes, spaces and tabs.
    static func parseField(_ line: ArraySlice<UInt8>) throws(HTTP1ResponseError) -> HeaderField {
        guard let first = line.first else { throw .badHeader("empty line") }
        if first == 0x20 || first == 0x09 { throw .badHeader("obs-fold (a line starting with whitespace)") }
        guard let colon = line.firstIndex(of: 0x3A) else { throw .badHeader("no colon in \(HTTP1ResponseError.quoted(text(line)))") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw .badHeader("bad field name \(HTTP1ResponseError.quoted(text(name)))")
        }
        var value = line[(colon + 1)...]
        while let byte = value.first, byte == 0x20 || byte == 0x09 { value = value.dropFirst() }
        while let byte = value.last, byte == 0x20 || byte == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .badHeader("a control byte in the value of \(text(name))")
        }
        return HeaderField(text(name).lowercased(), text(value))
    }

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        // DIGIT, ALPHA, and ! # $ % & ' * + - . ^ _ ` | ~
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x21, 0x23...0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E...0x60, 0x7C, 0x7E: true
        default: false
        }
    }

    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmingSpaces() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
