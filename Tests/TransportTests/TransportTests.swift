import Clocks
import Dispatch
import EventLoop
import RPCCore
import Locks
import Synchronization
import Testing
import Transport
import TestSupport

@Suite(.serialized, .tags(.live))
struct ServerAndClientLiveTests {
    @Test func unaryEchoRoundTrips() throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        for payload in [[UInt8](), [1, 2, 3], [UInt8](repeating: 7, count: 200_000)] {
            let response = client.unary(path: Echo.unary.path, request: payload, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.message == payload)
        }
    }

    @Test func serverStreamingSendsEveryMessageThenOK() throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = CallRecorder()
        let call = client.makeCall(path: Echo.expand.path, kind: .serverStreaming, handlers: recorder.handlers)
        call.send([5, 6, 7, 8])
        call.closeSend()
        let (status, _) = try #require(recorder.finished.wait())
        #expect(status == .ok)
        #expect(recorder.messages.withLock { $0 } == [[5], [6], [7], [8]])
    }

    @Test func clientStreamingCollectsAllRequests() throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = CallRecorder()
        let call = client.makeCall(path: Echo.collect.path, kind: .clientStreaming, handlers: recorder.handlers)
        for i in 0..<50 { call.send([UInt8(i)]) }
        call.closeSend()
        let (status, _) = try #require(recorder.finished.wait())
        #expect(status == .ok)
        #expect(recorder.messages.withLock { $0 } == [(0..<50).map { UInt8($0) }])
    }

    @Test func bidirectionalPingPong() throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let received = Lock<[[UInt8]]>([])
        let finished = Promise<Status>()
        let callBox = Lock<ClientCall?>(nil)
        let call = client.makeCall(
            path: Echo.update.path, kind: .bidirectionalStreaming,
            handlers: ClientCallHandlers(
                onMessage: { message in
                    // Each pong triggers the next ping, so the exchange is strictly alternating.
                    let count = received.withLock { $0.append(message); return $0.count }
                    let call = callBox.withLock { $0 }
                    if count < 20 { call?.send([UInt8(count)]) } else { call?.closeSend() }
                },
                onFinish: { status, _ in finished.fulfill(status) }))
        callBox.withLock { $0 = call }
        call.send([0])
        #expect(finished.wait() == .ok)
        #expect(received.withLock { $0 } == (0..<20).map { [UInt8($0)] })
    }

    @Test func metadataAndTrailersRoundTrip() throws {
        var router = Router<ServerMethodHandler>()
        router.register(
            Echo.unary,
            handler: .unary { call, request in
                var headers = Metadata()
                try? headers.addString(call.metadata.strings(forKey: "x-token").joined(), forKey: "x-echo-token")
                call.sendHeaders(headers)
                var trailers = Metadata()
                for value in call.metadata.binaryValues(forKey: "x-blob-bin") {
                    try? trailers.addBinary(value, forKey: "x-blob-bin")
                }
                try? trailers.addString("done", forKey: "x-trailer")
                call.respond(request, trailers: trailers)
            })
        let server = try makeServer(router)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        var metadata = Metadata()
        try metadata.addString("secret", forKey: "x-token")
        try metadata.addBinary([0, 255, 1, 254], forKey: "x-blob-bin")
        let response = client.unary(path: Echo.unary.path, request: [9], metadata: metadata, timeout: .seconds(30))
        #expect(response.status == .ok)
        #expect(response.headers.strings(forKey: "x-echo-token") == ["secret"])
        #expect(response.trailers.strings(forKey: "x-trailer") == ["done"])
        #expect(response.trailers.binaryValues(forKey: "x-blob-bin") == [[0, 255, 1, 254]])
    }

    @Test func unknownMethodIsUnimplemented() throws {
        let server = try makeServer()
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let unknownMethod = client.unary(path: "/tw.test.Echo/Nope", request: [], timeout: .seconds(30))
        #expect(unknownMethod.status.code == .unimplemented)
        let unknownService = client.unary(path: "/tw.test.Nope/Get", request: [], timeout: .seconds(30))
        #expect(unknownService.status.code == .unimplemented)
        // The connection still serves.
        #expect(client.unary(path: Echo.unary.path, request: [1], timeout: .seconds(30)).message == [1])
    }

    @Test func deadlineExpiryCancelsHandlerAndFailsCall() throws {
        let cancelled = Promise<Status>()
        var router = Router<ServerMethodHandler>()
        router.register(
            Echo.unary,
            handler: .unary { call, _ in
                #expect(call.deadline != nil)
                call.onCancel { cancelled.fulfill($0) }  // never answers
            })
        let server = try makeServer(router)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let response = client.unary(path: Echo.unary.path, request: [1], timeout: .milliseconds(200))
        #expect(response.status.code == .deadlineExceeded)
        // Whichever timer fires first cancels the handler: the server's (DEADLINE_EXCEEDED) or the client's, whose
        // RST_STREAM(CANCEL) arrives as CANCELLED (W-55).
        let serverSide = try #require(cancelled.wait())
        #expect([.deadlineExceeded, .cancelled].contains(serverSide.code))
    }

    @Test func clientCancelIsObservedByHandler() throws {
        let started = Promise<Bool>()
        let cancelled = Promise<Status>()
        var router = Router<ServerMethodHandler>()
        router.register(
            Echo.update,
            handler: .bidirectionalStreaming { call in
                call.onCancel { cancelled.fulfill($0) }
                return RequestObserver(onMessage: { _ in started.fulfill(true) })
            })
        let server = try makeServer(router)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = CallRecorder()
        let call = client.makeCall(path: Echo.update.path, kind: .bidirectionalStreaming, handlers: recorder.handlers)
        call.send([1])
        #expect(started.wait() == true)
        call.cancel()
        #expect(recorder.finished.wait()?.0.code == .cancelled)
        #expect(cancelled.wait()?.code == .cancelled)
    }

    @Test func handlerCompletesFromAnotherThread() throws {
        var router = Router<ServerMethodHandler>()
        router.register(
            Echo.unary,
            handler: .unary { call, request in
                #expect(call.loop.inEventLoop)
                DispatchQueue.global().async {
                    #expect(!call.loop.inEventLoop)
                    call.respond(request.reversed())
                }
            })
        router.register(
            Echo.expand,
            handler: .serverStreaming { call, request in
                DispatchQueue.global().async {
                    for byte in request { call.send([byte]) }
                    call.finish()
                }
            })
        let server = try makeServer(router)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [1, 2, 3], timeout: .seconds(30)).message == [3, 2, 1])
        let recorder = CallRecorder()
        let call = client.makeCall(path: Echo.expand.path, kind: .serverStreaming, handlers: recorder.handlers)
        call.send(Array(0..<100))
        call.closeSend()
        #expect(recorder.finished.wait()?.0 == .ok)
        #expect(recorder.messages.withLock { $0 }.count == 100)
    }

    @Test func manyConcurrentCallsOverSeveralConnections() throws {
        var router = Echo.router()
        router.register(
            MethodDescriptor(service: "tw.test.Slow", method: "Get", kind: .unary),
            handler: .unary { call, request in
                DispatchQueue.global().async { call.respond(request) }
            })
        let server = try makeServer(router) { $0.loopCount = 2 }
        defer { server.shutdown(drainSeconds: 1) }
        let clients = try (0..<4).map { _ in try ClientConnection(host: "127.0.0.1", port: server.port) }
        defer { for client in clients { client.close() } }
        let results = Lock<[Int: UnaryResponse]>([:])
        let total = 240
        let done = Promise<Bool>()
        for i in 0..<total {
            let path = i % 2 == 0 ? Echo.unary.path : "/tw.test.Slow/Get"
            clients[i % clients.count].unary(path: path, request: [UInt8(i % 256), 1], timeout: .seconds(60)) { response in
                let count = results.withLock { $0[i] = response; return $0.count }
                if count == total { done.fulfill(true) }
            }
        }
        #expect(done.wait(seconds: 60) == true)
        let all = results.withLock { $0 }
        #expect(all.count == total)
        for (i, response) in all {
            #expect(response.status == .ok)
            #expect(response.message == [UInt8(i % 256), 1])
        }
    }

    @Test func lateAnswerAfterClientVanishedIsDropped() throws {
        let held = Promise<ServerCall>()
        var router = Echo.router()
        router.register(
            MethodDescriptor(service: "tw.test.Late", method: "Get", kind: .unary),
            handler: .unary { call, _ in held.fulfill(call) })
        let server = try makeServer(router)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        let finished = Promise<Status>()
        client.unary(path: "/tw.test.Late/Get", request: [1]) { finished.fulfill($0.status) }
        let call = try #require(held.wait())
        client.close()
        #expect(finished.wait()?.code == .unavailable)
        #expect(waitUntil { call.isCancelled })
        // Answering now (from another thread) finds nothing to answer and must not crash.
        call.send([1])
        call.respond([2])
        call.finish(.ok)
        let other = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { other.close() }
        #expect(other.unary(path: Echo.unary.path, request: [4], timeout: .seconds(30)).message == [4])
    }

    /// A server whose Echo.unary handler holds each call (the first one is handed to the promise).
    static func holdingServer() throws -> (GRPCServer, Promise<ServerCall>) {
        let held = Promise<ServerCall>()
        var router = Router<ServerMethodHandler>()
        router.register(Echo.unary, handler: .unary { call, _ in held.fulfill(call) })
        return (try makeServer(router), held)
    }

    @Test func gracefulShutdownLetsInFlightCallFinish() throws {
        let (server, held) = try Self.holdingServer()
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let response = Promise<UnaryResponse>()
        client.unary(path: Echo.unary.path, request: [42], timeout: .seconds(30)) { response.fulfill($0) }
        let call = try #require(held.wait())
        let stopped = Promise<Bool>()
        DispatchQueue.global().async {
            server.shutdown(drainSeconds: 10)
            stopped.fulfill(true)
        }
        // The drain has begun (the client has the GOAWAY) while the call is still unanswered; it answers now.
        #expect(waitUntil { client.hasReceivedGoAway })
        #expect(client.phase == .goingAway)
        #expect(response.current == nil)
        #expect(stopped.current == nil)
        // A call started after the GOAWAY never leaves the client: UNAVAILABLE, marked safe to send elsewhere.
        let late = client.unary(path: Echo.unary.path, request: [8], timeout: .seconds(30))
        #expect(late.status.code == .unavailable)
        #expect(late.unprocessed == .notSent)
        call.respond([42])
        let result = try #require(response.wait())
        #expect(result.status == .ok)
        #expect(result.message == [42])
        #expect(result.unprocessed == nil)
        #expect(stopped.wait() == true)
        #expect(waitUntil { client.isClosed })
        #expect(client.phase == .closed && client.wasReady)
        #expect(throws: (any Error).self) {
            let late = try ClientConnection(host: "127.0.0.1", port: server.port)
            defer { late.close() }
            let status = late.unary(path: Echo.unary.path, request: [1], timeout: .seconds(10)).status
            if status.code != .ok { throw RPCError(status: status) }
        }
    }

    @Test func callsTheServerNeverSawAreMarkedUnprocessed() throws {
        // Nothing listens: the connect never completes, so nothing was sent.
        let gone = try makeServer(Router<ServerMethodHandler>())
        let port = gone.port
        gone.shutdown(drainSeconds: 0)
        let refused = try ClientConnection(host: "127.0.0.1", port: port)
        defer { refused.close() }
        let unsent = refused.unary(path: Echo.unary.path, request: [1], timeout: .seconds(30))
        #expect(unsent.status.code == .unavailable)
        #expect(unsent.unprocessed == .notSent)
        #expect(refused.phase == .closed)
        #expect(!refused.wasReady)

        // A call cut off by a closing connection after it was sent may have run: no mark.
        let (other, arrived) = try Self.holdingServer()
        defer { other.shutdown(drainSeconds: 0) }
        let cut = try ClientConnection(host: "127.0.0.1", port: other.port)
        let pending = Promise<UnaryResponse>()
        cut.unary(path: Echo.unary.path, request: [9], timeout: .seconds(30)) { pending.fulfill($0) }
        _ = try #require(arrived.wait())
        cut.close()
        let closed = try #require(pending.wait())
        #expect(closed.status.code == .unavailable)
        #expect(closed.unprocessed == nil)
    }

    @Test func oversizedRequestIsResourceExhausted() throws {
        let server = try makeServer { $0.maxReceiveMessageBytes = 1000 }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let ok = client.unary(path: Echo.unary.path, request: [UInt8](repeating: 1, count: 1000), timeout: .seconds(30))
        #expect(ok.status == .ok)
        let tooBig = client.unary(path: Echo.unary.path, request: [UInt8](repeating: 1, count: 1001), timeout: .seconds(30))
        #expect(tooBig.status.code == .resourceExhausted)
        #expect(tooBig.status.message.contains("--max-receive-message-bytes"))
    }

    @Test func tooManyPingsGetsEnhanceYourCalm() throws {
        let server = try makeServer {
            $0.minPingInterval = .seconds(3600)
            $0.maxPingStrikes = 2
        }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [1], timeout: .seconds(30)).status == .ok)
        for _ in 0..<5 { client.ping() }
        #expect(waitUntil { client.isClosed })
    }

    @Test func idleConnectionIsClosed() throws {
        let clock = ManualClock()
        let server = try makeServer {
            $0.idleTimeout = .seconds(60)
            $0.clock = clock
        }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [1], timeout: .seconds(30)).status == .ok)
        #expect(!client.hasReceivedGoAway)
        // A minute of idleness on the server's clock: GOAWAY, then the close (the drain PING's ACK ends it).
        clock.advance(by: .seconds(60))
        #expect(waitUntil { client.isClosed })
        #expect(waitUntil { server.activeConnections == 0 })
    }

    @Test func maxConnectionAgeDrainsTheConnection() throws {
        let clock = ManualClock()
        let server = try makeServer {
            $0.maxConnectionAge = .seconds(600)
            $0.maxConnectionAgeGrace = .seconds(5)
            $0.clock = clock
        }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(client.unary(path: Echo.unary.path, request: [1], timeout: .seconds(30)).status == .ok)
        #expect(!client.hasReceivedGoAway)
        clock.advance(by: .seconds(600))
        #expect(waitUntil { client.isClosed })
        // A fresh connection is served as usual.
        let next = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { next.close() }
        #expect(next.unary(path: Echo.unary.path, request: [2], timeout: .seconds(30)).message == [2])
    }

    @Test func slowProducerFollowsWritability() throws {
        let chunk = [UInt8](repeating: 3, count: 64 * 1024)
        let pauses = Atomic<Int>(0)
        var router = Router<ServerMethodHandler>()
        router.register(
            Echo.expand,
            handler: .serverStreaming { call, _ in
                let remaining = Atomic<Int>(200)
                // A producer on another thread that only sends while the stream is writable.
                @Sendable func produce() {
                    while remaining.load(ordering: .relaxed) > 0 {
                        if call.isCancelled { return }
                        guard call.isWritable else {
                            pauses.wrappingAdd(1, ordering: .relaxed)
                            call.whenWritable { DispatchQueue.global().async { produce() } }
                            return
                        }
                        remaining.wrappingSubtract(1, ordering: .relaxed)
                        call.send(chunk)
                    }
                    call.finish()
                }
                DispatchQueue.global().async { produce() }
            })
        let server = try makeServer(router) { $0.maxQueuedResponseBytes = 256 * 1024 }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let count = Atomic<Int>(0)
        let finished = Promise<Status>()
        let call = client.makeCall(
            path: Echo.expand.path, kind: .serverStreaming,
            handlers: ClientCallHandlers(
                onMessage: { message in
                    #expect(message.count == chunk.count)
                    count.wrappingAdd(1, ordering: .relaxed)
                }, onFinish: { status, _ in finished.fulfill(status) }))
        call.send([1])
        call.closeSend()
        #expect(finished.wait(seconds: 60) == .ok)
        #expect(count.load(ordering: .relaxed) == 200)
    }
}
