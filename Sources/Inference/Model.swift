internal import ProtoWire

/// A loaded model: its signature and its compiled execution plan (weights laid out, constants folded, steps fused).
///
/// Immutable and `Sendable`: load once on any thread, then share it with every instance thread; each thread runs
/// it through its own `ExecutionContext`.
public final class Model: Sendable {
    /// The name the model is served under.
    public let name: String
    /// Where the model came from (a file path or a built-in name), for messages.
    public let source: String
    /// Inputs and outputs, with -1 for the batch dimension.
    public let signature: ModelSignature
    /// The default-domain opset the graph was exported with.
    public let opsetVersion: Int
    /// `producer_name producer_version` from the file (e.g. "skl2onnx 1.17.0", "pytorch 2.3.0").
    public let producer: String
    /// The batch size the ONNX export fixed, or nil when the batch dimension is dynamic (any number of rows).
    ///
    /// A graph exported without a dynamic batch axis (`torch.onnx.export` without `dynamic_axes`, a Keras model with
    /// a concrete batch size, skl2onnx `initial_types` without None) declares every input with a concrete first
    /// dimension, such as `[1, 4]`: the model then takes exactly that many rows per request, and its requests are
    /// not batched together. See `ModelSignature.fixedBatchSize` for the exact rule.
    public let fixedBatchSize: Int?
    /// When `fixedBatchSize` is set: what it means for requests and how to export the model with a dynamic batch
    /// axis (torch, tf2onnx/keras2onnx and skl2onnx, with this model's tensor names); nil otherwise. A lower-case
    /// clause without the model's name, meant for a load-time log line (`"model \(name): \(hint)"`) and used as is
    /// in the INVALID_ARGUMENT a request with another row count gets. See `ModelSignature.fixedBatchHint`.
    public let fixedBatchHint: String?
    let plan: CompiledPlan
    /// The model's memory budget in bytes (`--max-model-bytes`): weights, folded constants and execution buffers.
    public let maxModelBytes: Int
    /// The external data files the model's tensors were read from (locations relative to its folder, sorted); empty
    /// when every weight is embedded in the `.onnx` file.
    public let externalDataFiles: [String]

    /// The default memory budget of one model: 1 GiB (`--max-model-bytes`).
    public static let defaultMaxModelBytes = 1 << 30

