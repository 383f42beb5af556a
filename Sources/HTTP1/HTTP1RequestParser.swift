// Sources/HTTP1/HTTP1RequestParser.swift: the sans-I/O HTTP/1.1 request parser over libhttp-parser.

internal import CHTTPParser
internal import HTTPTypes

/// Parses the requests of one HTTP/1.1 connection, sans-I/O: bytes in (`feed`), events out (`head`, `body`…,
/// `end`, then the next pipelined request). It never touches a socket, a thread or a clock.
///
/// Two parsers read every byte (docs/http1.md). Our pre-scan (`HeadScanner`, `ChunkedScanner`) checks each byte as
/// it arrives against RFC 9112's grammar, refuses what libhttp-parser 2.9 would let through (obs-fold, bare LF,
/// `Name : value`, loose chunk lines, the smuggling pairs of framing fields) and finds where each message ends.
/// libhttp-parser then parses exactly that message (a fresh parser state per request, so it never sees a byte of
/// the next one) and produces the head and the body; where the two disagree the request is refused with 400.
///
/// Memory: at most `maxHeadBytes` of head are buffered; body bytes are handed out as events as they arrive.
///
/// Errors: a refused request is an `HTTP1ParseError` (status and reason); after it the parser is dead, and the
/// connection answers it with `Connection: close` and closes. Requests completed before the bad bytes are not lost:
/// when `feed` has events to return it returns them and keeps the error in `failure`, which the next `feed` throws.
/// So after handling a `feed`'s events, check `failure`.
///
/// Threads: not `Sendable`. One thread (the connection's loop thread) creates it and makes every call.
public final class HTTP1RequestParser {
    private enum Phase {
        /// Waiting for or reading a request head.
        case head
        /// Reading a `Content-Length` body: bytes still to come.
        case fixedBody(remaining: Int)
        case chunkedBody(ChunkedScanner)
    }

    public let limits: HTTP1Limits
    /// The error that killed the parser, if one did; every later `feed` throws it.
    public private(set) var failure: HTTP1ParseError?

    /// libhttp-parser's state and callback table, allocated once and freed in `deinit`; `parser.data` points at
    /// `self` (unretained) only during `http_parser_execute`.
    private let parser: UnsafeMutablePointer<http_parser>
    private let settings: UnsafeMutablePointer<http_parser_settings>
    private var phase = Phase.head
    private var scanner: HeadScanner
    /// True while inside `http_parser_execute`; guards against re-entry.
    private var insideLibrary = false

