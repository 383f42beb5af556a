// Tests/TransportTests/EarlyResetTests.swift: the rapid-reset guard counts resets of unfinished requests only, so a
// client whose deadlines expire (a CANCEL after each finished request) keeps its connection.

import HTTP2
import RPCCore
import Testing
@testable import Transport
import HTTPTypes
import TestSupport
import Clocks

@Suite struct EarlyResetBudgetTests {
    @Test func aBurstThenTheRefillRate() {
        var budget = EarlyResetBudget(burst: 3, perSecond: 2)
        let start = MonotonicInstant(nanoseconds: 1_000_000_000)
        func spend(_ count: Int, at instant: MonotonicInstant) -> [Bool] {
            (0..<count).map { _ in budget.spend(at: instant) }
        }
        #expect(spend(4, at: start) == [true, true, true, false])
        // Half a second refills one.
        #expect(spend(2, at: start + .milliseconds(500)) == [true, false])
        // Ten seconds refill to the burst, no further.
        #expect(spend(4, at: start + .seconds(10)) == [true, true, true, false])
    }
}

@Suite(.serialized, .tags(.live)) struct EarlyResetLiveTests {
    static func server(burst: Int) throws -> GRPCServer {
        try makeServer { configuration in
            configuration.earlyResetBurst = burst
            configuration.earlyResetsPerSecond = 0
        }
    }

    /// HEADERS then RST_STREAM, over and over (CVE-2023-44487): past the burst the connection gets GOAWAY.
    @Test func resettingUnfinishedRequestsEndsTheConnection() throws {
        let server = try Self.server(burst: 50)
        defer { server.shutdown(drainSeconds: 1) }
        let client = try RawH2Client(port: server.port)
        for _ in 0..<200 {
            let id = try client.open(Echo.update.path)
            try client.flush()  // the HEADERS must go out first: nghttp2 drops a reset stream's unsent HEADERS
            client.session.resetStream(streamID: id, errorCode: .cancel)
            try client.flush()
        }
        #expect(try client.pump(seconds: 30) { server.earlyResetEndings == 1 })
        #expect(try client.pump(seconds: 30) { client.connectionClosed })
    }

    /// A client cancelling calls whose requests it had finished (what a deadline does) is not an attacker: 200
    /// such cancels with a burst of 50 leave the connection serving.
    @Test func cancellingFinishedRequestsIsNotCounted() throws {
        var router = Router<ServerMethodHandler>()
        router.register(Echo.unary, handler: .unary { _, _ in })  // never answers: the client gives up
        let server = try makeServer(router) { configuration in
            configuration.earlyResetBurst = 50
            configuration.earlyResetsPerSecond = 0
        }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try RawH2Client(port: server.port)
        for _ in 0..<200 {
            let id = try client.open(Echo.unary.path)
            _ = try client.session.sendData(streamID: id, [0, 0, 0, 0, 1, 7])
            _ = try client.session.finish(streamID: id)
            try client.flush()
            client.session.resetStream(streamID: id, errorCode: .cancel)
            try client.flush()
        }
        // A ping round trip proves the server has read every frame before the counter is checked.
        try client.session.sendPing(opaqueData: 42)
        #expect(try client.pump(seconds: 30) { client.pings.contains(42) })
        #expect(!client.connectionClosed)
        #expect(server.earlyResetEndings == 0)
    }
}
