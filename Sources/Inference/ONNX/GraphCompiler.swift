// Compiles an ONNX graph into an execution plan, once, at load time: topological order, shape inference with a
// symbolic batch dimension, constant folding of initializer-only subgraphs, GEMM + bias + activation fusion,
// weights laid out for the GEMM, and buffer slots shared between values whose lifetimes do not overlap.

/// The operators the compiler accepts, for error messages.
let supportedOperators: [String] = [
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
    "LogSoftmax", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Clip", "Cast", "Constant",
    "BatchNormalization", "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Elu", "Selu", "Softplus",
    "HardSigmoid", "Transpose", "ArgMax", "ArgMin", "Not", "ReduceLogSumExp", "Concat", "Gather", "Slice", "Split",
    "Expand", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceSumSquare", "LayerNormalization", "Gelu", "Min", "Max",
    "ConstantOfShape", "Equal", "Greater", "Less", "Where", "Shape", "OneHot",
]

let supportedMLOperators: [String] = [
    "ArrayFeatureExtractor", "Binarizer", "Imputer", "LabelEncoder", "LinearClassifier", "LinearRegressor", "Normalizer",
    "OneHotEncoder", "Scaler", "TreeEnsemble", "TreeEnsembleClassifier", "TreeEnsembleRegressor", "ZipMap",
]

/// The operators the engine compiles, by domain, for documentation: docs/operators.md is this list, rendered by
/// `markdown()` and checked by InferenceTests' OperatorListTests.
public enum SupportedOperators {
    /// Default-domain (ai.onnx) operators, sorted.
    public static var defaultDomain: [String] { supportedOperators.sorted() }
    /// ai.onnx.ml operators, sorted.
    public static var ml: [String] { supportedMLOperators.sorted() }

    /// The operator list as docs/operators.md holds it.
    public static func markdown() -> String {
        var text = "# Operators\n\n"
        text += "Generated from `SupportedOperators` (Sources/Inference/ONNX/GraphCompiler.swift); "
        text += "`OperatorListTests` fails when this file differs. What each one supports is in "
        text += "[engine.md](engine.md). A model with any other operator is a load error naming the file, the node, "
        text += "the operator and these lists.\n\n"
        text += "## Default domain (ai.onnx), opsets 7 to 23\n\n"
        text += defaultDomain.map { "- \($0)\n" }.joined()
        text += "\n## ai.onnx.ml\n\n"
        text += ml.map { "- \($0)\n" }.joined()
        return text
    }
}

/// The largest element count of one value (per batch row for batched values); keeps every size a BLAS `Int32`.
let maxElementsPerValue = 1 << 28

/// A reason a node cannot be compiled; the compiler adds the file, the node and the operator.
struct CompileFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// A value of the graph during compilation.
struct CompiledValue {
    var name: String
    var dataType: DataType
    /// Symbolic dims: d < 0 is batch × |d|; at most one negative entry.
    var dims: [Int]
    var constant: ConstantBuffer?
    /// The label table of a string value (whose buffer holds indices into it).
    var strings: [String] = []
    /// The value whose storage this one shares (reshapes and identities), if any.
    var aliasOf: ValueID?
    /// For an int64 constant derived from `Shape` of a batched value: the element positions that stand for the
    /// batch size, known only at run time (they hold -1). Only Reshape may read them (`GraphCompiler+BatchSize`).
    var batchEntries: Set<Int> = []
}

/// How a value is reached at run time.
enum Binding: Sendable {
    case constant(Int)
    case slot(Int)
    case unused
}

/// One output of a compiled plan.
struct PlanOutput: Sendable {
    let value: ValueID
    let dims: [Int]
    let dataType: DataType
    let strings: [String]
}

/// Bytes a slot needs: `perRow` × batch or `fixed`, whichever is larger.
struct SlotSize: Sendable {
    var perRow: Int
    var fixed: Int
}

