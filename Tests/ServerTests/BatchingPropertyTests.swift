import Batching
import Clocks
import Dispatch
import Inference
import ProtoWire
import RPCCore
import Locks
import Testing
import TensorwireProto

@testable import Server
import TestSupport

/// Property tests through `PredictService` and real batchers: random arrival patterns (bursts and pauses from
/// several threads), random sizes (including requests split across batches), random cancellations and expired
/// deadlines. Every request is answered exactly once; every computed request gets exactly its own rows, equal to
/// the same request run alone within 1e-5. Seeds are fixed and printed on failure.
@Suite(.serialized, .tags(.live))
struct BatchingPropertyLiveTests {
    enum Fate: Sendable, Equatable {
        case normal
        case cancelledBefore
        case cancelledAfter
        case expired
    }

    struct Case: Sendable {
        let request: TensorwireV1.PredictRequest
        let fate: Fate
        /// Microseconds of virtual time that pass before this request (0: a burst).
        let pause: Int
    }

    static let configurations: [(String, ModelConfig)] = {
        var delayed = ModelConfig()
        delayed.maxBatchSize = 8
        delayed.maxQueueDelayMicroseconds = 1000
        delayed.preferredBatchSizes = [4, 8]
        delayed.instances = 2
        var off = ModelConfig()
        off.maxBatchSize = 1
        var splitting = ModelConfig()
        splitting.maxBatchSize = 5
        splitting.instances = 3
        return [("defaults", ModelConfig()), ("delay 1ms, preferred 4/8, 2 instances", delayed), ("batching off", off),
                ("max 5, 3 instances", splitting)]
    }()

    static func cases(seed: UInt64, count: Int) -> [Case] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let roll = generator.next() % 100
            let rows: Int
            if roll < 5 {
                rows = 20 + Int(generator.next() % 100)  // larger than max_batch_size: split and reassembled
            } else {
                rows = 1 + Int(generator.next() % 6)
            }
            let fateRoll = generator.next() % 100
            let fate: Fate = fateRoll < 8 ? .cancelledBefore : fateRoll < 18 ? .cancelledAfter : fateRoll < 23 ? .expired : .normal
            let pause = generator.next() % 3 == 0 ? Int(generator.next() % 400) : 0
            return Case(request: Digits.request(id: "p\(index)", rows: rows, seed: generator.next()), fate: fate, pause: pause)
        }
    }

    /// Each request alone on an unloaded batcher, one at a time.
    static func reference(_ cases: [Case]) throws -> [TensorwireV1.PredictResponse] {
        let catalog = ModelCatalog(repository: ModelRepository.builtin())
        defer { catalog.shutdown(drain: false) }
        let service = PredictService(catalog: catalog)
        return try cases.map { item in
            let box = Promise<Result<TensorwireV1.PredictResponse, RPCError>>()
            service.predict(item.request, deadline: nil, cancellation: CancellationToken()) { box.fulfill($0) }
            return try #require(box.wait()).get()
        }
    }

    @Test(arguments: 0..<4)
    func everyRequestGetsExactlyItsOwnRows(configurationIndex: Int) throws {
        let (label, config) = Self.configurations[configurationIndex]
        let seed = 0x7457_0000 + UInt64(configurationIndex)
        let cases = Self.cases(seed: seed, count: 240)
        let expected = try Self.reference(cases)

        // Virtual time: the pauses between arrivals and the 1 ms queue delay pass on this clock, moved by the
        // submitting threads, so no thread sleeps.
        let clock = ManualClock()
        let catalog = ModelCatalog(repository: ModelRepository.builtin(config: config), clock: clock)
        defer { catalog.shutdown(drain: false) }
        let service = PredictService(catalog: catalog)
        let completions = Lock<[Int: [Result<TensorwireV1.PredictResponse, RPCError>]]>([:])
        let threads = 6
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in stride(from: thread, to: cases.count, by: threads) {
                let item = cases[index]
                if item.pause > 0 { clock.advance(byMicroseconds: item.pause) }
                let token = CancellationToken()
                if item.fate == .cancelledBefore { token.cancel() }
                let deadline = item.fate == .expired ? clock.now() : nil
                service.predict(item.request, deadline: deadline, cancellation: token) { result in
                    completions.withLock { $0[index, default: []].append(result) }
                }
                if item.fate == .cancelledAfter { token.cancel() }
            }
        }
        // Whatever still waits for its batch's delay runs once the delay has passed.
        clock.advance(byMicroseconds: 1_000_000)
        #expect(waitUntil { completions.withLock { $0.count } == cases.count }, "\(label) seed \(seed)")
        // The instance threads have exited once shutdown returns: any second completion has run by now.
        catalog.shutdown(drain: true)
        let results = completions.withLock { $0 }
        var computed = 0
        for (index, item) in cases.enumerated() {
            let context = "\(label) seed \(seed) request \(index) (\(item.fate), \(item.request.inputs[0].shape[0]) rows)"
            let answers = results[index] ?? []
            #expect(answers.count == 1, "\(context): \(answers.count) completions")
            guard let answer = answers.first else { continue }
            switch (item.fate, answer) {
            case (.normal, .success(let response)), (.cancelledAfter, .success(let response)):
                computed += 1
                #expect(response.id == item.request.id, "\(context)")
                #expect(Digits.labels(response).count == Int(item.request.inputs[0].shape[0]), "\(context)")
                #expect(Digits.sameRows(response, expected[index]), "\(context): rows differ from the request alone")
            case (.cancelledBefore, .failure(let error)), (.cancelledAfter, .failure(let error)):
                #expect(error.code == .cancelled, "\(context): \(error)")
            case (.expired, .failure(let error)):
                #expect(error.code == .deadlineExceeded, "\(context): \(error)")
            default:
                Issue.record("\(context): unexpected \(answer)")
            }
        }
        #expect(computed >= cases.filter { $0.fate == .normal }.count)
    }

    @Test func rowsOfOneRequestStayContiguousAcrossSplitBatches() throws {
        // max_batch_size 3 and a 10-row request among 1-row ones: the 10 rows come back in order, whole.
        var config = ModelConfig()
        config.maxBatchSize = 3
        let catalog = ModelCatalog(repository: ModelRepository.builtin(config: config))
        defer { catalog.shutdown(drain: false) }
        let service = PredictService(catalog: catalog)
        let requests = [Digits.request(id: "big", rows: 10, seed: 42)]
            + (0..<6).map { Digits.request(id: "s\($0)", rows: 1, seed: UInt64($0)) }
        let boxes = requests.map { request in
            let box = Promise<Result<TensorwireV1.PredictResponse, RPCError>>()
            service.predict(request, deadline: nil, cancellation: CancellationToken()) { box.fulfill($0) }
            return box
        }
        let expected = try Self.reference(requests.map { Case(request: $0, fate: .normal, pause: 0) })
        for (index, box) in boxes.enumerated() {
            let response = try #require(box.wait()).get()
            #expect(Digits.sameRows(response, expected[index]), "request \(index)")
        }
    }
}
