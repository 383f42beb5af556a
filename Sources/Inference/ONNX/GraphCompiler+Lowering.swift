// Lowering of ONNX nodes to plan steps, with shape inference on symbolic dims (d < 0 is batch × |d|).

extension GraphCompiler {
    // MARK: Helpers

    func valueID(_ name: String) throws -> ValueID {
        guard let id = byName[name] else { throw CompileFailure("input '\(name)' is not produced by any node") }
        return id
    }

    func input(_ node: ONNXNode, _ index: Int) throws -> ValueID {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else {
            throw CompileFailure("input \(index) is missing")
        }
        return try valueID(node.inputs[index])
    }

    func optionalInput(_ node: ONNXNode, _ index: Int) throws -> ValueID? {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
        return try valueID(node.inputs[index])
    }

    func outputName(_ node: ONNXNode, _ index: Int) throws -> String {
        guard index < node.outputs.count, !node.outputs[index].isEmpty else {
            if index == 0 { throw CompileFailure("the node has no output") }
            return ""
        }
        return node.outputs[index]
    }

    func intAttribute(_ node: ONNXNode, _ name: String, default value: Int64) -> Int64 {
        node.attribute(name)?.i ?? value
    }

    func floatAttribute(_ node: ONNXNode, _ name: String, default value: Float) -> Float {
        node.attribute(name)?.f ?? value
    }

    func stringAttribute(_ node: ONNXNode, _ name: String, default value: String) -> String {
        guard let bytes = node.attribute(name)?.s else { return value }
        return String(decoding: bytes, as: UTF8.self)
    }

    func constantFloats(_ id: ValueID, what: String) throws -> [Float] {
        try constantElements(id, as: Float.self, what: what)
    }

    /// A numeric constant's elements converted to `T` (float32 or float64).
    func constantElements<T: PlanFloat>(_ id: ValueID, as type: T.Type, what: String) throws -> [T] {
        guard let buffer = values[id].constant else {
            throw CompileFailure("\(what) '\(values[id].name)' must be a constant (an initializer)")
        }
        guard buffer.dataType != .string else { throw CompileFailure("\(what) '\(values[id].name)' must be numeric") }
        return buffer.elements(as: T.self)
    }

    func constantInts(_ id: ValueID, what: String) throws -> [Int64] {
        guard let buffer = values[id].constant, buffer.dataType == .int64 else {
            throw CompileFailure("\(what) '\(values[id].name)' must be a constant int64 tensor")
        }
        try refuseBatchSize(id)
        return buffer.int64s
    }

    /// Normalises a possibly negative axis against `rank`.
    func axis(_ value: Int64, rank: Int, inclusive: Bool = false) throws -> Int {
        let limit = Int64(rank) + (inclusive ? 1 : 0)
        guard value >= -limit, value < limit else {
            throw CompileFailure("axis \(value) is out of range for rank \(rank)")
        }
        return Int(value < 0 ? value + limit : value)
    }

    /// The symbolic product of dims (negative if one of them carries the batch).
    static func product(_ dims: ArraySlice<Int>) throws -> Int {
        let magnitude = try checkCount(Array(dims))
        return dims.contains { $0 < 0 } ? -magnitude : magnitude
    }

    func requireFloat(_ id: ValueID) throws {
        guard values[id].dataType == .float32 else {
            throw CompileFailure("'\(values[id].name)' is \(values[id].dataType); this operator takes float32")
        }
    }

    /// The value's type when it is float32 or float64 (operators that compute in either precision).
    func requireReal(_ id: ValueID) throws -> DataType {
        let dataType = values[id].dataType
        guard dataType == .float32 || dataType == .float64 else {
            throw CompileFailure("'\(values[id].name)' is \(dataType); this operator takes float32 or double")
        }
        return dataType
    }

    /// Defines a new computed value named by the node's output `index`.
    mutating func newValue(_ node: ONNXNode, _ index: Int, _ dataType: DataType, _ dims: [Int],
                           strings: [String] = []) throws -> ValueID {
        try Self.checkCount(dims)
        guard dims.filter({ $0 < 0 }).count <= 1 else {
            throw CompileFailure("shape \(Shape(dims)) would carry the batch dimension twice")
        }
        return define(CompiledValue(name: try outputName(node, index), dataType: dataType, dims: dims,
                                    strings: strings))
    }