/// The result of compilation: immutable, shared by every execution context of a model.
struct CompiledPlan: Sendable {
    let steps: [Step]
    let bindings: [Binding]
    let constants: [ConstantBuffer]
    /// Per step: the packed weights of a dense step when the model runs on the packed kernels, else nil.
    let packedWeights: [PackedWeights?]
    /// The GEMM the dense steps run on.
    let gemm: GEMMBackend
    let slots: [SlotSize]
    let inputs: [(value: ValueID, dims: [Int], dataType: DataType)]
    let outputs: [PlanOutput]
    let signature: ModelSignature
    /// The largest static element count of any batched value (bounds batch sizes).
    let maxElementsPerRow: Int
    /// Bytes the plan keeps for its constants (bound constants and packed weights), whatever the batch.
    let constantBytes: Int
    /// Execution-buffer bytes per batch row (the sum of the slots' per-row sizes).
    let bufferBytesPerRow: Int
    /// Execution-buffer bytes that do not grow with the batch (the sum of the slots' fixed sizes).
    let fixedBufferBytes: Int
}

struct GraphCompiler {
    let file: String
    /// The GEMM the plan's dense steps will run on (decides whether weights are packed).
    var gemm: GEMMBackend = .preferred
    var opset: Int64 = 0
    /// The ai.onnx.ml opset the model imports (0 when none); LabelEncoder's NaN keys depend on it.
    var mlOpset: Int64 = 0
    var values: [CompiledValue] = []
    var byName: [String: ValueID] = [:]
    var steps: [Step] = []
    /// The model's memory budget (`--max-model-bytes`): constants decoded, folded, laid out and packed at load are
    /// charged against it before they are allocated, and so is one batch row of execution buffers.
    var budget: Int = Model.defaultMaxModelBytes
    /// Bytes charged so far (constants allocated while compiling, dead or alive).
    var chargedBytes = 0
    /// Where tensors with external data are read from (the model file's folder); nil for a model without a folder
    /// (sealed or in memory), whose external tensors are a load error.
    var externalData: ExternalDataFolder?
    /// The external data files read, by location.
    var externalDataFiles: Set<String> = []

    init(file: String, budget: Int = Model.defaultMaxModelBytes) {
        self.file = file
        self.budget = Swift.max(0, budget)
    }

    /// Charges `count` elements of `elementSize` bytes against the budget before they are allocated; throws, naming
    /// `what`, the budget and the flag, when they do not fit.
    mutating func charge(_ count: Int, elementSize: Int, for what: @autoclosure () -> String) throws(CompileFailure) {
        let (bytes, overflow) = Swift.max(count, 0).multipliedReportingOverflow(by: elementSize)
        let (total, overflowTotal) = chargedBytes.addingReportingOverflow(bytes)
        guard !overflow, !overflowTotal, total <= budget else {
            throw CompileFailure(Self.overBudget(what(), bytes: overflow ? nil : bytes, held: chargedBytes,
                                                 budget: budget))
        }
        chargedBytes = total
    }

    /// The reason of an over-budget load error.
    static func overBudget(_ what: String, bytes: Int?, held: Int, budget: Int) -> String {
        let size = bytes.map { "\($0) bytes" } ?? "more than \(Int.max) bytes"
        return "\(what) needs \(size) (with \(held) bytes already allocated for this model), over the model "
            + "memory budget of \(budget) bytes; raise it with --max-model-bytes if the model really needs that much"
    }

    // MARK: Entry point