    /// Compiles a model from the bytes of a `.onnx` file. `source` names the file in errors.
    ///
    /// `gemm` chooses the kernels of the dense layers; the default is the best this CPU supports. `maxModelBytes`
    /// is the model's memory budget (default `defaultMaxModelBytes`, 1 GiB): every constant the load decodes, folds,
    /// lays out or packs, and one batch row of execution buffers, is counted against it before it is allocated, and
    /// a model that does not fit is a load error naming the budget and `--max-model-bytes`. Execution contexts then
    /// grow their buffers on demand, up to what is left of the budget. `externalDataDirectory` is the folder of the
    /// file, where tensors stored as external data are read from (inside it only); nil refuses such tensors.
    public init(
        onnxBytes: [UInt8], name: String, source: String, gemm: GEMMBackend = .preferred,
        maxModelBytes: Int = Model.defaultMaxModelBytes, externalDataDirectory: String? = nil
    ) throws(ModelLoadError) {
        guard !onnxBytes.isEmpty else {
            throw ModelLoadError(file: source, node: nil, op: nil,
                                 reason: "the file is empty (0 bytes): it holds no ONNX graph")
        }
        let proto: ONNXModel
        do {
            proto = try ONNXModel(serializedBytes: onnxBytes)
        } catch {
            throw ModelLoadError(file: source, node: nil, op: nil, reason: "not a valid ONNX protobuf (\(error))")
        }
        var compiler = GraphCompiler(file: source, budget: maxModelBytes)
        compiler.gemm = gemm.effective
        compiler.externalData = externalDataDirectory.map { ExternalDataFolder(directory: $0) }
        self.plan = try compiler.compile(proto)
        self.externalDataFiles = compiler.externalDataFiles.sorted()
        self.maxModelBytes = Swift.max(0, maxModelBytes)
        self.name = name
        self.source = source
        self.signature = plan.signature
        self.fixedBatchSize = plan.signature.fixedBatchSize
        self.fixedBatchHint = plan.signature.fixedBatchHint
        self.opsetVersion = Int(compiler.opset)
        self.producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Compiles a decoded ONNX model (tests build these in Swift). `package`: the ONNX message types are a test hook.
    package convenience init(
        onnx: ONNXModel, name: String, source: String = "<memory>", gemm: GEMMBackend = .preferred,
        maxModelBytes: Int = Model.defaultMaxModelBytes
    ) throws(ModelLoadError) {
        try self.init(onnxBytes: onnx.serializedBytes(), name: name, source: source, gemm: gemm,
                      maxModelBytes: maxModelBytes)
    }

    /// The GEMM this model's dense layers run on.
    public var gemm: GEMMBackend { plan.gemm }

    /// The number of steps of the compiled plan (after folding and fusion).
    public var stepCount: Int { plan.steps.count }

    /// Bytes the model keeps for its constants (weights, folded constants, packed weights), whatever the batch.
    public var constantBytes: Int { plan.constantBytes }

    /// Execution-buffer bytes one batch row needs (every slot's per-row size).
    public var bufferBytesPerRow: Int { plan.bufferBytesPerRow }

    /// Execution-buffer bytes that do not grow with the batch.
    public var fixedBufferBytes: Int { plan.fixedBufferBytes }

    /// The execution-buffer bytes one of `instances` contexts may hold: the budget less the constants, shared
    /// equally between the instances.
    public func bufferBudget(instances: Int) -> Int {
        Swift.max(0, maxModelBytes - constantBytes) / Swift.max(1, instances)
    }

    /// The most rows one run of one of `instances` contexts may hold within the memory budget (0 when not even one
    /// row fits), and never more than the engine's 2^31-element limit per BLAS dimension.
    public func maxRows(instances: Int = 1) -> Int {
        let available = bufferBudget(instances: instances) - fixedBufferBytes
        guard available > 0 else { return 0 }
        let engineLimit = Int(Int32.max) / Swift.max(plan.maxElementsPerRow, 1)
        return Swift.min(available / Swift.max(bufferBytesPerRow, 1), engineLimit)
    }

    /// A per-thread context for batches of up to `maxBatchSize` rows, one of `instances` sharing the model's memory
    /// budget. Buffers are allocated for at most `ExecutionContext.preallocatedBytes` up front and grow on demand
    /// (never past the budget); after a burst of large batches they shrink back (see `ExecutionContext`).
    /// `gemmThreads` caps the threads of each packed GEMM this context runs, the calling thread included (the
    /// batcher passes `--blas-threads`, or cores / instances); OpenBLAS's pool is process-wide (`BLAS.threadCount`).
    public func makeContext(maxBatchSize: Int = 1, instances: Int = 1, gemmThreads: Int = 1) -> ExecutionContext {
        ExecutionContext(model: self, maxBatchSize: maxBatchSize, rowLimit: maxRows(instances: instances),
                         gemmThreads: gemmThreads)
    }
}

/// Why a run was refused or failed. Shape and type errors name the tensor, the expected and the received value,
/// so they can go into an INVALID_ARGUMENT status as they are.
public enum InferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    case inputCount(expected: Int, received: Int)
    case dataType(input: String, expected: DataType, received: DataType)
    case shape(input: String, expected: [Int], received: [Int])
    /// Two inputs disagree on the batch size.
    case batchMismatch(input: String, expected: Int, received: Int)
    /// The batch would exceed the engine's per-call size limit.
    case batchTooLarge(rows: Int, limit: Int)
    /// A data-dependent failure inside the plan (for example an out-of-range index).
    case invalidData(String)

