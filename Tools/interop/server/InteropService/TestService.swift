internal import Dispatch
internal import GRPCCompression
internal import Glibc
internal import ProtoWire
public import RPCCore
public import Transport

/// `grpc.testing.TestService` on our transport, with the behaviours the interop cases need (interop-cases.md,
/// "Server features"): payloads of `response_size` zero bytes, status and metadata echo, per-message response
/// compression, the `expect_compressed` check, `interval_us` pauses. `UnimplementedCall` is deliberately not
/// registered, nor is `grpc.testing.UnimplementedService`, so both answer UNIMPLEMENTED.
///
/// Handlers start on the connection's loop thread; streaming responses are produced on a serial queue per call
/// (they may sleep for `interval_us`), so the loop never blocks.
public enum InteropTestService {
    public static let service = "grpc.testing.TestService"
    public static let emptyCall = MethodDescriptor(service: service, method: "EmptyCall", kind: .unary)
    public static let unaryCall = MethodDescriptor(service: service, method: "UnaryCall", kind: .unary)
    public static let streamingOutputCall = MethodDescriptor(
        service: service, method: "StreamingOutputCall", kind: .serverStreaming)
    public static let streamingInputCall = MethodDescriptor(
        service: service, method: "StreamingInputCall", kind: .clientStreaming)
    public static let fullDuplexCall = MethodDescriptor(
        service: service, method: "FullDuplexCall", kind: .bidirectionalStreaming)
    public static let halfDuplexCall = MethodDescriptor(
        service: service, method: "HalfDuplexCall", kind: .bidirectionalStreaming)
    public static let unimplementedCall = MethodDescriptor(service: service, method: "UnimplementedCall", kind: .unary)
    public static let unimplementedServiceCall = MethodDescriptor(
        service: "grpc.testing.UnimplementedService", method: "UnimplementedCall", kind: .unary)

    static let echoInitialKey = "x-grpc-test-echo-initial"
    static let echoTrailingKey = "x-grpc-test-echo-trailing-bin"

    /// The server configuration the interop cases expect: gzip responses on request (`response_compressed`), for
    /// clients that accept gzip.
    public static func configuration(host: String, port: Int) -> GRPCServer.Configuration {
        GRPCServer.Configuration(host: host, port: port, responseCompression: .gzip)
    }

    /// The router with every implemented method.
    public static func router() -> Router<ServerMethodHandler> {
        var router = Router<ServerMethodHandler>()
        router.register(
            emptyCall,
            handler: .unary { call, request in
                do {
                    _ = try GRPCTesting.Empty(serializedBytes: request)
                } catch {
                    return call.finish(Status(code: .invalidArgument, message: "bad Empty: \(error)"))
                }
                call.respond([], compressed: false)
            })
        router.register(unaryCall, handler: .unary(unary))
        router.register(
            streamingOutputCall,
            handler: .serverStreaming { call, bytes in
                let echo = EchoedMetadata(call)
                let request: GRPCTesting.StreamingOutputCallRequest
                do {
                    request = try decode(bytes)
                } catch {
                    return call.finish(error.status, trailers: echo.trailers)
                }
                echo.sendHeaders(call)
                let queue = DispatchQueue(label: "interop.streaming-output")
                queue.async {
                    guard respond(to: request, on: call, echo: echo) else { return }
                    call.finish(.ok, trailers: echo.trailers)
                }
            })
        router.register(streamingInputCall, handler: ServerMethodHandler(streamingInput))
        router.register(fullDuplexCall, handler: .bidirectionalStreaming { call in duplex(call, half: false) })
        router.register(halfDuplexCall, handler: .bidirectionalStreaming { call in duplex(call, half: true) })
        return router
    }

    // MARK: Methods

    static func unary(_ call: ServerCall, _ bytes: [UInt8]) {
        let echo = EchoedMetadata(call)
        let request: GRPCTesting.SimpleRequest
        do {
            request = try decode(bytes)
        } catch {
            return call.finish(error.status, trailers: echo.trailers)
        }
        if request.expectCompressed?.value == true && !call.requestMessageWasCompressed {
            return call.finish(
                Status(code: .invalidArgument, message: "expected a compressed request"), trailers: echo.trailers)
        }
        echo.sendHeaders(call)
        if let status = request.responseStatus, status.code != 0 {
            return call.finish(echo.status(status), trailers: echo.trailers)
        }
        guard request.responseType == 0 else {
            return call.finish(
                Status(code: .invalidArgument, message: "unsupported response_type \(request.responseType)"),
                trailers: echo.trailers)
        }
        guard request.responseSize >= 0 else {
            return call.finish(
                Status(code: .invalidArgument, message: "negative response_size"), trailers: echo.trailers)
        }
        let response = GRPCTesting.SimpleResponse(
            payload: GRPCTesting.Payload(body: [UInt8](repeating: 0, count: Int(request.responseSize))))
        call.respond(
            response.serializedBytes(), compressed: request.responseCompressed?.value == true,
            trailers: echo.trailers)
    }

