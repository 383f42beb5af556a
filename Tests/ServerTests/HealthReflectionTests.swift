import Logging
import Dispatch
import ProtoWire
import RPCCore
import ServiceSupport
import Locks
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

/// Health and reflection over loopback (issue 6, health-reflection.md): a TensorwireServer on an ephemeral port,
/// called through the Transport client. Which services the router serves is learnt on the wire: a method name no
/// service defines gets "unknown method" from a served service and "unknown service" otherwise.
@Suite(.serialized, .tags(.live))
struct HealthReflectionLiveTests {
    static let reflectionPaths = ReflectionResponder.reflectionServices.map { "/\($0)/ServerReflectionInfo" }

    static func startServer(drainSeconds: Double = 1) throws -> TensorwireServer {
        var options = ServerOptions()
        options.port = 0
        options.drainSeconds = drainSeconds
        return try TensorwireServer(options: options, logSink: .discarding)
    }

    static func withServer(_ body: (TensorwireServer, ClientConnection) throws -> Void) throws {
        let server = try startServer()
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        try body(server, client)
    }

    // MARK: Reflection

    /// Sends `requests` on one reflection stream, half-closes, and returns the responses once the stream ends OK.
    static func reflect(
        _ requests: [GRPCReflection.ServerReflectionRequest.MessageRequest], path: String, client: ClientConnection
    ) throws -> [GRPCReflection.ServerReflectionResponse] {
        let recorder = StreamRecorder()
        let call = client.makeCall(path: path, kind: .bidirectionalStreaming, handlers: recorder.handlers)
        for request in requests {
            call.send(GRPCReflection.ServerReflectionRequest(host: "localhost", request).serializedBytes())
        }
        call.closeSend()
        let status = try #require(recorder.waitForFinish())
        #expect(status.isOK, "\(path): \(status)")
        let responses = try recorder.messages.map { try GRPCReflection.ServerReflectionResponse(serializedBytes: $0) }
        #expect(responses.count == requests.count, "\(path): one response per request")
        for (response, request) in zip(responses, requests) {
            #expect(response.validHost == "localhost")
            #expect(response.originalRequest?.messageRequest == request, "\(path): responses in request order")
        }
        return responses
    }

    /// The file descriptors of a `file_descriptor_response`, or nil for any other answer.
    static func files(
        _ response: GRPCReflection.ServerReflectionResponse
    ) throws -> [ProtobufDescriptor.FileDescriptorProto]? {
        guard case .fileDescriptorResponse(let files)? = response.messageResponse else { return nil }
        return try files.fileDescriptorProto.map { try ProtobufDescriptor.FileDescriptorProto(serializedBytes: $0) }
    }

    /// Whether the router serves `service`, asked with a method name nobody defines.
    static func routes(_ service: String, client: ClientConnection) -> Bool {
        let answer = client.unary(path: "/\(service)/NoSuchMethodForProbing", request: [])
        #expect(answer.status.code == .unimplemented)
        return answer.status.message.hasPrefix("unknown method")
    }

    @Test func reflectionListsExactlyTheServedServicesAndEachResolvesBySymbol() throws {
        try Self.withServer { server, client in
            let pool = try DescriptorPool.embedded()
            let served = Set(pool.services.filter { Self.routes($0, client: client) })
            #expect(served.isSuperset(of: ["grpc.health.v1.Health", "tensorwire.v1.Inference"]
                                      + ReflectionResponder.reflectionServices))
            // TensorwireServer registers a health status for every routed service.
            #expect(Set(server.health.statuses.keys) == served.union([""]))