    public var description: String {
        switch self {
        case .inputCount(let expected, let received):
            return "expected \(expected) input tensor(s), received \(received)"
        case .dataType(let input, let expected, let received):
            return "input '\(input)': expected \(expected), received \(received)"
        case .shape(let input, let expected, let received):
            return "input '\(input)': expected shape \(Shape(expected)), received \(Shape(received))"
        case .batchMismatch(let input, let expected, let received):
            return "input '\(input)': batch size \(received) differs from the other inputs' \(expected)"
        case .batchTooLarge(let rows, let limit):
            return "batch of \(rows) rows exceeds the engine limit of \(limit)"
        case .invalidData(let reason):
            return reason
        }
    }
}

/// The per-thread state of a model run: one buffer per plan slot, reused by every run. Not `Sendable`: a context
/// belongs to the one thread that created it (an instance thread of the batcher).
///
/// Memory: the buffers are allocated for the requested batch size only up to `preallocatedBytes`; a larger batch
/// grows them to its row count, never past `rowLimit` (the model's memory budget; a larger batch is refused with
/// `batchTooLarge`). After `shrinkWindow` runs in a row that all needed at most half of what is held, the buffers
/// shrink back to the largest of those runs (not below the initial size), so one huge request does not pin its
/// memory for the life of the instance.
public final class ExecutionContext {
    public let model: Model
    /// Rows the buffers hold now; a larger batch grows them (up to `rowLimit`), a run of smaller ones shrinks them.
    public private(set) var maxBatchSize: Int
    /// The most rows one run may hold: the model's memory budget for this context's buffers.
    public let rowLimit: Int
    /// Threads each packed GEMM of a run may use, the calling thread included (at least 1).
    public let gemmThreads: Int
    /// Buffer bytes allocated up front at most (1 MiB); more is allocated when a batch needs it.
    public static let preallocatedBytes = 1 << 20
    /// Runs after which buffers larger than twice what those runs needed shrink back.
    public static let shrinkWindow = 16
    /// The rows the buffers were first sized for (they never shrink below).
    private let initialRows: Int
    private var windowRuns = 0
    private var windowPeak = 0
    private var slotMemory: [UnsafeMutableRawPointer] = []
    private var pointers: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let scratch: UnsafeMutableRawPointer
    /// For a plan with one input held in a slot: every value bound to that slot (the input and its aliases), which
    /// a run points at the caller's tensor instead of copying it in. Empty otherwise.
    private let borrowedInputIDs: [ValueID]

    init(model: Model, maxBatchSize: Int, rowLimit: Int, gemmThreads: Int = 1) {
        self.model = model
        self.rowLimit = Swift.max(0, rowLimit)
        self.gemmThreads = Swift.max(1, gemmThreads)
        let affordable = Swift.max(1, Self.preallocatedBytes / Swift.max(model.plan.bufferBytesPerRow, 1))
        let initial = Swift.max(1, Swift.min(maxBatchSize, affordable, Swift.max(rowLimit, 1)))
        self.initialRows = initial
        self.maxBatchSize = initial
        self.scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        self.pointers = UnsafeMutablePointer.allocate(capacity: Swift.max(model.plan.bindings.count, 1))
        self.pointers.initialize(repeating: scratch, count: Swift.max(model.plan.bindings.count, 1))
        var borrowed: [ValueID] = []
        if model.plan.inputs.count == 1, let input = model.plan.inputs.first,
           case .slot(let slot) = model.plan.bindings[input.value] {
            let ids = model.plan.bindings.indices.filter {
                if case .slot(slot) = model.plan.bindings[$0] { return true }
                return false
            }
            borrowed = ids
        }
        self.borrowedInputIDs = borrowed
        allocateSlots()
    }

    deinit {
        for memory in slotMemory { memory.deallocate() }
        pointers.deallocate()
        scratch.deallocate()
    }

