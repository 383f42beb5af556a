import Dispatch
import Foundation
import RPCCore
import Server
import TensorwireClient
import TensorwireProto
import Testing

@testable import TensorwireCLI
import TestSupport

/// `tensorwire --http` end to end against an in-process server (REST on its gRPC port): the same output and exit
/// codes as over gRPC, bench over HTTP/1.1, and the HTTP/1.1 client's keep-alive, deadline and hostile-peer paths.
@Suite(.serialized, .tags(.live))
struct CLIHTTPLiveTests {
    typealias CLI = CLICommandLiveTests

    static func run(_ arguments: [String], port: Int) -> CLI.Result {
        CLI.run(["--server", "http://127.0.0.1:\(port)"] + arguments, port: nil)
    }

    @Test func listInfoHealthAndPredictPrintWhatGRPCPrints() throws {
        try CLI.withServer { server in
            for command in [["list"], ["list", "--json"], ["info", "digits"], ["info", "digits", "--json", "--pretty"], ["health"]] {
                let http = Self.run(command, port: server.port)
                let grpc = CLI.run(command, port: server.port)
                #expect(http.code == 0, "\(command): \(http)")
                #expect(http.out == grpc.out, "\(command)")
                #expect(http.err.isEmpty, "\(command): \(http.err)")
            }
            #expect(Self.run(["health"], port: server.port).stdout == "SERVING")
            let input = CLI.json([CLI.row(1), CLI.row(2)])
            // --http with a HOST:PORT address does the same as an http:// address.
            let http = CLI.run(["--http", "predict", "digits", "--input", input, "--top-k", "2"], port: server.port)
            let grpc = CLI.run(["predict", "digits", "--input", input, "--top-k", "2"], port: server.port)
            #expect(http.code == 0, "\(http)")
            let (viaHTTP, viaGRPC) = (try CLI.parse(http.stdout), try CLI.parse(grpc.stdout))
            // The floats are the same bits (shortest round-trip JSON both ways); only the batch timings differ.
            #expect(viaHTTP["outputs"] == viaGRPC["outputs"])
            #expect(viaHTTP["top_k"] == viaGRPC["top_k"])
            #expect(viaHTTP["model"] == .string("digits") && viaHTTP["version"] == .string("1"))
            #expect(viaHTTP["batch"]?["batch_size"]?.doubleValue ?? 0 >= 2, "\(http.stdout)")
        }
    }

    @Test func errorsExitAsOverGRPC() throws {
        try CLI.withServer { server in
            for command in [["info", "no-such-model"], ["predict", "no-such-model", "--input", "[[1]]"],
                            ["bench", "no-such-model", "-n", "1"]] {
                let http = Self.run(command, port: server.port)
                let grpc = CLI.run(command, port: server.port)
                #expect(http.code == CLIError.ExitCode.notFound, "\(command): \(http)")
                #expect(http.err == grpc.err, "\(command)")
                #expect(http.stderr.hasPrefix("tensorwire: NOT_FOUND: "), "\(http.err)")
            }
            // A request the model refuses: 400 over HTTP is INVALID_ARGUMENT (exit 1), with the server's message.
            let bad = Self.run(["predict", "digits", "--input", "[[1, 2, 3]]"], port: server.port)
            #expect(bad.code == CLIError.ExitCode.serverError, "\(bad)")
            #expect(bad.err == CLI.run(["predict", "digits", "--input", "[[1, 2, 3]]"], port: server.port).err)
        }
        var port = 0
        try CLI.withServer { server in port = server.port }
        for command in [["list"], ["health"], ["predict", "digits", "--input", "[[1]]"], ["bench", "digits", "-n", "1"]] {
            let result = Self.run(command, port: port)
            #expect(result.code == CLIError.ExitCode.unavailable, "\(command): \(result)")
            #expect(result.err == ["tensorwire: nothing listens on 127.0.0.1:\(port) (connection refused)"], "\(command): \(result.err)")
        }
    }

