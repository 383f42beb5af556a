import HTTP2
import Testing
import HTTPTypes

/// A client and a server session joined back to back in memory (NIOHTTP2's `interactInMemory`): `pump()` moves bytes
/// both ways until neither side has anything to send, collecting each side's events.
final class InMemoryPair {
    let client: HTTP2Session
    let server: HTTP2Session
    var clientEvents: [HTTP2Event] = []
    var serverEvents: [HTTP2Event] = []
    /// Hand every received DATA byte back at once (as an application that keeps up would). Off: flow control bites.
    var serverConsumesData = true
    var clientConsumesData = true
    /// Bytes the server has written, for frame-level checks.
    var serverWire: [UInt8] = []

    init(
        client clientConfiguration: HTTP2Session.Configuration = .init(),
        server serverConfiguration: HTTP2Session.Configuration = .init()
    ) throws {
        client = try HTTP2Session(role: .client, configuration: clientConfiguration)
        server = try HTTP2Session(role: .server, configuration: serverConfiguration)
    }

    func pump() throws {
        for _ in 0..<10_000 {
            var toServer: [UInt8] = []
            clientEvents += try client.drainOutput(into: &toServer)
            var toClient: [UInt8] = []
            serverEvents += try server.drainOutput(into: &toClient)
            serverWire += toClient
            if toServer.isEmpty && toClient.isEmpty { return }
            let atServer = try server.receive(toServer)
            if serverConsumesData { consumeAll(atServer, on: server) }
            serverEvents += atServer
            let atClient = try client.receive(toClient)
            if clientConsumesData { consumeAll(atClient, on: client) }
            clientEvents += atClient
        }
        Issue.record("pump did not quiesce")
    }

    /// Pumps and forgets the events (for tests that only need the streams open).
    func pumpAndDiscardEvents() throws {
        try pump()
        serverEvents = []
        clientEvents = []
    }

    private func consumeAll(_ events: [HTTP2Event], on session: HTTP2Session) {
        for case .data(let id, let bytes, _) in events { session.consume(streamID: id, count: bytes.count) }
    }

    /// Takes the events collected so far, dropping SETTINGS (connection housekeeping).
    func takeServerEvents() -> [HTTP2Event] {
        defer { serverEvents = [] }
        return serverEvents.filter { if case .settings = $0 { false } else { true } }
    }

    func takeClientEvents() -> [HTTP2Event] {
        defer { clientEvents = [] }
        return clientEvents.filter { if case .settings = $0 { false } else { true } }
    }
}

extension [HTTP2Event] {
    /// The events of one stream, with consecutive DATA chunks merged (chunking is not behaviour).
    func stream(_ id: Int32) -> [HTTP2Event] {
        var result: [HTTP2Event] = []
        for event in self {
            switch event {
            case .headers(id, _, _, _), .streamClosed(id, _):
                result.append(event)
            case .data(id, let bytes, let end):
                if case .data(id, let previous, false)? = result.last {
                    result[result.count - 1] = .data(streamID: id, bytes: previous + bytes, endStream: end)
                } else {
                    result.append(event)
                }
            default:
                break
            }
        }
        return result
    }

    /// All DATA bytes received on a stream.
    func body(_ id: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        for case .data(id, let chunk, _) in self { bytes += chunk }
        return bytes
    }

    /// Stream ids opened by request headers, in order.
    var requestStreamIDs: [Int32] {
        compactMap { if case .headers(let id, _, .request, _) = $0 { id } else { nil } }
    }
}

/// A gRPC-shaped request block.
func grpcRequest(path: String = "/tensorwire.v1.Inference/Predict", extra: [HeaderField] = []) -> [HeaderField] {
    [
        HeaderField(":method", "POST"), HeaderField(":scheme", "http"), HeaderField(":path", path),
        HeaderField(":authority", "localhost"), HeaderField("content-type", "application/grpc"),
        HeaderField("te", "trailers"),
    ] + extra
}

let grpcResponseHeaders = [HeaderField(":status", "200"), HeaderField("content-type", "application/grpc")]

/// A 5-byte length-prefixed gRPC message (W-30) around `payload`.
func framed(_ payload: [UInt8]) -> [UInt8] {
    let n = UInt32(payload.count)
    return [0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + payload
}
