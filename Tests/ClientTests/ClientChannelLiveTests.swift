import Dispatch
import Locks
import Logging
import RPCCore
import Server
import TensorwireClient
import TensorwireProto
import Testing
import TestSupport
import Transport

/// The channel against in-process servers on loopback: round robin over several, moving away from a stopped one,
/// reconnecting after a restart on the same port, waiting for a server (wait-for-ready), and failing fast after
/// the policy's attempts when none listens.
@Suite(.serialized, .tags(.live))
struct ClientChannelLiveTests {
    static func server(port: Int = 0) throws -> TensorwireServer {
        var options = ServerOptions()
        options.port = port
        return try TensorwireServer(options: options, logSink: .discarding)
    }

    /// A port where nothing listens now (a server bound it and stopped).
    static func freePort() throws -> Int {
        let server = try server()
        let port = server.port
        server.shutdown(drainSeconds: 0)
        return port
    }

    static let request = TensorwireClientLiveTests.digits(id: "c")

    @Test func callsGoRoundRobinAndAvoidAStoppedServer() throws {
        let servers = try (0..<3).map { _ in try Self.server() }
        defer { for server in servers { server.shutdown(drainSeconds: 0) } }
        let client = try TensorwireClient(
            addresses: servers.map { ServerAddress(host: "127.0.0.1", port: $0.port) }, defaultTimeout: .seconds(10))
        defer { client.close() }
        for _ in 0..<30 { #expect(try client.predict(Self.request).id == "c") }
        #expect(client.statistics.attemptsByAddress == [10, 10, 10])
        #expect(client.statistics.retries == 0)

        // Streams take their turn too (never retried).
        for _ in 0..<3 {
            let stream = client.predictStream(onResponse: { _ in })
            stream.send(Self.request)
            stream.finish()
            #expect(stream.wait().isOK)
        }
        #expect(client.statistics.attemptsByAddress == [11, 11, 11])

        servers[1].shutdown(drainSeconds: 0)
        for _ in 0..<60 { #expect(try client.predict(Self.request).id == "c") }
        let after = client.statistics.attemptsByAddress
        // The stopped server gets only the probes of its reconnect backoff; the other two share the rest evenly.
        #expect(after[0] + after[2] - 22 >= 60)
        #expect(abs(Int(after[0]) - Int(after[2])) <= 1 + Int(after[1] - 11))
    }

    @Test func aRestartedServerOnTheSamePortIsReconnected() throws {
        let first = try Self.server()
        let port = first.port
        let client = try TensorwireClient(host: "127.0.0.1", port: port, defaultTimeout: .seconds(10))
        defer { client.close() }
        #expect(try client.predict(Self.request).id == "c")
        first.shutdown(drainSeconds: 0)
        #expect(waitUntil { client.connection.phase == .closed })
        let second = try Self.server(port: port)
        defer { second.shutdown(drainSeconds: 0) }
        // The connection that served and ended is reopened at once: no failure reaches the caller.
        #expect(try client.predict(Self.request).id == "c")
        #expect(client.statistics.connects == 2)
        #expect(client.connection.phase == .ready)
    }

    @Test func waitForReadyWaitsForAServerThatComesUp() throws {
        let port = try Self.freePort()
        var settings = ClientChannel.Configuration()
        settings.waitForReady = true
        let client = try TensorwireClient(
            host: "127.0.0.1", port: port, defaultTimeout: .seconds(30), channel: settings, predictIsIdempotent: false)
        defer { client.close() }
        let result = Promise<Result<String, RPCError>>()
        DispatchQueue.global().async {
            do throws(RPCError) {
                result.fulfill(.success(try client.predict(Self.request).id))
            } catch {
                result.fulfill(.failure(error))
            }
        }
        // Several connects have failed while the call waits (more than the policy's 5 attempts would allow
        // without wait-for-ready is not needed: waiting is what is shown), and it has not ended.
        #expect(waitUntil { client.statistics.connects >= 3 })
        #expect(result.current == nil)
        let server = try Self.server(port: port)
        defer { server.shutdown(drainSeconds: 0) }
        let answer = try #require(result.wait())
        #expect(try answer.get() == "c")
    }

    @Test func withNothingListeningACallFailsAfterThePolicysAttempts() throws {
        let port = try Self.freePort()
        let client = try TensorwireClient(host: "127.0.0.1", port: port, defaultTimeout: .seconds(30))
        defer { client.close() }
        do {
            _ = try client.predict(Self.request)
            Issue.record("a call with nothing listening succeeded")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("connection closed"), "\(error.message)")
        }
        // One transparent retry of the unsent request, then the policy's four.
        #expect(client.statistics.retries == 5)
        #expect(client.statistics.transparentRetries == 1)
        let noRetries = try TensorwireClient(
            host: "127.0.0.1", port: port, channel: ClientChannel.Configuration(retryPolicy: .disabled))
        defer { noRetries.close() }
        #expect(throws: RPCError.self) { try noRetries.listModels() }
        #expect(noRetries.statistics.retries == 1)
    }

    @Test func namesResolveToEveryAddress() throws {
        #expect(try ServerAddress.resolveAll(host: "127.0.0.1", port: 7) == [ServerAddress(host: "127.0.0.1", port: 7)])
        #expect(try ServerAddress.resolveAll(host: "::1", port: 7) == [ServerAddress(host: "::1", port: 7)])
        let local = try ServerAddress.resolveAll(host: "localhost", port: 9)
        #expect(!local.isEmpty && local.allSatisfy { $0.port == 9 && ($0.host == "127.0.0.1" || $0.host == "::1") })
        #expect(Set(local).count == local.count)
        #expect(throws: RPCError.self) { try ServerAddress.resolveAll(host: "no-such-host.invalid", port: 1) }
        #expect(ServerAddress(host: "::1", port: 5).description == "[::1]:5")
    }
}
