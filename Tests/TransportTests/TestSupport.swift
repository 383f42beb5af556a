import Dispatch
import RPCCore
import Synchronization
import Transport

/// A value filled in by another thread, waited for with a generous timeout (no timing assertions).
final class Promise<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    private let semaphore = DispatchSemaphore(value: 0)

    func fulfill(_ newValue: Value) {
        let first = value.withLock { current -> Bool in
            guard current == nil else { return false }
            current = newValue
            return true
        }
        if first { semaphore.signal() }
    }

    /// The value, or nil after `seconds`.
    func wait(seconds: Double = 30) -> Value? {
        guard semaphore.wait(timeout: .now() + seconds) == .success else { return nil }
        semaphore.signal()
        return value.withLock { $0 }
    }
}

/// Polls `condition` until it holds or `seconds` pass.
func eventually(seconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        _ = DispatchSemaphore(value: 0).wait(timeout: .now() + 0.01)
    }
    return condition()
}

enum Echo {
    static let service = "tw.test.Echo"
    static let unary = MethodDescriptor(service: service, method: "Get", kind: .unary)
    static let expand = MethodDescriptor(service: service, method: "Expand", kind: .serverStreaming)
    static let collect = MethodDescriptor(service: service, method: "Collect", kind: .clientStreaming)
    static let update = MethodDescriptor(service: service, method: "Update", kind: .bidirectionalStreaming)

    /// Unary echo, server-streaming "one message per byte", client-streaming concatenation, bidi echo.
    static func router() -> Router<ServerMethodHandler> {
        var router = Router<ServerMethodHandler>()
        router.register(unary, handler: .unary { call, request in call.respond(request) })
        router.register(
            expand,
            handler: .serverStreaming { call, request in
                for byte in request { call.send([byte]) }
                call.finish()
            })
        router.register(
            collect,
            handler: .clientStreaming { call, requests in
                call.respond(requests.flatMap { $0 })
            })
        router.register(
            update,
            handler: .bidirectionalStreaming { call in
                RequestObserver(onMessage: { call.send($0) }, onEnd: { call.finish() })
            })
        return router
    }
}

func makeServer(
    _ router: Router<ServerMethodHandler> = Echo.router(),
    configure: (inout GRPCServer.Configuration) -> Void = { _ in }
) throws -> GRPCServer {
    var configuration = GRPCServer.Configuration(host: "127.0.0.1", port: 0)
    configure(&configuration)
    return try GRPCServer(router: router, configuration: configuration)
}

/// Collects a streaming call's events.
final class CallRecorder: Sendable {
    let headers = Mutex<Metadata?>(nil)
    let messages = Mutex<[[UInt8]]>([])
    let finished = Promise<(Status, Metadata)>()

    var handlers: ClientCallHandlers {
        ClientCallHandlers(
            onHeaders: { headers in self.headers.withLock { $0 = headers } },
            onMessage: { message in self.messages.withLock { $0.append(message) } },
            onFinish: { status, trailers in self.finished.fulfill((status, trailers)) })
    }
}