    @Test func healthIsNotServingWhileAModelIsMissingUnderStrictReadiness() throws {
        try CLI.withTemporaryDirectory { root in
            let version = root.appendingPathComponent("broken/1")
            try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
            try Data([0x0A, 0xFF]).write(to: version.appendingPathComponent("model.onnx"))
            try CLI.withServer(["--models", root.path, "--strict-readiness"]) { server in
                let http = Self.run(["health"], port: server.port)
                #expect(http.code == CLIError.ExitCode.notServing, "\(http)")
                #expect(http.out == ["NOT_SERVING"])
                #expect(CLI.run(["health"], port: server.port).out == ["NOT_SERVING"])
            }
        }
    }

    @Test func benchOverHTTPReportsLikeGRPC() throws {
        try CLI.withServer { server in
            let closed = Self.run(["bench", "digits", "-n", "50", "-c", "2", "--warmup", "0", "--json"], port: server.port)
            #expect(closed.code == 0, "\(closed)")
            let report = try CLI.parse(closed.stdout)
            #expect(report["transport"] == .string("http"))
            #expect(report["connections"] == .integer(2))
            #expect(report["requests"] == .integer(50))
            #expect(report["errors"] == .integer(0))
            #expect((report["throughput_rps"]?.doubleValue ?? 0) > 0)
            #expect((report["latency_ms"]?["p50"]?.doubleValue ?? -1) >= 0)
            // Every request's batch facts came back in its tw-* headers.
            if case .object(let sizes) = report["batch_sizes"] {
                #expect(sizes.compactMap { $0.1.doubleValue }.reduce(0, +) == 50, "\(closed.stdout)")
            } else {
                Issue.record("no batch_sizes: \(closed.stdout)")
            }
            let open = Self.run(["bench", "digits", "--rate", "200", "--connections", "2", "-n", "20", "--warmup", "0", "--json"],
                                port: server.port)
            #expect(open.code == 0, "\(open)")
            let openReport = try CLI.parse(open.stdout)
            #expect(openReport["requests"] == .integer(20) && openReport["errors"] == .integer(0), "\(open.stdout)")
            #expect(openReport["mode"]?.stringValue?.hasPrefix("open loop") == true)
            let text = Self.run(["bench", "digits", "-n", "10", "--warmup", "0"], port: server.port)
            #expect(text.stdout.hasPrefix("bench digits: closed loop, 1 in flight, HTTP/1.1 + JSON, 1 connection"), "\(text.out)")
        }
    }

    @Test func timeoutIsEachRequestsDeadline() throws {
        // One request never fills a batch: it waits out the 300 ms queue delay, past --timeout.
        try CLI.withServer(["--max-queue-delay-us", "300000"]) { server in
            let result = Self.run(["--timeout", "50ms", "predict", "digits", "--input", CLI.json([CLI.row()])], port: server.port)
            #expect(result.code == CLIError.ExitCode.deadlineExceeded, "\(result)")
            #expect(result.stderr.hasPrefix("tensorwire: DEADLINE_EXCEEDED: deadline exceeded"), "\(result.err)")
        }
    }

    @Test func headersAreSentAndMetadataRulesApply() throws {
        try CLI.withServer { server in
            let result = Self.run(["-H", "x-trace: abc", "-H", "x-data-bin: raw", "list"], port: server.port)
            #expect(result.code == 0, "\(result)")
            #expect(Self.run(["-H", "host: evil", "list"], port: server.port).code == CLIError.ExitCode.usage)
        }
    }

    // MARK: The HTTP/1.1 connection