    mutating func compile(_ model: ONNXModel) throws(ModelLoadError) -> CompiledPlan {
        let graph = model.graph
        if graph.nodes.isEmpty, graph.inputs.isEmpty, graph.outputs.isEmpty, graph.initializers.isEmpty {
            throw error("the file holds no ONNX graph (no nodes, inputs or outputs): not an ONNX model")
        }
        // A graph of ai.onnx.ml operators alone (onnxmltools' XGBoost export) may import no default-domain opset;
        // a default-domain node in such a graph is refused when it is lowered.
        if let opsetVersion = model.opsetImports.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" })?
            .version {
            guard (7...23).contains(opsetVersion) else {
                throw error("default-domain opset \(opsetVersion) is not supported (supported: 7 to 23)")
            }
            opset = opsetVersion
        } else if graph.nodes.contains(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) {
            throw error("the model imports no default-domain opset")
        }
        mlOpset = model.opsetImports.first { $0.domain == "ai.onnx.ml" }?.version ?? 0
        if graph.sparseInitializerCount > 0 { throw error("sparse initializers are not supported") }

        // Initializers first: in IR < 4 they are also listed as graph inputs.
        for initializer in graph.initializers {
            do {
                let (buffer, dims) = try decodeConstant(initializer, what: "its data")
                define(CompiledValue(name: initializer.name, dataType: buffer.dataType, dims: dims, constant: buffer,
                                     strings: buffer.strings))
            } catch let failure as CompileFailure {
                throw error("initializer '\(initializer.name)': \(failure.reason)")
            } catch {
                throw self.error("initializer '\(initializer.name)': \(error)")
            }
        }

        var inputIDs: [ValueID] = []
        for input in graph.inputs where byName[input.name] == nil {
            do {
                let id = define(try graphInput(input))
                inputIDs.append(id)
            } catch let failure as CompileFailure {
                throw error("graph input '\(input.name)': \(failure.reason)")
            } catch {
                throw self.error("graph input '\(input.name)': \(error)")
            }
        }

        for node in try topologicalOrder(graph) {
            do {
                try lower(node)
            } catch let failure as CompileFailure {
                throw ModelLoadError(file: file, node: node.name.isEmpty ? nil : node.name,
                                     op: node.opType, reason: failure.reason)
            } catch {
                throw ModelLoadError(file: file, node: node.name.isEmpty ? nil : node.name, op: node.opType,
                                     reason: "\(error)")
            }
        }

        var outputIDs: [ValueID] = []
        for output in graph.outputs {
            guard let id = byName[output.name] else {
                throw error("graph output '\(output.name)' is not produced by any node")
            }
            guard values[id].batchEntries.isEmpty else {
                throw error("graph output '\(output.name)' holds the batch size, known only at run time; it cannot "
                    + "be an output")
            }
            outputIDs.append(id)
        }
        guard !outputIDs.isEmpty else { throw error("the graph has no outputs") }

        do throws(CompileFailure) {
            try fuse(outputs: Set(outputIDs))
            let plan = try allocate(inputs: inputIDs, outputs: outputIDs, outputNames: graph.outputs.map(\.name),
                                    inputNames: graph.inputs.map(\.name))
            // One batch row of execution buffers must fit beside the constants.
            try charge(plan.fixedBufferBytes, elementSize: 1, for: "the execution buffers' fixed part")
            try charge(plan.bufferBytesPerRow, elementSize: 1, for: "one batch row of execution buffers")
            return plan
        } catch {
            throw self.error(error.reason)
        }
    }

    func error(_ reason: String) -> ModelLoadError {
        ModelLoadError(file: file, node: nil, op: nil, reason: reason)
    }

    @discardableResult
    mutating func define(_ value: CompiledValue) -> ValueID {
        let id = values.count
        values.append(value)
        if !value.name.isEmpty { byName[value.name] = id }
        return id
    }

    // MARK: Graph inputs and initializers

    func graphInput(_ input: ONNXValueInfo) throws -> CompiledValue {
        if input.isNonTensor { throw CompileFailure("only tensor inputs are supported") }
        let dataType: DataType
        switch input.elementType {
        case ONNXTensor.ElementType.float: dataType = .float32
        case ONNXTensor.ElementType.double: dataType = .float64
        case ONNXTensor.ElementType.int64: dataType = .int64
        default:
            throw CompileFailure("element type \(Self.elementTypeName(input.elementType)) is not supported "
                + "(supported input types: float32, double, int64)")
        }
        guard let shape = input.dims else { throw CompileFailure("the input declares no shape") }
        var dims: [Int] = []
        for (axis, dim) in shape.enumerated() {
            if let value = dim.value, value == 0, axis > 0 {
                throw CompileFailure("dimension \(axis) is 0; a dimension of 0 is not supported (an input with no "
                    + "elements per row)")
            } else if let value = dim.value, value > 0 {
                guard value <= Int64(maxElementsPerValue) else { throw CompileFailure("dimension \(value) is too large") }
                dims.append(Int(value))
            } else if axis == 0 {
                dims.append(-1)
            } else {
                throw CompileFailure("dimension \(axis) is dynamic (\(dim.param ?? "unknown")); only the first "
                    + "(batch) dimension may be dynamic")
            }
        }
        try Self.checkCount(dims)
        return CompiledValue(name: input.name, dataType: dataType, dims: dims)
    }

    static func elementTypeName(_ code: Int32) -> String {
        let names: [Int32: String] = [
            0: "undefined", 1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
            8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64", 16: "bfloat16",
        ]
        return names[code] ?? "#\(code)"
    }

