public import Clocks
public import Inference
internal import Synchronization

/// A flag the transport sets when a request's stream is reset or its connection is gone. An `Atomic`: the
/// transport's loop thread sets it, instance threads read it; any thread may touch it.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .releasing) }

    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

/// One request for the batcher: its input rows, deadline, cancellation token and completion. A `Sendable` value
/// built on the submitting (loop) thread and handed to the batcher, which owns it until the completion runs.
public struct BatchJob: Sendable {
    /// One tensor per model input, in signature order, already validated and converted to the model's input types.
    /// The first dimension is the row (batch) dimension and is the same for every input.
    public var inputs: [Tensor]
    /// When the request expires (from the batcher's clock); nil applies the model's `default_timeout_us`, if any.
    public var deadline: MonotonicInstant?
    /// Set by the transport on RST_STREAM or connection loss; a cancelled request is never computed.
    public var cancellation: CancellationToken
    /// Called exactly once for every accepted job, on an instance thread (or on the thread that called
    /// `Batcher.runLoneRequestOrWake`, when that ran it), never under the batcher's lock. Not called when `submit`
    /// throws.
    public var completion: @Sendable (Result<BatchOutput, BatchError>) -> Void

    public init(
        inputs: [Tensor],
        deadline: MonotonicInstant? = nil,
        cancellation: CancellationToken = CancellationToken(),
        completion: @escaping @Sendable (Result<BatchOutput, BatchError>) -> Void
    ) {
        self.inputs = inputs
        self.deadline = deadline
        self.cancellation = cancellation
        self.completion = completion
    }

    /// The number of rows: the first dimension of the first input (0 without inputs or dimensions).
    public var rows: Int { inputs.first?.shape.dims.first ?? 0 }
}

/// How a request was batched, for the `tw-batch-size`, `tw-queue-us` and `tw-compute-us` response metadata.
/// A plain value.
public struct BatchFacts: Sendable, Equatable, CustomStringConvertible {
    /// Rows in the batch that computed this request (the largest, for a request split across batches).
    public var batchSize: Int
    /// Requests (or pieces of requests) in that batch.
    public var requestCount: Int
    /// From `submit` to the start of the (first) compute.
    public var queueMicroseconds: Int
    /// The model run time of the batch (the sum over batches, for a split request).
    public var computeMicroseconds: Int
    /// Batches this request was computed in: 1, or more for a request larger than `max_batch_size`.
    public var batches: Int

    public init(batchSize: Int, requestCount: Int, queueMicroseconds: Int, computeMicroseconds: Int, batches: Int = 1) {
        self.batchSize = batchSize
        self.requestCount = requestCount
        self.queueMicroseconds = queueMicroseconds
        self.computeMicroseconds = computeMicroseconds
        self.batches = batches
    }

    public var description: String {
        "batch \(batchSize) rows / \(requestCount) requests, queue \(queueMicroseconds)µs, "
            + "compute \(computeMicroseconds)µs, \(batches) batch(es)"
    }
}

/// The result of one job: its own output rows and how it was batched. A plain value.
public struct BatchOutput: Sendable {
    /// The request's rows of every output, where they lie: in the batch's own tensors when the request shared its
    /// batch, so that an encoder can read them in place (`OutputRows`).
    public let rows: OutputRows
    public var facts: BatchFacts

    /// A result whose tensors are the request's alone.
    public init(outputs: [Tensor], facts: BatchFacts) {
        self.rows = OutputRows(whole: outputs)
        self.facts = facts
    }

    public init(rows: OutputRows, facts: BatchFacts) {
        self.rows = rows
        self.facts = facts
    }

    /// One tensor per model output, in signature order, holding only this request's rows: copied out of the batch's
    /// tensors when the request shared its batch (read `rows` to avoid the copy).
    public var outputs: [Tensor] { rows.copied() }
}

/// A request's rows of every model output: the tensors of the batch it ran in, and the rows along their first
/// dimension that are its. Made only after checking that every tensor holds those rows whole, so reading them
/// cannot fail. A plain value; the tensors are shared, not copied.
public struct OutputRows: Sendable {
    /// One tensor per model output, in signature order.
    public let tensors: [Tensor]
    /// The request's first row in each tensor, and how many rows are its.
    public let firstRow: Int
    public let rowCount: Int
    /// True when the tensors hold the request's rows and nothing else (their shapes are the request's).
    public let isWhole: Bool

    /// Tensors that are the request's alone.
    public init(whole tensors: [Tensor]) {
        self.tensors = tensors
        self.firstRow = 0
        self.rowCount = tensors.first?.shape.dims.first ?? 0
        self.isWhole = true
    }

    /// Rows `firstRow ..< firstRow + rowCount` of each of `tensors`; nil when a tensor does not hold those rows
    /// whole.
    public init?(tensors: [Tensor], firstRow: Int, rowCount: Int) {
        guard firstRow >= 0, rowCount >= 0 else { return nil }
        let (endRow, rowsOverflow) = firstRow.addingReportingOverflow(rowCount)
        guard !rowsOverflow else { return nil }
        for tensor in tensors {
            guard let perRow = Self.elementsPerRow(tensor) else { return nil }
            let (end, overflow) = endRow.multipliedReportingOverflow(by: perRow)
            guard !overflow, end <= Self.storedCount(tensor) else { return nil }
        }
        self.tensors = tensors
        self.firstRow = firstRow
        self.rowCount = rowCount
        self.isWhole = false
    }

