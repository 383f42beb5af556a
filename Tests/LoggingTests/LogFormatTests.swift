// Tests/LoggingTests/LogFormatTests.swift: the text and JSON formats, field values and their escaping, and what a
// logger skips below its level.

import JSONWire
import Logging
import Locks
import Testing

/// 2026-12-06T21:19:04.123Z, the fixed time of every test line.
let testTime = WallTime(seconds: 1_796_591_944, nanoseconds: 123_456_789)

func record(_ message: String, level: LogLevel = .info, component: String = "server", fields: LogFields = [:]) -> LogRecord {
    LogRecord(time: testTime, level: level, component: component, message: message, fields: fields)
}

@Suite struct TextLogFormatTests {
    @Test func lineWithoutFieldsKeepsItsShape() {
        #expect(TextLogFormat().format(record("listening on 127.0.0.1:50051"))
            == "2026-12-06T21:19:04.123Z INFO  server: listening on 127.0.0.1:50051")
        #expect(TextLogFormat().format(record("two\nlines\r\nthree", level: .error))
            == "2026-12-06T21:19:04.123Z ERROR server: two\\nlines\\nthree")
    }

    @Test func fieldsFollowTheMessageAsKeyValuePairs() {
        let fields: LogFields = ["model": "iris", "rows": 3, "ratio": 0.25, "cached": false, "delta": -7]
        #expect(TextLogFormat().format(record("loaded", fields: fields))
            == "2026-12-06T21:19:04.123Z INFO  server: loaded model=iris rows=3 ratio=0.25 cached=false delta=-7")
    }

    @Test func emptyMessageLeavesNoDoubleSpace() {
        #expect(TextLogFormat().format(record("", component: "access", fields: ["peer": "127.0.0.1:5000", "status": "OK"]))
            == "2026-12-06T21:19:04.123Z INFO  access: peer=127.0.0.1:5000 status=OK")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("", #""""#),
        ("two words", #""two words""#),
        ("a=b", #""a=b""#),
        (#"say "hi""#, #""say \"hi\"""#),
        (#"C:\models"#, #""C:\\models""#),
        ("line\nbreak\r\ttab", #""line\nbreak\r\ttab""#),
        ("esc\u{1B}[31m", #""esc\u{1b}[31m""#),
        ("del\u{7F}", #""del\u{7f}""#),
        ("/v2/models/ïris", "/v2/models/ïris"),
    ])
    func valuesAreQuotedWhenTheyWouldBreakThePair(value: String, written: String) {
        #expect(TextLogFormat().format(record("m", fields: ["k": .string(value)]))
            == "2026-12-06T21:19:04.123Z INFO  server: m k=\(written)")
    }

    @Test func keysThatWouldBreakThePairAreMended() {
        #expect(TextLogFormat().format(record("m", fields: ["a key=\"x\"": 1]))
            == "2026-12-06T21:19:04.123Z INFO  server: m a_key__x_=1")
    }
}

@Suite struct JSONLogFormatTests {
    @Test func envelopeComesFirstThenFieldsInOrder() throws {
        let line = JSONLogFormat().format(record("listening", fields: ["port": 50051, "host": "127.0.0.1"]))
        #expect(line == #"{"ts":"2026-12-06T21:19:04.123Z","level":"info","component":"server","msg":"listening","port":50051,"host":"127.0.0.1"}"#)
        let object = try parsedLine(line)
        #expect(object.keys == ["ts", "level", "component", "msg", "port", "host"])
    }

    @Test(arguments: [(LogLevel.debug, "debug"), (.info, "info"), (.warning, "warn"), (.error, "error")])
    func levelsAreLowercaseNames(level: LogLevel, name: String) throws {
        #expect(try parsedLine(JSONLogFormat().format(record("m", level: level)))["level"] == .string(name))
    }

    @Test func fieldValuesKeepTheirJSONTypes() throws {
        let fields: LogFields = [
            "s": "text", "digits": "42", "i": 42, "negative": -3, "max": .int(Int.max), "min": .int(Int.min),
            "d": 0.5, "whole": 2.0, "tiny": 1e-5, "huge": 1e20, "t": true, "f": false,
        ]
        let object = try parsedLine(JSONLogFormat().format(record("m", fields: fields)))
        #expect(object["s"] == .string("text"))
        #expect(object["digits"] == .string("42"))
        #expect(object["i"] == .integer(42))
        #expect(object["negative"] == .integer(-3))
        #expect(object["max"] == .integer(.max))
        #expect(object["min"] == .integer(.min))
        #expect(object["d"] == .double(0.5))
        // A whole double keeps its fraction, so it stays a double in the log store.
        #expect(object["whole"] == .double(2.0))
        #expect(object["tiny"] == .double(1e-5))
        #expect(object["huge"] == .double(1e20))
        #expect(object["t"] == .bool(true))
        #expect(object["f"] == .bool(false))
    }

    @Test func nonFiniteDoublesAreStrings() throws {
        let object = try parsedLine(JSONLogFormat().format(record("m", fields: [
            "nan": .double(.nan), "inf": .double(.infinity), "ninf": .double(-.infinity),
        ])))
        #expect(object["nan"] == .string("NaN"))
        #expect(object["inf"] == .string("Infinity"))
        #expect(object["ninf"] == .string("-Infinity"))
    }

    @Test(arguments: [
        (#"say "hi""#, #""say \"hi\"""#),
        (#"back\slash"#, #""back\\slash""#),
        ("nl\ncr\rtab\tbs\u{08}ff\u{0C}", #""nl\ncr\rtab\tbs\bff\f""#),
        ("nul\u{00}unit\u{1F}esc\u{1B}", #""nul\u0000unit\u001fesc\u001b""#),
        ("del\u{7F} slash/ é 🦀 \u{2028}", "\"del\u{7F} slash/ é 🦀 \u{2028}\""),
    ])
    func stringsAreEscapedAsRFC8259Requires(value: String, written: String) throws {
        let line = JSONLogFormat().format(record(value, fields: ["v": .string(value)]))
        #expect(line.hasSuffix(#","msg":\#(written),"v":\#(written)}"#))
        let object = try parsedLine(line)
        #expect(object["msg"] == .string(value))
        #expect(object["v"] == .string(value))
    }

    @Test func everyControlCharacterRoundTrips() throws {
        let value = String(String.UnicodeScalarView((0..<0x20).compactMap(Unicode.Scalar.init)))
        let line = JSONLogFormat().format(record(value, component: value, fields: [value: .string(value)]))
        #expect(!line.utf8.contains { $0 < 0x20 })
        let object = try parsedLine(line)
        #expect(object["msg"] == .string(value) && object["component"] == .string(value) && object[value] == .string(value))
    }

    @Test func invalidUTF8FromAPeerBecomesReplacementCharacters() throws {
        let bytes: [UInt8] = [0x61, 0xFF, 0x62, 0xC3, 0x28, 0xE2, 0x82, 0x63, 0xED, 0xA0, 0x80]
        let value = LogValue.utf8(bytes)
        guard case .string(let text) = value else {
            Issue.record("not a string")
            return
        }
        #expect(text.hasPrefix("a\u{FFFD}b\u{FFFD}("))
        #expect(!text.unicodeScalars.contains { $0.value >= 0xD800 && $0.value < 0xE000 })
        let object = try parsedLine(JSONLogFormat().format(record("m", fields: ["path": value])))
        #expect(object["path"] == .string(text))
        #expect(LogValue.utf8(Array("/v1/models".utf8)) == "/v1/models")
    }

    @Test func fieldsNamedLikeTheEnvelopeAreRenamed() throws {
        let fields: LogFields = ["ts": "x", "level": "y", "component": "z", "msg": "w", "other": 1]
        let object = try parsedLine(JSONLogFormat().format(record("m", fields: fields)))
        #expect(object.keys == ["ts", "level", "component", "msg", "fields.ts", "fields.level", "fields.component", "fields.msg", "other"])
        #expect(object["level"] == .string("info") && object["fields.level"] == .string("y"))
    }

    @Test func everyLineOfAMixedLogParses() throws {
        let output = MemoryLogOutput()
        let sink = LogSink(format: LogFormatKind.json.format, output: output, minimumLevel: .debug, clock: { testTime })
        let logger = Logger(component: "models", sink: sink)
        logger.debug("scan \"/tmp/models\"")
        logger.info("model iris version 1: READY", fields: ["model": "iris", "version": "1", "bytes": 1234])
        logger.warning("tab\there\nnewline", fields: ["why": "\u{00}\u{1F}\\\""])
        logger.error("failed", fields: ["ratio": .double(.nan), "ok": false])
        logger.component("transport").log(.info, "", fields: ["peer": "[::1]:5000"])
        #expect(output.lines.count == 5)
        for line in output.lines {
            let object = try parsedLine(line)
            #expect(object.keys.prefix(4) == ["ts", "level", "component", "msg"])
            #expect(object["ts"] == .string("2026-12-06T21:19:04.123Z"))
        }
    }
}

@Suite struct LogFieldsAndLoggerTests {
    @Test func aRepeatedKeyKeepsItsPlaceAndTakesTheLastValue() {
        let fields: LogFields = ["a": 1, "b": 2, "a": 3]
        #expect(fields.keys == ["a", "b"])
        #expect(fields["a"] == 3)
        var edited = fields
        edited["c"] = "x"
        edited["b"] = nil
        edited["missing"] = nil
        #expect(edited.map(\.key) == ["a", "c"])
        #expect(edited["c"] == .string("x"))
    }

    @Test func literalsPickTheValueKind() {
        let rows = 7
        let fields: LogFields = ["s": "a", "i": 1, "d": 1.5, "b": true, "interpolated": "\(rows) rows"]
        #expect(fields.map(\.value) == [.string("a"), .int(1), .double(1.5), .bool(true), .string("7 rows")])
    }

    @Test func belowTheLevelNeitherMessageNorFieldsAreBuilt() {
        let built = Lock(0)
        func message() -> String {
            built.withLock { $0 += 1 }
            return "m"
        }
        func fields() -> LogFields {
            built.withLock { $0 += 1 }
            return ["k": 1]
        }
        let output = MemoryLogOutput()
        let logger = Logger(component: "c", sink: LogSink(output: output, minimumLevel: .warning, clock: { testTime }))
        logger.debug(message(), fields: fields())
        logger.info(message(), fields: fields())
        logger.log(.info, message(), fields: fields())
        #expect(built.withLock { $0 } == 0 && output.lines.isEmpty)
        #expect(!logger.sink.isEnabled(.info) && logger.sink.isEnabled(.warning) && !LogSink.discarding.isEnabled(.error))
        logger.warning(message(), fields: fields())
        #expect(built.withLock { $0 } == 2)
        #expect(output.lines == ["2026-12-06T21:19:04.123Z WARN  c: m k=1"])
    }

    @Test func existingCallsWithoutFieldsStillWrite() {
        let output = MemoryLogOutput()
        let logger = Logger(component: "models", sink: LogSink(format: JSONLogFormat(), output: output, clock: { testTime }))
        logger.info("model a version 1: READY")
        logger.log(.error, "two\nlines")
        #expect(output.lines == [
            #"{"ts":"2026-12-06T21:19:04.123Z","level":"info","component":"models","msg":"model a version 1: READY"}"#,
            #"{"ts":"2026-12-06T21:19:04.123Z","level":"error","component":"models","msg":"two\nlines"}"#,
        ])
    }

    @Test func formatKindsNameTheirFormats() {
        #expect(LogFormatKind(rawValue: "json")?.format is JSONLogFormat)
        #expect(LogFormatKind(rawValue: "text")?.format is TextLogFormat)
        #expect(LogFormatKind(rawValue: "JSON") == nil && LogFormatKind(rawValue: "logfmt") == nil)
        #expect(LogFormatKind.allCases.map(\.rawValue) == ["text", "json"])
    }
}

@Suite struct JSONLineReaderTests {
    @Test(arguments: [
        "{\"a\":\"raw\u{01}\"}", #"{"a":"\x"}"#, #"{"a":1} x"#, #"{"a":1,"a":2}"#, #"{"a":01}"#, #"{"a":NaN}"#,
        #"{"a":"\ud800"}"#, #"{"a":1,}"#, #"["a"]"#,
    ])
    func refusesWhatALogLineMustNotBe(text: String) {
        #expect(throws: JSONError.self) { try readJSONLine(text) }
    }
}
