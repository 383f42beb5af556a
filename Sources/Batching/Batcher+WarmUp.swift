// Sources/Batching/Batcher+WarmUp.swift: the warm-up each instance runs before its first request.

internal import Dispatch
internal import Inference
internal import Locks

// A new model version should not make its first callers pay for first-touch page faults, buffer growth and cold
// caches. Each instance thread runs the model once on zeros at every warm-up batch size, on its own execution
// context, before it takes requests; the catalog waits for that (`waitUntilWarm`) before it serves the version.
// Warm-up runs bypass the queue, the statistics and the hooks: they are not requests.

extension Batcher {
    /// The warm-up sizes when config.json names none: every batch size the batcher may form, 1 … `maxBatchSize`,
    /// when that is at most `everySizeLimit`; beyond, the powers of two, the preferred sizes and `maxBatchSize`
    /// (a model with max_batch_size 4096 should not run 4096 times before it serves).
    public static func defaultWarmUpBatchSizes(maxBatchSize: Int, preferred: [Int]) -> [Int] {
        let top = max(1, maxBatchSize)
        if top <= everySizeLimit { return Array(1...top) }
        var sizes = Set(preferred.filter { $0 >= 1 && $0 <= top })
        var size = 1
        while size < top {
            sizes.insert(size)
            size = size.multipliedReportingOverflow(by: 2).overflow ? top : size * 2
        }
        sizes.insert(top)
        return sizes.sorted()
    }

    /// Up to this `max_batch_size`, warm-up runs every size.
    public static let everySizeLimit = 128

    /// Blocks until every instance has run its warm-up; nil when all runs succeeded, else the first failure
    /// ("warm-up at batch size N: reason"). Any thread but an instance thread; may be called more than once.
    public func waitUntilWarm() -> String? {
        warmUp.wait()
    }

    /// The body of one instance's warm-up: one run per size on zero inputs; the first failure, or nil.
    func runWarmUp(context: ExecutionContext) -> String? {
        for rows in warmUpBatchSizes {
            guard let inputs = Self.zeroInputs(model.signature, rows: rows) else { return nil }
            do throws(InferenceError) {
                _ = try context.run(inputs)
            } catch {
                return "warm-up at batch size \(rows) failed: \(error)"
            }
        }
        return nil
    }

    /// Zero-filled inputs of `rows` rows for a model whose inputs all lead with the batch dimension; nil when an
    /// input holds strings (nothing sensible to warm with).
    static func zeroInputs(_ signature: ModelSignature, rows: Int) -> [Tensor]? {
        var inputs: [Tensor] = []
        for input in signature.inputs {
            let shape = Shape([rows] + input.dims.dropFirst())
            let (count, overflow) = rows.multipliedReportingOverflow(by: input.elementsPerRow)
            guard !overflow else { return nil }
            switch input.dataType {
            case .float32: inputs.append(Tensor(shape: shape, floats: [Float](repeating: 0, count: count)))
            case .float64: inputs.append(Tensor(shape: shape, doubles: [Double](repeating: 0, count: count)))
            case .int64: inputs.append(Tensor(shape: shape, int64s: [Int64](repeating: 0, count: count)))
            case .string: return nil
            }
        }
        return inputs
    }
}

/// Collects the warm-up outcome of each instance thread and lets `waitUntilWarm` block until all have reported.
/// Any thread.
final class WarmUpLatch: Sendable {
    private struct State {
        var reported = 0
        var failure: String?
    }

    private let instances: Int
    private let state = Lock(State())
    private let done = DispatchSemaphore(value: 0)

    init(instances: Int) {
        self.instances = instances
    }

    /// Instance `instance` finished its warm-up (`failure` nil: every run succeeded).
    func report(instance: Int, failure: String?) {
        let complete = state.withLock { state -> Bool in
            state.reported += 1
            if state.failure == nil, let failure { state.failure = "instance \(instance): \(failure)" }
            return state.reported == instances
        }
        if complete { done.signal() }
    }

    func wait() -> String? {
        done.wait()
        // Let the next waiter through too.
        done.signal()
        return state.withLock { $0.failure }
    }
}
