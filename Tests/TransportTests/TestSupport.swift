// Tests/TransportTests/TestSupport.swift: what the transport tests share: the echo service and server, a call
// recorder for our client, and the raw HTTP/2 client (our HTTP2Session over a blocking socket) for tests that must
// put exactly their own frames on the wire.

import Dispatch
import Glibc
import HTTP2
import HTTPTypes
import RPCCore
import Locks
import Testing
import Transport
import TestSupport

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
    let headers = Lock<Metadata?>(nil)
    let messages = Lock<[[UInt8]]>([])
    let finished = Promise<(Status, Metadata)>()

    var handlers: ClientCallHandlers {
        ClientCallHandlers(
            onHeaders: { headers in self.headers.withLock { $0 = headers } },
            onMessage: { message in self.messages.withLock { $0.append(message) } },
            onFinish: { status, trailers in self.finished.fulfill((status, trailers)) })
    }
}

// MARK: Raw sockets

/// A blocking TCP socket connected to 127.0.0.1:`port`, with a 200 ms receive timeout (so a read loop can check its
/// condition again; no outcome depends on it).
func connectLoopback(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    if connected != 0 { close(fd) }
    try #require(connected == 0)
    var receiveTimeout = timeval(tv_sec: 0, tv_usec: 200_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receiveTimeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// Sends `request`, then reads until the server closes (or `seconds` pass, a failure guard); returns what arrived
/// and whether the server closed.
func exchangeRaw(port: Int, _ request: [UInt8], seconds: Double = 10) throws -> (reply: [UInt8], closed: Bool) {
    let fd = try connectLoopback(port: port)
    defer { close(fd) }
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var reply: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    let giveUp = DispatchTime.now() + seconds
    while DispatchTime.now() < giveUp {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return (reply, true) }
        if n > 0 { reply += buffer[0..<n] }
    }
    return (reply, false)
}

// MARK: The raw HTTP/2 client

/// What the raw client saw on one stream.
struct RawCallOutcome {
    var responseHeaders: [HeaderField]?
    var dataBytes = 0
    var trailers: [HeaderField]?
    var closeCode: HTTP2ErrorCode?

    var grpcStatus: String? {
        (trailers ?? []).first { $0.name == "grpc-status" }?.value
    }
}

/// A raw HTTP/2 client on a blocking socket with any number of streams: our `HTTP2Session` in the client role,
/// pumped by hand. Requests go out exactly as written and nothing is finished unless asked, so a test can leave
/// messages unfinished, reset streams, ping, or send a `grpc-timeout` while keeping no deadline of its own (the
/// server's timer is then the only one). It records, per stream, the response headers, the DATA received (and
/// credits it back), the trailers and how the stream closed. One test thread uses it.
final class RawH2Client {
    let fd: Int32
    let session: HTTP2Session
    private(set) var responseHeaders: [Int32: [HeaderField]] = [:]
    private(set) var received: [Int32: [UInt8]] = [:]
    private(set) var trailers: [Int32: [HeaderField]] = [:]
    private(set) var closed: [Int32: HTTP2ErrorCode] = [:]
    private(set) var connectionClosed = false
    /// Opaque data of the PING ACKs received.
    private(set) var pings: Set<UInt64> = []
    private var nextPing: UInt64 = 1 << 32
    private var isOpen = true

    init(port: Int, configuration: HTTP2Session.Configuration = HTTP2Session.Configuration()) throws {
        fd = try connectLoopback(port: port)
        session = try HTTP2Session(role: .client, configuration: configuration)
    }

    deinit { disconnect() }

    /// Closes the socket once (a second close could hit a descriptor reused by another test in this process).
    func disconnect() {
        guard isOpen else { return }
        isOpen = false
        close(fd)
    }

    /// Opens a stream on `path` (request headers only, with `grpc-timeout` when given).
    func open(_ path: String, timeout: String? = nil) throws -> Int32 {
        var headers = [
            HeaderField(":method", "POST"), HeaderField(":scheme", "http"), HeaderField(":path", path),
            HeaderField(":authority", "localhost"), HeaderField("content-type", "application/grpc"),
            HeaderField("te", "trailers"),
        ]
        if let timeout { headers.append(HeaderField("grpc-timeout", timeout)) }
        return try session.sendRequest(headers: headers)
    }

    /// Queues one whole gRPC message (uncompressed) on stream `id`.
    func sendMessage(on id: Int32, _ message: [UInt8]) throws {
        try sendPartialMessage(on: id, declared: message.count, body: message)
    }

    /// Queues a gRPC prefix declaring `declared` bytes, then `sending` bytes of the body (no END_STREAM).
    func sendPartialMessage(on id: Int32, declared: Int, sending: Int) throws {
        try sendPartialMessage(on: id, declared: declared, body: [UInt8](repeating: 0x2A, count: sending))
    }

    private func sendPartialMessage(on id: Int32, declared: Int, body: [UInt8]) throws {
        let length = UInt32(declared)
        let prefix: [UInt8] = [0, UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
        _ = try session.sendData(streamID: id, prefix + body)
    }

    /// Ends the request side of stream `id` (END_STREAM).
    func finish(_ id: Int32) throws {
        _ = try session.finish(streamID: id)
    }

    /// A unary call on a new stream: headers, the message, END_STREAM; returns the stream id.
    func startCall(_ path: String, message: [UInt8], timeout: String? = nil) throws -> Int32 {
        let id = try open(path, timeout: timeout)
        try sendMessage(on: id, message)
        try finish(id)
        return id
    }

    func grpcStatus(_ id: Int32) -> String? { trailers[id]?.first { $0.name == "grpc-status" }?.value }
    func grpcMessage(_ id: Int32) -> String? {
        trailers[id]?.first { $0.name == "grpc-message" }.map { StatusMessage.percentDecode($0.value) }
    }

    /// What stream `id` has seen so far.
    func outcome(_ id: Int32) -> RawCallOutcome {
        RawCallOutcome(
            responseHeaders: responseHeaders[id], dataBytes: received[id]?.count ?? 0, trailers: trailers[id],
            closeCode: closed[id])
    }

    /// Writes everything the session will send now (all of it: `drainOutput` empties nghttp2's queue, so a frame
    /// queued after this call goes out after these bytes); returns the events draining produced.
    @discardableResult
    func flush() throws -> [HTTP2Event] {
        var output: [UInt8] = []
        let events = try session.drainOutput(into: &output)
        var sent = 0
        while sent < output.count {
            let n = output[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }
            sent += n
        }
        return events
    }

    /// Writes what the session has, reads once (at most the 200 ms receive timeout), handles the events.
    func pump() throws {
        var events = try flush()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { connectionClosed = true }
        if n > 0 { events += try session.receive(Array(buffer[0..<n])) }
        for event in events {
            switch event {
            case .headers(let id, let fields, .response, let endStream):
                if endStream { trailers[id] = fields } else { responseHeaders[id] = fields }
            case .headers(let id, let fields, .trailers, _):
                trailers[id] = fields
            case .data(let id, let bytes, _):
                received[id, default: []] += bytes
                session.consume(streamID: id, count: bytes.count)
            case .streamClosed(let id, let code):
                closed[id] = code
            case .ping(let opaque, true):
                pings.insert(opaque)
            default:
                break
            }
        }
    }

    /// Pumps until `condition` holds, the connection closes, or `seconds` pass (a failure guard); returns whether
    /// it held.
    func pump(seconds: Double = 30, until condition: () -> Bool) throws -> Bool {
        let giveUp = DispatchTime.now() + seconds
        while DispatchTime.now() < giveUp, !connectionClosed {
            if condition() { return true }
            try pump()
        }
        return condition()
    }

    /// A PING round trip after writing everything queued: when it returns true, the server has read every frame
    /// this client wrote before it, and this client has handled every frame the server wrote before the ACK.
    func roundTrip(seconds: Double = 30) throws -> Bool {
        try flush()
        nextPing += 1
        let opaque = nextPing
        try session.sendPing(opaqueData: opaque)
        return try pump(seconds: seconds) { pings.contains(opaque) }
    }
}

/// One gRPC call on a fresh raw connection; returns once its stream closes (or after `seconds`, a failure guard,
/// with what arrived by then).
func rawCall(
    port: Int, path: String, message: [UInt8], timeout: String?, seconds: Double = 20
) throws -> RawCallOutcome {
    let client = try RawH2Client(port: port)
    let id = try client.startCall(path, message: message, timeout: timeout)
    _ = try client.pump(seconds: seconds) { client.closed[id] != nil }
    return client.outcome(id)
}