    /// Elements in one row of `tensor` (the product of its dimensions after the first, 1 for a scalar); nil when
    /// that overflows.
    static func elementsPerRow(_ tensor: Tensor) -> Int? {
        let dims = tensor.shape.dims
        var product = 1
        var index = 1
        while index < dims.count {
            let (next, overflow) = product.multipliedReportingOverflow(by: dims[index])
            guard !overflow, next >= 0 else { return nil }
            product = next
            index += 1
        }
        return product
    }

    /// The number of elements `tensor`'s storage holds.
    static func storedCount(_ tensor: Tensor) -> Int {
        switch tensor.storage {
        case .float32(let values): values.count
        case .float64(let values): values.count
        case .int64(let values): values.count
        case .string(let values): values.count
        }
    }

    /// The request's elements of output `index`: a range into its storage (all of it when `isWhole`).
    public func elements(of index: Int) -> Range<Int> {
        let tensor = tensors[index]
        guard !isWhole, let perRow = Self.elementsPerRow(tensor) else { return 0..<Self.storedCount(tensor) }
        // Checked without overflow, and within the storage, when these rows were made; checked again here rather
        // than trusted, an empty range if it ever failed.
        let (start, startOverflow) = firstRow.multipliedReportingOverflow(by: perRow)
        let (end, endOverflow) = (firstRow + rowCount).multipliedReportingOverflow(by: perRow)
        guard !startOverflow, !endOverflow, start <= end, end <= Self.storedCount(tensor) else { return 0..<0 }
        return start..<end
    }

    /// The request's own tensors: the batch's when `isWhole`, else its rows copied out with the first dimension
    /// set to `rowCount`.
    public func copied() -> [Tensor] {
        if isWhole { return tensors }
        var result: [Tensor] = []
        result.reserveCapacity(tensors.count)
        for index in tensors.indices {
            let tensor = tensors[index]
            let range = elements(of: index)
            var dims = [rowCount]
            dims.append(contentsOf: tensor.shape.dims.dropFirst())
            let storage: Tensor.Storage = switch tensor.storage {
            case .float32(let values): .float32(Array(values[range]))
            case .float64(let values): .float64(Array(values[range]))
            case .int64(let values): .int64(Array(values[range]))
            case .string(let values): .string(Array(values[range]))
            }
            // The rows were checked whole when these rows were made, so the count always fits.
            if let sliced = Tensor(shape: Shape(dims), storage: storage) { result.append(sliced) }
        }
        return result
    }
}

/// Why a job was not computed. Each case maps to one gRPC status; messages name the model and any limit.
public enum BatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// RESOURCE_EXHAUSTED: the queue holds `limit` requests (`max_queue_size`).
    case queueFull(model: String, limit: Int)
    /// DEADLINE_EXCEEDED: the deadline passed before compute began.
    case deadlineExceeded(model: String, queuedMicroseconds: Int)
    /// CANCELLED: the cancellation token was set before compute began.
    case cancelled
    /// UNAVAILABLE: the batcher is shutting down.
    case shuttingDown(model: String)
    /// INVALID_ARGUMENT: the inputs do not match the model signature (the caller should have validated them).
    case invalidInput(String)
    /// The engine refused or failed the batch (INVALID_ARGUMENT for data errors, INTERNAL otherwise).
    case inference(InferenceError)
    /// INTERNAL: a worker thread could not be started, or an engine result had an unexpected shape.
    case internalError(String)

    public var description: String {
        switch self {
        case .queueFull(let model, let limit):
            return "model \(model): the batch queue is full (max_queue_size \(limit); raise it in config.json or with --max-queue-size)"
        case .deadlineExceeded(let model, let queued):
            return "model \(model): deadline exceeded after \(queued)µs in the batch queue"
        case .cancelled:
            return "the request was cancelled"
        case .shuttingDown(let model):
            return "model \(model): the server is shutting down"
        case .invalidInput(let reason):
            return reason
        case .inference(let error):
            return error.description
        case .internalError(let reason):
            return reason
        }
    }
}

/// What the `beforeCompute` hook sees of a batch about to run.
public struct BatchTrace: Sendable, Equatable {
    /// The instance (0-based) running it.
    public var instance: Int
    public var rows: Int
    public var requestCount: Int

    public init(instance: Int, rows: Int, requestCount: Int) {
        self.instance = instance
        self.rows = rows
        self.requestCount = requestCount
    }
}

/// Test and diagnostics hooks, called on the thread that computes: an instance thread, or the caller of
/// `Batcher.runLoneRequestOrWake` (with the instance it claimed). The default has none.
public struct BatcherHooks: Sendable {
    /// Called just before each model run, outside the queue lock. A test may block in it to
    /// hold an instance busy (Triton's "hold until N" switch, made explicit).
    public var beforeCompute: (@Sendable (BatchTrace) -> Void)?
    /// Called after each batch ran, before its requests are answered: the rows it held and
    /// its compute time (the server's batch metrics).
    public var afterBatch: (@Sendable (_ rows: Int, _ computeNanoseconds: UInt64) -> Void)?

    public init(
        beforeCompute: (@Sendable (BatchTrace) -> Void)? = nil,
        afterBatch: (@Sendable (_ rows: Int, _ computeNanoseconds: UInt64) -> Void)? = nil
    ) {
        self.beforeCompute = beforeCompute
        self.afterBatch = afterBatch
    }
}
