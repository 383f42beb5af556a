// Sources/HTTP1/FieldSectionScanner.swift: the syntax of field lines, shared by the header and trailer sections.

/// Checks a header or trailer section byte by byte against RFC 9112 §5 and §2.2, where libhttp-parser 2.9 is lenient:
/// every line ends with CRLF (a bare CR or bare LF is refused), a line may not start with whitespace (obs-fold,
/// §5.2), a name is one or more token characters followed directly by the colon (no whitespace before it, §5.1),
/// and a value holds no control character but HTAB. It keeps no bytes: the caller records positions from the steps
/// it reports. A plain value owned by its parser.
struct FieldSectionScanner {
    enum Section: String {
        case header
        case trailer
    }

    /// What a byte was, for the caller that records positions.
    enum Step {
        /// A byte inside a name or a value, or the CR that ends a line.
        case byte
        /// The first byte of a name: a new field line (`fieldCount` includes it).
        case fieldStart
        /// The colon after a name.
        case colon
        /// The LF that ends a field line.
        case endOfField
        /// The LF of the empty line that ends the section.
        case endOfSection
    }

    private enum State {
        case lineStart
        case name
        case value
        case lineCR
        case endCR
    }

    /// A name that frames the message, told apart as it is read (for the trailer section, which keeps no bytes).
    enum FramingName {
        case contentLength
        /// `Transfer-Encoding`, or a longer name that starts with it: libhttp-parser 2.9 marks the message as having
        /// a Transfer-Encoding as soon as a name's first 17 bytes match (fuzz finding http1-crash-bd7f4811).
        case transferEncoding
    }

    private static let contentLength = Array("content-length".utf8)
    private static let transferEncoding = Array("transfer-encoding".utf8)

    let section: Section
    private var state = State.lineStart
    /// Field lines started so far.
    private(set) var fieldCount = 0
    /// The current field's name, as far as it matters for framing; set at its colon.
    private(set) var framingName: FramingName?
    private var nameLength = 0
    private var mayBeContentLength = false
    private var mayBeTransferEncoding = false

    init(section: Section) {
        self.section = section
    }

    mutating func step(_ byte: UInt8) throws(HTTP1ParseError) -> Step {
        switch state {
        case .lineStart:
            if byte == ASCII.cr {
                state = .endCR
                return .byte
            }
            if byte == ASCII.lf { throw Self.bareLF(section) }
            if ASCII.isWhitespace(byte) {
                // RFC 9112 §5.2: obs-fold is refused with 400. Whitespace before the first field line is the same
                // attack on a parser that would fold it into the request line (§2.2).
                throw .badRequest(
                    fieldCount == 0 && section == .header
                        ? "whitespace between the request line and the first header field (RFC 9112 §2.2)"
                        : "obs-fold: a \(section) field line starts with whitespace (RFC 9112 §5.2)")
            }
            if byte == ASCII.colon { throw .badRequest("empty \(section) field name (a line starting with ':')") }
            guard ASCII.isTokenChar(byte) else {
                throw .badRequest("invalid byte 0x\(ASCII.hex(byte)) in \(section) field name \(fieldCount + 1)")
            }
            state = .name
            fieldCount += 1
            nameLength = 0
            mayBeContentLength = true
            mayBeTransferEncoding = true
            matchName(byte)
            return .fieldStart
        case .name:
            if ASCII.isTokenChar(byte) {
                matchName(byte)
                return .byte
            }
            if byte == ASCII.colon {
                state = .value
                if mayBeContentLength && nameLength == Self.contentLength.count {
                    framingName = .contentLength
                } else if mayBeTransferEncoding && nameLength >= Self.transferEncoding.count {
                    framingName = .transferEncoding
                } else {
                    framingName = nil
                }
                return .colon
            }
            if ASCII.isWhitespace(byte) {
                throw .badRequest(
                    "whitespace between \(section) field name \(fieldCount) and its colon (RFC 9112 §5.1)")
            }
            if byte == ASCII.cr || byte == ASCII.lf {
                throw .badRequest("\(section) field line \(fieldCount) has no colon")
            }
            throw .badRequest("invalid byte 0x\(ASCII.hex(byte)) in \(section) field name \(fieldCount)")
        case .value:
            if byte == ASCII.cr {
                state = .lineCR
                return .byte
            }
            if byte == ASCII.lf { throw Self.bareLF(section) }
            // field-value = *(field-vchar / SP / HTAB), obs-text (0x80-0xFF) allowed (RFC 9110 §5.5).
            guard byte == ASCII.tab || (byte >= 0x20 && byte != 0x7F) else {
                throw .badRequest(
                    "control character 0x\(ASCII.hex(byte)) in the value of \(section) field \(fieldCount)")
            }
            return .byte
        case .lineCR:
            guard byte == ASCII.lf else { throw Self.bareCR(section) }
            state = .lineStart
            return .endOfField
        case .endCR:
            guard byte == ASCII.lf else { throw Self.bareCR(section) }
            state = .lineStart
            return .endOfSection
        }
    }

    /// The end of the run of bytes from `start` (before `end`) that `step` would each answer with `.byte` and no
    /// change of state: value bytes (HTAB, SP, VCHAR, obs-text) inside a value, or token bytes inside a name once
    /// neither framing name can still match (`nameLength` counts them). `start` when there is none (in any other
    /// state every byte goes through `step`).
    mutating func plainRun(_ input: UnsafeRawBufferPointer, from start: Int, upTo end: Int) -> Int {
        var index = start
        switch state {
        case .value:
            while index < end {
                let byte = input[index]
                guard byte == ASCII.tab || (byte >= 0x20 && byte != 0x7F) else { break }
                index += 1
            }
        case .name where !mayBeContentLength && !mayBeTransferEncoding:
            while index < end, ASCII.isTokenChar(input[index]) { index += 1 }
            nameLength += index - start
        default:
            break
        }
        return index
    }

    /// One more name byte against the two framing names (ASCII case ignored).
    private mutating func matchName(_ byte: UInt8) {
        let lower = ASCII.lowercased(byte)
        if mayBeContentLength {
            mayBeContentLength = nameLength < Self.contentLength.count && Self.contentLength[nameLength] == lower
        }
        if mayBeTransferEncoding && nameLength < Self.transferEncoding.count {
            mayBeTransferEncoding = Self.transferEncoding[nameLength] == lower
        }
        nameLength += 1
    }

    static func bareLF(_ section: Section) -> HTTP1ParseError {
        .badRequest("bare LF in the \(section) section: lines must end with CRLF (RFC 9112 §2.2)")
    }

    static func bareCR(_ section: Section) -> HTTP1ParseError {
        .badRequest("bare CR in the \(section) section: CR not followed by LF (RFC 9112 §2.2)")
    }
}
