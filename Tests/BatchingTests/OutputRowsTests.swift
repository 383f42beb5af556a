import Batching
import Inference
import Testing

/// A request's rows of a batch's outputs, found rather than copied: the rows a tensor holds are accepted, any
/// other range refused (so an encoder reading them in place never reads past the storage), and the copy a caller
/// can ask for has the request's row count as its first dimension.
@Suite struct OutputRowsTests {
    /// A batch of 5 rows: a [5, 3] float output, a [5] int64 output and a [5, 2] string output.
    let batch = [
        Tensor(shape: [5, 3], floats: (0..<15).map(Float.init)),
        Tensor(shape: [5], int64s: (0..<5).map { Int64($0) * 10 }),
        Tensor(shape: [5, 2], strings: (0..<10).map { "s\($0)" }),
    ]

    @Test func rowsTheBatchHoldsAreReadWhereTheyLie() throws {
        let rows = try #require(OutputRows(tensors: batch, firstRow: 1, rowCount: 3))
        #expect(!rows.isWhole)
        #expect(rows.elements(of: 0) == 3..<12)
        #expect(rows.elements(of: 1) == 1..<4)
        #expect(rows.elements(of: 2) == 2..<8)
        let own = rows.copied()
        #expect(own.map(\.shape) == [[3, 3], [3], [3, 2]])
        #expect(own[0].floats == (3..<12).map(Float.init))
        #expect(own[1].int64s == [10, 20, 30])
        #expect(own[2].strings == (2..<8).map { "s\($0)" })
        // The last row, and no rows at all.
        #expect(try #require(OutputRows(tensors: batch, firstRow: 4, rowCount: 1)).copied()[1].int64s == [40])
        #expect(try #require(OutputRows(tensors: batch, firstRow: 5, rowCount: 0)).copied()[0].floats == [])
    }

    @Test func rowsPastTheBatchOrOverflowingAreRefused() {
        #expect(OutputRows(tensors: batch, firstRow: 3, rowCount: 3) == nil)
        #expect(OutputRows(tensors: batch, firstRow: -1, rowCount: 2) == nil)
        #expect(OutputRows(tensors: batch, firstRow: 0, rowCount: -1) == nil)
        #expect(OutputRows(tensors: batch, firstRow: Int.max / 2, rowCount: Int.max / 2) == nil)
        #expect(OutputRows(tensors: batch, firstRow: Int.max, rowCount: 1) == nil)
    }

    @Test func wholeTensorsAreTheRequestsAsTheyAre() {
        let rows = OutputRows(whole: batch)
        #expect(rows.isWhole)
        #expect(rows.rowCount == 5)
        #expect(rows.elements(of: 0) == 0..<15)
        #expect(rows.copied() == batch)
        #expect(BatchOutput(outputs: batch, facts: BatchFacts(batchSize: 5, requestCount: 1, queueMicroseconds: 0,
                                                               computeMicroseconds: 0)).outputs == batch)
    }
}