    /// The number of elements of static `dims`, checked against overflow and the per-value limit.
    @discardableResult
    static func checkCount(_ dims: [Int]) throws -> Int {
        var product = 1
        for dim in dims {
            let (result, overflow) = product.multipliedReportingOverflow(by: Swift.abs(dim))
            guard !overflow, result <= maxElementsPerValue else {
                throw CompileFailure("shape \(Shape(dims)) has more than \(maxElementsPerValue) elements per row")
            }
            product = result
        }
        return product
    }

    /// Decodes an initializer or a Constant's tensor into a buffer, after charging its size against the budget.
    mutating func decodeConstant(_ tensor: ONNXTensor, what: String) throws -> (ConstantBuffer, [Int]) {
        var dims: [Int] = []
        for dim in tensor.dims {
            guard dim >= 0, dim <= Int64(maxElementsPerValue) else { throw CompileFailure("invalid dimension \(dim)") }
            dims.append(Int(dim))
        }
        let count = try Self.checkCount(dims)
        let elementSize = tensor.dataType == ONNXTensor.ElementType.float ? 4 : 8
        try charge(count, elementSize: elementSize, for: what)
        guard tensor.isExternal else { return try Self.constant(from: tensor) }
        guard let externalData else {
            throw CompileFailure("its data is in an external file, which a sealed or in-memory model cannot read; "
                + "embed the weights (torch.onnx.export(..., external_data=False), or onnx.save(model, path, "
                + "save_as_external_data=False))")
        }
        guard let size = ExternalDataFolder.elementSize(tensor.dataType) else {
            throw CompileFailure("element type \(Self.elementTypeName(tensor.dataType)) cannot be external data")
        }
        var loaded = tensor
        loaded.rawData = try externalData.read(tensor.externalData, expectedBytes: count * size)
        loaded.isExternal = false
        loaded.externalData = []
        externalDataFiles.insert(try ExternalDataFolder.location(tensor.externalData))
        return try Self.constant(from: loaded)
    }