    /// The largest batch one run accepts: within the model's memory budget, and every BLAS dimension below 2^31.
    public var batchLimit: Int { rowLimit }

    /// Bytes the execution buffers hold now.
    public var allocatedBufferBytes: Int {
        model.plan.slots.reduce(0) { $0 + Swift.max($1.perRow * maxBatchSize, $1.fixed, 64) }
    }

    /// (Re)allocates the buffers for `maxBatchSize` rows, which never exceeds `rowLimit` (or 1), so the sizes fit
    /// the budget and cannot overflow.
    private func allocateSlots() {
        for memory in slotMemory { memory.deallocate() }
        slotMemory = []
        slotMemory = model.plan.slots.map { size in
            let bytes = Swift.max(size.perRow * maxBatchSize, size.fixed, 64)
            return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        }
        for (id, binding) in model.plan.bindings.enumerated() {
            switch binding {
            case .constant(let index): pointers[id] = model.plan.constants[index].pointer
            case .slot(let index): pointers[id] = slotMemory[index]
            case .unused: pointers[id] = scratch
            }
        }
    }

    /// Runs the model on `inputs` (in signature order) and returns the outputs in signature order. Inputs are
    /// validated against the signature first; the batch size is read from the batch dimension.
    public func run(_ inputs: [Tensor]) throws(InferenceError) -> [Tensor] {
        let plan = model.plan
        guard inputs.count == plan.inputs.count else {
            throw .inputCount(expected: plan.inputs.count, received: inputs.count)
        }
        var batch: Int?
        for (tensor, (signature, input)) in zip(inputs, zip(model.signature.inputs, plan.inputs)) {
            guard tensor.dataType == input.dataType else {
                throw .dataType(input: signature.name, expected: input.dataType, received: tensor.dataType)
            }
            let received = tensor.shape.dims
            guard received.count == input.dims.count else {
                throw .shape(input: signature.name, expected: signature.dims, received: received)
            }
            for (expected, actual) in zip(input.dims, received) {
                if expected >= 0 {
                    guard expected == actual else {
                        throw .shape(input: signature.name, expected: signature.dims, received: received)
                    }
                } else if let known = batch {
                    guard known == actual else {
                        throw .batchMismatch(input: signature.name, expected: known, received: actual)
                    }
                } else {
                    batch = actual
                }
            }
        }
        let rows = batch ?? 1
        guard rows <= batchLimit else { throw .batchTooLarge(rows: rows, limit: batchLimit) }
        if rows > maxBatchSize {
            maxBatchSize = rows
            allocateSlots()
        }
        defer { noteRun(rows: rows) }
        if inputs.count == 1, !borrowedInputIDs.isEmpty {
            // One input (the usual case): the plan reads it where it lies, without a copy into its slot. The
            // pointers are switched back before returning.
            let outcome: Result<[Tensor], InferenceError>?
            switch inputs[0].storage {
            case .float32(let values):
                outcome = values.withUnsafeBytes { runBorrowing($0, ids: borrowedInputIDs, rows: rows) }
            case .float64(let values):
                outcome = values.withUnsafeBytes { runBorrowing($0, ids: borrowedInputIDs, rows: rows) }
            case .int64(let values):
                outcome = values.withUnsafeBytes { runBorrowing($0, ids: borrowedInputIDs, rows: rows) }
            case .string:
                outcome = nil
            }
            if let outcome { return try outcome.get() }
        }
        for (tensor, input) in zip(inputs, plan.inputs) {
            let target = pointers[input.value]
            switch tensor.storage {
            case .float32(let values):
                values.withUnsafeBytes { if let base = $0.baseAddress { target.copyMemory(from: base, byteCount: $0.count) } }
            case .float64(let values):
                values.withUnsafeBytes { if let base = $0.baseAddress { target.copyMemory(from: base, byteCount: $0.count) } }
            case .int64(let values):
                values.withUnsafeBytes { if let base = $0.baseAddress { target.copyMemory(from: base, byteCount: $0.count) } }
            case .string:
                break // Rejected above: plans take float32, float64 and int64 inputs only.
            }
        }
        try execute(rows: rows)
        return plan.outputs.map { output in readOutput(output, batch: rows) }
    }