    // What the callbacks collect during one message (`parseHead` resets it). The head is handed to libhttp-parser
    // from the pre-scan's buffer, so its spans are kept as positions in that buffer (no copy per field).
    fileprivate var events: [HTTP1ParserEvent] = []
    /// The head buffer while libhttp-parser reads it; nil otherwise (a span callback then is a disagreement).
    fileprivate var headBuffer: UnsafeRawBufferPointer?
    fileprivate var url: Range<Int>?
    fileprivate var fieldNames: [Range<Int>] = []
    fileprivate var fieldValues: [Range<Int>] = []
    fileprivate var headersComplete = false
    fileprivate var messageComplete = false
    fileprivate var bodyBytes = 0
    /// An inconsistency found inside a callback, thrown once `http_parser_execute` returns.
    fileprivate var callbackError: HTTP1ParseError?

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
        scanner = HeadScanner(limits: limits)
        parser = .allocate(capacity: 1)
        settings = .allocate(capacity: 1)
        http_parser_settings_init(settings)
        settings.pointee.on_url = onURL
        settings.pointee.on_header_field = onHeaderField
        settings.pointee.on_header_value = onHeaderValue
        settings.pointee.on_headers_complete = onHeadersComplete
        settings.pointee.on_body = onBody
        settings.pointee.on_message_complete = onMessageComplete
        http_parser_init(parser, HTTP_REQUEST)
    }

    deinit {
        parser.deallocate()
        settings.deallocate()
    }

    /// Bytes of an unfinished request (head or body) have been received: the connection runs its head deadline
    /// or body idle timer while this is true, and its keep-alive idle timer while it is false.
    public var isMidRequest: Bool {
        switch phase {
        case .head: scanner.receivedBytes > 0
        case .fixedBody, .chunkedBody: true
        }
    }

    /// Bytes of a request head have been received and the head is not complete (leading empty lines count):
    /// the head deadline applies. When `isMidRequest` is true and this is false, a body is being read.
    public var isReadingHead: Bool {
        if case .head = phase { return scanner.receivedBytes > 0 }
        return false
    }

    /// Head bytes held until the head is complete; never more than `limits.maxHeadBytes`.
    package var bufferedHeadBytes: Int { scanner.bytes.count }

    /// Parses `bytes` and returns the events they complete, in order. Throws the error that refuses a request;
    /// when events precede the error in the same bytes they are returned first and the error is left in `failure`
    /// for the next call. An incomplete request is not an error: its bytes are kept (head) or handed out (body)
    /// and the next `feed` continues it.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> [HTTP1ParserEvent] {
        precondition(!insideLibrary, "HTTP1RequestParser.feed re-entered from a libhttp-parser callback")
        if let failure { throw failure }
        do throws(HTTP1ParseError) {
            try process(bytes)
        } catch {
            failure = error
            if events.isEmpty { throw error }
        }
        defer { events = [] }
        return events
    }

    public func feed(_ bytes: [UInt8]) throws(HTTP1ParseError) -> [HTTP1ParserEvent] {
        let result: Result<[HTTP1ParserEvent], HTTP1ParseError> = bytes.withUnsafeBytes { raw in
            Result { () throws(HTTP1ParseError) in try feed(raw) }
        }
        return try result.get()
    }

    private func process(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) {
        var index = 0
        while index < bytes.count {
            switch phase {
            case .head:
                guard let end = try scanner.consume(bytes, from: index) else { return }
                index = end
                try parseHead()
            case .fixedBody(let remaining):
                let count = min(remaining, bytes.count - index)
                try execute(UnsafeRawBufferPointer(rebasing: bytes[index..<index + count]))
                index += count
                if count == remaining {
                    try endMessage(expectedBodyBytes: bodyBytes)
                } else {
                    phase = .fixedBody(remaining: remaining - count)
                }
            case .chunkedBody(var chunked):
                let (end, finished) = try chunked.consume(bytes, from: index)
                try execute(UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
                index = end
                if finished {
                    try endMessage(expectedBodyBytes: chunked.declaredBytes)
                } else {
                    phase = .chunkedBody(chunked)
                }
            }
        }
    }

    /// The pre-scan accepted a whole head: libhttp-parser parses it from a fresh state, the two are compared, and
    /// the head goes out.
    private func parseHead() throws(HTTP1ParseError) {
        http_parser_init(parser, HTTP_REQUEST)
        url = nil
        fieldNames.removeAll(keepingCapacity: true)
        fieldValues.removeAll(keepingCapacity: true)
        headersComplete = false
        messageComplete = false
        bodyBytes = 0
        let head = scanner.bytes
        let result: Result<Void, HTTP1ParseError> = head.withUnsafeBytes { raw in
            headBuffer = raw
            defer { headBuffer = nil }
            return Result { () throws(HTTP1ParseError) in try execute(raw) }
        }
        try result.get()
        guard headersComplete else { throw Self.disagreement("libhttp-parser did not finish the head") }
        let request = try compareAndBuildHead()
        events.append(.head(request))
        // The head is out; its bytes are not needed while the body is read.
        scanner = HeadScanner(limits: limits)
        if request.isChunked {
            phase = .chunkedBody(ChunkedScanner(limits: limits))
        } else if let length = request.contentLength, length > 0 {
            phase = .fixedBody(remaining: length)
        } else {
            try endMessage(expectedBodyBytes: 0)
            return
        }
        guard !messageComplete else { throw Self.disagreement("libhttp-parser ended the message before its body") }
    }

    /// The pre-scan says the message ended: libhttp-parser must say so too, with the same body length.
    private func endMessage(expectedBodyBytes: Int) throws(HTTP1ParseError) {
        guard messageComplete else { throw Self.disagreement("libhttp-parser did not end the message") }
        guard bodyBytes == expectedBodyBytes else {
            throw Self.disagreement("libhttp-parser delivered \(bodyBytes) body bytes, not \(expectedBodyBytes)")
        }
        events.append(.end)
        phase = .head
        scanner = HeadScanner(limits: limits)
    }

    /// Runs libhttp-parser over `bytes`, all of which belong to the current message.
    private func execute(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        insideLibrary = true
        let parsed = http_parser_execute(parser, settings, base.assumingMemoryBound(to: CChar.self), bytes.count)
        insideLibrary = false
        parser.pointee.data = nil
        if let error = callbackError {
            callbackError = nil
            throw error
        }
        let code = parser.pointee.http_errno
        if code == HPE_PAUSED.rawValue && messageComplete {
            // onMessageComplete pauses, so that a message that ended early cannot run on into the next.
            http_parser_pause(parser, 0)
        } else if code != HPE_OK.rawValue {
            throw LibHTTPParser.error(code)
        }
        guard parsed == bytes.count else {
            throw Self.disagreement("libhttp-parser stopped after \(parsed) of \(bytes.count) bytes")
        }
    }

    /// The head as libhttp-parser read it, once it agrees with the pre-scan on every fact that frames the request.
    private func compareAndBuildHead() throws(HTTP1ParseError) -> HTTP1RequestHead {
        let facts = scanner.facts
        let head = scanner.bytes
        let method = LibHTTPParser.methodName(parser.pointee.method)
        guard parser.pointee.http_major == 1, Int(parser.pointee.http_minor) == facts.versionMinor else {
            throw Self.disagreement("version")
        }
        guard method.utf8.elementsEqual(head[..<scanner.methodEnd]) else { throw Self.disagreement("method") }
        // Both read the same buffer, so agreeing on a span means agreeing on its position, not only its bytes.
        guard url == scanner.targetRange else { throw Self.disagreement("request target") }
        guard fieldNames.count == scanner.fields.count, fieldValues.count == fieldNames.count else {
            throw Self.disagreement("\(fieldNames.count) header fields, not \(scanner.fields.count)")
        }
        var headers: [HeaderField] = []
        headers.reserveCapacity(fieldNames.count)
        for (index, field) in scanner.fields.enumerated() {
            // libhttp-parser drops the whitespace before a value but keeps the whitespace after it.
            let trimmed = ASCII.trimmed(head[fieldValues[index]])
            // An empty value has no position to agree on (the library may report none at all).
            let sameValue = trimmed.isEmpty ? field.value.isEmpty : trimmed.startIndex..<trimmed.endIndex == field.value
            guard fieldNames[index] == field.name, sameValue else {
                throw Self.disagreement("header field \(index + 1)")
            }
            headers.append(HeaderField(Self.string(head[field.name]), Self.string(head[field.value])))
        }
        let flags = parser.pointee.flags
        let chunked = flags & F_CHUNKED.rawValue != 0
        let contentLength: Int? =
            flags & F_CONTENTLENGTH.rawValue != 0 ? Int(exactly: parser.pointee.content_length) : nil
        guard chunked == facts.isChunked else { throw Self.disagreement("chunked") }
        guard contentLength == facts.contentLength else { throw Self.disagreement("Content-Length") }
        return HTTP1RequestHead(
            method: method, target: Self.string(head[scanner.targetRange]), versionMinor: facts.versionMinor,
            headers: headers, keepAlive: facts.keepAlive, expectsContinue: facts.expectsContinue,
            contentLength: contentLength, isChunked: chunked)
    }

    /// The text of head bytes (UTF-8, invalid sequences repaired), decoded from the contiguous slice at once.
    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
    }

    /// A request the two parsers read differently. Both accepted it byte by byte, so this means a gap in the
    /// pre-scan: refuse the request, and let the fuzzer (which traps on this reason) find the input.
    static func disagreement(_ what: String) -> HTTP1ParseError {
        .badRequest("\(disagreementPrefix) on the \(what)")
    }

    package static let disagreementPrefix = "the pre-scan and libhttp-parser disagree"
    /// How a refusal by libhttp-parser itself starts. The pre-scan is meant to refuse first whatever the library
    /// would, so the fuzzer treats this as a finding too.
    package static let libraryRefusalPrefix = "libhttp-parser refused the request"

    /// Runs a callback's `body` on the parser behind `parser.data` without retaining it (1, stopping the library,
    /// when there is none): libhttp-parser calls back only from inside `feed`, which this parser is running, so it is
    /// alive for the whole call. (`takeUnretainedValue()` made every callback retain and release the parser.)
    fileprivate static func with(
        _ parser: UnsafeMutablePointer<http_parser>?, _ body: (HTTP1RequestParser) -> Int32
    ) -> Int32 {
        guard let data = parser?.pointee.data else { return 1 }
        return Unmanaged<HTTP1RequestParser>.fromOpaque(data)._withUnsafeGuaranteedRef(body)
    }
}

