import Dispatch
import Logging
import RPCCore
import Server
import Locks
import TensorwireClient
import TensorwireProto
import Testing
import Transport
import TestSupport

/// The typed client against an in-process TensorwireServer on an ephemeral port (the built-in `digits` model).
@Suite(.serialized, .tags(.live))
struct TensorwireClientLiveTests {
    static func withServer(_ body: (TensorwireServer, TensorwireClient) throws -> Void) throws {
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try TensorwireClient(host: "127.0.0.1", port: server.port, defaultTimeout: .seconds(10))
        defer { client.close() }
        try body(server, client)
    }

    static func digits(id: String = "", rows: Int = 1, seed: Int = 0) -> TensorwireV1.PredictRequest {
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        request.id = id
        request.inputs = [TensorwireV1.Tensor(name: "X", shape: [Int64(rows), 64],
                                              floatData: (0..<(rows * 64)).map { Float(($0 * 7 + seed) % 16) })]
        return request
    }

    @Test func predictReturnsLabelsProbabilitiesAndBatchFacts() throws {
        try Self.withServer { _, client in
            let response = try client.predict(Self.digits(id: "r1", rows: 3))
            #expect(response.id == "r1")
            #expect(response.model == "digits")
            let label = try #require(response.outputs.first { $0.name == "label" })
            #expect(label.shape == [3])
            let probabilities = try #require(response.outputs.first { $0.name == "probabilities" })
            #expect(probabilities.shape == [3, 10])
            #expect((response.batch?.batchSize ?? 0) >= 3)
        }
    }

    @Test func oneConnectionCarriesManyCallsOfEveryKind() throws {
        try Self.withServer { _, client in
            for index in 0..<20 { _ = try client.predict(Self.digits(id: "\(index)", seed: index)) }
            #expect(try client.listModels().map(\.name) == ["digits"])
            let info = try client.getModel("digits")
            #expect(info.inputs.first?.name == "X")
            #expect(info.inputs.first?.shape == [-1, 64])
            #expect(try client.health() == .serving)
            #expect(!client.connection.isClosed)
        }
    }

    @Test func unknownModelIsNotFound() throws {
        try Self.withServer { _, client in
            #expect(throws: RPCError.self) { try client.getModel("nope") }
            do {
                var request = Self.digits()
                request.model = "nope"
                _ = try client.predict(request)
                Issue.record("predict of an unknown model succeeded")
            } catch let error as RPCError {
                #expect(error.code == .notFound)
                #expect(error.message.contains("nope"))
            }
        }
    }

    @Test func unknownHealthServiceIsNotFound() throws {
        try Self.withServer { _, client in
            do {
                _ = try client.health(service: "no.such.Service")
                Issue.record("health of an unknown service succeeded")
            } catch let error as RPCError {
                #expect(error.code == .notFound)
            }
        }
    }

    @Test func badShapeIsInvalidArgumentWithTheReason() throws {
        try Self.withServer { _, client in
            var request = Self.digits()
            request.inputs[0].shape = [2, 64]
            do {
                _ = try client.predict(request)
                Issue.record("a bad shape succeeded")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
            }
        }
    }

    @Test func callbackPredictDeliversTrailers() throws {
        try Self.withServer { _, client in
            let done = DispatchSemaphore(value: 0)
            let result = Lock<Result<Reply<TensorwireV1.PredictResponse>, RPCError>?>(nil)
            client.predict(Self.digits(id: "cb")) { reply in
                result.withLock { $0 = reply }
                done.signal()
            }
            done.wait()
            let reply = try #require(try result.withLock { $0 }?.get())
            #expect(reply.message.id == "cb")
            #expect(reply.trailers.strings(forKey: "tw-batch-size") == ["1"])
            #expect(!reply.trailers.strings(forKey: "tw-queue-us").isEmpty)
        }
    }

    @Test func asyncCallsWork() async throws {
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try TensorwireClient(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let response = try await client.predict(Self.digits(id: "async"))
        #expect(response.id == "async")
        #expect(try await client.listModels().count == 1)
        #expect(try await client.getModel("digits").name == "digits")
        #expect(try await client.health(service: "") == .serving)
    }

    @Test func predictStreamAnswersInOrderAndGoesOnAfterABadRequest() throws {
        try Self.withServer { _, client in
            let responses = Lock<[TensorwireV1.PredictResponse]>([])
            let stream = client.predictStream(onResponse: { response in responses.withLock { $0.append(response) } })
            for index in 0..<50 {
                var request = Self.digits(id: "s\(index)", seed: index)
                if index == 10 { request.inputs[0].shape = [3, 64] }
                stream.send(request)
            }
            stream.finish()
            let status = stream.wait()
            #expect(status.isOK, "\(status)")
            let all = responses.withLock { $0 }
            #expect(all.map(\.id) == (0..<50).map { "s\($0)" })
            #expect(all[10].error?.code == Int32(Status.Code.invalidArgument.rawValue))
            #expect(all.filter { $0.error == nil }.count == 49)
        }
    }

    @Test func metadataIsSentAndMergedWithTheDefault() throws {
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        var defaults = Metadata()
        try defaults.addString("cli", forKey: "x-client")
        let client = try TensorwireClient(host: "127.0.0.1", port: server.port, defaultMetadata: defaults)
        defer { client.close() }
        var extra = Metadata()
        try extra.addString("42", forKey: "x-request")
        // The server ignores unknown metadata; the call must still succeed with both sets attached.
        #expect(try client.predict(Self.digits(id: "md"), metadata: extra).id == "md")
    }

    @Test func unreachableServerIsUnavailable() throws {
        // Bind-and-close an ephemeral port so nothing listens there.
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        let port = server.port
        server.shutdown(drainSeconds: 0)
        let client = try TensorwireClient(host: "127.0.0.1", port: port, defaultTimeout: .seconds(5))
        defer { client.close() }
        do {
            _ = try client.listModels()
            Issue.record("a call to a closed port succeeded")
        } catch {
            #expect(error.code == .unavailable)
        }
    }

    @Test func tinyDeadlineIsDeadlineExceededOrAnswer() throws {
        try Self.withServer { _, client in
            // A 1 ns deadline: either the local timer or the server's check wins; never a hang, never another code.
            do {
                _ = try client.predict(Self.digits(rows: 64), timeout: .nanoseconds(1))
            } catch let error as RPCError {
                #expect(error.code == .deadlineExceeded)
            }
        }
    }
}
