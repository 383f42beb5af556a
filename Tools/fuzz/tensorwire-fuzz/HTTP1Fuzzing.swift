import HTTP1

/// The `http1` fuzz target. Input layout: byte 0 chooses the limits (bit 3: small ones, so the limit paths are
/// reached with short inputs) and the reads (bits 0-2: n = 0 feeds everything at once, else each read is 1 to 2^n
/// bytes long, sizes drawn from a generator seeded by byte 1). The rest is what a client sends.
///
/// Every input is parsed twice, in those reads and whole; the run traps when the parser breaks a promise of its API
/// (docs/http1.md): more than `maxHeadBytes` buffered, events out of order, more body than the limit or than
/// `Content-Length`, a status other than 400, 413, 414, 431, 501 or 505, a disagreement between the pre-scan and
/// libhttp-parser or a refusal by the library (the pre-scan should have refused first), a dead parser that stops
/// throwing, or a different outcome for the same bytes read differently.
enum HTTP1Fuzzing {
    static let statuses: Set<Int> = [400, 413, 414, 431, 501, 505]
    static let smallLimits = HTTP1Limits(maxHeadBytes: 256, maxHeaderCount: 4, maxTargetBytes: 32, maxBodyBytes: 64)

    static func run(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard bytes.count >= 2 else { return 0 }
        let mode = bytes[0]
        let limits = mode & 0x08 != 0 ? smallLimits : HTTP1Limits()
        let payload = UnsafeRawBufferPointer(rebasing: bytes[2...])
        var reads: [Range<Int>] = []
        var offset = 0
        var state = UInt32(bytes[1]) << 8 | 0x9E37_0001
        let maxRead = Int(mode & 7) == 0 ? Int.max : 1 << Int(mode & 7)
        while offset < payload.count {
            // xorshift32: deterministic for one input, so a finding replays.
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            let size = maxRead == Int.max ? payload.count : 1 + Int(state % UInt32(maxRead))
            let end = min(offset + size, payload.count)
            reads.append(offset..<end)
            offset = end
        }
        let split = parse(payload, reads: reads, limits: limits)
        let whole = parse(payload, reads: payload.isEmpty ? [] : [0..<payload.count], limits: limits)
        // Complete requests must come out the same however the bytes are read. Of a request cut short by an error
        // only the body pieces read before it differ (bytes of the read holding the bad one are not handed out).
        precondition(
            completed(split.events, error: split.error) == completed(whole.events, error: whole.error),
            "events differ between reads and one read")
        precondition(
            split.error == whole.error,
            "errors differ: \(String(describing: split.error)) vs \(String(describing: whole.error))")
        return split.error == nil ? 1 : 0
    }

    static func parse(
        _ payload: UnsafeRawBufferPointer, reads: [Range<Int>], limits: HTTP1Limits
    ) -> (events: [HTTP1ParserEvent], error: HTTP1ParseError?) {
        let parser = HTTP1RequestParser(limits: limits)
        var checker = EventChecker(limits: limits)
        var events: [HTTP1ParserEvent] = []
        for read in reads {
            do {
                let more = try parser.feed(UnsafeRawBufferPointer(rebasing: payload[read]))
                precondition(parser.bufferedHeadBytes <= limits.maxHeadBytes, "head buffer over maxHeadBytes")
                for event in more { checker.check(event) }
                events += more
            } catch {
                return (events, checkDead(parser, error))
            }
            if let failure = parser.failure { return (events, checkDead(parser, failure)) }
        }
        precondition(!checker.inRequest || parser.isMidRequest, "isMidRequest false inside a request")
        precondition(!parser.isReadingHead || parser.isMidRequest, "isReadingHead without isMidRequest")
        return (events, nil)
    }

    /// The error is one of the documented ones, and the parser stays dead.
    static func checkDead(_ parser: HTTP1RequestParser, _ error: HTTP1ParseError) -> HTTP1ParseError {
        precondition(statuses.contains(error.status), "undocumented status \(error.status): \(error.reason)")
        precondition(!error.reason.contains(HTTP1RequestParser.disagreementPrefix), "\(error.reason)")
        // The pre-scan refuses first whatever libhttp-parser would refuse; the library refusing is a gap in it.
        precondition(!error.reason.hasPrefix(HTTP1RequestParser.libraryRefusalPrefix), "\(error.reason)")
        do {
            _ = try parser.feed(UnsafeRawBufferPointer(start: nil, count: 0))
            preconditionFailure("a dead parser accepted bytes")
        } catch {
            precondition(error == parser.failure, "a dead parser threw another error")
        }
        return error
    }

    /// The events, merged, cut after the last complete request when an error followed.
    static func completed(_ events: [HTTP1ParserEvent], error: HTTP1ParseError?) -> [HTTP1ParserEvent] {
        let merged = HTTP1ParserEvent.joiningBodies(events)
        guard error != nil else { return merged }
        return Array(merged[..<((merged.lastIndex(of: .end) ?? -1) + 1)])
    }

    /// Follows the event stream: head, body…, end, head, …, with the head's framing respected.
    struct EventChecker {
        let limits: HTTP1Limits
        var head: HTTP1RequestHead?
        var bodyBytes = 0

        var inRequest: Bool { head != nil }

        init(limits: HTTP1Limits) {
            self.limits = limits
        }

        mutating func check(_ event: HTTP1ParserEvent) {
            switch event {
            case .head(let next):
                precondition(head == nil, "a head inside a request")
                precondition(next.versionMinor == 0 || next.versionMinor == 1, "version")
                precondition(!next.method.isEmpty && !next.target.isEmpty, "empty method or target")
                precondition(next.target.utf8.count <= limits.maxTargetBytes, "target over maxTargetBytes")
                precondition(next.headers.count <= limits.maxHeaderCount, "more fields than maxHeaderCount")
                precondition(!(next.isChunked && next.contentLength != nil), "chunked and Content-Length")
                precondition((next.contentLength ?? 0) <= limits.maxBodyBytes, "Content-Length over the limit")
                head = next
                bodyBytes = 0
            case .body(let bytes):
                guard let head else { preconditionFailure("body outside a request") }
                precondition(!bytes.isEmpty, "empty body event")
                precondition(head.isChunked || head.contentLength != nil, "body without framing")
                bodyBytes += bytes.count
                precondition(bodyBytes <= limits.maxBodyBytes, "body over maxBodyBytes")
                precondition(bodyBytes <= head.contentLength ?? .max, "body over Content-Length")
            case .end:
                guard let ended = head else { preconditionFailure("end outside a request") }
                if let length = ended.contentLength {
                    precondition(bodyBytes == length, "end before Content-Length bytes")
                }
                head = nil
            }
        }
    }
}
