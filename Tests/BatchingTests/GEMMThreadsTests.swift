import Batching
import Inference
import Testing
import TestSupport

/// GEMM threads are a per-batcher setting (issue 16 §3): a batcher never changes another model's threads or the
/// process-wide OpenBLAS pool.
@Suite(.tags(.live)) struct GEMMThreadsLiveTests {
    @Test func eachBatcherKeepsItsOwnThreadCount() throws {
        let model = try BuiltinModels.digits()
        let openBLASBefore = BLAS.threadCount
        let one = try Batcher(model: model, blasThreads: 1)
        defer { one.shutdown(drain: false) }
        let three = try Batcher(model: model, blasThreads: 3)
        defer { three.shutdown(drain: false) }
        var config = ModelConfig()
        config.instances = 2
        let shared = try Batcher(model: model, config: config)
        defer { shared.shutdown(drain: false) }
        #expect(one.gemmThreads == 1)
        #expect(three.gemmThreads == 3)
        #expect(shared.gemmThreads == Batcher.defaultBLASThreads(instances: 2, cores: Batcher.onlineCores))
        #expect(BLAS.threadCount == openBLASBefore)
    }

    @Test func anExecutionContextCarriesItsThreadCount() throws {
        let model = try BuiltinModels.digits()
        #expect(model.makeContext().gemmThreads == 1)
        #expect(model.makeContext(gemmThreads: 4).gemmThreads == 4)
        #expect(model.makeContext(gemmThreads: 0).gemmThreads == 1)
    }

    @Test func theBuiltinModelCompilesForTheGEMMItIsGiven() throws {
        let blas = ModelRepository.builtin(gemm: .blas)
        #expect(blas.readyEntries.first?.model?.gemm == .blas)
        let preferred = ModelRepository.builtin()
        #expect(preferred.readyEntries.first?.model?.gemm == GEMMBackend.preferred)
    }
}
