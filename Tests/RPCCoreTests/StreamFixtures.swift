// Tests/RPCCoreTests/StreamFixtures.swift: routes, header lists and state builders for the state machine tests.

import RPCCore
import Testing
import HTTPTypes

enum Fixtures {
    /// One method of each kind; the handler is the method's name.
    static let router: Router<String> = {
        var router = Router<String>()
        router.register(MethodDescriptor(service: "pkg.Svc", method: "Unary", kind: .unary), handler: "Unary")
        router.register(
            MethodDescriptor(service: "pkg.Svc", method: "Upload", kind: .clientStreaming), handler: "Upload")
        router.register(MethodDescriptor(service: "pkg.Svc", method: "Watch", kind: .serverStreaming), handler: "Watch")
        router.register(
            MethodDescriptor(service: "pkg.Svc", method: "Chat", kind: .bidirectionalStreaming), handler: "Chat")
        return router
    }()

    /// Our own bugs throw INTERNAL instead of stopping the test process.
    static let configuration = RPCStreamStateMachine.Configuration(assertsOnInvalidTransition: false)

    /// Request headers as grpc-go sends them.
    static func requestHeaders(
        path: String = "/pkg.Svc/Chat", method: String = "POST", contentType: String? = "application/grpc",
        extra: [HeaderField] = []
    ) -> [HeaderField] {
        var fields = [
            HeaderField(":method", method), HeaderField(":scheme", "http"), HeaderField(":path", path),
            HeaderField(":authority", "localhost:50051"),
        ]
        if let contentType { fields.append(HeaderField("content-type", contentType)) }
        fields += [HeaderField("user-agent", "grpc-go/1.44.0"), HeaderField("te", "trailers")]
        return fields + extra
    }

    static func framed(_ bytes: [UInt8], compressed: Bool = false) -> [UInt8] {
        (try? MessageFramer.frame(bytes, compressed: compressed)) ?? []
    }

    static let okResponseHeaders = [HeaderField(":status", "200"), HeaderField("content-type", "application/grpc")]
    static let okTrailers = [HeaderField("grpc-status", "0")]
}

/// The coarse result of one event, for the state × event matrices.
enum Outcome: Sendable, Hashable {
    case accept, reject, deliver, send, drop, bug, finished, none, resetStream, headers, messages
    case unexpected(String)
}

extension RPCStreamStateMachine {
    static func server(path: String = "/pkg.Svc/Chat", endStream: Bool = false, extra: [HeaderField] = []) throws
        -> (RPCStreamStateMachine, ServerHeadersAction<String>)
    {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        let action = try machine.receiveRequestHeaders(
            Fixtures.requestHeaders(path: path, extra: extra), endStream: endStream, router: Fixtures.router)
        return (machine, action)
    }

    /// A server machine that accepted a request for `path`.
    static func acceptedServer(path: String = "/pkg.Svc/Chat", endStream: Bool = false) throws -> RPCStreamStateMachine
    {
        let (machine, action) = try server(path: path, endStream: endStream)
        guard case .accept = action else { throw RPCError(code: .internal, message: "fixture rejected: \(action)") }
        return machine
    }
}

extension ServerHeadersAction {
    var rejection: ResponseEnd? {
        if case .reject(let end) = self { end } else { nil }
    }
}

extension ServerRequestAction {
    var rejection: ResponseEnd? {
        if case .reject(let end) = self { end } else { nil }
    }
}

extension SendAction {
    var payload: Payload? {
        if case .send(let payload) = self { payload } else { nil }
    }
}
