import Dispatch
import HTTP2
import RPCCore
import Synchronization
import Testing
import Transport

/// `ServerCall.pauseReading/resumeReading`: a paused stream stops its client at the HTTP/2 stream window while the
/// connection's other streams flow, and resuming hands every waiting message over in order.
@Suite(.serialized)
struct ReadPausingTests {
    static let paused = MethodDescriptor(service: Echo.service, method: "Paused", kind: .bidirectionalStreaming)

    @Test func pausedStreamStopsTheClientAtTheWindowAndResumesInOrder() throws {
        let window = 65_535
        let received = Mutex<[[UInt8]]>([])
        let serverCall = Mutex<ServerCall?>(nil)
        var router = Echo.router()
        router.register(
            Self.paused,
            handler: .bidirectionalStreaming { call in
                serverCall.withLock { $0 = call }
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
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }

        let recorder = CallRecorder()
        let call = client.makeCall(path: Self.paused.path, kind: .bidirectionalStreaming, handlers: recorder.handlers)
        let messages = (0..<40).map { index in [UInt8](repeating: UInt8(index), count: 16 * 1024) }
        for message in messages { call.send(message) }
        call.closeSend()

        #expect(eventually { (serverCall.withLock { $0 }?.withheldRequestBytes ?? 0) > 0 })
        // The connection window is credited although the paused stream holds its data: another call on the same
        // connection, larger than what is left of a 64 KiB connection window, still goes through.
        let other = client.unary(path: Echo.unary.path, request: [UInt8](repeating: 9, count: 48 * 1024), timeout: .seconds(30))
        #expect(other.status == .ok)
        #expect(other.message?.count == 48 * 1024)
        _ = DispatchSemaphore(value: 0).wait(timeout: .now() + 0.2)
        // The client stopped at the stream window: without the withheld credit it would have sent all 640 KiB.
        let call1 = try #require(serverCall.withLock { $0 })
        #expect(call1.withheldRequestBytes <= window + 16_384)
        #expect(received.withLock { $0.count } == 1)
        #expect(recorder.finished.wait(seconds: 0) == nil)

        call1.resumeReading()
        let (status, _) = try #require(recorder.finished.wait())
        #expect(status == .ok)
        #expect(recorder.messages.withLock { $0 } == [[40]])
        #expect(received.withLock { $0 } == messages)
        #expect(call1.withheldRequestBytes == 0)
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