// libhttp-parser's callbacks: file-scope functions with the exact C signatures (docs/DESIGN.md, "C callbacks and
// Swift 6"). They run on the thread that called `feed`, inside `http_parser_execute`, and only collect. A non-zero
// return stops the library; the reason is stored in `callbackError` and thrown once it returns.
//
// The whole head is handed to libhttp-parser in one call, so each field name arrives in one `on_header_field`
// callback (the library splits a name only at the end of a buffer); each callback therefore starts a field.

/// The bytes a data callback points at.
private func received(_ at: UnsafePointer<CChar>?, _ length: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: at, count: at == nil ? 0 : length)
}

/// Where a span a callback reports lies in the head buffer; nil when there is no head buffer or the span is not in
/// it (the callback then stops the library with a disagreement).
private func headSpan(_ owner: HTTP1RequestParser, _ at: UnsafePointer<CChar>?, _ length: Int) -> Range<Int>? {
    guard let buffer = owner.headBuffer, let base = buffer.baseAddress, let at, length >= 0 else { return nil }
    let start = UnsafeRawPointer(at) - base
    guard start >= 0, start <= buffer.count, length <= buffer.count - start else { return nil }
    return start..<start + length
}

/// `span` joined to `previous` (a span the library split at a buffer end must continue where it stopped).
private func extend(_ previous: Range<Int>?, _ span: Range<Int>) -> Range<Int>? {
    guard let previous else { return span }
    return previous.upperBound == span.lowerBound ? previous.lowerBound..<span.upperBound : nil
}