    static func streamingInput(_ call: ServerCall) -> RequestObserver {
        // Loop thread only: the observer's callbacks run there, in order.
        final class Sum {
            var total = 0
            var failed = false
        }
        let sum = Sum()
        let echo = EchoedMetadata(call)
        return RequestObserver(
            onMessage: { bytes in
                guard !sum.failed else { return }
                do {
                    let request: GRPCTesting.StreamingInputCallRequest = try decode(bytes)
                    if request.expectCompressed?.value == true && !call.requestMessageWasCompressed {
                        throw RPCError(code: .invalidArgument, message: "expected a compressed request")
                    }
                    sum.total += request.payload?.body.count ?? 0
                } catch {
                    sum.failed = true
                    call.finish(RPCError(wrapping: error).status, trailers: echo.trailers)
                }
            },
            onEnd: {
                guard !sum.failed else { return }
                echo.sendHeaders(call)
                var response = GRPCTesting.StreamingInputCallResponse()
                response.aggregatedPayloadSize = Int32(clamping: sum.total)
                call.respond(response.serializedBytes(), compressed: false, trailers: echo.trailers)
            })
    }

    /// FullDuplexCall answers each request as it arrives; HalfDuplexCall (`half`) keeps them until the client
    /// half-closes. A request with `response_status` ends the call with it; later requests are ignored.
    static func duplex(_ call: ServerCall, half: Bool) -> RequestObserver {
        final class State {
            var ended = false
            var held: [GRPCTesting.StreamingOutputCallRequest] = []
        }
        let state = State()
        let echo = EchoedMetadata(call)
        echo.sendHeaders(call)
        // One serial queue per call keeps the responses and the final status in request order.
        let queue = DispatchQueue(label: "interop.duplex")
        let answer: @Sendable (GRPCTesting.StreamingOutputCallRequest) -> Void = { request in
            queue.async { _ = respond(to: request, on: call, echo: echo) }
        }
        return RequestObserver(
            onMessage: { bytes in
                guard !state.ended else { return }
                let request: GRPCTesting.StreamingOutputCallRequest
                do {
                    request = try decode(bytes)
                } catch {
                    state.ended = true
                    let status = error.status
                    queue.async { call.finish(status, trailers: echo.trailers) }
                    return
                }
                if request.responseStatus.map({ $0.code != 0 }) == true {
                    state.ended = true
                }
                if half && !state.ended {
                    state.held.append(request)
                } else {
                    answer(request)
                }
            },
            onEnd: {
                guard !state.ended else { return }
                state.ended = true
                for request in state.held { answer(request) }
                state.held = []
                queue.async { call.finish(.ok, trailers: echo.trailers) }
            })
    }

    /// Sends one response per `response_parameters` entry (after its `interval_us`), then, if the request carries
    /// `response_status`, finishes with it. Returns false when the call is over (status sent, or cancelled).
    /// Runs on the call's queue.
    static func respond(
        to request: GRPCTesting.StreamingOutputCallRequest, on call: ServerCall, echo: EchoedMetadata
    ) -> Bool {
        if let status = request.responseStatus, status.code != 0 {
            call.finish(echo.status(status), trailers: echo.trailers)
            return false
        }
        guard request.responseType == 0 else {
            call.finish(
                Status(code: .invalidArgument, message: "unsupported response_type \(request.responseType)"),
                trailers: echo.trailers)
            return false
        }
        for parameters in request.responseParameters {
            if call.isCancelled { return false }
            if parameters.intervalUs > 0 { usleep(UInt32(parameters.intervalUs)) }
            let body = [UInt8](repeating: 0, count: max(0, Int(parameters.size)))
            let response = GRPCTesting.StreamingOutputCallResponse(payload: GRPCTesting.Payload(body: body))
            call.send(response.serializedBytes(), compressed: parameters.compressed?.value == true)
        }
        return !call.isCancelled
    }

    static func decode<M: ProtoMessage>(_ bytes: [UInt8]) throws(RPCError) -> M {
        do {
            return try M(serializedBytes: bytes)
        } catch {
            throw RPCError(code: .invalidArgument, message: "cannot decode \(M.self): \(error)")
        }
    }
}

/// The metadata a call echoes: `x-grpc-test-echo-initial` into the response headers, `x-grpc-test-echo-trailing-bin`
/// into the trailers. A value; any thread.
struct EchoedMetadata: Sendable {
    let headers: Metadata
    let trailers: Metadata

    init(_ call: ServerCall) {
        var headers = Metadata()
        for value in call.metadata.strings(forKey: InteropTestService.echoInitialKey) {
            try? headers.addString(value, forKey: InteropTestService.echoInitialKey)
        }
        var trailers = Metadata()
        for value in call.metadata.binaryValues(forKey: InteropTestService.echoTrailingKey) {
            try? trailers.addBinary(value, forKey: InteropTestService.echoTrailingKey)
        }
        self.headers = headers
        self.trailers = trailers
    }

    /// Sends the echoed initial metadata now, if there is any (otherwise the first message sends plain headers).
    func sendHeaders(_ call: ServerCall) {
        if !headers.isEmpty { call.sendHeaders(headers) }
    }

    func status(_ echo: GRPCTesting.EchoStatus) -> Status {
        Status(code: Status.Code(wireValue: Int(echo.code)), message: echo.message)
    }
}

extension Error {
    /// The status an interop handler answers a failure with.
    var status: Status { RPCError(wrapping: self).status }
}
