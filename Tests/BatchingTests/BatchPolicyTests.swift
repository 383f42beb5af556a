import Batching
import Inference
import Testing
import Clocks

/// The policy as a pure function of (queue, now): a virtual clock is just a `MonotonicInstant` we pick.
@Suite struct BatchPolicyTests {
    let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)

    func at(_ microseconds: Int) -> MonotonicInstant { t0.advanced(byMicroseconds: microseconds) }

    func queue(_ rows: [Int], deadlines: [Int?] = []) -> [BatchPolicy.Request] {
        rows.enumerated().map { index, rows in
            let deadline = index < deadlines.count ? deadlines[index].map { at($0) } : nil
            return BatchPolicy.Request(rows: rows, enqueued: at(index * 10), deadline: deadline)
        }
    }

    func run(_ rows: [Int]) -> BatchPolicy.Decision { .run(BatchPolicy.Selection(rowsPerRequest: rows)) }

    @Test func testEmptyQueueIsIdle() {
        let policy = BatchPolicy(maxBatchSize: 8, maxQueueDelayMicroseconds: 1000)
        #expect(policy.decide(queue: [BatchPolicy.Request](), now: t0) == .idle)
    }

    @Test func testIdleInstanceNeverWaits() {
        let policy = BatchPolicy(maxBatchSize: 64)
        #expect(policy.decide(queue: queue([1]), now: at(0)) == run([1]))
        #expect(policy.decide(queue: queue([5]), now: at(0)) == run([5]))
        #expect(policy.decide(queue: queue([1, 2]), now: at(10)) == run([1, 2]))
    }

    @Test func testRequestsQueuedWhileBusyFillUpToMaxBatchSize() {
        // The only instance was busy from t0 to t0+1000µs; ten one-row requests arrived meanwhile.
        let policy = BatchPolicy(maxBatchSize: 8)
        let arrived = queue(Array(repeating: 1, count: 10))
        #expect(policy.decide(queue: arrived, now: at(1000)) == run(Array(repeating: 1, count: 8)))
        #expect(policy.decide(queue: arrived.dropFirst(8), now: at(1001)) == run([1, 1]))
    }

    @Test func testSeveralRowRequestStaysContiguous() {
        let policy = BatchPolicy(maxBatchSize: 8)
        // 3 + 3 = 6; the next 3 would need a cut, so the batch ends at 6 rows.
        #expect(policy.decide(queue: queue([3, 3, 3]), now: at(0)) == run([3, 3]))
        // A later small request is not pulled ahead of one that does not fit (arrival order is kept).
        #expect(policy.decide(queue: queue([7, 2, 1]), now: at(0)) == run([7]))
        #expect(policy.decide(queue: queue([8]), now: at(0)) == run([8]))
    }

    @Test func testOversizeRequestIsSplitAcrossBatches() {
        let policy = BatchPolicy(maxBatchSize: 4)
        var pending = queue([10])
        var batches: [Int] = []
        while case .run(let selection) = policy.decide(queue: pending, now: at(0)) {
            batches.append(selection.rows)
            pending[0].rows -= selection.rows
            if pending[0].rows == 0 { pending.removeFirst() }
        }
        #expect(batches == [4, 4, 2])
        // Behind a small request, the first piece fills the rest of the batch.
        #expect(policy.decide(queue: queue([1, 10]), now: at(0)) == run([1, 3]))
        // With batching off every row is its own batch, and nothing is refused for its size.
        #expect(BatchPolicy(maxBatchSize: 1).decide(queue: queue([3]), now: at(0)) == run([1]))
    }

    @Test func testDelayWaitsForAPreferredOrFullBatch() {
        let policy = BatchPolicy(maxBatchSize: 8, maxQueueDelayMicroseconds: 1000, preferredBatchSizes: [4])
        // One row, delay not over: wait until the oldest request has waited 1000µs.
        #expect(policy.decide(queue: queue([1]), now: at(100)) == .wait(until: at(1000)))
        #expect(policy.decide(queue: queue([1, 1]), now: at(500)) == .wait(until: at(1000)))
        // A preferred size runs at once, up to the preferred size.
        #expect(policy.decide(queue: queue([2, 2]), now: at(100)) == run([2, 2]))
        #expect(policy.decide(queue: queue([2, 2, 1]), now: at(100)) == run([2, 2]))
        // A full batch runs at once; so does one that cannot grow.
        #expect(policy.decide(queue: queue([3, 5]), now: at(100)) == run([3, 5]))
        #expect(policy.decide(queue: queue([3, 6]), now: at(100)) == run([3]))
        // The delay is over: what is there runs.
        #expect(policy.decide(queue: queue([1, 1]), now: at(1000)) == run([1, 1]))
        // Without preferred sizes only a full batch or the delay ends the wait.
        let plain = BatchPolicy(maxBatchSize: 8, maxQueueDelayMicroseconds: 1000)
        #expect(plain.decide(queue: queue([2, 2]), now: at(100)) == .wait(until: at(1000)))
        #expect(plain.decide(queue: queue([4, 4]), now: at(100)) == run([4, 4]))
    }

    @Test func testDelayNeverRunsPastTheEarliestQueuedDeadline() {
        let policy = BatchPolicy(maxBatchSize: 8, maxQueueDelayMicroseconds: 1000)
        // A deadline inside the delay window: run now rather than spend the request's time waiting.
        #expect(policy.decide(queue: queue([1, 1], deadlines: [nil, 600]), now: at(100)) == run([1, 1]))
        // A deadline after the window does not shorten the wait.
        #expect(policy.decide(queue: queue([1], deadlines: [5000]), now: at(100)) == .wait(until: at(1000)))
    }

    @Test func testDrainingNeverWaits() {
        let policy = BatchPolicy(maxBatchSize: 8, maxQueueDelayMicroseconds: 1000)
        #expect(policy.decide(queue: queue([1]), now: at(0), draining: true) == run([1]))
    }

    @Test func testConfigKnobsMapToThePolicy() {
        var config = ModelConfig()
        config.maxBatchSize = 16
        config.maxQueueDelayMicroseconds = 250
        config.preferredBatchSizes = [4, 8]
        let policy = BatchPolicy(config: config)
        #expect(policy == BatchPolicy(maxBatchSize: 16, maxQueueDelayMicroseconds: 250, preferredBatchSizes: [8, 4]))
        #expect(BatchPolicy(maxBatchSize: 0).maxBatchSize == 1)
    }

    @Test func testBLASThreadsTimesInstancesFitTheCores() {
        #expect(Batcher.defaultBLASThreads(instances: 1, cores: 2) == 2)
        #expect(Batcher.defaultBLASThreads(instances: 2, cores: 2) == 1)
        #expect(Batcher.defaultBLASThreads(instances: 4, cores: 2) == 1)
        #expect(Batcher.defaultBLASThreads(instances: 3, cores: 16) == 5)
    }
}