private func onURL(_ parser: UnsafeMutablePointer<http_parser>?, _ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
    HTTP1RequestParser.with(parser) { owner in
        guard let span = headSpan(owner, at, length), let url = extend(owner.url, span) else {
            owner.callbackError = HTTP1RequestParser.disagreement("the request target is not one span of the head")
            return 1
        }
        owner.url = url
        return 0
    }
}

private func onHeaderField(
    _ parser: UnsafeMutablePointer<http_parser>?, _ at: UnsafePointer<CChar>?, _ length: Int
) -> Int32 {
    HTTP1RequestParser.with(parser) { owner in
        // Trailer fields (after the head) were checked by the ChunkedScanner and are dropped.
        guard !owner.headersComplete else { return 0 }
        guard let span = headSpan(owner, at, length) else {
            owner.callbackError = HTTP1RequestParser.disagreement("a header name outside the head")
            return 1
        }
        owner.fieldNames.append(span)
        owner.fieldValues.append(span.upperBound..<span.upperBound)
        return 0
    }
}

private func onHeaderValue(
    _ parser: UnsafeMutablePointer<http_parser>?, _ at: UnsafePointer<CChar>?, _ length: Int
) -> Int32 {
    HTTP1RequestParser.with(parser) { owner in
        guard !owner.headersComplete else { return 0 }
        guard let last = owner.fieldValues.indices.last else {
            owner.callbackError = HTTP1RequestParser.disagreement("a header value without a name")
            return 1
        }
        // The value's first span replaces the empty placeholder after its name; a later one must continue it.
        let current = owner.fieldValues[last]
        guard let span = headSpan(owner, at, length),
            let value = current.isEmpty && current.lowerBound == owner.fieldNames[last].upperBound
                ? span : extend(current, span)
        else {
            owner.callbackError = HTTP1RequestParser.disagreement("a header value that is not one span of the head")
            return 1
        }
        owner.fieldValues[last] = value
        return 0
    }
}

private func onHeadersComplete(_ parser: UnsafeMutablePointer<http_parser>?) -> Int32 {
    HTTP1RequestParser.with(parser) { owner in
        owner.headersComplete = true
        return 0
    }
}

private func onBody(_ parser: UnsafeMutablePointer<http_parser>?, _ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
    HTTP1RequestParser.with(parser) { owner in
        guard at != nil, length > 0 else { return 0 }
        owner.bodyBytes += length
        owner.events.append(.body(Array(received(at, length))))
        return 0
    }
}

private func onMessageComplete(_ parser: UnsafeMutablePointer<http_parser>?) -> Int32 {
    HTTP1RequestParser.with(parser) { owner in
        owner.messageComplete = true
        // Stop here: the pre-scan hands over one message at a time, so a byte after this one is a disagreement.
        http_parser_pause(parser, 1)
        return 0
    }
}
