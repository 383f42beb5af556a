import Foundation
import Locks
import Logging
import RPCCore
import Server
import TensorwireClient
import TensorwireProto
import Testing

@testable import TensorwireCLI
import TestSupport

/// The `tensorwire` command end to end: `TensorwireCommand.run` against an in-process server on an ephemeral
/// port, its output captured through `Console` (standard input fed from a list of lines).
@Suite(.serialized, .tags(.live))
struct CLICommandLiveTests {
    /// What one command printed and returned.
    struct Result {
        var code: Int32
        var out: [String]
        var err: [String]
        var stdout: String { out.joined(separator: "\n") }
        var stderr: String { err.joined(separator: "\n") }
    }

    /// A console that keeps what is written and feeds `input` as standard input.
    final class Capture: Sendable {
        let out = Lock<[String]>([])
        let err = Lock<[String]>([])
        let input: Lock<[String]>

        init(input: [String]) {
            self.input = Lock(input)
        }

        var console: Console {
            Console(
                out: { [self] line in out.withLock { $0.append(line) } },
                err: { [self] line in err.withLock { $0.append(line) } },
                readLine: { [self] in input.withLock { $0.isEmpty ? nil : $0.removeFirst() } },
                readAll: { [self] in Array(input.withLock { $0.joined(separator: "\n") }.utf8) })
        }
    }

    static func run(_ arguments: [String], port: Int?, stdin: [String] = []) -> Result {
        let capture = Capture(input: stdin)
        let environment = port.map { ["TENSORWIRE_SERVER": "127.0.0.1:\($0)"] } ?? [:]
        let code = TensorwireCommand.run(arguments, environment: environment, console: capture.console)
        return Result(code: code, out: capture.out.withLock { $0 }, err: capture.err.withLock { $0 })
    }

    /// An in-process server (the built-in `digits` model unless `arguments` say otherwise) on an ephemeral port.
    static func withServer(_ arguments: [String] = [], _ body: (TensorwireServer) throws -> Void) throws {
        guard case .run(let options) = try ServerOptions.parse(arguments + ["--port", "0"]) else {
            Issue.record("\(arguments) did not parse as a run")
            return
        }
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        try body(server)
    }

