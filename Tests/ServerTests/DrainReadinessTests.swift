// Tests/ServerTests/DrainReadinessTests.swift: the stop reports not ready before it stops accepting (issue 21).

import Foundation
import RPCCore
import ServiceSupport
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

@Suite(.serialized, .tags(.live))
struct DrainReadinessLiveTests {
    @Test func notReadyComesFirstWhileNewConnectionsAreStillServed() throws {
        try ModelControlLiveTests.withServer([]) { (server: TensorwireServer, client: ClientConnection) throws in
            #expect(try ReadinessAndStartupLiveTests.serverReady(client))
            server.reportNotReady()
            #expect((try? server.health.check("").get()) == .notServing)
            #expect(try !ReadinessAndStartupLiveTests.serverReady(client))
            #expect(!server.catalog.isReady)
            // Still accepting: a connection opened now is served, so load balancers can move traffic at their pace.
            let late = try ClientConnection(host: "127.0.0.1", port: server.port)
            defer { late.close() }
            #expect(ModelControlLiveTests.infer(late, "digits").isOK)
            #expect(server.transport.drainNotices == 0, "no connection was told to drain yet")
        }
    }
}
