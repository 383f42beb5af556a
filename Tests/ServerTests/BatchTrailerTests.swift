import HTTPTypes
import Testing
import TensorwireProto

@testable import Server

/// The batching facts every Predict and ModelInfer answer carries as trailers: all three keys, and the two timings
/// marked for HTTP/2 to keep out of the HPACK table (a new value per call would evict the fields that repeat).
@Suite struct BatchTrailerTests {
    @Test func batchFactsBecomeThreeTrailersWithTheTimingsNotIndexed() throws {
        #expect(InferenceRPC.batchTrailerNames != nil)
        var batch = TensorwireV1.BatchInfo()
        batch.batchSize = 12
        batch.queueUs = 345
        batch.computeUs = 67
        let fields = try #require(InferenceRPC.trailers(for: batch)).headerFields
        #expect(fields.map(\.name) == ["tw-batch-size", "tw-queue-us", "tw-compute-us"])
        #expect(fields.map(\.value) == ["12", "345", "67"])
        #expect(fields.map(\.isIndexable) == [true, false, false])
        #expect(InferenceRPC.trailers(for: nil) == nil)
    }
}