    /// A fresh unnamed constant, charged against the budget.
    mutating func newConstant(floats: [Float], dims: [Int]) throws(CompileFailure) -> ValueID {
        try newConstant(floats, dims: dims)
    }

    /// A fresh unnamed float32 or float64 constant, charged against the budget.
    mutating func newConstant<T: PlanFloat>(_ elements: [T], dims: [Int]) throws(CompileFailure) -> ValueID {
        try charge(elements.count, elementSize: MemoryLayout<T>.stride, for: "a constant of shape \(Shape(dims))")
        return define(CompiledValue(name: "", dataType: T.dataType, dims: dims,
                                    constant: ConstantBuffer(elements: elements)))
    }

    /// Makes `output` share `input`'s storage (reshape-like operators); constants stay constant.
    mutating func alias(_ input: ValueID, as node: ONNXNode, dims: [Int]) throws {
        let source = values[input]
        try Self.checkCount(dims)
        var value = CompiledValue(name: try outputName(node, 0), dataType: source.dataType, dims: dims,
                                  constant: source.constant, strings: source.strings)
        value.batchEntries = source.batchEntries
        if source.constant == nil { value.aliasOf = source.aliasOf ?? input }
        define(value)
    }

    /// Appends `step`, or runs it now when every input is a constant (constant folding). A folded result is charged
    /// against the model's memory budget before it is allocated.
    mutating func emit(_ step: Step) throws(CompileFailure) {
        let carriesBatchSize = step.inputs.contains { !values[$0].batchEntries.isEmpty }
        guard step.inputs.allSatisfy({ values[$0].constant != nil }) else {
            if let id = step.inputs.first(where: { !values[$0].batchEntries.isEmpty }) { try refuseBatchSize(id) }
            steps.append(step)
            return
        }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { scratch.deallocate() }
        for output in step.outputs {
            let value = values[output]
            let count = Dims.staticCount(value.dims)
            try charge(count, elementSize: value.dataType.bufferElementSize,
                       for: "constant folding of '\(value.name.isEmpty ? "an intermediate value" : value.name)' "
                           + "(shape \(Shape(value.dims)))")
            values[output].constant = value.dataType == .string
                ? ConstantBuffer(dataType: .int64, count: count)
                : ConstantBuffer(dataType: value.dataType, count: count)
        }
        var pointers = values.map { $0.constant?.pointer ?? scratch }
        do {
            try pointers.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                try step.execute(batch: 1, pointers: base)
            }
        } catch {
            // A folded step that fails on its constants stays in the plan and fails at run time with its reason.
            if let id = step.inputs.first(where: { !values[$0].batchEntries.isEmpty }) { try refuseBatchSize(id) }
            for output in step.outputs { values[output].constant = nil }
            steps.append(step)
            return
        }
        if carriesBatchSize { try trackBatchSize(through: step) }
        // String results keep their label table; their buffers hold indices.
        for output in step.outputs where values[output].dataType == .string {
            if let indices = values[output].constant?.int64s {
                let table = values[output].strings
                let strings = indices.map { $0 >= 0 && $0 < Int64(table.count) ? table[Int($0)] : "" }
                values[output].constant = ConstantBuffer(strings: strings)
                values[output].strings = strings
            }
        }
    }

    /// Numpy broadcasting of two symbolic shapes.
    static func broadcast(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = Swift.max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for offset in 0..<rank {
            let x = offset < a.count ? a[a.count - 1 - offset] : 1
            let y = offset < b.count ? b[b.count - 1 - offset] : 1
            let dim: Int
            if x == y {
                dim = x
            } else if x == 1 {
                dim = y
            } else if y == 1 {
                dim = x
            } else {
                throw CompileFailure("shapes \(Shape(a)) and \(Shape(b)) do not broadcast")
            }
            result[rank - 1 - offset] = dim
        }
        return result
    }

    // MARK: Dispatch

    mutating func lower(_ node: ONNXNode) throws {
        switch node.domain {
        case "", "ai.onnx":
            try lowerDefault(node)
        case "ai.onnx.ml":
            try lowerML(node)
        default:
            throw CompileFailure("operator domain '\(node.domain)' is not supported (supported domains: the "
                + "default domain and ai.onnx.ml)")
        }
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    mutating func lowerDefault(_ node: ONNXNode) throws {
        switch node.opType {
        case "Gemm": try lowerGemm(node)
        case "MatMul": try lowerMatMul(node)
        case "Add": try lowerBinary(node, .add)
        case "Sub": try lowerBinary(node, .sub)
        case "Mul": try lowerBinary(node, .mul)
        case "Div": try lowerBinary(node, .div)
        case "Pow": try lowerBinary(node, .pow)
        case "Relu": try lowerUnary(node, .activation(.relu))
        case "LeakyRelu":
            try lowerUnary(node, .activation(.leakyRelu(alpha: floatAttribute(node, "alpha", default: 0.01))))
        case "Sigmoid": try lowerUnary(node, .activation(.sigmoid))
        case "Tanh": try lowerUnary(node, .activation(.tanh))
        case "Erf": try lowerUnary(node, .erf)
        case "Exp": try lowerUnary(node, .exp)
        case "Log": try lowerUnary(node, .log)
        case "Sqrt": try lowerUnary(node, .sqrt)
        case "Neg": try lowerUnary(node, .neg)
        case "Abs": try lowerUnary(node, .abs)
        case "Reciprocal": try lowerUnary(node, .reciprocal)
        case "Elu": try lowerUnary(node, .elu(alpha: floatAttribute(node, "alpha", default: 1)))
        case "Selu":
            try lowerUnary(node, .selu(alpha: floatAttribute(node, "alpha", default: 1.6732632423543772),
                                       gamma: floatAttribute(node, "gamma", default: 1.0507009873554805)))
        case "Softplus": try lowerUnary(node, .softplus)
        case "HardSigmoid":
            try lowerUnary(node, .hardSigmoid(alpha: floatAttribute(node, "alpha", default: 0.2),
                                              beta: floatAttribute(node, "beta", default: 0.5)))
        case "Clip": try lowerClip(node)
        case "Softmax": try lowerSoftmax(node, log: false)
        case "LogSoftmax": try lowerSoftmax(node, log: true)
        case "Flatten": try lowerFlatten(node)
        case "Reshape": try lowerReshape(node)
        case "Squeeze": try lowerSqueeze(node)
        case "Unsqueeze": try lowerUnsqueeze(node)
        case "Identity", "Dropout":
            // Dropout's optional mask is not produced: a node reading it fails with "not produced by any node".
            let source = try input(node, 0)
            try alias(source, as: node, dims: values[source].dims)
        case "Cast": try lowerCast(node)
        case "Constant": try lowerConstant(node)
        case "BatchNormalization": try lowerBatchNormalization(node)
        case "Transpose": try lowerTranspose(node)
        case "ArgMax": try lowerArgMax(node)
        case "ArgMin": try lowerArgMax(node, smallest: true)
        case "Not": try lowerNot(node)
        case "ReduceLogSumExp": try lowerReduce(node, .logSumExp)
        case "Concat": try lowerConcat(node)
        case "Gather": try lowerGather(node)
        case "Slice": try lowerSlice(node)
        case "Split": try lowerSplit(node)
        case "Expand": try lowerExpand(node)
        case "ReduceMean": try lowerReduce(node, .mean)
        case "ReduceSum": try lowerReduce(node, .sum)
        case "ReduceMax": try lowerReduce(node, .max)
        case "ReduceSumSquare": try lowerReduce(node, .sumSquare)
        case "LayerNormalization": try lowerLayerNormalization(node)
        case "Gelu": try lowerUnary(node, .gelu(tanh: stringAttribute(node, "approximate", default: "none") == "tanh"))
        case "Min": try lowerVariadic(node, .min)
        case "Max": try lowerVariadic(node, .max)
        case "ConstantOfShape": try lowerConstantOfShape(node)
        case "Equal": try lowerComparison(node, .equal)
        case "Greater": try lowerComparison(node, .greater)
        case "Less": try lowerComparison(node, .less)
        case "Where": try lowerWhere(node)
        case "Shape": try lowerShape(node)
        case "OneHot": try lowerOneHot(node)
        default:
            throw CompileFailure("operator '\(node.opType)' is not supported; supported operators: "
                + supportedOperators.joined(separator: ", ") + "; ai.onnx.ml: "
                + supportedMLOperators.joined(separator: ", ") + " (docs/operators.md)")
        }
    }

    // MARK: GEMM

    /// Emits out = act(input · W + bias) with W laid out [k × n] row-major once, here.
    mutating func emitDense(input source: ValueID, weights: [Float], k: Int, n: Int, bias: [Float]?,
                            node: ONNXNode, outputIndex: Int = 0, outputDims: [Int]) throws -> ValueID {
        try requireFloat(source)
        return try emitDense(input: source, weights: weights, k: k, n: n, bias: bias, node: node,
                             outputIndex: outputIndex, outputDims: outputDims, as: Float.self)
    }

    /// The same in `T`, the input's type: float32 (the packed or OpenBLAS single-precision GEMM) or float64
    /// (`cblas_dgemm`).
    mutating func emitDense<T: PlanFloat>(input source: ValueID, weights: [T], k: Int, n: Int, bias: [T]?,
                                          node: ONNXNode, outputIndex: Int = 0, outputDims: [Int],
                                          as type: T.Type) throws -> ValueID {
        let weightID = try newConstant(weights, dims: [k, n])
        let biasID = try bias.map { (values) throws(CompileFailure) in try newConstant(values, dims: [n]) }
        let output = try newValue(node, outputIndex, T.dataType, outputDims)
        try emit(.dense(input: source, weights: weightID, bias: biasID, output: output, inputDims: values[source].dims,
                    k: k, n: n, activation: .none, elementType: T.dataType))
        return output
    }

    mutating func lowerGemm(_ node: ONNXNode) throws {
        if try requireReal(try input(node, 0)) == .float64 {
            try lowerGemm(node, as: Double.self)
        } else {
            try lowerGemm(node, as: Float.self)
        }
    }

    /// Gemm in the input's precision; the float attributes alpha and beta are widened for float64.
    mutating func lowerGemm<T: PlanFloat>(_ node: ONNXNode, as type: T.Type) throws {
        var a = try input(node, 0)
        let bID = try input(node, 1)
        let alpha = T(floatAttribute(node, "alpha", default: 1))
        let beta = T(floatAttribute(node, "beta", default: 1))
        let transA = intAttribute(node, "transA", default: 0) != 0
        let transB = intAttribute(node, "transB", default: 0) != 0
        guard values[a].dims.count == 2 else {
            throw CompileFailure("input A has shape \(Shape(values[a].dims)); Gemm takes a matrix")
        }
        if transA {
            guard values[a].constant != nil else {
                throw CompileFailure("transA=1 on a computed input is not supported (the batch would move)")
            }
            let dims = values[a].dims
            let out = define(CompiledValue(name: "", dataType: T.dataType, dims: [dims[1], dims[0]]))
            try emit(.transpose(input: a, output: out, dims: dims, permutation: [1, 0],
                                elementSize: T.dataType.bufferElementSize))
            a = out
        }
        let bDims = values[bID].dims
        guard bDims.count == 2 else { throw CompileFailure("input B has shape \(Shape(bDims)); Gemm takes a matrix") }
        let b = try constantElements(bID, as: T.self, what: "input B")
        let k = transB ? bDims[1] : bDims[0]
        let n = transB ? bDims[0] : bDims[1]
        guard values[a].dims[1] == k else {
            throw CompileFailure("A has \(values[a].dims[1]) columns but B has \(k) rows")
        }
        var weights = [T](repeating: 0, count: k * n)
        for row in 0..<k {
            for column in 0..<n {
                weights[row * n + column] = alpha * (transB ? b[column * k + row] : b[row * n + column])
            }
        }
        let outputDims = [values[a].dims[0], n]
        guard let cID = try optionalInput(node, 2), beta != 0 else {
            _ = try emitDense(input: a, weights: weights, k: k, n: n, bias: nil, node: node, outputDims: outputDims,
                              as: T.self)
            return
        }
        let cDims = values[cID].dims
        if let c = values[cID].constant.map({ _ in try? constantElements(cID, as: T.self, what: "input C") }) ?? nil,
           c.count == n || c.count == 1, cDims.dropLast().allSatisfy({ $0 == 1 }) {
            let bias = c.count == n ? c.map { $0 * beta } : [T](repeating: c[0] * beta, count: n)
            _ = try emitDense(input: a, weights: weights, k: k, n: n, bias: bias, node: node, outputDims: outputDims,
                              as: T.self)
            return
        }
        guard values[cID].dataType == T.dataType else {
            throw CompileFailure("C is \(values[cID].dataType) but A is \(T.dataType)")
        }
        // A general C: GEMM, then a broadcasting add of beta·C.
        let product = define(CompiledValue(name: "", dataType: T.dataType, dims: outputDims))
        let weightID = try newConstant(weights, dims: [k, n])
        try emit(.dense(input: a, weights: weightID, bias: nil, output: product, inputDims: values[a].dims, k: k, n: n,
                    activation: .none, elementType: T.dataType))
        var addend = cID
        if beta != 1 {
            let scaled = define(CompiledValue(name: "", dataType: T.dataType, dims: cDims))
            let betaID = try newConstant([beta], dims: [])
            try emit(.binary(.mul, a: cID, aDims: cDims, b: betaID, bDims: [], output: scaled, outDims: cDims,
                         elementType: T.dataType))
            addend = scaled
        }
        let dims = try Self.broadcast(outputDims, cDims)
        guard dims == outputDims else { throw CompileFailure("C of shape \(Shape(cDims)) does not broadcast to the output") }
        let output = try newValue(node, 0, T.dataType, dims)
        try emit(.binary(.add, a: product, aDims: outputDims, b: addend, bDims: cDims, output: output, outDims: dims,
                     elementType: T.dataType))
    }

    mutating func lowerMatMul(_ node: ONNXNode) throws {
        let a = try input(node, 0)
        let bID = try input(node, 1)
        guard values[bID].constant != nil else {
            throw CompileFailure("MatMul with a computed right operand is not supported (dense layers have "
                + "constant weights)")
        }
        var bDims = values[bID].dims
        while bDims.count > 2, bDims.first == 1 { bDims.removeFirst() }
        guard bDims.count == 1 || bDims.count == 2 else {
            throw CompileFailure("right operand of shape \(Shape(values[bID].dims)) is not a matrix")
        }
        let aDims = values[a].dims
        guard let kA = aDims.last else { throw CompileFailure("left operand is a scalar") }
        let k = bDims[0]
        let n = bDims.count == 2 ? bDims[1] : 1
        guard kA == k else { throw CompileFailure("left operand has \(kA) columns but the right one has \(k) rows") }
        var outputDims = Array(aDims.dropLast())
        if bDims.count == 2 { outputDims.append(n) }
        if try requireReal(a) == .float64 {
            _ = try emitDense(input: a, weights: try constantElements(bID, as: Double.self, what: "right operand"),
                              k: k, n: n, bias: nil, node: node, outputDims: outputDims, as: Double.self)
        } else {
            _ = try emitDense(input: a, weights: try constantFloats(bID, what: "right operand"), k: k, n: n,
                              bias: nil, node: node, outputDims: outputDims)
        }
    }

    // MARK: Elementwise

    mutating func lowerBinary(_ node: ONNXNode, _ function: BinaryFunction) throws {
        var a = try input(node, 0)
        var b = try input(node, 1)
        if function == .pow, values[b].dataType != values[a].dataType, values[b].constant != nil {
            // A constant exponent of another numeric type (x ** 2 with an int64 2) in the base's type.
            switch values[a].dataType {
            case .float32: b = try newConstant(try constantFloats(b, what: "exponent"), dims: values[b].dims)
            case .float64:
                b = try newConstant(try constantElements(b, as: Double.self, what: "exponent"), dims: values[b].dims)
            case .int64, .string: break
            }
        }
        guard values[a].dataType == values[b].dataType else {
            throw CompileFailure("operands are \(values[a].dataType) and \(values[b].dataType)")
        }
        let dataType = values[a].dataType
        guard dataType != .string else { throw CompileFailure("arithmetic on strings is not supported") }
        // Keep the computed operand first where the operation commutes (helps bias fusion).
        if (function == .add || function == .mul), values[a].constant != nil, values[b].constant == nil {
            swap(&a, &b)
        }
        let dims = try Self.broadcast(values[a].dims, values[b].dims)
        let output = try newValue(node, 0, dataType, dims)
        try emit(.binary(function, a: a, aDims: values[a].dims, b: b, bDims: values[b].dims, output: output,
                     outDims: dims, elementType: dataType))
    }

    mutating func lowerUnary(_ node: ONNXNode, _ function: UnaryFunction) throws {
        let source = try input(node, 0)
        let dataType = values[source].dataType == .int64 && Kernels.hasIntegerKernel(function)
            ? .int64 : try requireReal(source)
        let output = try newValue(node, 0, dataType, values[source].dims)
        try emit(.unary(function, input: source, output: output, dims: values[source].dims, elementType: dataType))
    }

    mutating func lowerClip(_ node: ONNXNode) throws {
        if opset >= 11, values[try input(node, 0)].dataType == .float64 {
            try lowerDoubleClip(node)
            return
        }
        var low = -Float.greatestFiniteMagnitude
        var high = Float.greatestFiniteMagnitude
        if opset < 11 {
            low = floatAttribute(node, "min", default: low)
            high = floatAttribute(node, "max", default: high)
        } else {
            if let minID = try optionalInput(node, 1) {
                guard let value = try constantFloats(minID, what: "min").first else { throw CompileFailure("empty min") }
                low = value
            }
            if let maxID = try optionalInput(node, 2) {
                guard let value = try constantFloats(maxID, what: "max").first else { throw CompileFailure("empty max") }
                high = value
            }
        }
        try lowerUnary(node, .activation(.clip(min: low, max: high)))
    }

    /// Clip of a double tensor: its bounds are double inputs, so it runs as Max then Min in double rather than
    /// as the float32 activation.
    private mutating func lowerDoubleClip(_ node: ONNXNode) throws {
        var result = try input(node, 0)
        let bounds: [(Int, BinaryFunction)] = [(1, .max), (2, .min)]
        let present = try bounds.compactMap { index, function in try optionalInput(node, index).map { ($0, function) } }
        guard !present.isEmpty else {
            try alias(result, as: node, dims: values[result].dims)
            return
        }
        for (position, (bound, function)) in present.enumerated() {
            guard values[bound].dataType == .float64, values[bound].dims.reduce(1, *) == 1 else {
                throw CompileFailure("the bounds of a double Clip must be double scalars")
            }
            let dims = values[result].dims
            let output = position == present.count - 1
                ? try newValue(node, 0, .float64, dims)
                : define(CompiledValue(name: "", dataType: .float64, dims: dims))
            try emit(.binary(function, a: result, aDims: dims, b: bound, bDims: values[bound].dims, output: output,
                             outDims: dims, elementType: .float64))
            result = output
        }
    }

    mutating func lowerSoftmax(_ node: ONNXNode, log: Bool) throws {
        let source = try input(node, 0)
        let dataType = try requireReal(source)
        let dims = values[source].dims
        let axis = try self.axis(intAttribute(node, "axis", default: opset < 13 ? 1 : -1), rank: dims.count)
        let output = try newValue(node, 0, dataType, dims)
        try emit(.softmax(input: source, output: output, dims: dims, axis: axis, coerceTo2D: opset < 13, log: log,
                          elementType: dataType))
    }

    // MARK: Shapes

    mutating func lowerFlatten(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let dims = values[source].dims
        let axis = try self.axis(intAttribute(node, "axis", default: 1), rank: dims.count, inclusive: true)
        let outer = try Self.product(dims[..<axis])
        let inner = try Self.product(dims[axis...])
        try alias(source, as: node, dims: [outer, inner])
    }

    mutating func lowerReshape(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        var target: [Int64]
        var batchEntry: Int?
        if opset < 5 {
            target = node.attribute("shape")?.ints ?? []
        } else if let withBatch = try reshapeTargetWithBatch(try input(node, 1)) {
            target = withBatch
            batchEntry = values[try input(node, 1)].batchEntries.first
        } else {
            target = try constantInts(try input(node, 1), what: "shape")
        }
        let allowZero = intAttribute(node, "allowzero", default: 0) != 0
        let dims = values[source].dims
        if batchEntry != nil, !Dims.isBatched(dims) {
            throw CompileFailure("the batch size is the target of a reshape of the fixed-size \(Shape(dims))")
        }
        var result: [Int] = []
        var inferred: Int?
        for (index, value) in target.enumerated() {
            if index == batchEntry {
                result.append(-1)  // the batch axis, one batch per row
            } else if value == 0 && !allowZero {
                guard index < dims.count else { throw CompileFailure("shape entry 0 at \(index) has no input dim") }
                result.append(dims[index])
            } else if value == -1 {
                guard inferred == nil else { throw CompileFailure("the shape has two -1 entries") }
                inferred = index
                result.append(1)
            } else {
                guard value >= 0, value <= Int64(maxElementsPerValue) else {
                    throw CompileFailure("invalid shape entry \(value)")
                }
                result.append(Int(value))
            }
        }
        let inputCount = try Self.checkCount(dims)
        let inputBatched = Dims.isBatched(dims)
        let knownCount = try Self.checkCount(result)
        let knownBatched = Dims.isBatched(result)
        if let inferred {
            guard knownCount > 0, inputCount % knownCount == 0 else {
                throw CompileFailure("cannot reshape \(Shape(dims)) to \(target)")
            }
            let dim = inputCount / knownCount
            result[inferred] = inputBatched && !knownBatched ? -dim : dim
        } else {
            guard inputCount == knownCount, inputBatched == knownBatched else {
                throw CompileFailure(inputBatched && !knownBatched
                    ? "reshape of the batched value \(Shape(dims)) to the fixed shape \(target) cannot keep the "
                        + "batch dimension; export with a -1 or 0 for it"
                    : "cannot reshape \(Shape(dims)) to \(target)")
            }
        }
        try alias(source, as: node, dims: result)
    }

    func axesInputOrAttribute(_ node: ONNXNode) throws -> [Int64]? {
        if opset >= 13 {
            guard let id = try optionalInput(node, 1) else { return nil }
            return try constantInts(id, what: "axes")
        }
        return node.attribute("axes")?.ints
    }

    mutating func lowerSqueeze(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let dims = values[source].dims
        var result: [Int] = []
        if let axes = try axesInputOrAttribute(node) {
            let normalized = Set(try axes.map { try axis($0, rank: dims.count) })
            for (index, dim) in dims.enumerated() {
                if normalized.contains(index) {
                    guard dim == 1 else { throw CompileFailure("cannot squeeze axis \(index) of size \(dim)") }
                } else {
                    result.append(dim)
                }
            }
        } else {
            result = dims.filter { $0 != 1 }
        }
        try alias(source, as: node, dims: result)
    }

    mutating func lowerUnsqueeze(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        guard let axes = try axesInputOrAttribute(node) else { throw CompileFailure("axes are missing") }
        var dims = values[source].dims
        let rank = dims.count + axes.count
        for position in try axes.map({ try axis($0, rank: rank) }).sorted() {
            guard position <= dims.count else { throw CompileFailure("axis \(position) is out of range") }
            dims.insert(1, at: position)
        }
        try alias(source, as: node, dims: dims)
    }

    mutating func lowerTranspose(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let dims = values[source].dims
        let permutation: [Int]
        if let perm = node.attribute("perm")?.ints {
            permutation = try perm.map { try axis($0, rank: dims.count) }
            guard Set(permutation).count == dims.count, permutation.count == dims.count else {
                throw CompileFailure("perm \(perm) is not a permutation of \(dims.count) axes")
            }
        } else {
            permutation = Array((0..<dims.count).reversed())
        }
        let output = try newValue(node, 0, values[source].dataType, permutation.map { dims[$0] },
                                  strings: values[source].strings)
        try emit(.transpose(input: source, output: output, dims: dims, permutation: permutation,
                        elementSize: values[source].dataType.bufferElementSize))
    }

    // MARK: Others

    mutating func lowerCast(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let from = values[source].dataType
        let to: DataType
        let code = intAttribute(node, "to", default: 0)
        guard let to32 = Int32(exactly: code) else {
            throw CompileFailure("'to' = \(code) is not an ONNX element type (supported: 1 float32, 7 int64, "
                + "9 bool, 11 double)")
        }
        var narrowing: IntegerNarrowing?
        switch to32 {
        case ONNXTensor.ElementType.float: to = .float32
        case ONNXTensor.ElementType.double: to = .float64
        case ONNXTensor.ElementType.int64: to = .int64
        case ONNXTensor.ElementType.int32: (to, narrowing) = (.int64, IntegerNarrowing(bits: 32, signed: true))
        case ONNXTensor.ElementType.int16: (to, narrowing) = (.int64, IntegerNarrowing(bits: 16, signed: true))
        case ONNXTensor.ElementType.int8: (to, narrowing) = (.int64, IntegerNarrowing(bits: 8, signed: true))
        case ONNXTensor.ElementType.uint32: (to, narrowing) = (.int64, IntegerNarrowing(bits: 32, signed: false))
        case ONNXTensor.ElementType.uint16: (to, narrowing) = (.int64, IntegerNarrowing(bits: 16, signed: false))
        case ONNXTensor.ElementType.uint8: (to, narrowing) = (.int64, IntegerNarrowing(bits: 8, signed: false))
        case ONNXTensor.ElementType.bool:
            try lowerCastToBool(node)
            return
        case let code:
            throw CompileFailure("cast to \(Self.elementTypeName(code)) is not supported (supported: float32, double, "
                + "int64, int32, int16, int8, uint32, uint16, uint8, bool)")
        }
        guard from != .string else { throw CompileFailure("casting strings is not supported") }
        if from == to && narrowing == nil {
            try alias(source, as: node, dims: values[source].dims)
            return
        }
        let output = try newValue(node, 0, to, values[source].dims)
        try emit(.cast(input: source, output: output, dims: values[source].dims, from: from, to: to,
                       narrowing: narrowing))
    }

    mutating func lowerConstant(_ node: ONNXNode) throws {
        let name = try outputName(node, 0)
        let buffer: ConstantBuffer
        var dims: [Int] = []
        if let attribute = node.attribute("value"), let tensor = attribute.t {
            (buffer, dims) = try decodeConstant(tensor, what: "the constant '\(name)'")
        } else if let attribute = node.attribute("value_float") {
            buffer = ConstantBuffer(floats: [attribute.f])
        } else if let attribute = node.attribute("value_floats") {
            buffer = ConstantBuffer(floats: attribute.floats)
            dims = [attribute.floats.count]
        } else if let attribute = node.attribute("value_int") {
            buffer = ConstantBuffer(int64s: [attribute.i])
        } else if let attribute = node.attribute("value_ints") {
            buffer = ConstantBuffer(int64s: attribute.ints)
            dims = [attribute.ints.count]
        } else {
            throw CompileFailure("only value, value_float(s) and value_int(s) constants are supported")
        }
        define(CompiledValue(name: name, dataType: buffer.dataType, dims: dims, constant: buffer,
                             strings: buffer.strings))
    }

    mutating func lowerBatchNormalization(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        try requireFloat(source)
        if intAttribute(node, "training_mode", default: 0) != 0 {
            throw CompileFailure("training_mode=1 is not supported (inference only)")
        }
        let dims = values[source].dims
        guard dims.count >= 2, dims[1] > 0 else {
            throw CompileFailure("input of shape \(Shape(dims)) has no fixed channel axis 1")
        }
        let channels = dims[1]
        let gamma = try constantFloats(try input(node, 1), what: "scale")
        let beta = try constantFloats(try input(node, 2), what: "bias")
        let mean = try constantFloats(try input(node, 3), what: "mean")
        let variance = try constantFloats(try input(node, 4), what: "variance")
        guard [gamma, beta, mean, variance].allSatisfy({ $0.count == channels }) else {
            throw CompileFailure("parameters do not have \(channels) channels")
        }
        let epsilon = floatAttribute(node, "epsilon", default: 1e-5)
        var scale = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            scale[c] = gamma[c] / (variance[c] + epsilon).squareRoot()
            shift[c] = beta[c] - mean[c] * scale[c]
        }
        let scaleID = try newConstant(floats: scale, dims: [channels])
        let shiftID = try newConstant(floats: shift, dims: [channels])
        let output = try newValue(node, 0, .float32, dims)
        try emit(.channelAffine(input: source, output: output, dims: dims, scale: scaleID, shift: shiftID))
    }

    mutating func lowerArgMax(_ node: ONNXNode, smallest: Bool = false) throws {
        let source = try input(node, 0)
        let dataType = values[source].dataType == .int64 ? .int64 : try requireReal(source)
        let dims = values[source].dims
        let axis = try self.axis(intAttribute(node, "axis", default: 0), rank: dims.count)
        guard dims[axis] >= 0 else { throw CompileFailure("\(node.opType) over the batch dimension is not supported") }
        var outDims = dims
        if intAttribute(node, "keepdims", default: 1) != 0 {
            outDims[axis] = 1
        } else {
            outDims.remove(at: axis)
        }
        let output = try newValue(node, 0, .int64, outDims)
        try emit(.argMax(input: source, output: output, dims: dims, axis: axis,
                     selectLast: intAttribute(node, "select_last_index", default: 0) != 0, elementType: dataType,
                     smallest: smallest))
    }
}
