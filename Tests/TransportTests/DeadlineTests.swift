// Tests/TransportTests/DeadlineTests.swift: the server's deadline at every step of a call (issue 15, point 1).
//
// A raw HTTP/2 client (our HTTP2Session over a blocking socket) sends `grpc-timeout` but keeps no deadline of its
// own, so the server's timer is the only one and what it puts on the wire is observed exactly: a deadline that
// expires at any step ends in DEADLINE_EXCEEDED, or OK once the response went out, and never in RST_STREAM
// INTERNAL_ERROR. Each handler takes its steps from the call's own events (on the loop thread), not from sleeps.

import Dispatch
import EventLoop
import Glibc
import HTTP2
import RPCCore
import Synchronization
import Testing
import Transport
import HTTPTypes

/// What the raw client saw on its one stream.
struct RawCallOutcome {
    var responseHeaders: [HeaderField]?
    var dataBytes = 0
    var trailers: [HeaderField]?
    var closeCode: HTTP2ErrorCode?

    var grpcStatus: String? {
        (trailers ?? []).first { $0.name == "grpc-status" }?.value
    }
}

/// One gRPC call over a fresh connection with a blocking socket; returns once the stream closes (or after
/// `seconds`, with what arrived by then).
func rawCall(
    port: Int, path: String, message: [UInt8], timeout: String?, seconds: Double = 20
) throws -> RawCallOutcome {
    let fd = try connectLoopback(port: port)
    defer { close(fd) }

    let session = try HTTP2Session(role: .client)
    var headers = [
        HeaderField(":method", "POST"), HeaderField(":scheme", "http"), HeaderField(":path", path),
        HeaderField(":authority", "localhost"), HeaderField("content-type", "application/grpc"),
        HeaderField("te", "trailers"),
    ]
    if let timeout { headers.append(HeaderField("grpc-timeout", timeout)) }
    let id = try session.sendRequest(headers: headers)
    let length = UInt32(message.count)
    let framed = [0, UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
        + message
    _ = try session.sendData(streamID: id, framed)
    _ = try session.finish(streamID: id)

    var outcome = RawCallOutcome()
    let giveUp = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    var buffer = [UInt8](repeating: 0, count: 65536)
    while outcome.closeCode == nil, ContinuousClock.now < giveUp {
        var output: [UInt8] = []
        var events = try session.drainOutput(into: &output)
        var sent = 0
        while sent < output.count {
            let n = output[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }
            sent += n
        }
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { break }
        if n > 0 { events += try session.receive(Array(buffer[0..<n])) }
        for event in events {
            switch event {
            case .headers(id, let fields, .response, let endStream):
                if endStream { outcome.trailers = fields } else { outcome.responseHeaders = fields }
            case .headers(id, let fields, .trailers, _):
                outcome.trailers = fields
            case .data(id, let bytes, _):
                outcome.dataBytes += bytes.count
                session.consume(streamID: id, count: bytes.count)
            case .streamClosed(id, let code):
                outcome.closeCode = code
            default:
                break
            }
        }
    }
    return outcome
}

@Suite struct DeadlineTests {
    static let unary = MethodDescriptor(service: "tw.test.Deadline", method: "Get", kind: .unary)
    static let streaming = MethodDescriptor(service: "tw.test.Deadline", method: "Expand", kind: .serverStreaming)

    /// How a handler meets its deadline.
    enum Step: String, CaseIterable {
        /// Never answers: the deadline finds the call queued (no response headers yet).
        case queued
        /// Sends response headers and a message, then waits: the deadline finds the response being written.
        case writing
        /// Answers from inside the deadline's cancellation, on the loop thread, right after the server ended the
        /// response: the race that reset streams with INTERNAL_ERROR.
        case answersAtTheDeadline
        /// Answers from another thread just after the deadline.
        case answersJustAfter
        /// Answers at once: the deadline passes after the response went out.
        case answeredInTime
    }

    static func router(step: Step) -> Router<ServerMethodHandler> {
        var router = Router<ServerMethodHandler>()
        let handler = ServerMethodHandler.unary { call, request in
            switch step {
            case .queued:
                break
            case .writing:
                call.sendHeaders()
            case .answersAtTheDeadline:
                call.onCancel { _ in call.respond(request) }
            case .answersJustAfter:
                call.onCancel { _ in DispatchQueue.global().async { call.respond(request) } }
            case .answeredInTime:
                call.respond(request)
            }
        }
        router.register(unary, handler: handler)
        router.register(
            streaming,
            handler: .serverStreaming { call, request in
                call.send(request)
                call.onCancel { _ in
                    call.send(request)
                    call.finish()
                }
            })
        return router
    }

    @Test(arguments: Step.allCases)
    func deadlineAtEveryStepIsDeadlineExceededOrOKNeverAReset(step: Step) throws {
        let server = try makeServer(Self.router(step: step))
        defer { server.shutdown(drainSeconds: 1) }
        let outcome = try rawCall(port: server.port, path: Self.unary.path, message: [7, 7], timeout: "50m")
        #expect(outcome.closeCode == .noError, "\(step): stream closed with \(String(describing: outcome.closeCode))")
        switch step {
        case .answeredInTime:
            #expect(outcome.grpcStatus == "0")
            #expect(outcome.dataBytes == 7)
        case .writing:
            // Response headers went out before the deadline: DEADLINE_EXCEEDED comes as trailers.
            #expect(outcome.responseHeaders != nil)
            #expect(outcome.grpcStatus == "4")
        default:
            #expect(outcome.grpcStatus == "4")
            #expect(outcome.dataBytes == 0)
        }
    }

    @Test func deadlineWhileStreamingEndsWithTrailersAfterTheMessagesSent() throws {
        let server = try makeServer(Self.router(step: .queued))
        defer { server.shutdown(drainSeconds: 1) }
        let outcome = try rawCall(port: server.port, path: Self.streaming.path, message: [1, 2, 3], timeout: "50m")
        #expect(outcome.closeCode == .noError)
        #expect(outcome.dataBytes == 8)  // the one message sent before the deadline, not the late one
        #expect(outcome.grpcStatus == "4")
    }

    /// Live race: many calls with a deadline about as long as the round trip, answered from another thread.
    /// Every call ends OK or DEADLINE_EXCEEDED.
    @Test func callsWhoseDeadlineEqualsTheServiceTimeNeverEndInInternal() throws {
        var router = Router<ServerMethodHandler>()
        router.register(
            Self.unary,
            handler: .unary { call, request in
                // Answered from another thread at once: under load the answer and the 2 ms deadline meet at every
                // step of the call, with no sleep deciding which comes first.
                DispatchQueue.global().async { call.respond(request) }
            })
        let server = try makeServer(router)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let total = 600  // under nghttp2's stream-reset burst (1000): every timed-out call is a client RST_STREAM
        let codes = Mutex<[Status.Code: Int]>([:])
        let other = Mutex<[String]>([])
        let done = Promise<Bool>()
        let inFlight = DispatchSemaphore(value: 16)
        for _ in 0..<total {
            inFlight.wait()
            client.unary(path: Self.unary.path, request: [1], timeout: .milliseconds(2)) { response in
                inFlight.signal()
                if ![.ok, .deadlineExceeded].contains(response.status.code) {
                    other.withLock { $0.append(response.status.description) }
                }
                let count = codes.withLock { codes in
                    codes[response.status.code, default: 0] += 1
                    return codes.values.reduce(0, +)
                }
                if count == total { done.fulfill(true) }
            }
        }
        #expect(done.wait(seconds: 120) == true)
        let seen = codes.withLock { $0 }
        #expect(Set(seen.keys).isSubset(of: [.ok, .deadlineExceeded]), "statuses: \(seen); \(other.withLock { $0.prefix(3) })")
    }
}
