// Tests/LoggingTests/AccessLogTests.swift: the access line's exact keys and types in both formats, and that an
// access log that is off does no work.

import Logging
import Locks
import Testing

@Suite struct AccessLogTests {
    static let grpcKeys = [
        "peer", "protocol", "route", "model", "version", "status", "duration_us", "queue_us", "compute_us",
        "batch_size", "request_id", "trace_id",
    ]
    static let httpKeys = [
        "peer", "protocol", "route", "model", "version", "status", "http_status", "duration_us", "queue_us",
        "compute_us", "batch_size", "request_id", "trace_id",
    ]

    static let grpcRecord = AccessLogRecord(
        peer: "127.0.0.1:53422", wireProtocol: .grpc, route: "/tensorwire.v1.Inference/Predict", model: "iris",
        version: "1", status: "OK", durationMicroseconds: 812, queueMicroseconds: 40, computeMicroseconds: 610,
        batchSize: 8, requestID: "req-1", traceID: "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    static let httpRecord = AccessLogRecord(
        peer: "[::1]:40000", wireProtocol: .http, route: "POST /v2/models/nope/infer", model: "nope",
        status: "NOT_FOUND", httpStatus: 404, durationMicroseconds: 95
    )

    func lines(_ kind: LogFormatKind, minimumLevel: LogLevel = .info, _ records: AccessLogRecord...) -> [String] {
        let output = MemoryLogOutput()
        let access = AccessLog(
            sink: LogSink(format: kind.format, output: output, minimumLevel: minimumLevel, clock: { testTime }), enabled: true
        )
        for record in records { access.log(record) }
        return output.lines
    }

    @Test func keysListsEveryKeyInLineOrder() {
        #expect(AccessLogRecord.keys == Self.httpKeys)
        #expect(Self.grpcRecord.fields.keys == Self.grpcKeys)
        #expect(Self.httpRecord.fields.keys == Self.httpKeys)
    }

    @Test func jsonLinesCarryExactlyTheAccessKeysWithTheirTypes() throws {
        let written = lines(.json, Self.grpcRecord, Self.httpRecord)
        #expect(written.count == 2)
        let grpc = try parsedLine(written[0])
        #expect(grpc.keys == ["ts", "level", "component", "msg"] + Self.grpcKeys)
        #expect(grpc["level"] == .string("info") && grpc["component"] == .string("access") && grpc["msg"] == .string(""))
        #expect(grpc["peer"] == .string("127.0.0.1:53422"))
        #expect(grpc["protocol"] == .string("grpc"))
        #expect(grpc["route"] == .string("/tensorwire.v1.Inference/Predict"))
        #expect(grpc["model"] == .string("iris") && grpc["version"] == .string("1") && grpc["status"] == .string("OK"))
        #expect(grpc["duration_us"] == .integer(812) && grpc["queue_us"] == .integer(40))
        #expect(grpc["compute_us"] == .integer(610) && grpc["batch_size"] == .integer(8))
        #expect(grpc["request_id"] == .string("req-1") && grpc["trace_id"] == .string("4bf92f3577b34da6a3ce929d0e0e4736"))

        let http = try parsedLine(written[1])
        #expect(http.keys == ["ts", "level", "component", "msg"] + Self.httpKeys)
        #expect(http["protocol"] == .string("http") && http["status"] == .string("NOT_FOUND"))
        #expect(http["http_status"] == .integer(404))
        // Stages the request never reached are 0 and "", never a different type.
        #expect(http["version"] == .string("") && http["queue_us"] == .integer(0) && http["batch_size"] == .integer(0))
        #expect(http["request_id"] == .string("") && http["trace_id"] == .string(""))
    }

    @Test func textLinesCarryExactlyTheAccessKeys() {
        let written = lines(.text, Self.grpcRecord, Self.httpRecord)
        #expect(written == [
            "2026-12-06T21:19:04.123Z INFO  access: peer=127.0.0.1:53422 protocol=grpc"
                + " route=/tensorwire.v1.Inference/Predict model=iris version=1 status=OK duration_us=812 queue_us=40"
                + " compute_us=610 batch_size=8 request_id=req-1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
            "2026-12-06T21:19:04.123Z INFO  access: peer=[::1]:40000 protocol=http"
                + #" route="POST /v2/models/nope/infer" model=nope version="" status=NOT_FOUND http_status=404"#
                + #" duration_us=95 queue_us=0 compute_us=0 batch_size=0 request_id="" trace_id="""#,
        ])
        for (line, keys) in zip(written, [Self.grpcKeys, Self.httpKeys]) {
            let pairs = line.split(separator: "access: ", maxSplits: 1)[1]
            // Quoted values here hold no `=`, so every `key=` marks one field.
            let found = pairs.split(separator: "=").dropLast().map { $0.split(separator: " ").last.map(String.init) ?? "" }
            #expect(found == keys)
        }
    }

    @Test func linesAreWrittenWhateverTheLogLevel() {
        #expect(lines(.text, minimumLevel: .error, Self.grpcRecord).count == 1)
    }

    @Test func anAccessLogThatIsOffBuildsNothing() {
        let built = Lock(0)
        func makeRecord() -> AccessLogRecord {
            built.withLock { $0 += 1 }
            return Self.grpcRecord
        }
        let output = MemoryLogOutput()
        let off = AccessLog(sink: LogSink(output: output, minimumLevel: .debug), enabled: false)
        off.log(makeRecord())
        AccessLog.disabled.log(makeRecord())
        AccessLog(sink: .discarding, enabled: true).log(makeRecord())
        #expect(built.withLock { $0 } == 0)
        #expect(output.lines.isEmpty)
        #expect(!off.isEnabled && !AccessLog.disabled.isEnabled && !AccessLog(sink: .discarding, enabled: true).isEnabled)
        AccessLog(sink: LogSink(output: output), enabled: true).log(makeRecord())
        #expect(built.withLock { $0 } == 1 && output.lines.count == 1)
    }
}
