// Tests/TransportTests/TransportLimitTests.swift: the transport's resource limits (issue 25): buffered request bytes
// per connection and per server, the handshake timeout, the connection cap, the accept loop on EMFILE, long status
// messages, and queued response bytes per connection. Each test drives the issue's input, sized down, and checks the
// bound with the server's own counters; waits are for conditions, with generous timeouts.

import Dispatch
import Glibc
import HTTP2
import Logging
import RPCCore
import Locks
import Synchronization
import Testing
@testable import Transport
import HTTPTypes
import TestSupport

/// The most the budget can be overshot by: the DATA chunk whose growth triggered the refusal (one 16 KiB frame).
private let frameSlack = 16_384 + 5

@Suite(.serialized, .tags(.live)) struct TransportLimitLiveTests {
    // MARK: Point 2: unfinished messages

    /// The issue's input sized down: 8 streams on one connection each declare a 3 MiB message and send 512 KiB of
    /// it, never finishing. With a 1 MiB per-connection budget the server holds at most 1 MiB (plus one frame):
    /// the streams past it end with RESOURCE_EXHAUSTED naming the flag, and the bytes go when the streams do.
    @Test func unfinishedMessagesAreBoundedPerConnection() throws {
        let limit = 1 << 20
        let server = try makeServer { configuration in
            configuration.maxReceiveMessageBytes = 4 << 20
            configuration.maxBufferedRequestBytesPerConnection = limit
        }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try RawH2Client(port: server.port)
        var ids: [Int32] = []
        for _ in 0..<8 {
            let id = try client.open(Echo.update.path)
            try client.sendPartialMessage(on: id, declared: 3 << 20, sending: 512 << 10)
            ids.append(id)
        }
        let settled = try client.pump {
            // Everything sent, every refusal seen by the client, the refused streams' bytes released.
            let refused = ids.filter { client.grpcStatus($0) == "8" }.count
            return client.session.queuedOutboundBytes == 0 && refused >= 6 && refused == server.bufferBudgetRefusals
                && server.bufferedRequestBytes <= limit
        }
        #expect(settled, "statuses \(ids.map { client.grpcStatus($0) ?? "-" }), buffered \(server.bufferedRequestBytes)")
        let peak = server.peakBufferedRequestBytes
        #expect(peak > limit - (64 << 10) && peak <= limit + frameSlack, "peak \(peak)")
        print("unfinished messages, one connection: peak buffered \(peak) bytes (limit \(limit)); refused "
            + "\(server.bufferBudgetRefusals) of \(ids.count) streams")
        #expect(server.bufferedRequestBytes <= limit)
        let refused = ids.filter { client.grpcStatus($0) == "8" }
        #expect(refused.count >= 6)
        #expect(server.bufferBudgetRefusals >= refused.count)
        if let first = refused.first {
            #expect(client.grpcMessage(first)?.contains("--max-buffered-request-bytes-per-connection") == true)
        }
        // The connection still serves, and its bytes leave the budget when it goes.
        let ok = try client.open(Echo.update.path)
        _ = try client.session.sendData(streamID: ok, [0, 0, 0, 0, 1, 9])
        _ = try client.session.finish(streamID: ok)
        #expect(try client.pump { client.grpcStatus(ok) != nil })
        #expect(client.grpcStatus(ok) == "0")
        client.disconnect()
        #expect(waitUntil { server.bufferedRequestBytes == 0 && server.activeConnections == 0 })
    }

    /// A lone stream may buffer one whole message past the per-connection budget (it is bounded by the receive
    /// limit): a 3 MiB message with a 1 MiB budget is echoed.
    @Test func aSingleLargeMessageStillPasses() throws {
        let server = try makeServer { configuration in
            configuration.maxReceiveMessageBytes = 4 << 20
            configuration.maxBufferedRequestBytesPerConnection = 1 << 20
        }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let message = [UInt8](repeating: 7, count: 3 << 20)
        let response = client.unary(path: Echo.unary.path, request: message, timeout: .seconds(30))
        #expect(response.status.isOK, "\(response.status)")
        #expect(response.message?.count == message.count)
        #expect(server.bufferBudgetRefusals == 0)
        #expect(waitUntil { server.bufferedRequestBytes == 0 })
    }

    /// The server-wide budget across connections: two connections of one unfinished 700 KiB message each with a
    /// 1 MiB total; the second is refused, naming `--max-buffered-request-bytes`.
    @Test func unfinishedMessagesAreBoundedAcrossConnections() throws {
        let limit = 1 << 20
        let server = try makeServer { configuration in
            configuration.maxReceiveMessageBytes = 4 << 20
            configuration.maxBufferedRequestBytes = limit
        }
        defer { server.shutdown(drainSeconds: 1) }
        let first = try RawH2Client(port: server.port)
        let a = try first.open(Echo.update.path)
        try first.sendPartialMessage(on: a, declared: 2 << 20, sending: 700 << 10)
        #expect(try first.pump { server.bufferedRequestBytes >= 700 << 10 })
        let second = try RawH2Client(port: server.port)
        let b = try second.open(Echo.update.path)
        try second.sendPartialMessage(on: b, declared: 2 << 20, sending: 700 << 10)
        #expect(try second.pump { second.grpcStatus(b) != nil })
        #expect(second.grpcStatus(b) == "8")
        #expect(second.grpcMessage(b)?.contains("--max-buffered-request-bytes") == true)
        #expect(first.grpcStatus(a) == nil)  // the first keeps its message going
        #expect(waitUntil { server.bufferedRequestBytes <= limit })
        #expect(server.peakBufferedRequestBytes <= limit + frameSlack)
    }

    // MARK: Point 4: connections

    /// Connections that never send the preface (or half of it) are closed after the handshake timeout; one that
    /// completed its handshake is not.
    @Test func silentConnectionsAreClosedAfterTheHandshakeTimeout() throws {
        let server = try makeServer { $0.handshakeTimeout = .milliseconds(200) }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [1], timeout: .seconds(30)).message == [1])

        let silent = 5
        let outcomes = Lock<[Bool]>([])
        DispatchQueue.concurrentPerform(iterations: silent) { index in
            // One sends half of the preface: still not a handshake.
            let start = index == 0 ? Array(ConnectionPreface.http2.prefix(10)) : []
            let closed = (try? exchangeRaw(port: server.port, start, seconds: 30).closed) ?? false
            outcomes.withLock { $0.append(closed) }
        }
        #expect(outcomes.withLock { $0 } == Array(repeating: true, count: silent))
        #expect(server.handshakeTimeouts == silent)
        // The handshaken connection, older than the timeout by now, still serves.
        #expect(client.unary(path: Echo.unary.path, request: [2], timeout: .seconds(30)).message == [2])
        #expect(server.handshakeTimeouts == silent)
        #expect(waitUntil { server.activeConnections == 1 })
    }

    @Test func theIdleTimeoutIsOnByDefault() {
        let configuration = GRPCServer.Configuration()
        #expect(configuration.idleTimeout != nil)
        #expect(configuration.handshakeTimeout.map { $0 <= .seconds(60) } == true)
    }

    /// Past `maxConnections` a new connection is closed at once (not left to time out in the backlog), logged
    /// once per episode; when one closes, new connections are served again.
    @Test func connectionsPastTheCapAreClosedAtOnce() throws {
        let logs = MemoryLogOutput()
        let server = try makeServer { configuration in
            configuration.maxConnections = 2
            configuration.logger = Logger(component: "transport", sink: LogSink(output: logs, minimumLevel: .debug))
        }
        defer { server.shutdown(drainSeconds: 1) }
        let first = try ClientConnection(host: "127.0.0.1", port: server.port)
        let second = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { second.close() }
        #expect(first.unary(path: Echo.unary.path, request: [1], timeout: .seconds(30)).message == [1])
        #expect(second.unary(path: Echo.unary.path, request: [2], timeout: .seconds(30)).message == [2])
        #expect(server.activeConnections == 2)
        for attempt in 1...3 {
            let (reply, closed) = try exchangeRaw(port: server.port, ConnectionPreface.http2, seconds: 30)
            #expect(closed && reply.isEmpty, "attempt \(attempt): \(reply.count) bytes")
            #expect(waitUntil { server.refusedConnections == attempt }, "\(server.refusedConnections)")
        }
        let capLines = logs.lines.filter { $0.contains("--max-connections") }
        #expect(capLines.count == 1, "\(logs.lines)")
        first.close()
        #expect(waitUntil { server.activeConnections == 1 })
        let third = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { third.close() }
        #expect(third.unary(path: Echo.unary.path, request: [3], timeout: .seconds(30)).message == [3])
        #expect(server.refusedConnections == 3)
    }

    /// The accept loop's decisions (sans-I/O): EMFILE pauses accepting instead of spinning, logged once per
    /// episode (until an accept round drains the backlog); the cap closes at once, logged once per episode (until a
    /// tenth of the cap is free again).
    @Test func acceptGatePausesOnDescriptorExhaustionAndLogsOncePerEpisode() {
        var gate = AcceptGate(maxConnections: 20)
        #expect(gate.decide(.accepted, liveConnections: 0) == .adopt)
        #expect(gate.decide(.noneWaiting, liveConnections: 1) == .stop)
        guard case .pause(let log?) = gate.decide(.failed(errno: EMFILE), liveConnections: 1) else {
            Issue.record("EMFILE must pause with a log line")
            return
        }
        #expect(log.contains("out of file descriptors"))
        // Retries in the same episode pause again, silently, also after a descriptor freed for one connection.
        #expect(gate.decide(.failed(errno: EMFILE), liveConnections: 1) == .pause(log: nil))
        #expect(gate.decide(.accepted, liveConnections: 1) == .adopt)
        #expect(gate.decide(.failed(errno: ENFILE), liveConnections: 2) == .pause(log: nil))
        // The backlog drained: the episode is over, and the next exhaustion is logged again.
        #expect(gate.decide(.accepted, liveConnections: 2) == .adopt)
        #expect(gate.decide(.noneWaiting, liveConnections: 3) == .stop)
        guard case .pause(.some) = gate.decide(.failed(errno: ENFILE), liveConnections: 3) else {
            Issue.record("a new episode logs again")
            return
        }
        // The cap: closes at once, logged once per episode.
        guard case .closeAtOnce(.some) = gate.decide(.accepted, liveConnections: 20) else {
            Issue.record("past the cap the connection is closed with a log line")
            return
        }
        #expect(gate.decide(.accepted, liveConnections: 20) == .closeAtOnce(log: nil))
        #expect(gate.decide(.accepted, liveConnections: 19) == .adopt)  // one closed, one replaced it
        #expect(gate.decide(.accepted, liveConnections: 20) == .closeAtOnce(log: nil))  // same episode
        #expect(gate.decide(.accepted, liveConnections: 17) == .adopt)  // a tenth free: the episode ends
        guard case .closeAtOnce(.some) = gate.decide(.accepted, liveConnections: 20) else {
            Issue.record("a new cap episode logs again")
            return
        }
    }

    // MARK: Point 5: long strings in grpc-message

    static let failing = MethodDescriptor(service: "tw.test.Limits", method: "Fail", kind: .unary)
    static let hugeTrailer = MethodDescriptor(service: "tw.test.Limits", method: "HugeTrailer", kind: .unary)

    static func failingRouter() -> Router<ServerMethodHandler> {
        var router = Echo.router()
        router.register(
            failing,
            handler: .unary { call, request in
                // The request says which long text to echo into the error.
                let name = request.first == 1
                    ? String(repeating: "é", count: 12_000) : String(repeating: "m", count: 70_000)
                call.finish(Status(code: .notFound, message: "model \"\(name)\" not found"))
            })
        router.register(
            hugeTrailer,
            handler: .unary { call, _ in
                var trailers = Metadata()
                try? trailers.addString(String(repeating: "d", count: 70_000), forKey: "x-detail")
                call.finish(Status(code: .internal, message: "x"), trailers: trailers)
            })
        return router
    }

    /// A 70,000-byte model name (or 12,000 × "é") echoed into the error: the client gets NOT_FOUND with the
    /// message cut and ending in "…", and the connection serves on.
    @Test(arguments: [UInt8(0), 1])
    func aLongErrorMessageStillReachesTheClient(kind: UInt8) throws {
        let server = try makeServer(Self.failingRouter())
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let response = client.unary(path: Self.failing.path, request: [kind], timeout: .seconds(30))
        #expect(response.status.code == .notFound, "\(response.status.code)")
        #expect(response.status.message.hasPrefix("model \""))
        #expect(response.status.message.hasSuffix("…"))
        #expect(response.status.message.utf8.count <= StatusMessage.maxEncodedBytes)
        #expect(client.unary(path: Echo.unary.path, request: [4], timeout: .seconds(30)).message == [4])
    }

    /// Trailers nghttp2 cannot send (a 70,000-byte metadata value): the stream is reset instead of hanging, so the
    /// RPC ends and its stream slot frees.
    @Test func trailersTooLargeToSendResetTheStream() throws {
        let server = try makeServer(Self.failingRouter())
        defer { server.shutdown(drainSeconds: 1) }
        let outcome = try rawCall(port: server.port, path: Self.hugeTrailer.path, message: [1], timeout: nil, seconds: 30)
        #expect(outcome.closeCode == .internalError, "\(String(describing: outcome.closeCode))")
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [5], timeout: .seconds(30)).message == [5])
    }

    // MARK: Backpressure: queued response bytes per connection

    static let produce = MethodDescriptor(service: "tw.test.Limits", method: "Produce", kind: .serverStreaming)

    /// Four streams on one connection to a client that never reads: each handler sends 64 KiB messages while
    /// `isWritable` (up to 8 MiB). The per-stream bound is 64 MiB, the per-connection one 512 KiB: together they
    /// queue no more than the connection bound plus one message per stream (plus what the client's 64 KiB window
    /// let out).
    @Test func queuedResponseBytesAreBoundedPerConnection() throws {
        let sent = Lock<[Int]>([])
        let stopped = Atomic<Int>(0)
        var router = Echo.router()
        router.register(
            Self.produce,
            handler: .serverStreaming { call, _ in
                let message = [UInt8](repeating: 1, count: 64 << 10)
                var total = 0
                while call.isWritable && total < 8 << 20 {
                    call.send(message, compressed: false)
                    total += message.count + 5
                }
                sent.withLock { $0.append(total) }
                stopped.wrappingAdd(1, ordering: .relaxed)
            })
        let connectionLimit = 512 << 10
        let server = try makeServer(router) { configuration in
            configuration.maxQueuedResponseBytes = 64 << 20
            configuration.maxQueuedResponseBytesPerConnection = connectionLimit
        }
        defer { server.shutdown(drainSeconds: 1) }
        var small = HTTP2Session.Configuration()
        small.initialWindowSize = 65_535
        small.connectionWindowSize = 65_535
        let client = try RawH2Client(port: server.port, configuration: small)
        for _ in 0..<4 {
            let id = try client.open(Self.produce.path)
            _ = try client.session.sendData(streamID: id, [0, 0, 0, 0, 1, 1])
            _ = try client.session.finish(streamID: id)
        }
        var output: [UInt8] = []
        _ = try client.session.drainOutput(into: &output)
        _ = output.withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The client reads nothing from here on.
        #expect(waitUntil { stopped.load(ordering: .relaxed) == 4 })
        let total = sent.withLock { $0.reduce(0, +) }
        print("queued responses, one connection: handlers queued \(total) bytes (connection limit \(connectionLimit))")
        #expect(total <= connectionLimit + 4 * ((64 << 10) + 5) + 65_535, "queued \(total)")
    }
}