            for path in Self.reflectionPaths {
                let listing = try Self.reflect([.listServices("*")], path: path, client: client)
                guard case .listServicesResponse(let list)? = listing.first?.messageResponse else {
                    Issue.record("\(path): list_services answered \(String(describing: listing.first))")
                    continue
                }
                let listed = list.service.map(\.name)
                #expect(listed.count == Set(listed).count, "\(path): a service listed twice: \(listed)")
                #expect(Set(listed) == served, "\(path): listed \(listed), served \(served.sorted())")

                // One stream: each listed service, each of its methods, and the methods' message types.
                var symbols: [String] = []
                for name in listed {
                    symbols.append(name)
                    for method in pool.service(named: name)?.method ?? [] {
                        symbols += ["\(name).\(method.name)", String(method.inputType.dropFirst()),
                                    String(method.outputType.dropFirst())]
                    }
                }
                #expect(symbols.count >= 3 * 8 + listed.count, "\(path): every listed service has its methods")
                let responses = try Self.reflect(symbols.map { .fileContainingSymbol($0) }, path: path, client: client)
                for (symbol, response) in zip(symbols, responses) {
                    guard let files = try Self.files(response), let first = files.first else {
                        Issue.record("\(path): \(symbol) did not resolve: \(String(describing: response))")
                        continue
                    }
                    // Every dependency of every file sent is in the same response.
                    let names = Set(files.map(\.name))
                    for file in files {
                        #expect(names.isSuperset(of: file.dependency), "\(path): \(symbol): \(file.name) lacks a dep")
                    }
                    if listed.contains(symbol) {
                        let prefix = first.package.isEmpty ? "" : "\(first.package)."
                        let defined = first.service.map { prefix + $0.name }
                        #expect(defined.contains(symbol), "\(path): \(first.name) sent for \(symbol) lacks it")
                    }
                }
            }
        }
    }

    @Test func reflectionAnswersUnknownNamesInsideTheStream() throws {
        try Self.withServer { _, client in
            for path in Self.reflectionPaths {
                let responses = try Self.reflect(
                    [.fileContainingSymbol("no.such.Symbol"), .fileByFilename("no/such.proto"),
                     .fileByFilename("grpc/health/v1/health.proto"),
                     .allExtensionNumbersOfType("tensorwire.v1.Tensor")],
                    path: path, client: client)
                guard responses.count == 4 else { continue }
                for response in responses.prefix(2) {
                    guard case .errorResponse(let error)? = response.messageResponse else {
                        Issue.record("\(path): want error_response, got \(String(describing: response))")
                        continue
                    }
                    #expect(error.errorCode == Int32(Status.Code.notFound.rawValue))
                }
                let healthFile = try Self.files(responses[2])?.first?.name
                #expect(healthFile == "grpc/health/v1/health.proto")
                #expect(responses[3].messageResponse == .allExtensionNumbersResponse(
                    GRPCReflection.ExtensionNumberResponse(baseTypeName: "tensorwire.v1.Tensor", extensionNumber: [])))
            }
        }
    }

    @Test func everyMethodOfEveryListedServiceIsRouted() throws {
        try Self.withServer { _, client in
            let pool = try DescriptorPool.embedded()
            let served = pool.services.filter { Self.routes($0, client: client) }
            let responder = try ReflectionResponder(servedServices: served)
            var probed = 0
            for service in responder.listedServices {
                let methods = pool.service(named: service)?.method ?? []
                #expect(!methods.isEmpty, "\(service) has no methods in the descriptors")
                for method in methods {
                    probed += 1
                    // One empty request message; a routed method answers with a message or a status of its own.
                    let recorder = StreamRecorder()
                    let call = client.makeCall(path: "/\(service)/\(method.name)", kind: .bidirectionalStreaming,
                                               handlers: recorder.handlers)
                    call.send([])
                    call.closeSend()
                    recorder.waitUntil { $0.messages.count >= 1 || $0.status != nil }
                    call.cancel()
                    if let status = recorder.status, status.code == .unimplemented {
                        #expect(!status.message.hasPrefix("unknown"), "/\(service)/\(method.name): \(status)")
                    }
                }
            }
            #expect(probed >= 8, "Health (2), reflection (2) and tensorwire.v1.Inference (4) at least")
        }
    }

    // MARK: Health

    /// What a health Check answered: a serving status, or a gRPC status code.
    enum CheckAnswer: Equatable {
        case success(HealthStatusBoard.ServingStatus)
        case failure(Status.Code)
    }

    static func check(_ service: String, client: ClientConnection) -> CheckAnswer {
        let response = client.unary(path: "/grpc.health.v1.Health/Check",
                                    request: GRPCHealthV1.HealthCheckRequest(service: service).serializedBytes())
        guard response.status.isOK else { return .failure(response.status.code) }
        return .success(decodeStatus(response.message ?? [0xFF]))
    }

    /// The status in a HealthCheckResponse; an undecodable message reads as the invalid status -1.
    static func decodeStatus(_ bytes: [UInt8]) -> HealthStatusBoard.ServingStatus {
        (try? GRPCHealthV1.HealthCheckResponse(serializedBytes: bytes))?.status ?? .init(rawValue: -1)
    }

    /// Starts a Watch of `service`; the recorder collects its statuses.
    static func watch(_ service: String, client: ClientConnection) -> (ClientCall, StreamRecorder) {
        let recorder = StreamRecorder()
        let call = client.makeCall(path: "/grpc.health.v1.Health/Watch", kind: .serverStreaming,
                                   handlers: recorder.handlers)
        call.send(GRPCHealthV1.HealthCheckRequest(service: service).serializedBytes())
        call.closeSend()
        return (call, recorder)
    }

    static func statuses(_ recorder: StreamRecorder) -> [HealthStatusBoard.ServingStatus] {
        recorder.messages.map(decodeStatus)
    }

    @Test func checkAnswersServingForTheServerAndEachServiceAndNotFoundForOthers() throws {
        try Self.withServer { server, client in
            let names = server.health.statuses.keys.sorted()
            #expect(names.contains("") && names.contains("tensorwire.v1.Inference"))
            for name in names {
                #expect(Self.check(name, client: client) == .success(.serving), "Check(\"\(name)\")")
            }
            #expect(Self.check("no.such.Service", client: client) == .failure(.notFound))
            let garbage = client.unary(path: "/grpc.health.v1.Health/Check", request: [0xFF, 0xFF])
            #expect(!garbage.status.isOK)
            #expect(Self.check("", client: client) == .success(.serving), "still serving after bad input")
        }
    }

    @Test func watchSendsTheCurrentStatusAtOnceThenEachChangeOnce() throws {
        try Self.withServer { server, client in
            let (call, recorder) = Self.watch("", client: client)
            recorder.waitUntil { $0.messages.count >= 1 || $0.status != nil }
            #expect(Self.statuses(recorder) == [.serving])
            server.health.set("", .notServing)
            server.health.set("", .notServing)  // unchanged: no message
            server.health.set("tensorwire.v1.Inference", .notServing)  // another service: no message
            server.health.set("", .serving)
            recorder.waitUntil { $0.messages.count >= 3 || $0.status != nil }
            #expect(Self.statuses(recorder) == [.serving, .notServing, .serving])
            #expect(recorder.status == nil, "the stream stays open")
            #expect(Self.check("", client: client) == .success(.serving))
            #expect(Self.check("tensorwire.v1.Inference", client: client) == .success(.notServing))
            call.cancel()
            #expect(recorder.waitForFinish()?.code == .cancelled)
        }
    }

    @Test func watchOfAnUnknownServiceStreamsServiceUnknownAndStaysOpen() throws {
        try Self.withServer { server, client in
            let (call, recorder) = Self.watch("late.Service", client: client)
            recorder.waitUntil { $0.messages.count >= 1 || $0.status != nil }
            #expect(Self.statuses(recorder) == [.serviceUnknown])
            #expect(recorder.status == nil)
            // The stream is still open: registering the name reaches the watcher.
            server.health.set("late.Service", .serving)
            recorder.waitUntil { $0.messages.count >= 2 || $0.status != nil }
            #expect(Self.statuses(recorder) == [.serviceUnknown, .serving])
            #expect(recorder.status == nil)
            call.cancel()
        }
    }

    @Test func shutdownTellsWatchersNotServingAndEndsTheirStreams() throws {
        // A long drain period: open Watch streams must end by themselves (OK after NOT_SERVING) instead of holding
        // the drain open until the connection is force-closed (which the client would see as a non-OK status).
        let server = try Self.startServer(drainSeconds: 60)
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let watchers = ["", "tensorwire.v1.Inference", "unknown.Service"].map { Self.watch($0, client: client).1 }
        for recorder in watchers {
            recorder.waitUntil { $0.messages.count >= 1 || $0.status != nil }
        }
        server.shutdown()
        for (index, recorder) in watchers.enumerated() {
            let status = recorder.waitForFinish()
            #expect(status?.isOK == true, "\(String(describing: status))")
            #expect(Self.statuses(recorder) == [index == 2 ? .serviceUnknown : .serving, .notServing])
        }
    }
}

