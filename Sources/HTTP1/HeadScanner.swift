// Sources/HTTP1/HeadScanner.swift: our own strict pass over a request head, before libhttp-parser sees it.

/// The framing facts of one request head, gathered field by field by `HeadScanner`.
struct HeadFacts: Equatable {
    var versionMinor = 1
    var contentLength: Int?
    var hasTransferEncoding = false
    var isChunked = false
    var hostCount = 0
    var connectionClose = false
    var connectionKeepAlive = false
    var expectsContinue = false

    /// RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`.
    var keepAlive: Bool { versionMinor == 1 ? !connectionClose : connectionKeepAlive && !connectionClose }
}

/// Buffers one request head (at most `maxHeadBytes`) and checks every byte as it arrives, so a bad head is refused
/// at its first bad byte, before the rest arrives and before libhttp-parser sees any of it (docs/http1.md lists
/// the rules). Leading empty lines are skipped (RFC 9112 §2.2) but count towards the limit. A plain value owned by
/// its `HTTP1RequestParser`.
struct HeadScanner {
    private enum State {
        case start
        case leadingCR
        case method
        case targetStart
        case target
        case version
        case requestLineCR
        case fields
    }

    let limits: HTTP1Limits
    /// The head from the method to the final CRLF, leading empty lines not included.
    private(set) var bytes: [UInt8] = []
    /// Bytes of leading empty lines skipped before the request line.
    private var skippedBytes = 0
    private var state = State.start
    private var fieldSection = FieldSectionScanner(section: .header)
    private(set) var methodEnd = 0
    private(set) var targetRange = 0..<0
    private var versionStart = 0
    private var lineStart = 0
    private var colon = 0
    /// The last complete field line (its value with the surrounding whitespace), checked once the next line shows it
    /// is not folded.
    private var pendingField: (name: Range<Int>, value: Range<Int>)?
    /// Each field's name and value (without surrounding whitespace) as positions in `bytes`.
    private(set) var fields: [(name: Range<Int>, value: Range<Int>)] = []
    private(set) var facts = HeadFacts()

    init(limits: HTTP1Limits) {
        self.limits = limits
    }

    /// Bytes of this head received so far, skipped empty lines included.
    var receivedBytes: Int { skippedBytes + bytes.count }

