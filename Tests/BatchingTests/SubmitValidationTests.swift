import Batching
import Inference
import Testing
import TestSupport

/// `submit` refuses inputs that do not match the model's signature, naming the input and what it expected, before
/// anything is queued (the digits model takes one FP32 input of shape [N, 64]).
@Suite(.tags(.live)) struct SubmitValidationTests {
    @Test func inputsThatDoNotMatchTheSignatureAreRefusedAtSubmit() throws {
        let batcher = try Batcher(model: BuiltinModels.digits(), config: ModelConfig())
        defer { batcher.shutdown() }
        func refusal(_ inputs: [Tensor]) -> String? {
            do {
                try batcher.submit(BatchJob(inputs: inputs) { _ in })
                return nil
            } catch {
                guard case .invalidInput(let message) = error else { return "not invalidInput: \(error)" }
                return message
            }
        }
        let row = Tensor(shape: [2, 64], floats: Array(repeating: 1, count: 128))
        #expect(refusal([row, row])?.contains("expected 1 input(s), received 2") == true)
        #expect(refusal([Tensor(shape: [2, 64], int64s: Array(repeating: 1, count: 128))])?.contains("expected float32") == true)
        #expect(refusal([Tensor(shape: [2, 63], floats: Array(repeating: 1, count: 126))])?.contains("expected shape") == true)
        #expect(refusal([Tensor(shape: [128], floats: Array(repeating: 1, count: 128))])?.contains("expected shape") == true)
        #expect(refusal([Tensor(shape: [2, 64, 1], floats: Array(repeating: 1, count: 128))])?.contains("expected shape") == true)
        #expect(refusal([row]) == nil)
        #expect(batcher.queuedRequests <= 1)
    }
}
