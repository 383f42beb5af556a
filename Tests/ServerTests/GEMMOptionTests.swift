import Batching
import Inference
import Logging
@testable import Server
import Testing
import TestSupport

/// `--gemm packed|blas|auto`: parsed by the root and passed down to model compilation (issue 16 §3).
@Suite(.tags(.live)) struct GEMMOptionLiveTests {
    static func parsed(_ arguments: [String]) throws -> ServerOptions {
        guard case .run(let options) = try ServerOptions.parse(arguments) else {
            Issue.record("not a run")
            return ServerOptions()
        }
        return options
    }

    @Test func parsesEveryKind() throws {
        #expect(try Self.parsed([]).gemm == GEMMBackend.preferred)
        #expect(try Self.parsed(["--gemm", "auto"]).gemm == GEMMBackend.preferred)
        #expect(try Self.parsed(["--gemm", "blas"]).gemm == .blas)
        #expect(try Self.parsed(["--gemm=packed"]).gemm == .packed)
        #expect(throws: ServerOptions.UsageError.self) { try ServerOptions.parse(["--gemm", "fast"]) }
        #expect(ServerOptions.usage.contains("--gemm KIND"))
    }

    @Test func theServerCompilesItsModelsForTheChosenGEMM() throws {
        var options = ServerOptions()
        options.port = 0
        options.gemm = .blas
        let server = try TensorwireServer(options: options, logSink: .discarding)
        defer { server.shutdown(drainSeconds: 0) }
        #expect(server.catalog.source.gemm == .blas)
        #expect(server.catalog.entry("digits")?.defaultVersion?.batcher?.model.gemm == .blas)
    }
}
