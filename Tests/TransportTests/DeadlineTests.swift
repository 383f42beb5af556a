// Tests/TransportTests/DeadlineTests.swift: the server's deadline at every step of a call (issue 15, point 1).
//
// A raw HTTP/2 client (our HTTP2Session over a blocking socket) sends `grpc-timeout` but keeps no deadline of its
// own, so the server's timer is the only one and what it puts on the wire is observed exactly: a deadline that
// expires at any step ends in DEADLINE_EXCEEDED, or OK once the response went out, and never in RST_STREAM
// INTERNAL_ERROR. Each handler takes its steps from the call's own events (on the loop thread), not from sleeps, and
// the server's clock is virtual: the deadline passes when the test moves it, after the handler's step.

import Clocks
import Dispatch
import EventLoop
import Glibc
import HTTP2
import RPCCore
import Locks
import Testing
import Transport
import HTTPTypes
import TestSupport

@Suite(.tags(.live)) struct DeadlineLiveTests {
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

    /// The handlers: each takes its step, then says so through `stepTaken` (on the loop thread).
    static func router(step: Step, stepTaken: Promise<Bool>) -> Router<ServerMethodHandler> {
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
            stepTaken.fulfill(true)
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
                stepTaken.fulfill(true)
            })
        return router
    }

    /// One call with `grpc-timeout: 50m` on a server whose loops run on a virtual clock: once the handler has taken
    /// its step, the clock jumps 50 ms and the server's deadline timer fires; what the client saw is returned. The
    /// raw client keeps no deadline of its own, and nothing depends on how fast either side runs.
    static func callThatOutlivesItsDeadline(step: Step, path: String, message: [UInt8]) throws -> RawCallOutcome {
        let clock = ManualClock()
        let stepTaken = Promise<Bool>()
        let server = try makeServer(Self.router(step: step, stepTaken: stepTaken)) { $0.clock = clock }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try RawH2Client(port: server.port)
        let id = try client.startCall(path, message: message, timeout: "50m")
        try client.flush()
        #expect(stepTaken.wait() == true)
        if step == .answeredInTime {
            // The response goes out before the deadline passes.
            #expect(try client.pump { client.closed[id] != nil })
        }
        clock.advance(by: .milliseconds(50))
        #expect(try client.pump { client.closed[id] != nil })
        return client.outcome(id)
    }

    @Test(arguments: Step.allCases)
    func deadlineAtEveryStepIsDeadlineExceededOrOKNeverAReset(step: Step) throws {
        let outcome = try Self.callThatOutlivesItsDeadline(step: step, path: Self.unary.path, message: [7, 7])
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
        let outcome = try Self.callThatOutlivesItsDeadline(step: .queued, path: Self.streaming.path, message: [1, 2, 3])
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
        let codes = Lock<[Status.Code: Int]>([:])
        let other = Lock<[String]>([])
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