    /// Decodes an initializer or a Constant's tensor into a buffer.
    static func constant(from tensor: ONNXTensor) throws -> (ConstantBuffer, [Int]) {
        if tensor.isExternal { throw CompileFailure("external-data tensors are not supported; embed the data") }
        if tensor.isSegmented { throw CompileFailure("segmented tensors are not supported") }
        var dims: [Int] = []
        for dim in tensor.dims {
            guard dim >= 0, dim <= Int64(maxElementsPerValue) else {
                throw CompileFailure("invalid dimension \(dim)")
            }
            dims.append(Int(dim))
        }
        let count = try checkCount(dims)
        let raw = tensor.rawData
        func mismatch(_ found: Int) -> CompileFailure {
            CompileFailure("holds \(found) values for shape \(Shape(dims)) (\(count) expected)")
        }
        func rawValues<T: FixedWidthInteger>(_ type: T.Type) throws -> [T] {
            let size = MemoryLayout<T>.size
            guard raw.count == count * size else { throw mismatch(raw.count / size) }
            return raw.withUnsafeBytes { bytes in
                (0..<count).map { T(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
            }
        }
        let hasRaw = !raw.isEmpty || count == 0
        switch tensor.dataType {
        case ONNXTensor.ElementType.float:
            if hasRaw && tensor.floatData.isEmpty {
                let bits = try rawValues(UInt32.self)
                return (ConstantBuffer(floats: bits.map { Float(bitPattern: $0) }), dims)
            }
            guard tensor.floatData.count == count else { throw mismatch(tensor.floatData.count) }
            return (ConstantBuffer(floats: tensor.floatData), dims)
        case ONNXTensor.ElementType.double:
            // Kept in double precision: a double constant belongs to a graph that computes in double.
            if hasRaw && tensor.doubleData.isEmpty {
                let bits = try rawValues(UInt64.self)
                return (ConstantBuffer(doubles: bits.map { Double(bitPattern: $0) }), dims)
            }
            guard tensor.doubleData.count == count else { throw mismatch(tensor.doubleData.count) }
            return (ConstantBuffer(doubles: tensor.doubleData), dims)
        case ONNXTensor.ElementType.int64:
            if hasRaw && tensor.int64Data.isEmpty {
                return (ConstantBuffer(int64s: try rawValues(Int64.self)), dims)
            }
            guard tensor.int64Data.count == count else { throw mismatch(tensor.int64Data.count) }
            return (ConstantBuffer(int64s: tensor.int64Data), dims)
        case ONNXTensor.ElementType.int32, ONNXTensor.ElementType.int16, ONNXTensor.ElementType.int8,
             ONNXTensor.ElementType.uint16, ONNXTensor.ElementType.uint8, ONNXTensor.ElementType.bool:
            if hasRaw && tensor.int32Data.isEmpty {
                let values: [Int64]
                switch tensor.dataType {
                case ONNXTensor.ElementType.int32: values = try rawValues(Int32.self).map { Int64($0) }
                case ONNXTensor.ElementType.int16: values = try rawValues(Int16.self).map { Int64($0) }
                case ONNXTensor.ElementType.int8: values = try rawValues(Int8.self).map { Int64($0) }
                case ONNXTensor.ElementType.uint16: values = try rawValues(UInt16.self).map { Int64($0) }
                default: values = try rawValues(UInt8.self).map { Int64($0) }
                }
                return (ConstantBuffer(int64s: values), dims)
            }
            guard tensor.int32Data.count == count else { throw mismatch(tensor.int32Data.count) }
            return (ConstantBuffer(int64s: tensor.int32Data.map { Int64($0) }), dims)
        case ONNXTensor.ElementType.uint32, ONNXTensor.ElementType.uint64:
            if hasRaw && tensor.uint64Data.isEmpty {
                let values = tensor.dataType == ONNXTensor.ElementType.uint32
                    ? try rawValues(UInt32.self).map { Int64($0) }
                    : try rawValues(UInt64.self).map { Int64(clamping: $0) }
                return (ConstantBuffer(int64s: values), dims)
            }
            guard tensor.uint64Data.count == count else { throw mismatch(tensor.uint64Data.count) }
            return (ConstantBuffer(int64s: tensor.uint64Data.map { Int64(clamping: $0) }), dims)
        case ONNXTensor.ElementType.string:
            guard tensor.stringData.count == count else { throw mismatch(tensor.stringData.count) }
            var strings: [String] = []
            for bytes in tensor.stringData {
                guard let string = String(validating: bytes, as: UTF8.self) else {
                    throw CompileFailure("a string element is not valid UTF-8")
                }
                strings.append(string)
            }
            return (ConstantBuffer(strings: strings), dims)
        default:
            throw CompileFailure("element type \(elementTypeName(tensor.dataType)) is not supported "
                + "(supported: float32, double, int8-64, uint8-64, bool, string)")
        }
    }

    // MARK: Order

    func topologicalOrder(_ graph: ONNXGraph) throws(ModelLoadError) -> [ONNXNode] {
        var producer: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for output in node.outputs where !output.isEmpty {
                if producer[output] != nil || byName[output] != nil {
                    throw ModelLoadError(file: file, node: node.name, op: node.opType,
                                         reason: "value '\(output)' is produced twice")
                }
                producer[output] = index
            }
        }
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        var consumers = [[Int]](repeating: [], count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            for input in Set(node.inputs) where !input.isEmpty {
                if let source = producer[input] {
                    pending[index] += 1
                    consumers[source].append(index)
                }
            }
        }
        var ready = (0..<graph.nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [ONNXNode] = []
        while let index = ready.popLast() {
            order.append(graph.nodes[index])
            for consumer in consumers[index].reversed() {
                pending[consumer] -= 1
                if pending[consumer] == 0 { ready.append(consumer) }
            }
        }
        guard order.count == graph.nodes.count else { throw error("the graph has a cycle") }
        return order
    }
}

/// Why a model could not be loaded: the file, and where known the node and its operator, and the reason.
public struct ModelLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let node: String?
    public let op: String?
    public let reason: String

    public init(file: String, node: String?, op: String?, reason: String) {
        self.file = file
        self.node = node
        self.op = op
        self.reason = reason
    }

    public var description: String {
        var text = file + ": "
        switch (node, op) {
        case let (node?, op?): text += "node '\(node)' (\(op)): "
        case let (nil, op?): text += "\(op) node: "
        case let (node?, nil): text += "node '\(node)': "
        case (nil, nil): break
        }
        return text + reason
    }
}