/// Records one client call's messages and final status (written on the connection's loop thread) for a test
/// thread that waits on them.
final class StreamRecorder: Sendable {
    struct State {
        var messages: [[UInt8]] = []
        var status: Status?
    }

    private let state = Lock(State())
    /// Signalled after every event.
    private let event = DispatchSemaphore(value: 0)

    var handlers: ClientCallHandlers {
        ClientCallHandlers(
            onMessage: { message in
                self.state.withLock { $0.messages.append(message) }
                self.event.signal()
            },
            onFinish: { status, _ in
                self.state.withLock { $0.status = status }
                self.event.signal()
            })
    }

    var messages: [[UInt8]] { state.withLock { $0.messages } }
    var status: Status? { state.withLock { $0.status } }

    /// Waits until `condition` holds; gives up (recording an issue) after a minute, a bound only a hung server
    /// reaches.
    func waitUntil(_ condition: (State) -> Bool) {
        let giveUp = DispatchTime.now() + 60
        while !state.withLock({ condition($0) }) {
            if event.wait(timeout: giveUp) == .timedOut {
                Issue.record("no event within a minute: \(state.withLock { ($0.messages.count, $0.status) })")
                return
            }
        }
    }

    /// Waits for the end of the call and returns its status.
    func waitForFinish() -> Status? {
        waitUntil { $0.status != nil }
        return status
    }
}
