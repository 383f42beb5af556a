import Dispatch
import HTTP2
import RPCCore
import Locks
import Testing
import Transport
import TestSupport

/// `ServerCall.pauseReading/resumeReading`: a paused stream stops its client at the HTTP/2 stream window while the
/// connection's other streams flow, and resuming hands every waiting message over in order.
@Suite(.serialized, .tags(.live))
struct ReadPausingLiveTests {
    static let paused = MethodDescriptor(service: Echo.service, method: "Paused", kind: .bidirectionalStreaming)

    @Test func pausedStreamStopsTheClientAtTheWindowAndResumesInOrder() throws {
        let window = 65_535
        let received = Lock<[[UInt8]]>([])
        let serverCall = Promise<ServerCall>()
        var router = Echo.router()
        router.register(
            Self.paused,
            handler: .bidirectionalStreaming { call in
                serverCall.fulfill(call)
                return RequestObserver(
                    onMessage: { message in
                        let count = received.withLock { $0.append(message); return $0.count }
                        if count == 1 { call.pauseReading() }
                    },
                    onEnd: {
                        let count = received.withLock { $0.count }
                        call.respond([UInt8(truncatingIfNeeded: count)])
                    })
            })
        let server = try makeServer(router) { configuration in
            configuration.http2.initialWindowSize = UInt32(window)
            configuration.http2.connectionWindowSize = UInt32(window)
        }
        defer { server.shutdown(drainSeconds: 1) }
        // A raw client, so the test sees exactly how much of its stream the flow-control windows let out.
        let client = try RawH2Client(port: server.port)
        let messages = (0..<40).map { index in [UInt8](repeating: UInt8(index), count: 16 * 1024) }
        let stream = try client.open(Self.paused.path)
        for message in messages { try client.sendMessage(on: stream, message) }
        try client.finish(stream)

        // The first message arrives and pauses the stream; the DATA behind it is held, its stream credit withheld.
        #expect(try client.pump { serverCall.current.map { $0.withheldRequestBytes > 0 } ?? false })
        let call = try #require(serverCall.current)
        // The connection window is credited although the paused stream holds its data: another call on the same
        // connection, larger than what is left of a 64 KiB connection window, still goes through.
        let other = try client.startCall(Echo.unary.path, message: [UInt8](repeating: 9, count: 48 * 1024))
        #expect(try client.pump { client.closed[other] != nil })
        #expect(client.grpcStatus(other) == "0")
        #expect(client.received[other]?.count == 5 + 48 * 1024)
        // Two PING round trips: any stream credit the server sent has reached the client, and whatever DATA that
        // credit let the client send has reached the server. Nothing more can be on its way.
        #expect(try client.roundTrip())
        #expect(try client.roundTrip())
        // The client stopped at the stream window: without the withheld credit it would have sent all 640 KiB.
        let total = messages.count * (5 + 16 * 1024)
        let sent = total - client.session.queuedOutboundBytes(streamID: stream)
        #expect(sent <= window + 16_384, "\(sent) bytes of the paused stream went out")
        #expect(call.withheldRequestBytes <= window + 16_384)
        #expect(received.withLock { $0.count } == 1)
        #expect(client.trailers[stream] == nil)

        call.resumeReading()
        #expect(try client.pump { client.closed[stream] != nil })
        #expect(client.grpcStatus(stream) == "0")
        #expect(client.received[stream] == [0, 0, 0, 0, 1, 40])
        #expect(received.withLock { $0 } == messages)
        #expect(call.withheldRequestBytes == 0)
    }

    @Test func pauseAndResumeFromAnotherThreadKeepOrder() throws {
        // A handler that pauses after every message and resumes from another thread: one message at a time.
        var router = Router<ServerMethodHandler>()
        router.register(
            Echo.update,
            handler: .bidirectionalStreaming { call in
                RequestObserver(
                    onMessage: { message in
                        call.pauseReading()
                        DispatchQueue.global().async {
                            call.send(message)
                            call.resumeReading()
                        }
                    },
                    onEnd: { call.finish() })
            })
        let server = try makeServer(router)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = CallRecorder()
        let call = client.makeCall(path: Echo.update.path, kind: .bidirectionalStreaming, handlers: recorder.handlers)
        let messages = (0..<300).map { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        for message in messages { call.send(message) }
        call.closeSend()
        let (status, _) = try #require(recorder.finished.wait(seconds: 60))
        #expect(status == .ok)
        #expect(recorder.messages.withLock { $0 } == messages)
    }
}
