// Sources/HTTP1/ChunkedScanner.swift: our own strict pass over a chunked body, ahead of libhttp-parser.

internal import HTTPTypes

/// Checks a chunked body's framing (RFC 9112 §7.1) as it arrives and finds the byte where the body ends, so
/// libhttp-parser is handed only framing we have already accepted, and never a byte of the next request. It keeps
/// no bytes: data is skipped by count, extensions by syntax, trailer lines through `FieldSectionScanner`.
///
/// Stricter than libhttp-parser 2.9, which ignores everything between a chunk size and its CR: a chunk size is 1 to
/// 16 hex digits and fits an `Int`; a space after it (not a tab, which the library refuses) must lead to a `;`
/// extension; extensions hold no control
/// character but HTAB and total at most `maxHeadBytes` per body (§7.1.1 asks servers to bound them); chunk data is
/// followed by exactly CRLF. The declared sizes are summed as each size line ends, so an oversized body is refused
/// (413) before its data arrives. A plain value owned by its `HTTP1RequestParser`.
struct ChunkedScanner {
    private enum State {
        case sizeStart
        case size
        case sizeWhitespace
        case extensions
        case sizeCR
        case data
        case dataCR
        case dataLF
        case trailers
        case done
    }

    /// The most hex digits a chunk size may have: 16 fill 64 bits, and more would only be leading zeros.
    static let maxSizeDigits = 16

    let limits: HTTP1Limits
    private var state = State.sizeStart
    private var digits = 0
    private var size: UInt64 = 0
    private var remaining = 0
    private var extensionBytes = 0
    private var trailerBytes = 0
    private var trailers = FieldSectionScanner(section: .trailer)
    /// The sum of the chunk sizes read so far; never above `limits.maxBodyBytes`.
    private(set) var declaredBytes = 0

    init(limits: HTTP1Limits) {
        self.limits = limits
    }

    /// Scans `input` from `start`; returns the index after the last byte taken and whether the body ended there
    /// (the CRLF after the trailer section).
    mutating func consume(
        _ input: UnsafeRawBufferPointer, from start: Int
    ) throws(HTTP1ParseError) -> (end: Int, finished: Bool) {
        var index = start
        while index < input.count {
            if state == .data {
                let count = min(remaining, input.count - index)
                remaining -= count
                index += count
                if remaining == 0 { state = .dataCR }
                continue
            }
            let byte = input[index]
            index += 1
            if try step(byte) { return (index, true) }
        }
        return (index, false)
    }

    private mutating func step(_ byte: UInt8) throws(HTTP1ParseError) -> Bool {
        switch state {
        case .sizeStart:
            guard let value = HexDigit.value(byte) else {
                throw .badRequest("invalid chunk size: byte 0x\(ASCII.hex(byte)) where a hex digit was expected")
            }
            digits = 1
            size = UInt64(value)
            state = .size
        case .size:
            if let value = HexDigit.value(byte) {
                digits += 1
                guard digits <= Self.maxSizeDigits else {
                    throw .badRequest("chunk size longer than \(Self.maxSizeDigits) hex digits")
                }
                // At most 15 digits so far, so ×16 stays below 2^64.
                size = size * 16 + UInt64(value)
                // Refused at this digit, so libhttp-parser never sees a size it would overflow on.
                guard size <= UInt64(Int.max) else {
                    throw .badRequest("chunk size overflows a 64-bit integer (\(digits) hex digits)")
                }
            } else if byte == UInt8(ascii: ";") {
                try endOfSize()
                state = .extensions
            } else if byte == ASCII.space {
                // RFC 9112 allows HTAB here too (BWS), but libhttp-parser 2.9 refuses it (fuzz finding
                // http1-crash-8b822c02): only a space may follow the digits.
                try endOfSize()
                try countExtension()
                state = .sizeWhitespace
            } else if byte == ASCII.cr {
                try endOfSize()
                state = .sizeCR
            } else if byte == ASCII.lf {
                throw .badRequest("bare LF after a chunk size: lines must end with CRLF (RFC 9112 §7.1)")
            } else {
                throw .badRequest("invalid chunk size: byte 0x\(ASCII.hex(byte)) in the size")
            }
        case .sizeWhitespace:
            try countExtension()
            if byte == UInt8(ascii: ";") {
                state = .extensions
            } else if !ASCII.isWhitespace(byte) {
                throw .badRequest("invalid chunk size line: whitespace after the size without a ';' extension")
            }
        case .extensions:
            if byte == ASCII.cr {
                state = .sizeCR
                return false
            }
            try countExtension()
            if byte == ASCII.lf {
                throw .badRequest("bare LF in a chunk extension: lines must end with CRLF (RFC 9112 §7.1)")
            }
            guard byte == ASCII.tab || (byte >= 0x20 && byte != 0x7F) else {
                throw .badRequest("control character 0x\(ASCII.hex(byte)) in a chunk extension")
            }
        case .sizeCR:
            guard byte == ASCII.lf else {
                throw .badRequest("bare CR after a chunk size: CR not followed by LF (RFC 9112 §7.1)")
            }
            if size == 0 {
                state = .trailers
            } else {
                // endOfSize checked size <= maxBodyBytes, an Int.
                remaining = Int(size)
                state = .data
            }
        case .data:
            preconditionFailure("ChunkedScanner: data bytes are skipped by count in consume")
        case .dataCR, .dataLF:
            let expected = state == .dataCR ? ASCII.cr : ASCII.lf
            guard byte == expected else {
                throw .badRequest("chunk data not followed by CRLF (more data than the chunk size?)")
            }
            if state == .dataCR {
                state = .dataLF
            } else {
                state = .sizeStart
                digits = 0
                size = 0
            }
        case .trailers:
            trailerBytes += 1
            guard trailerBytes <= limits.maxHeadBytes else {
                throw HTTP1ParseError(status: 431, reason: "trailer section larger than \(limits.maxHeadBytes) bytes")
            }
            switch try trailers.step(byte) {
            case .fieldStart:
                guard trailers.fieldCount <= limits.maxHeaderCount else {
                    throw HTTP1ParseError(status: 431, reason: "more than \(limits.maxHeaderCount) trailer fields")
                }
            case .colon:
                // RFC 9110 §6.5.1: fields that frame the message cannot be trailers. libhttp-parser would also
                // act on them (a second Content-Length, a bad value, a Transfer-Encoding name) and fail.
                if let framing = trailers.framingName {
                    let name = framing == .contentLength ? "Content-Length" : "Transfer-Encoding"
                    throw .badRequest(
                        "\(name) in the trailer section: framing fields cannot be trailers (RFC 9110 §6.5.1)")
                }
            case .byte, .endOfField:
                break
            case .endOfSection:
                state = .done
                return true
            }
        case .done:
            preconditionFailure("ChunkedScanner: consume stops at the end of the body")
        }
        return false
    }

    /// A size line's digits are complete: add the size to the body, refusing 413 once over the limit.
    private mutating func endOfSize() throws(HTTP1ParseError) {
        guard size <= UInt64(limits.maxBodyBytes - declaredBytes) else {
            throw HTTP1ParseError(
                status: 413,
                reason: "chunked body over the \(limits.maxBodyBytes)-byte body limit "
                    + "(a chunk of \(size) bytes after \(declaredBytes))")
        }
        declaredBytes += Int(size)
    }

    private mutating func countExtension() throws(HTTP1ParseError) {
        extensionBytes += 1
        guard extensionBytes <= limits.maxHeadBytes else {
            throw .badRequest("chunk extensions longer than \(limits.maxHeadBytes) bytes in total (RFC 9112 §7.1.1)")
        }
    }

}