    /// Scans `input` from `start` until the head ends; returns the index just after its last byte, or nil when
    /// every byte was taken and the head is not complete yet.
    mutating func consume(_ input: UnsafeRawBufferPointer, from start: Int) throws(HTTP1ParseError) -> Int? {
        if bytes.isEmpty {
            // One allocation each for a usual head, not one per doubling.
            bytes.reserveCapacity(min(limits.maxHeadBytes, 1024))
            fields.reserveCapacity(min(limits.maxHeaderCount, 16))
        }
        var index = start
        while index < input.count {
            if state == .fields {
                // A run of bytes the field scanner would pass one by one without a state change (inside a value,
                // or a name whose framing match is settled) is checked and copied at once; the byte that ends the
                // run, and any byte past the head limit, still goes through `step`.
                let budget = limits.maxHeadBytes - receivedBytes
                let run = fieldSection.plainRun(input, from: index, upTo: min(input.count, index + max(budget, 0)))
                if run > index {
                    bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<run]))
                    index = run
                    if index >= input.count { break }
                }
            }
            let byte = input[index]
            index += 1
            if try step(byte) { return index }
        }
        return nil
    }

    private mutating func step(_ byte: UInt8) throws(HTTP1ParseError) -> Bool {
        guard receivedBytes < limits.maxHeadBytes else {
            if state == .target {
                // The request line alone fills the head: the target is what is too long.
                throw HTTP1ParseError(
                    status: 414, reason: "request target longer than the \(limits.maxHeadBytes)-byte head limit")
            }
            throw HTTP1ParseError(status: 431, reason: "request head larger than \(limits.maxHeadBytes) bytes")
        }
        switch state {
        case .start:
            if byte == ASCII.cr {
                skippedBytes += 1
                state = .leadingCR
                return false
            }
            if byte == ASCII.lf { throw Self.requestLine("bare LF before the request line: lines must end with CRLF") }
            guard ASCII.isTokenChar(byte) else {
                throw Self.requestLine(
                    ASCII.isWhitespace(byte)
                        ? "request line starts with whitespace"
                        : "invalid byte 0x\(ASCII.hex(byte)) where a method was expected")
            }
            bytes.append(byte)
            state = .method
        case .leadingCR:
            // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
            skippedBytes += 1
            guard byte == ASCII.lf else { throw Self.requestLine("bare CR before the request line") }
            state = .start
        case .method:
            if ASCII.isTokenChar(byte) {
                bytes.append(byte)
            } else if byte == ASCII.space {
                try checkMethod(bytes[...])
                methodEnd = bytes.count
                bytes.append(byte)
                state = .targetStart
            } else if byte == ASCII.cr || byte == ASCII.lf {
                throw Self.requestLine("request line has a method only (no target, no version)")
            } else {
                throw Self.requestLine("invalid byte 0x\(ASCII.hex(byte)) in the method")
            }
        case .targetStart, .target:
            if byte > 0x20 && byte < 0x7F {
                if state == .targetStart {
                    targetRange = bytes.count..<bytes.count
                    state = .target
                }
                guard bytes.count - targetRange.lowerBound < limits.maxTargetBytes else {
                    throw HTTP1ParseError(
                        status: 414, reason: "request target longer than \(limits.maxTargetBytes) bytes")
                }
                bytes.append(byte)
            } else if byte == ASCII.space {
                guard state == .target else { throw Self.requestLine("more than one space after the method") }
                targetRange = targetRange.lowerBound..<bytes.count
                try checkTarget(bytes[targetRange], method: bytes[..<methodEnd])
                bytes.append(byte)
                versionStart = bytes.count
                state = .version
            } else if byte == ASCII.cr || byte == ASCII.lf {
                throw Self.requestLine(
                    state == .targetStart
                        ? "request line has no target"
                        : "request line has no HTTP version (HTTP/0.9 is not supported)")
            } else {
                throw Self.requestLine("invalid byte 0x\(ASCII.hex(byte)) in the request target")
            }
        case .version:
            if byte == ASCII.cr {
                try checkVersion(bytes[versionStart...])
                bytes.append(byte)
                state = .requestLineCR
            } else if byte == ASCII.lf {
                throw Self.requestLine("bare LF ends the request line: lines must end with CRLF")
            } else if byte == ASCII.space {
                throw Self.requestLine(
                    bytes.count == versionStart
                        ? "more than one space after the request target" : "space after the HTTP version")
            } else {
                // "HTTP/1.1" is 8 bytes; anything longer is malformed, and needs no more buffering to say so.
                guard bytes.count - versionStart < 8, byte > 0x20, byte < 0x7F else {
                    throw Self.requestLine("malformed HTTP version \(ASCII.quoted(bytes[versionStart...] + [byte]))")
                }
                bytes.append(byte)
            }
        case .requestLineCR:
            guard byte == ASCII.lf else { throw Self.requestLine("bare CR in the request line") }
            bytes.append(byte)
            lineStart = bytes.count
            state = .fields
        case .fields:
            bytes.append(byte)
            switch try fieldSection.step(byte) {
            case .byte:
                break
            case .fieldStart:
                try checkPendingField()
                guard fieldSection.fieldCount <= limits.maxHeaderCount else {
                    throw HTTP1ParseError(status: 431, reason: "more than \(limits.maxHeaderCount) header fields")
                }
                lineStart = bytes.count - 1
            case .colon:
                colon = bytes.count - 1
            case .endOfField:
                // The line is bytes[lineStart..<end-2] + CRLF; the value runs from after the colon to the CR. Its
                // checks wait for the next line's first byte: a line starting with whitespace would fold into
                // this one (obs-fold), and that is the error to report.
                pendingField = (lineStart..<colon, colon + 1..<bytes.count - 2)
            case .endOfSection:
                try checkPendingField()
                try headComplete()
                return true
            }
        }
        return false
    }

    private mutating func checkPendingField() throws(HTTP1ParseError) {
        guard let field = pendingField else { return }
        pendingField = nil
        try fieldLine(name: field.name, rawValue: field.value)
    }

    private func checkMethod(_ method: ArraySlice<UInt8>) throws(HTTP1ParseError) {
        if method.elementsEqual("CONNECT".utf8) {
            throw HTTP1ParseError(status: 501, reason: "CONNECT is not implemented: this server is not a proxy")
        }
        guard LibHTTPParser.knownMethods.contains(Array(method)) else {
            throw HTTP1ParseError(status: 501, reason: "method \(ASCII.quoted(method)) is not implemented")
        }
    }

    /// RFC 9112 §3.2: origin-form (`/…`), absolute-form (`http://…`) or, for OPTIONS only, `*` (authority-form
    /// is CONNECT's, refused already). The syntax is then checked with libhttp-parser's own URL parser, the one it
    /// runs on the target inside `http_parser_execute` (fuzz finding http1-crash-2aa71918: `GET 2 HTTP/1.1`), so
    /// a target it would refuse is refused here, precisely, before the rest of the head.
    private func checkTarget(_ target: ArraySlice<UInt8>, method: ArraySlice<UInt8>) throws(HTTP1ParseError) {
        if target.first == UInt8(ascii: "*") {
            guard target.count == 1, method.elementsEqual("OPTIONS".utf8) else {
                throw Self.requestLine("request target '*' is for OPTIONS alone")
            }
            return
        }
        guard LibHTTPParser.isValidTarget(target) else {
            throw Self.requestLine(
                "invalid request target \(ASCII.quoted(target)): not an origin-form path or an absolute URL")
        }
    }

    private mutating func checkVersion(_ version: ArraySlice<UInt8>) throws(HTTP1ParseError) {
        let text = Array(version)
        if text == Array("HTTP/1.1".utf8) {
            facts.versionMinor = 1
            return
        }
        if text == Array("HTTP/1.0".utf8) {
            facts.versionMinor = 0
            return
        }
        let digit = UInt8(ascii: "0")...UInt8(ascii: "9")
        if text.count == 8, text.starts(with: "HTTP/".utf8), digit.contains(text[5]), text[6] == UInt8(ascii: "."),
            digit.contains(text[7])
        {
            throw HTTP1ParseError(
                status: 505,
                reason: "\(String(decoding: text, as: UTF8.self)) is not supported (HTTP/1.0 and HTTP/1.1 are)")
        }
        throw Self.requestLine("malformed HTTP version \(ASCII.quoted(text))")
    }

    /// The rules that need a whole field line: the framing fields (RFC 9112 §6) and Host (§3.2).
    private mutating func fieldLine(name: Range<Int>, rawValue: Range<Int>) throws(HTTP1ParseError) {
        let trimmed = Self.trimmed(bytes, rawValue)
        fields.append((name, trimmed))
        let name = bytes[name]
        let value = bytes[trimmed]
        let isContentLength = ASCII.equalsIgnoringCase(name, "content-length".utf8)
        if isContentLength || ASCII.equalsIgnoringCase(name, "transfer-encoding".utf8) {
            // RFC 9110 allows a tab as trailing whitespace, but libhttp-parser 2.9 takes a tab after these values
            // as part of them (fuzz finding http1-crash-e19223a2: `chunked<TAB>` is then not chunked).
            guard !bytes[rawValue].drop(while: ASCII.isWhitespace).contains(ASCII.tab) else {
                let field = isContentLength ? "Content-Length" : "Transfer-Encoding"
                throw .badRequest("a tab in or after the \(field) value")
            }
        }
        if isContentLength {
            guard facts.contentLength == nil else {
                throw .badRequest("more than one Content-Length field line (request smuggling)")
            }
            guard !facts.hasTransferEncoding else { throw Self.bothLengths }
            facts.contentLength = try Self.contentLength(value)
        } else if ASCII.equalsIgnoringCase(name, "transfer-encoding".utf8) {
            guard !facts.hasTransferEncoding else {
                throw .badRequest("more than one Transfer-Encoding field line (request smuggling)")
            }
            guard facts.contentLength == nil else { throw Self.bothLengths }
            guard facts.versionMinor == 1 else {
                // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
                throw .badRequest("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)")
            }
            facts.hasTransferEncoding = true
            try Self.checkTransferEncoding(value)
            facts.isChunked = true
        } else if name.count > 17 && ASCII.equalsIgnoringCase(name.prefix(17), "transfer-encoding".utf8) {
            // libhttp-parser 2.9 takes any name starting with Transfer-Encoding for one (FieldSectionScanner).
            throw .badRequest(
                "header field name \(ASCII.quoted(name)) starts with Transfer-Encoding (request smuggling)")
        } else if ASCII.equalsIgnoringCase(name, "host".utf8) {
            facts.hostCount += 1
            guard facts.hostCount == 1 else { throw .badRequest("more than one Host field line (RFC 9112 §3.2)") }
            guard value.allSatisfy(Self.isHostChar) else {
                throw .badRequest("invalid Host value \(ASCII.quoted(value)) (RFC 9112 §3.2)")
            }
        } else if ASCII.equalsIgnoringCase(name, "connection".utf8) {
            for option in Self.listElements(value) {
                if ASCII.equalsIgnoringCase(option, "close".utf8) { facts.connectionClose = true }
                if ASCII.equalsIgnoringCase(option, "keep-alive".utf8) { facts.connectionKeepAlive = true }
            }
        } else if ASCII.equalsIgnoringCase(name, "expect".utf8) {
            // RFC 9110 §10.1.1: a server ignores 100-continue in an HTTP/1.0 request.
            if facts.versionMinor == 1 && ASCII.equalsIgnoringCase(value, "100-continue".utf8) {
                facts.expectsContinue = true
            }
        }
    }

    private func headComplete() throws(HTTP1ParseError) {
        if facts.versionMinor == 1 && facts.hostCount == 0 {
            throw .badRequest("HTTP/1.1 request without a Host field (RFC 9112 §3.2)")
        }
        if let length = facts.contentLength, length > limits.maxBodyBytes {
            throw HTTP1ParseError(
                status: 413, reason: "Content-Length \(length) is over the \(limits.maxBodyBytes)-byte body limit")
        }
    }

    private static let bothLengths = HTTP1ParseError.badRequest(
        "both Content-Length and Transfer-Encoding (request smuggling, RFC 9112 §6.3)")

    /// 1*DIGIT, no sign, no list, no overflow (RFC 9110 §8.6).
    private static func contentLength(_ value: ArraySlice<UInt8>) throws(HTTP1ParseError) -> Int {
        guard !value.isEmpty else { throw .badRequest("empty Content-Length") }
        var length = 0
        for byte in value {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                throw .badRequest("Content-Length \(ASCII.quoted(value)) is not a decimal number")
            }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1 && !overflow2 else {
                throw .badRequest("Content-Length \(ASCII.quoted(value)) overflows a 64-bit integer")
            }
            length = sum
        }
        return length
    }

    /// Only `chunked`, alone, is accepted. RFC 9112 §6.3: a request whose final coding is not chunked has no
    /// knowable length (400); chunked twice is forbidden (§7: 400); another coding before chunked is one we do
    /// not implement (§6.1: 501).
    private static func checkTransferEncoding(_ value: ArraySlice<UInt8>) throws(HTTP1ParseError) {
        let codings = listElements(value)
        let chunked = codings.filter { ASCII.equalsIgnoringCase($0, "chunked".utf8) }.count
        guard let last = codings.last, ASCII.equalsIgnoringCase(last, "chunked".utf8) else {
            throw .badRequest(
                "Transfer-Encoding \(ASCII.quoted(value)) does not end in chunked: no body length (RFC 9112 §6.3)")
        }
        guard chunked == 1 else {
            throw .badRequest("Transfer-Encoding \(ASCII.quoted(value)) applies chunked more than once (RFC 9112 §7)")
        }
        guard codings.count == 1 else {
            throw HTTP1ParseError(
                status: 501,
                reason: "Transfer-Encoding \(ASCII.quoted(value)): only chunked is implemented (RFC 9112 §6.1)")
        }
    }

    /// The elements of a comma-separated list (RFC 9110 §5.6.1), whitespace trimmed; empty elements kept, so that
    /// `chunked,` does not read as `chunked`.
    private static func listElements(_ value: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map(ASCII.trimmed)
    }

    /// uri-host [":" port] (RFC 3986): unreserved, sub-delims, "%", ":" and the brackets of an IP literal.
    private static func isHostChar(_ byte: UInt8) -> Bool {
        if ASCII.isTokenChar(byte) && byte != UInt8(ascii: "^") && byte != UInt8(ascii: "`")
            && byte != UInt8(ascii: "|") && byte != UInt8(ascii: "#")
        {
            return true
        }
        return "()*,;=:[]".utf8.contains(byte)
    }

    /// `range` of `bytes` without whitespace at either end.
    private static func trimmed(_ bytes: [UInt8], _ range: Range<Int>) -> Range<Int> {
        let slice = ASCII.trimmed(bytes[range])
        return slice.startIndex..<slice.endIndex
    }

    private static func requestLine(_ reason: String) -> HTTP1ParseError {
        .badRequest(reason + " (RFC 9112 §3)")
    }
}