    @Test func aConnectionIsKeptAliveAndReopenedAfterTheServerClosesIt() throws {
        try CLI.withServer(["--idle-timeout-seconds", "0.3"]) { server in
            let connection = HTTP1ClientConnection(host: "127.0.0.1", port: server.port)
            defer { connection.close() }
            let get = HTTP1ClientRequest(method: "GET", target: "/v1/models")
            for _ in 0..<3 {
                let response = try connection.send(get, timeout: .seconds(10))
                #expect(response.status == 200 && response.keepAlive)
                #expect(connection.isConnected)
            }
            // The server closes the idle connection; the next request notices and goes out on a new one.
            _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .milliseconds(800))
            #expect(connection.isConnected, "the client has not noticed yet")
            #expect(try connection.send(get, timeout: .seconds(10)).status == 200)
            let client = TensorwireRESTClient(host: "127.0.0.1", port: server.port, defaultTimeout: .seconds(10))
            #expect(try client.ready())
            #expect(throws: RPCError.self) { try client.getModel("nope") }
            #expect(try client.listModels().map(\.name) == ["digits"])
        }
    }

    /// A one-connection server that answers the first request with `answer` and then closes (or, with `hold`,
    /// keeps the connection open without another byte).
    static func withFakeServer(answer: String, hold: Bool = false, _ body: (Int) throws -> Void) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(listener, raw, length) == 0 && listen(listener, 4) == 0 && getsockname(listener, raw, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let done = Promise<Bool>()
        let release = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return done.fulfill(false) }
            var request: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
                let count = read(connection, &chunk, chunk.count)
                if count <= 0 { break }
                request += chunk[0..<count]
            }
            let bytes = Array(answer.utf8)
            _ = bytes.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            if hold { _ = release.wait(timeout: .now() + 10) }
            close(connection)
            done.fulfill(true)
        }
        try body(port)
        release.signal()
        #expect(done.wait() == true)
    }

    @Test func hostileAnswersFailTheCallWithAPlainReason() throws {
        let get = HTTP1ClientRequest(method: "GET", target: "/v1/models")
        let cases: [(answer: String, code: Status.Code, text: String)] = [
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", .internal, "Transfer-Encoding: chunked"),
            ("HTTP/1.1 200 OK\r\n\r\nuntil close", .internal, "no Content-Length"),
            ("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort", .unavailable, "5 of 100 body bytes"),
            ("SSH-2.0-OpenSSH\r\n\r\n", .internal, "bad status line"),
            ("", .unavailable, "without answering"),
        ]
        for (answer, code, text) in cases {
            try Self.withFakeServer(answer: answer) { port in
                let connection = HTTP1ClientConnection(host: "127.0.0.1", port: port)
                defer { connection.close() }
                do throws(RPCError) {
                    let response = try connection.send(get, timeout: .seconds(10))
                    Issue.record("\(answer.debugDescription): answered \(response.status)")
                } catch {
                    #expect(error.code == code, "\(answer.debugDescription): \(error)")
                    #expect(error.message.contains(text), "\(answer.debugDescription): \(error.message)")
                    #expect(!connection.isConnected)
                }
            }
        }
        // A server that never answers: the deadline ends the call (and the connection).
        try Self.withFakeServer(answer: "", hold: true) { port in
            let connection = HTTP1ClientConnection(host: "127.0.0.1", port: port)
            #expect(throws: RPCError.self) { try connection.send(get, timeout: .milliseconds(100)) }
            #expect(!connection.isConnected)
        }
        // An error body that is not `{"error": …}` still names the status.
        try Self.withFakeServer(answer: "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 4\r\n\r\noops") { port in
            let client = TensorwireRESTClient(host: "127.0.0.1", port: port)
            do throws(RPCError) {
                _ = try client.listModels()
                Issue.record("a 502 succeeded")
            } catch {
                #expect(error.code == .unavailable)
                #expect(error.message == "HTTP 502 Bad Gateway: oops")
            }
        }
    }

    @Test func httpStatusesMapBackToTheServersCodes() {
        for code: Status.Code in [.invalidArgument, .notFound, .resourceExhausted, .unavailable, .deadlineExceeded,
                                  .cancelled, .internal, .unimplemented, .unauthenticated, .permissionDenied, .aborted] {
            #expect(TensorwireRESTClient.code(forHTTPStatus: RESTService.httpStatus(for: code)) == code, "\(code)")
        }
        #expect(TensorwireRESTClient.code(forHTTPStatus: 200) == .ok)
        #expect(TensorwireRESTClient.code(forHTTPStatus: 418) == .invalidArgument)
        #expect(TensorwireRESTClient.Paths.predict(model: "my model", version: "2") == "/v1/models/my%20model/versions/2:predict")
        #expect(TensorwireRESTClient.Paths.model("a/b:c") == "/v1/models/a%2Fb%3Ac")
    }
}
