// Tests/ServerTests/ReadinessAndStartupTests.swift: readiness with failed models (--strict-readiness), the start-up
// summary, the log format and the new flags (issue 15, points 2, 4, 7, 8, 9).

import Foundation
import Logging
import RPCCore
import ServiceSupport
import Testing
import TensorwireProto
import Transport

@testable import Server
import TestSupport

@Suite(.serialized, .tags(.live))
struct ReadinessAndStartupLiveTests {
    static func serverReady(_ client: ClientConnection) throws -> Bool {
        try ModelControlLiveTests.call(client, "ServerReady", KServe.ServerReadyRequest(), as: KServe.ServerReadyResponse.self)
            .ready
    }

    @Test func failedModelsLeaveTheServerReadyAndAreReportedPerModel() throws {
        let repository = try ModelControlLiveTests.Repository()
        defer { repository.remove() }
        try ModelControlLiveTests.withServer(["--models", repository.root.path]) { (server: TensorwireServer, client: ClientConnection) throws in
            #expect(try Self.serverReady(client))
            #expect((try? server.health.check("").get()) == .serving)
            #expect(try ModelControlLiveTests.ready(client, "alpha"))
            #expect(try !ModelControlLiveTests.ready(client, "broken"))
            #expect(server.catalog.failedModelNames == ["badconfig", "broken"])
            #expect(server.catalog.readyModelNames == ["alpha", "beta"])
        }
    }

    @Test func strictReadinessKeepsTheOldRule() throws {
        let repository = try ModelControlLiveTests.Repository()
        defer { repository.remove() }
        try ModelControlLiveTests.withServer(["--models", repository.root.path, "--strict-readiness"]) { (server: TensorwireServer, client: ClientConnection) throws in
            #expect(try !Self.serverReady(client))
            #expect((try? server.health.check("").get()) == .notServing)
            #expect(try ModelControlLiveTests.ready(client, "alpha"))
        }
    }

    @Test func startupSummaryListsReadyAndFailedModelsSeparately() throws {
        let repository = try ModelControlLiveTests.Repository()
        defer { repository.remove() }
        try ModelControlLiveTests.withServer(["--models", repository.root.path]) { (server: TensorwireServer, _: ClientConnection) throws in
            let lines = server.startupSummary()
            #expect(lines.first?.level == .info)
            #expect(lines.first?.text.contains("serving models alpha, beta from repository \(repository.root.path)") == true)
            #expect(lines.first?.text.contains("broken") == false)
            #expect(lines.contains { $0.level == .warning && $0.text.contains("failed to load: badconfig, broken") })
        }
    }

    @Test func anEmptyRepositoryWarnsThatNothingServes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tw-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try ModelControlLiveTests.withServer(["--models", root.path]) { (server: TensorwireServer, _: ClientConnection) throws in
            let lines = server.startupSummary()
            #expect(lines.first?.text.contains("serving no model") == true)
            #expect(lines.contains { $0.level == .warning && $0.text.contains("no model is loaded") })
        }
    }

    @Test func startupErrorsAreInPlainWords() {
        let error = RPCError(code: .notFound, message: "model 'x' is not in the repository /m (models: a)")
        #expect(TensorwireServer.describe(startupError: error) == "model 'x' is not in the repository /m (models: a)")
    }

    @Test func newFlagsParse() throws {
        #expect(try ServerOptions.parse(["--version"]) == .version)
        guard case .run(let options) = try ServerOptions.parse(["--strict-readiness", "--log-level", "warning"]) else {
            Issue.record("not a run")
            return
        }
        #expect(options.strictReadiness && options.logLevel == .warning)
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--log-level", "loud"]) }
        #expect(ServerOptions.usage.contains("--strict-readiness"))
        // The help says what the README says: an idle model waits too.
        #expect(ServerOptions.usage.contains("how long a free instance may wait for a fuller batch"))
        #expect(!ServerOptions.usage.contains("busy model"))
    }

    @Test func logLinesHaveATimestampLevelAndComponent() {
        let output = MemoryLogOutput()
        let sink = LogSink(output: output, minimumLevel: .info, clock: { WallTime(seconds: 1_796_591_944, nanoseconds: 123_456_789) })
        let logger = Logger(component: "models", sink: sink)
        logger.debug("not written")
        logger.info("model a version 1: READY")
        logger.error("two\nlines")
        #expect(output.lines == [
            "2026-12-06T21:19:04.123Z INFO  models: model a version 1: READY",
            "2026-12-06T21:19:04.123Z ERROR models: two\\nlines",
        ])
    }
}
