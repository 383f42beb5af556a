import HTTPTypes
import RPCCore
import Testing
import TensorwireProto
import TestSupport

@testable import Server

/// The batching facts every Predict and ModelInfer answer carries as trailers: all three keys, and the two timings
/// marked for HTTP/2 to keep out of the HPACK table (a new value per call would evict the fields that repeat).
@Suite struct BatchTrailerTests {
    @Test func batchFactsBecomeThreeTrailersWithTheTimingsNotIndexed() throws {
        #expect(InferenceRPC.batchKeys != nil)
        var batch = TensorwireV1.BatchInfo()
        batch.batchSize = 12
        batch.queueUs = 345
        batch.computeUs = 67
        let fields = InferenceRPC.trailers(for: batch).headerFields
        #expect(fields.map(\.name) == ["tw-batch-size", "tw-queue-us", "tw-compute-us"])
        #expect(fields.map(\.value) == ["12", "345", "67"])
        #expect(fields.map(\.isIndexable) == [true, false, false])
        #expect(InferenceRPC.trailers(for: nil).isEmpty)
    }

    /// The trailers' hand-written decimal writer against the standard library's, at the edges and on a seeded
    /// spread of magnitudes.
    @Test func decimalWritesWhatStringWrites() {
        var values: [UInt64] = [0, 1, 9, 10, 99, 100, 999_999_999_999_999, 1_000_000_000_000_000, UInt64.max, UInt64.max - 1]
        var generator = SplitMix64(seed: 26)
        for _ in 0..<2000 {
            let magnitude = UInt64.random(in: 0...63, using: &generator)
            values.append(UInt64.random(in: 0...(UInt64(1) << magnitude), using: &generator))
        }
        for value in values { #expect(InferenceRPC.decimal(value) == String(value)) }
    }

    @Test func aTextKeyIsCheckedOnceAndRefusesWhatAddStringRefuses() {
        #expect(throws: MetadataError.self) { try Metadata.TextKey("grpc-status") }
        #expect(throws: MetadataError.self) { try Metadata.TextKey("bad key") }
        #expect(throws: MetadataError.self) { try Metadata.TextKey("x-bin") }
        #expect((try? Metadata.TextKey("X-Request-Tag"))?.name == "x-request-tag")
        var metadata = Metadata()
        #expect(throws: MetadataError.self) { try metadata.addString("bad\u{1}value", for: Metadata.TextKey("x-tag")) }
    }
}
