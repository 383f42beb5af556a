import Logging
import RPCCore
import Server
import TensorwireClient
import TensorwireProto
import Testing
import TestSupport

/// The Swift client example in README.md ("Call it", **Swift**), compiled and run against an in-process
/// server on an ephemeral port. The lines between the `README snippet` marks are the README's, apart from the
/// port and `pixels` (which the README leaves to the reader); keep the two in step
/// (`Tools/check-docs` compares them).
@Suite(.serialized, .tags(.live))
struct ReadmeExampleLiveTests {
    /// The README snippet, with the server's port as a parameter (the README uses 50051).
    static func readmeExample(port: Int) throws -> (label: Int64, probability: Float, batchRequests: UInt32) {
        let pixels: [Float] = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
                               0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
                               0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]  // an 8×8 handwritten zero
        // README snippet begins
        let client = try TensorwireClient(host: "127.0.0.1", port: port, defaultTimeout: .seconds(5))
        defer { client.close() }
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        request.inputs = [TensorwireV1.Tensor(name: "X", shape: [1, 64], floatData: pixels)]  // 64 floats
        let response = try client.predict(request)  // `try await client.predict(request)` in async code
        let label = response.outputs.first { $0.name == "label" }!.int64Data[0]
        print("digit \(label), batched with \(response.batch!.batchRequests) requests")
        // README snippet ends

        let probabilities = response.outputs.first { $0.name == "probabilities" }!.floatData
        return (label, probabilities[Int(label)], response.batch!.batchRequests)
    }

    @Test func readmeSnippetPredictsTheHandwrittenZero() throws {
        var options = ServerOptions()
        options.port = 0
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 1) }
        let result = try Self.readmeExample(port: server.port)
        #expect(result.label == 0)
        #expect(result.probability > 0.99)
        #expect(result.batchRequests >= 1)
    }

    @Test func readmeSnippetFailsWithAnRPCErrorWhenNothingListens() throws {
        // Port 1 on loopback: nothing listens, so the call fails with UNAVAILABLE instead of hanging.
        #expect(throws: RPCError.self) { _ = try Self.readmeExample(port: 1) }
    }
}
