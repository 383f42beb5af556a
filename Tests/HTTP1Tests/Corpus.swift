// The HTTP/1.1 corpora (Tools/fixtures/http1/*.json, written by Tools/fixtures/generate_http1_corpus.py) and a
// driver that feeds bytes to a parser in chunks and records what comes out.

import Foundation
import HTTP1
import HTTPTypes

/// One request of Tools/fixtures/http1/hostile.json: raw bytes, the status refusing them (0: incomplete, not an
/// error) and a part of the reason.
struct HostileCase: Decodable, Sendable, CustomStringConvertible {
    var name: String
    var request: String
    var status: Int
    var reason: String

    var description: String { name }
}

/// One entry of Tools/fixtures/http1/valid.json: raw bytes and every request they hold.
struct ValidCase: Decodable, Sendable, CustomStringConvertible {
    struct Request: Decodable, Sendable {
        var method: String
        var target: String
        var versionMinor: Int
        var headers: [[String]]
        var keepAlive: Bool
        var expectsContinue: Bool
        var contentLength: Int?
        var isChunked: Bool
        var body: String
    }

    var name: String
    var request: String
    var requests: [Request]

    var description: String { name }

    /// The events the parser must hand out for `request`, body pieces merged.
    var expectedEvents: [HTTP1ParserEvent]? {
        var events: [HTTP1ParserEvent] = []
        for request in requests {
            guard request.headers.allSatisfy({ $0.count == 2 }), let body = Corpus.bytes(request.body) else { return nil }
            events.append(.head(HTTP1RequestHead(
                method: request.method, target: request.target, versionMinor: request.versionMinor,
                headers: request.headers.map { HeaderField($0[0], $0[1]) }, keepAlive: request.keepAlive,
                expectsContinue: request.expectsContinue, contentLength: request.contentLength,
                isChunked: request.isChunked)))
            if !body.isEmpty { events.append(.body(body)) }
            events.append(.end)
        }
        return events
    }
}

enum Corpus {
    /// The repository root: Tests/HTTP1Tests/Corpus.swift is three levels below it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let hostile: [HostileCase] = load("hostile.json")
    static let valid: [ValidCase] = load("valid.json")

    /// The cases of one file, or none when it is missing or malformed (the count test then fails).
    static func load<Case: Decodable>(_ file: String) -> [Case] {
        let url = root.appendingPathComponent("Tools/fixtures/http1").appendingPathComponent(file)
        guard let data = try? Data(contentsOf: url) else { return [] }
        return (try? JSONDecoder().decode([Case].self, from: data)) ?? []
    }

    /// A corpus string's bytes: one character per byte (code points 0…255); nil for any other character.
    static func bytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            guard let byte = UInt8(exactly: scalar.value) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}

/// What a parser made of some bytes fed in chunks.
struct Outcome {
    var events: [HTTP1ParserEvent] = []
    var error: HTTP1ParseError?
    /// Bytes fed when the error came out (the parser had read exactly these).
    var bytesFedAtError = 0
    var isMidRequest = false
    var maxBufferedHeadBytes = 0

    /// Events with adjacent body pieces merged, so outcomes of different chunkings compare equal.
    var mergedEvents: [HTTP1ParserEvent] { HTTP1ParserEvent.joiningBodies(events) }
}

/// Feeds `bytes` in chunks of `chunkSize` (the whole at once when nil) and collects events until an error.
func parse(_ bytes: [UInt8], chunkSize: Int? = nil, limits: HTTP1Limits = HTTP1Limits()) -> Outcome {
    let parser = HTTP1RequestParser(limits: limits)
    var outcome = Outcome()
    let step = max(chunkSize ?? bytes.count, 1)
    var offset = 0
    repeat {
        let end = min(offset + step, bytes.count)
        do {
            outcome.events += try parser.feed(Array(bytes[offset..<end]))
        } catch {
            outcome.error = error
            outcome.bytesFedAtError = end
            return outcome
        }
        outcome.maxBufferedHeadBytes = max(outcome.maxBufferedHeadBytes, parser.bufferedHeadBytes)
        if let failure = parser.failure {
            outcome.error = failure
            outcome.bytesFedAtError = end
            return outcome
        }
        offset = end
    } while offset < bytes.count
    outcome.isMidRequest = parser.isMidRequest
    return outcome
}
