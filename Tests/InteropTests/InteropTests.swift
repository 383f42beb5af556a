import InteropService
import Testing
import Transport
import TestSupport

/// Every interop case with our client against an in-process interop server (the live runs against grpcio and
/// grpcurl are in Tools/interop/grpc-interop.sh).
@Suite(.serialized, .tags(.live))
struct InteropLiveTests {
    @Test(arguments: InteropClient.allCases)
    func swiftClientPassesAgainstTheInteropServer(testCase: String) throws {
        let server = try GRPCServer(
            router: InteropTestService.router(),
            configuration: InteropTestService.configuration(host: "127.0.0.1", port: 0))
        defer { server.shutdown(drainSeconds: 1) }
        let connection = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { connection.close() }
        do throws(InteropFailure) {
            try InteropClient(connection: connection).run(testCase)
        } catch {
            Issue.record("\(testCase): \(error)")
        }
    }
}