    /// Shrinks the buffers after `shrinkWindow` runs that all needed at most half of them.
    private func noteRun(rows: Int) {
        windowRuns += 1
        windowPeak = Swift.max(windowPeak, rows)
        guard windowRuns >= Self.shrinkWindow else { return }
        let target = Swift.max(initialRows, windowPeak)
        windowRuns = 0
        windowPeak = 0
        if maxBatchSize > 2 * target {
            maxBatchSize = target
            allocateSlots()
        }
    }

    private func execute(rows: Int) throws(InferenceError) {
        guard rows > 0 else { return }
        let plan = model.plan
        for (index, step) in plan.steps.enumerated() {
            do {
                try step.execute(batch: rows, pointers: pointers, packed: plan.packedWeights[index], threads: gemmThreads)
            } catch {
                throw .invalidData(error.reason)
            }
        }
    }

    /// Runs the plan with the values in `ids` (the only input and its aliases) pointing at `bytes` instead of the
    /// input's slot, and reads the outputs before the pointers go back (an output may be the input itself). No
    /// step writes an input: inputs are pinned, so their slot is never handed to another value. Returns nil
    /// when `bytes` has no address (an empty tensor), so the caller takes the copying path.
    private func runBorrowing(
        _ bytes: UnsafeRawBufferPointer, ids: [ValueID], rows: Int
    ) -> Result<[Tensor], InferenceError>? {
        guard let base = bytes.baseAddress else { return nil }
        let saved = pointers[ids[0]]
        for id in ids { pointers[id] = UnsafeMutableRawPointer(mutating: base) }
        defer { for id in ids { pointers[id] = saved } }
        do {
            try execute(rows: rows)
        } catch {
            return .failure(error)
        }
        return .success(model.plan.outputs.map { output in readOutput(output, batch: rows) })
    }

    /// Runs the model on inputs given by name.
    public func run(_ inputs: [String: Tensor]) throws(InferenceError) -> [String: Tensor] {
        var ordered: [Tensor] = []
        for signature in model.signature.inputs {
            guard let tensor = inputs[signature.name] else {
                throw .inputCount(expected: model.signature.inputs.count, received: inputs.count)
            }
            ordered.append(tensor)
        }
        let results = try run(ordered)
        var named: [String: Tensor] = [:]
        for (signature, tensor) in zip(model.signature.outputs, results) { named[signature.name] = tensor }
        return named
    }

    private func readOutput(_ output: PlanOutput, batch: Int) -> Tensor {
        let dims = Dims.concrete(output.dims, batch: batch)
        let count = Dims.count(output.dims, batch: batch)
        let source = UnsafeRawPointer(pointers[output.value])
        switch output.dataType {
        case .float32:
            let values = Array(UnsafeBufferPointer(start: source.assumingMemoryBound(to: Float.self), count: count))
            return Tensor(shape: Shape(dims), floats: values)
        case .float64:
            let values = Array(UnsafeBufferPointer(start: source.assumingMemoryBound(to: Double.self), count: count))
            return Tensor(shape: Shape(dims), doubles: values)
        case .int64:
            let values = Array(UnsafeBufferPointer(start: source.assumingMemoryBound(to: Int64.self), count: count))
            return Tensor(shape: Shape(dims), int64s: values)
        case .string:
            let indices = UnsafeBufferPointer(start: source.assumingMemoryBound(to: Int64.self), count: count)
            let table = output.strings
            let values = indices.map { $0 >= 0 && $0 < Int64(table.count) ? table[Int($0)] : "" }
            return Tensor(shape: Shape(dims), strings: values)
        }
    }
}