    /// A fresh temporary directory, removed after `body`.
    static func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory)
    }

    /// A model repository whose only model, `broken`, has a model.onnx that is not ONNX: it is FAILED.
    static func withFailedModelServer(_ body: (TensorwireServer) throws -> Void) throws {
        try withTemporaryDirectory { root in
            let version = root.appendingPathComponent("broken/1")
            try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
            try Data([0x0A, 0xFF, 0x01, 0x02]).write(to: version.appendingPathComponent("model.onnx"))
            try withServer(["--models", root.path]) { server in try body(server) }
        }
    }

    static func row(_ seed: Int = 0) -> [Double] { (0..<64).map { Double(($0 * 7 + seed) % 16) } }

    static func json(_ rows: [[Double]]) -> String {
        "[" + rows.map { "[" + $0.map { String(Int($0)) }.joined(separator: ",") + "]" }.joined(separator: ",") + "]"
    }

    static func parse(_ line: String) throws -> JSONValue { try JSONParser.parse(line) }

    // MARK: 10. stream

    @Test func streamPrintsEachAnswerAndAnErrorLineForABadLineAndGoesOn() throws {
        try Self.withServer { server in
            let lines = [Self.json([Self.row(1)]), Self.json([Self.row(2)]), "not json", "", Self.json([Self.row(3)]),
                         #"{"Y": [[1]]}"#, "[[1e400]]"]
            let result = Self.run(["stream", "digits"], port: server.port, stdin: lines)
            #expect(result.code == CLIError.ExitCode.someFailed, "\(result)")
            let answers = try result.out.map(Self.parse)
            // One line per non-blank input line, in input order, ids = line numbers.
            try #require(answers.map { $0["id"]?.stringValue } == ["1", "2", "3", "5", "6", "7"], "\(result)")
            for index in [0, 1, 3] {
                #expect(answers[index]["outputs"]?["label"] != nil, "\(result.out[index])")
                #expect(answers[index]["error"] == nil)
            }
            for index in [2, 4, 5] {
                #expect(answers[index]["error"]?["code"] == .integer(3), "\(result.out[index])")
                #expect(answers[index]["outputs"] == nil)
            }
            #expect(answers[2]["error"]?["message"]?.stringValue?.contains("invalid JSON") == true)
            #expect(answers[4]["error"]?["message"]?.stringValue?.contains("no input 'Y'") == true)
            #expect(answers[5]["error"]?["message"]?.stringValue?.contains("finite") == true)
            #expect(result.stderr.contains("3 of 6 requests failed"), "\(result.err)")
        }
    }

    @Test func streamOutputKeepsInputOrderWhenALocalErrorIsKnownFirst() {
        let capture = Capture(input: [])
        let output = StreamOutput(console: capture.console)
        output.expectAnswer()
        output.expectAnswer()
        output.local("e3")
        #expect(capture.out.withLock { $0 }.isEmpty)
        output.answered("a1", failed: false)
        #expect(capture.out.withLock { $0 } == ["a1"])
        output.answered("a2", failed: true)
        output.expectAnswer()
        output.local("e5")
        let counts = output.finish()
        #expect(capture.out.withLock { $0 } == ["a1", "a2", "e3", "e5"])
        #expect(counts.failed == 3)
        #expect(counts.total == 5)
    }

    // MARK: 11. a model that is not READY

    @Test func predictOnAFailedModelNamesItsStateAndTheServersReason() throws {
        try Self.withFailedModelServer { server in
            let client = try TensorwireClient(host: "127.0.0.1", port: server.port, defaultTimeout: .seconds(10))
            defer { client.close() }
            let info = try client.getModel("broken")
            #expect(info.state == .failed)
            #expect(!info.error.isEmpty)
            for arguments in [["predict", "broken", "--input", "[[1]]"], ["stream", "broken"],
                              ["bench", "broken", "--requests", "1", "--warmup", "0"]] {
                let result = Self.run(arguments, port: server.port, stdin: ["[[1]]"])
                #expect(result.code == CLIError.ExitCode.notServing, "\(arguments): \(result)")
                #expect(result.stderr.contains("model 'broken' is FAILED: \(info.error)"), "\(arguments): \(result.err)")
                #expect(!result.stderr.contains("0 inputs"))
                #expect(result.out.isEmpty)
            }
        }
    }

    @Test func predictOnAnUnloadedModelSaysSo() throws {
        try Self.withServer { server in
            try server.catalog.unload(model: "digits")
            let result = Self.run(["predict", "digits", "--input", Self.json([Self.row()])], port: server.port)
            #expect(result.code == CLIError.ExitCode.notServing, "\(result)")
            #expect(result.stderr.contains("model 'digits' is UNLOADED"), "\(result.err)")
            #expect(!result.stderr.contains("0 inputs"))
        }
    }

    // MARK: 12. bench against a model that fails every request

    @Test func benchStopsAfterTheFirstSecondWhenEveryRequestFailed() throws {
        try Self.withServer { server in
            // A 3-column row for a 64-column model: the server refuses every request. Without the early stop this
            // runs for the whole minute and reports 0 req/s.
            let result = Self.run(["bench", "digits", "--input", "[[1,2,3]]", "--duration", "60s", "--warmup", "0"],
                                  port: server.port)
            #expect(result.code == CLIError.ExitCode.serverError, "\(result)")
            #expect(result.out.isEmpty, "no report: \(result.out)")
            #expect(result.stderr.contains("INVALID_ARGUMENT"), "\(result.err)")
            #expect(result.stderr.contains("expected shape"), "the first error is shown: \(result.err)")
            #expect(result.stderr.contains("requests of the first second failed"), "\(result.err)")
        }
    }

    // MARK: 13. bench --stream --timeout

    @Test func benchStreamHonoursTheTimeoutPerRequest() throws {
        // Every stream request waits out a 300 ms batching delay (one in flight never fills a batch; a stream
        // request carries no deadline the batcher could see), far past --timeout. The late answers are dropped and
        // the stream is cancelled at the end rather than waited for.
        try Self.withServer(["--max-queue-delay-us", "300000"]) { server in
            let result = Self.run(
                ["bench", "digits", "--stream", "-c", "1", "--requests", "4", "--warmup", "0", "--timeout", "50ms", "--json"],
                port: server.port)
            if result.code == CLIError.ExitCode.someFailed {
                let report = try Self.parse(result.stdout)
                #expect(report["errors"] == .integer(4), "\(result)")
                #expect(report["errors_by_code"]?["DEADLINE_EXCEEDED"] == .integer(4), "\(result)")
                #expect(result.stderr.contains("4 of 4 requests failed"), "\(result.err)")
            } else {
                // A slow machine: the four requests spanned the first second, so the run stopped early.
                #expect(result.code == CLIError.ExitCode.deadlineExceeded, "\(result)")
                #expect(result.stderr.contains("DEADLINE_EXCEEDED: no answer within --timeout"), "\(result.err)")
            }
        }
    }

    // MARK: 14. addresses

    @Test func aURLOtherThanHTTPIsRefusedWithTheAddressToUse() {
        let result = Self.run(["--server", "grpc://localhost:50051", "list"], port: nil)
        #expect(result.code == CLIError.ExitCode.usage)
        #expect(result.err.first == "tensorwire: --server takes HOST:PORT (gRPC) or http://HOST:PORT (HTTP/1.1), no other "
            + "scheme: use localhost:50051", "\(result.err)")
        #expect(throws: CLIError.self) { try ArgumentValues.server("grpc://[::1]:7/") }
        let tls = Self.run(["--server", "https://localhost:8443", "list"], port: nil)
        #expect(tls.code == CLIError.ExitCode.usage)
        #expect(tls.err.first == "tensorwire: --server: https:// is not supported yet; for gRPC over TLS give HOST:PORT and --tls-ca FILE")
    }

    @Test func anUnknownHostSaysItDoesNotResolveOnce() {
        let result = Self.run(["--server", "nosuchhost.invalid:50051", "list"], port: nil)
        #expect(result.code == CLIError.ExitCode.unavailable, "\(result)")
        #expect(result.err.count == 1, "\(result.err)")
        let line = result.err.first ?? ""
        #expect(line.hasPrefix("tensorwire: cannot resolve host nosuchhost.invalid"), "\(line)")
        #expect(line.components(separatedBy: "nosuchhost.invalid").count == 2, "the host is named once: \(line)")
        #expect(!line.contains("Error"), "no Swift type names: \(line)")
        #expect(!line.contains("assign requested address"), "not the connect's errno: \(line)")
    }

    @Test func aRefusedPortSaysNothingListens() throws {
        var port = 0
        try Self.withServer { server in port = server.port }
        for arguments in [["list"], ["health"], ["predict", "digits", "--input", "[[1]]"], ["stream", "digits"],
                          ["bench", "digits", "--requests", "1", "--warmup", "0"]] {
            let result = Self.run(arguments, port: port)
            #expect(result.code == CLIError.ExitCode.unavailable, "\(arguments): \(result)")
            #expect(result.err == ["tensorwire: nothing listens on 127.0.0.1:\(port) (connection refused)"], "\(arguments): \(result.err)")
        }
    }

    @Test func unavailableMessagesReadAsPlainEnglish() {
        let refused = Reachability.describe(
            unavailable: "connection closed: connect: \(String(cString: strerror(ECONNREFUSED)))", host: "::1", port: 9)
        #expect(refused == "nothing listens on [::1]:9 (connection refused)")
        let closed = Reachability.describe(
            unavailable: "connection closed: the peer closed the connection", host: "h", port: 1) { _, _ in nil }
        #expect(closed == "cannot reach h:1 (the peer closed the connection)")
        // Without a reason in the message, a second connect tells.
        let probed = Reachability.describe(unavailable: "connection closed", host: "h", port: 1) { _, _ in ECONNREFUSED }
        #expect(probed == "nothing listens on h:1 (connection refused)")
        let connects = Reachability.describe(unavailable: "connection closed", host: "h", port: 1) { _, _ in 0 }
        #expect(connects == "cannot reach h:1 (connection closed)")
        // The server's own UNAVAILABLE (a model that is not loaded) is passed on as it is.
        #expect(Reachability.describe(unavailable: #"model "m" is not loaded (unloaded)"#, host: "h", port: 1) == nil)
    }

    // MARK: 15. small ones

    @Test func extraArgumentsAreNamed() {
        let list = Self.run(["list", "extra"], port: nil)
        #expect(list.code == CLIError.ExitCode.usage)
        #expect(list.err.first == "tensorwire: list takes no arguments (got 'extra')", "\(list.err)")
        let info = Self.run(["info"], port: nil)
        #expect(info.err.first == "tensorwire: info needs MODEL", "\(info.err)")
        let health = Self.run(["health", "a", "b"], port: nil)
        #expect(health.err.first == "tensorwire: health takes [SERVICE]; unexpected 'b'", "\(health.err)")
    }

    @Test func nonFiniteInputIsRefusedAsBadInput() throws {
        try Self.withServer { server in
            var row = Self.row().map { String(Int($0)) }
            row[5] = "1e400"
            let infinite = Self.run(["predict", "digits", "--input", "[[" + row.joined(separator: ",") + "]]"], port: server.port)
            #expect(infinite.code == CLIError.ExitCode.input, "\(infinite)")
            #expect(infinite.stderr.contains("element [0, 5] is infinite"), "\(infinite.err)")
            #expect(infinite.out.isEmpty)
            row[5] = "1e39"  // finite as a double, infinite as the model's float32
            let tooLarge = Self.run(["predict", "digits", "--input", "[[" + row.joined(separator: ",") + "]]"], port: server.port)
            #expect(tooLarge.code == CLIError.ExitCode.input, "\(tooLarge)")
            #expect(tooLarge.stderr.contains("out of float32 range"), "\(tooLarge.err)")
        }
        // NaN is a missing value, kept; infinities are refused.
        var nan = Float.nan.bitPattern
        let bytes = withUnsafeBytes(of: &nan) { Array($0) }
        let array = try NPYArray(bytes: CLIPartsTests.npy(descr: "<f4", shape: "(1, 1)", payload: bytes))
        #expect(try TensorJSON.tensor(name: "X", npy: array).floatData.map(\.isNaN) == [true])
        let halfNaN = try NPYArray(bytes: CLIPartsTests.npy(descr: "<f2", shape: "(1,)", payload: [0x01, 0x7E]))
        #expect(try TensorJSON.tensor(name: "X", npy: halfNaN).rawData == [0x01, 0x7E])
        let half = try NPYArray(bytes: CLIPartsTests.npy(descr: "<f2", shape: "(1,)", payload: [0x00, 0x7C]))  // +inf
        #expect(throws: CLIError.self) { try TensorJSON.tensor(name: "X", npy: half) }
    }

    /// IEEE 754 binary16 bits of a small whole number (exact).
    static func half(_ value: Double) -> UInt16 {
        if value == 0 { return 0 }
        let exponent = Int(log2(value).rounded(.down))
        let mantissa = UInt16((value / pow(2, Double(exponent)) - 1) * 1024)
        return UInt16(exponent + 15) << 10 | mantissa
    }

    @Test func npyFilesOfUInt8AndFloat16PredictLikeFloat32() throws {
        let rows = [Self.row(0), Self.row(5)]
        let uint8 = CLIPartsTests.npy(descr: "|u1", shape: "(2, 64)", payload: rows.flatMap { $0.map { UInt8($0) } })
        let float16 = CLIPartsTests.npy(
            descr: "<f2", shape: "(2, 64)", payload: rows.flatMap { $0.flatMap { value in
                let bits = Self.half(value)
                return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
            } })
        #expect(try NPYArray(bytes: uint8).elements == .uint8(rows.flatMap { $0.map { UInt8($0) } }))
        let parsedHalf = try NPYArray(bytes: float16)
        #expect(parsedHalf.shape == [2, 64])
        let tensor = try TensorJSON.tensor(name: "X", npy: parsedHalf)
        #expect(tensor.dtype == .float16)
        #expect(tensor.rawData.count == 2 * 64 * 2)
        try Self.withServer { server in
            let reference = Self.run(["predict", "digits", "--input", Self.json(rows)], port: server.port)
            #expect(reference.code == 0, "\(reference)")
            let expected = try Self.parse(reference.stdout)["outputs"]
            try Self.withTemporaryDirectory { directory in
                for (name, bytes) in [("u8.npy", uint8), ("f16.npy", float16)] {
                    let path = directory.appendingPathComponent(name).path
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                    let result = Self.run(["predict", "digits", "--input", "@" + path], port: server.port)
                    #expect(result.code == 0, "\(name): \(result)")
                    #expect(try Self.parse(result.stdout)["outputs"] == expected, "\(name)")
                }
            }
        }
    }

    @Test func infoAndListTakePrettyWithJSON() throws {
        try Self.withServer { server in
            for command in [["info", "digits"], ["list"]] {
                let compact = Self.run(command + ["--json"], port: server.port)
                #expect(compact.code == 0, "\(compact)")
                #expect(compact.out.count == 1, "one line: \(compact.out)")
                let pretty = Self.run(command + ["--json", "--pretty"], port: server.port)
                #expect(pretty.code == 0, "\(pretty)")
                #expect(pretty.out.count == 1 && pretty.stdout.split(separator: "\n").count > 3, "indented: \(pretty.out)")
                let (indented, oneLine) = (try Self.parse(pretty.stdout), try Self.parse(compact.stdout))
                #expect(indented == oneLine)
            }
        }
    }

    @Test func benchReportsRowsPerSecond() throws {
        try Self.withServer { server in
            let json = Self.run(["bench", "digits", "--rows", "4", "--requests", "20", "--warmup", "0", "--json"], port: server.port)
            #expect(json.code == 0, "\(json)")
            let report = try Self.parse(json.stdout)
            #expect(report["rows_per_request"] == .integer(4))
            let requests = try #require(report["throughput_rps"]?.doubleValue)
            let rows = try #require(report["throughput_rows_per_s"]?.doubleValue)
            #expect(requests > 0)
            #expect(abs(rows - 4 * requests) <= 0.5, "\(rows) vs \(requests)")
            let text = Self.run(["bench", "digits", "--rows", "4", "--requests", "20", "--warmup", "0"], port: server.port)
            #expect(text.code == 0, "\(text)")
            let throughput = text.stdout.split(separator: "\n").first { $0.hasPrefix("throughput") } ?? ""
            #expect(throughput.contains(" req/s") && throughput.hasSuffix(" rows/s (4 rows per request)"), "\(text.out)")
            let file = Self.run(["bench", "digits", "--input", Self.json([Self.row(), Self.row(1), Self.row(2)]),
                                 "--requests", "5", "--warmup", "0", "--json"], port: server.port)
            #expect(try Self.parse(file.stdout)["rows_per_request"] == .integer(3), "\(file)")
            #expect(Self.run(["bench", "digits", "--rows", "2", "--input", "[[1]]"], port: server.port).code == CLIError.ExitCode.usage)
        }
    }

    @Test func everyHelpTextRuns() {
        for command in ["", "list", "info", "health", "predict", "stream", "bench"] {
            let result = Self.run((command.isEmpty ? [] : [command]) + ["--help"], port: nil)
            #expect(result.code == 0)
            #expect(result.stdout.contains("usage: tensorwire"))
            #expect(result.stdout.contains("Exit codes"))
        }
        #expect(Self.run(["stream", "--help"], port: nil).stdout.contains("A line that is not valid input"))
        #expect(Self.run(["info", "--help"], port: nil).stdout.contains("--pretty"))
    }

    @Test func versionPrintsTheVersionAndCommitButStaysTheModelVersionAfterACommand() {
        let result = Self.run(["--version"], port: nil)
        #expect(result.code == 0)
        #expect(result.stdout.hasPrefix("tensorwire 0.") && result.stdout.contains("(commit "))
        // After `predict`, --version still selects the model version (here: a usage error for the missing input).
        #expect(!Self.run(["predict", "digits", "--version", "2"], port: nil).stdout.contains("(commit "))
    }
}
