// Lowering of the tensor-manipulation operators dense exports use beside their GEMMs: Concat, Gather, Slice, Split,
// Expand, ReduceMean/ReduceSum/ReduceMax, LayerNormalization, Gelu, Min/Max, ConstantOfShape, and the ai.onnx.ml
// Binarizer and Imputer. The batch dimension may pass through any of them; none may reorder or cut it.

extension GraphCompiler {
    /// The batch axis of symbolic dims, if any.
    static func batchAxis(_ dims: [Int]) -> Int? { dims.firstIndex { $0 < 0 } }

    mutating func lowerConcat(_ node: ONNXNode) throws {
        let ids = try (0..<node.inputs.count).filter { !node.inputs[$0].isEmpty }.map { try input(node, $0) }
        guard let first = ids.first else { throw CompileFailure("Concat has no inputs") }
        let dataType = values[first].dataType
        let rank = values[first].dims.count
        let axis = try self.axis(intAttribute(node, "axis", default: 1), rank: rank)
        var total = 0
        for id in ids {
            let dims = values[id].dims
            guard values[id].dataType == dataType, dims.count == rank else {
                throw CompileFailure("inputs differ in type or rank (\(values[first].dataType)\(Shape(values[first].dims)) "
                    + "and \(values[id].dataType)\(Shape(dims)))")
            }
            for k in 0..<rank where k != axis && dims[k] != values[first].dims[k] {
                throw CompileFailure("inputs \(Shape(values[first].dims)) and \(Shape(dims)) differ on axis \(k)")
            }
            guard (dims[axis] < 0) == (values[first].dims[axis] < 0) else {
                throw CompileFailure("cannot concatenate batched and fixed inputs along the batch axis")
            }
            total += Swift.abs(dims[axis])
        }
        var outDims = values[first].dims
        outDims[axis] = values[first].dims[axis] < 0 ? -total : total
        guard dataType != .string || ids.allSatisfy({ values[$0].strings == values[first].strings }) else {
            throw CompileFailure("concatenating strings with different label tables is not supported")
        }
        let output = try newValue(node, 0, dataType, outDims, strings: values[first].strings)
        try emit(.concat(inputs: ids, inputDims: ids.map { values[$0].dims }, output: output, axis: axis,
                         elementSize: dataType.bufferElementSize))
    }

    mutating func lowerGather(_ node: ONNXNode) throws {
        let data = try input(node, 0)
        let indices = try input(node, 1)
        guard values[indices].dataType == .int64 else { throw CompileFailure("indices must be int64 (or int32)") }
        let dataDims = values[data].dims, indexDims = values[indices].dims
        let axis = try self.axis(intAttribute(node, "axis", default: 0), rank: dataDims.count)
        guard dataDims[axis] >= 0 else { throw CompileFailure("Gather along the batch axis is not supported") }
        guard !(Dims.isBatched(dataDims) && Dims.isBatched(indexDims)) else {
            throw CompileFailure("data and indices cannot both carry the batch dimension")
        }
        let outDims = Array(dataDims[..<axis]) + indexDims + Array(dataDims[(axis + 1)...])
        let output = try newValue(node, 0, values[data].dataType, outDims, strings: values[data].strings)
        try emit(.gather(data: data, dataDims: dataDims, indices: indices, indexDims: indexDims, output: output,
                         axis: axis, elementSize: values[data].dataType.bufferElementSize))
    }

    /// Emits a strided copy of `source` into a new value named by the node's output `index`.
    private mutating func emitStrided(_ node: ONNXNode, _ index: Int, source: ValueID, inputDims: [Int],
                                      outDims: [Int], starts: [Int], steps: [Int]) throws {
        let value = values[source]
        let output = try newValue(node, index, value.dataType, outDims, strings: value.strings)
        try emit(.strided(input: source, inputDims: inputDims, output: output, outDims: outDims, starts: starts,
                          steps: steps, elementSize: value.dataType.bufferElementSize))
    }

    mutating func lowerSlice(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let dims = values[source].dims
        let starts: [Int64], ends: [Int64]
        var axes: [Int64]?, stepList: [Int64]?
        if opset < 10 {
            starts = node.attribute("starts")?.ints ?? []
            ends = node.attribute("ends")?.ints ?? []
            axes = node.attribute("axes")?.ints
        } else {
            starts = try constantInts(try input(node, 1), what: "starts")
            ends = try constantInts(try input(node, 2), what: "ends")
            axes = try optionalInput(node, 3).map { try constantInts($0, what: "axes") }
            stepList = try optionalInput(node, 4).map { try constantInts($0, what: "steps") }
        }
        let axisList = try (axes ?? (0..<Int64(starts.count)).map { $0 }).map { try axis($0, rank: dims.count) }
        let steps = stepList ?? [Int64](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axisList.count == starts.count, steps.count == starts.count,
              Set(axisList).count == axisList.count
        else { throw CompileFailure("starts, ends, axes and steps do not line up") }
        var outDims = dims
        var startOf = [Int](repeating: 0, count: dims.count)
        var stepOf = [Int](repeating: 1, count: dims.count)
        for (k, axis) in axisList.enumerated() {
            let step = steps[k]
            guard step != 0 else { throw CompileFailure("a step of 0") }
            if dims[axis] < 0 {
                // The batch axis passes whole: a start of 0 and an end past it, step 1.
                guard starts[k] == 0, ends[k] >= Int64(Int32.max), step == 1 else {
                    throw CompileFailure("slicing the batch axis is not supported")
                }
                continue
            }
            let size = Int64(dims[axis])
            func clamp(_ value: Int64, low: Int64, high: Int64) -> Int64 {
                let shifted = value < 0 ? value &+ size : value
                return Swift.min(Swift.max(shifted, low), high)
            }
            let start = step > 0 ? clamp(starts[k], low: 0, high: size) : clamp(starts[k], low: -1, high: size - 1)
            let end = step > 0 ? clamp(ends[k], low: 0, high: size) : clamp(ends[k], low: -1, high: size - 1)
            // A step past the axis takes one element: bounding it keeps the arithmetic below from overflowing.
            let stride = step > 0 ? Swift.min(step, size + 1) : Swift.max(step, -(size + 1))
            let count = stride > 0 ? (end - start + stride - 1) / stride : (start - end - stride - 1) / -stride
            guard count > 0 else { throw CompileFailure("the slice of axis \(axis) is empty") }
            outDims[axis] = Int(count)
            startOf[axis] = Int(start)
            stepOf[axis] = Int(stride)
        }
        try emitStrided(node, 0, source: source, inputDims: dims, outDims: outDims, starts: startOf, steps: stepOf)
    }

    mutating func lowerSplit(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let dims = values[source].dims
        let axis = try self.axis(intAttribute(node, "axis", default: 0), rank: dims.count)
        guard dims[axis] >= 0 else { throw CompileFailure("splitting the batch axis is not supported") }
        var sizes: [Int64]
        if opset >= 13, let id = try optionalInput(node, 1) {
            sizes = try constantInts(id, what: "split")
        } else if let attribute = node.attribute("split")?.ints {
            sizes = attribute
        } else {
            let parts = Int64(node.outputs.count)
            guard parts > 0 else { throw CompileFailure("Split has no outputs") }
            let chunk = (Int64(dims[axis]) + parts - 1) / parts
            sizes = (0..<parts).map { Swift.max(0, Swift.min(chunk, Int64(dims[axis]) - $0 * chunk)) }
        }
        guard sizes.count == node.outputs.count, sizes.allSatisfy({ $0 > 0 && $0 <= Int64(dims[axis]) }),
              sizes.reduce(0, +) == Int64(dims[axis])
        else { throw CompileFailure("split sizes \(sizes) do not divide axis \(axis) of \(Shape(dims))") }
        var start = 0
        for (index, size) in sizes.enumerated() {
            var outDims = dims
            outDims[axis] = Int(size)
            var starts = [Int](repeating: 0, count: dims.count)
            starts[axis] = start
            try emitStrided(node, index, source: source, inputDims: dims, outDims: outDims, starts: starts,
                            steps: [Int](repeating: 1, count: dims.count))
            start += Int(size)
        }
    }

    mutating func lowerExpand(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let shape = try constantInts(try input(node, 1), what: "shape")
        guard shape.allSatisfy({ $0 >= 1 && $0 <= Int64(maxElementsPerValue) }) else {
            throw CompileFailure("shape \(shape) has a dimension outside 1...\(maxElementsPerValue)")
        }
        let outDims = try Self.broadcast(values[source].dims, shape.map { Int($0) })
        let padded = [Int](repeating: 1, count: outDims.count - values[source].dims.count) + values[source].dims
        let steps = zip(padded, outDims).map { $0 == 1 && $1 != 1 ? 0 : 1 }
        try emitStrided(node, 0, source: source, inputDims: padded, outDims: outDims,
                        starts: [Int](repeating: 0, count: outDims.count), steps: steps)
    }

    mutating func lowerReduce(_ node: ONNXNode, _ function: ReduceFunction) throws {
        let source = try input(node, 0)
        let dataType = values[source].dataType == .int64 && function != .logSumExp ? .int64 : try requireReal(source)
        let dims = values[source].dims
        let axesFromInput = opset >= 18 || (node.opType == "ReduceSum" && opset >= 13)
        var axes: [Int64]
        if axesFromInput {
            axes = try optionalInput(node, 1).map { try constantInts($0, what: "axes") } ?? []
        } else {
            axes = node.attribute("axes")?.ints ?? []
        }
        if axes.isEmpty {
            if intAttribute(node, "noop_with_empty_axes", default: 0) != 0 {
                guard function == .sumSquare else {
                    try alias(source, as: node, dims: dims)
                    return
                }
                // No axes: ReduceSumSquare still squares each element.
                let output = try newValue(node, 0, dataType, dims)
                try emit(.binary(.mul, a: source, aDims: dims, b: source, bDims: dims, output: output, outDims: dims,
                                 elementType: dataType))
                return
            }
            axes = (0..<Int64(dims.count)).map { $0 }
        }
        let normalized = try Set(axes.map { try axis($0, rank: dims.count) }).sorted()
        guard let first = normalized.first, let last = normalized.last, last - first + 1 == normalized.count else {
            throw CompileFailure("axes \(axes) are not contiguous (supported: one run of neighbouring axes)")
        }
        guard normalized.allSatisfy({ dims[$0] >= 0 }) else {
            throw CompileFailure("reducing over the batch axis is not supported")
        }
        var outDims = dims
        if intAttribute(node, "keepdims", default: 1) != 0 {
            for axis in normalized { outDims[axis] = 1 }
        } else {
            outDims.removeSubrange(first...last)
        }
        let output = try newValue(node, 0, dataType, outDims)
        try emit(.reduce(function, input: source, output: output, dims: dims, first: first, last: last + 1,
                         elementType: dataType))
    }

    mutating func lowerLayerNormalization(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        try requireFloat(source)
        guard node.outputs.dropFirst().allSatisfy({ $0.isEmpty }) else {
            throw CompileFailure("the Mean and InvStdDev outputs (training) are not supported")
        }
        let dims = values[source].dims
        let axis = try self.axis(intAttribute(node, "axis", default: -1), rank: dims.count)
        guard dims[axis...].allSatisfy({ $0 >= 0 }) else {
            throw CompileFailure("normalising over the batch axis is not supported")
        }
        let size = try Self.checkCount(Array(dims[axis...]))
        func parameter(_ index: Int, _ what: String) throws -> (ValueID?, Int) {
            guard let id = try optionalInput(node, index) else { return (nil, 0) }
            let count = try constantFloats(id, what: what).count
            guard count == size || count == 1 else { throw CompileFailure("\(what) has \(count) values for \(size)") }
            return (id, count)
        }
        let (scale, scaleCount) = try parameter(1, "scale")
        let (bias, biasCount) = try parameter(2, "bias")
        let output = try newValue(node, 0, .float32, dims)
        try emit(.layerNorm(input: source, output: output, dims: dims, axis: axis, scale: scale,
                            scaleCount: scaleCount, bias: bias, biasCount: biasCount,
                            epsilon: floatAttribute(node, "epsilon", default: 1e-5)))
    }

    /// Min and Max take any number of inputs: a chain of broadcasting binary steps.
    mutating func lowerVariadic(_ node: ONNXNode, _ function: BinaryFunction) throws {
        let ids = try (0..<node.inputs.count).filter { !node.inputs[$0].isEmpty }.map { try input(node, $0) }
        guard var result = ids.first else { throw CompileFailure("\(node.opType) has no inputs") }
        guard ids.count > 1 else {
            try alias(result, as: node, dims: values[result].dims)
            return
        }
        for (position, next) in ids.dropFirst().enumerated() {
            guard values[next].dataType == values[result].dataType, values[next].dataType != .string else {
                throw CompileFailure("inputs are \(values[result].dataType) and \(values[next].dataType)")
            }
            let dims = try Self.broadcast(values[result].dims, values[next].dims)
            let output = position == ids.count - 2
                ? try newValue(node, 0, values[result].dataType, dims)
                : define(CompiledValue(name: "", dataType: values[result].dataType, dims: dims))
            try emit(.binary(function, a: result, aDims: values[result].dims, b: next, bDims: values[next].dims,
                             output: output, outDims: dims, elementType: values[result].dataType))
            result = output
        }
    }

    mutating func lowerConstantOfShape(_ node: ONNXNode) throws {
        let shape = try constantInts(try input(node, 0), what: "shape")
        guard shape.allSatisfy({ $0 >= 1 && $0 <= Int64(maxElementsPerValue) }) else {
            throw CompileFailure("shape \(shape) has a dimension outside 1...\(maxElementsPerValue)")
        }
        let dims = shape.map { Int($0) }
        let count = try Self.checkCount(dims)
        var value = ConstantBuffer(floats: [0])
        if let tensor = node.attribute("value")?.t {
            (value, _) = try Self.constant(from: tensor)
            guard value.count == 1 else { throw CompileFailure("value must hold one element") }
            guard value.dataType != .string else { throw CompileFailure("a string value is not supported") }
        }
        let dataType = value.dataType
        try charge(count, elementSize: dataType.bufferElementSize, for: "ConstantOfShape \(Shape(dims))")
        let buffer = ConstantBuffer(dataType: dataType, count: count)
        for index in 0..<count {
            (buffer.pointer + index * dataType.bufferElementSize)
                .copyMemory(from: value.pointer, byteCount: dataType.bufferElementSize)
        }
        define(CompiledValue(name: try outputName(node, 0), dataType: dataType, dims: dims, constant: buffer))
    }

    mutating func lowerImputer(_ node: ONNXNode) throws {
        let source = try floatInput(node)
        let dims = values[source].dims
        guard let last = dims.last, last >= 0 else { throw CompileFailure("input \(Shape(dims)) has no fixed last axis") }
        let imputed = node.attribute("imputed_value_floats")?.floats ?? []
        guard imputed.count == 1 || imputed.count == last else {
            throw CompileFailure("\(imputed.count) imputed_value_floats for \(last) features")
        }
        let output = try newValue(node, 0, .float32, dims)
        try emit(.imputer(input: source, output: output, dims: dims,
                          replaced: floatAttribute(node, "replaced_value_float", default: .nan), values: imputed))
    }

    /// Equal, Greater, Less: 1 or 0 as int64 (the engine's bool), numpy broadcasting.
    mutating func lowerComparison(_ node: ONNXNode, _ function: BinaryFunction) throws {
        let a = try input(node, 0), b = try input(node, 1)
        guard values[a].dataType == values[b].dataType, values[a].dataType != .string else {
            throw CompileFailure("operands are \(values[a].dataType) and \(values[b].dataType)")
        }
        try emitComparison(node, function, a, b)
    }

    /// a (function) b into the node's int64 output: a float comparison runs in its own precision, then becomes int64.
    private mutating func emitComparison(_ node: ONNXNode, _ function: BinaryFunction, _ a: ValueID, _ b: ValueID) throws {
        let dims = try Self.broadcast(values[a].dims, values[b].dims)
        let output = try newValue(node, 0, .int64, dims)
        if values[a].dataType == .int64 {
            try emit(.binary(function, a: a, aDims: values[a].dims, b: b, bDims: values[b].dims, output: output,
                             outDims: dims, elementType: .int64))
            return
        }
        let dataType = values[a].dataType
        let flags = define(CompiledValue(name: "", dataType: dataType, dims: dims))
        try emit(.binary(function, a: a, aDims: values[a].dims, b: b, bDims: values[b].dims, output: flags,
                         outDims: dims, elementType: dataType))
        try emit(.cast(input: flags, output: output, dims: dims, from: dataType, to: .int64))
    }

    /// Not of a bool (int64 0/1) tensor: x = 0, as int64 0/1.
    mutating func lowerNot(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        guard values[source].dataType == .int64 else { throw CompileFailure("Not takes a bool tensor") }
        let zero = define(CompiledValue(name: "", dataType: .int64, dims: [], constant: ConstantBuffer(int64s: [0])))
        try emitComparison(node, .equal, source, zero)
    }

    /// Cast to bool: x ≠ 0 as int64 0/1.
    mutating func lowerCastToBool(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let zero: ValueID
        switch values[source].dataType {
        case .float32: zero = try newConstant(floats: [0], dims: [])
        case .float64: zero = try newConstant([Double(0)], dims: [])
        case .int64: zero = define(CompiledValue(name: "", dataType: .int64, dims: [], constant: ConstantBuffer(int64s: [0])))
        case .string: throw CompileFailure("casting strings is not supported")
        }
        try emitComparison(node, .notEqual, source, zero)
    }

    mutating func lowerWhere(_ node: ONNXNode) throws {
        let condition = try input(node, 0), x = try input(node, 1), y = try input(node, 2)
        guard values[condition].dataType == .int64 else { throw CompileFailure("the condition must be bool") }
        guard values[x].dataType == values[y].dataType, values[x].dataType != .string else {
            throw CompileFailure("x and y are \(values[x].dataType) and \(values[y].dataType)")
        }
        let dims = try Self.broadcast(try Self.broadcast(values[condition].dims, values[x].dims), values[y].dims)
        let output = try newValue(node, 0, values[x].dataType, dims)
        try emit(.select(condition: condition, conditionDims: values[condition].dims, x: x, xDims: values[x].dims,
                         y: y, yDims: values[y].dims, output: output, outDims: dims,
                         elementSize: values[x].dataType.bufferElementSize))
    }

    /// Shape is a constant when the dimensions it reports are fixed; the batch size is known only at run time.
    mutating func lowerShape(_ node: ONNXNode) throws {
        let dims = values[try input(node, 0)].dims
        let rank = Int64(dims.count)
        func clamp(_ value: Int64) -> Int {
            Int(Swift.min(Swift.max(value < 0 ? value + rank : value, 0), rank))
        }
        let start = clamp(intAttribute(node, "start", default: 0))
        let end = clamp(intAttribute(node, "end", default: rank))
        let selected = start < end ? Array(dims[start..<end]) : []
        // The batch axis's entry is a placeholder that only Reshape may read (GraphCompiler+BatchSize).
        guard selected.allSatisfy({ $0 >= -1 }) else {
            throw CompileFailure("Shape of an axis that is a multiple of the batch is known only at run time; export "
                + "with the batch dimension as -1 in Reshape instead")
        }
        var value = CompiledValue(name: try outputName(node, 0), dataType: .int64, dims: [selected.count],
                                  constant: ConstantBuffer(int64s: selected.map { Int64($0) }))
        value.batchEntries = Set(selected.indices.filter { selected[$0] < 0 })
        define(value)
    }

    mutating func lowerOneHotEncoder(_ node: ONNXNode) throws {
        var source = try input(node, 0)
        if values[source].dataType == .float64 {
            // A double category is truncated to int64, as onnxruntime's cast does (a float one in the step).
            let truncated = define(CompiledValue(name: "", dataType: .int64, dims: values[source].dims))
            try emit(.cast(input: source, output: truncated, dims: values[source].dims, from: .float64, to: .int64))
            source = truncated
        }
        let dims = values[source].dims
        guard node.attribute("cats_strings")?.strings.isEmpty ?? true else {
            throw CompileFailure("string categories (cats_strings) are not supported: string inputs are not")
        }
        let categories = node.attribute("cats_int64s")?.ints ?? []
        guard !categories.isEmpty else { throw CompileFailure("cats_int64s is empty") }
        var index: [Int64: Int] = [:]
        for (position, category) in categories.enumerated() where index[category] == nil { index[category] = position }
        guard values[source].dataType != .string else { throw CompileFailure("string inputs are not supported") }
        let output = try newValue(node, 0, .float32, dims + [categories.count])
        try emit(.oneHotEncode(input: source, dims: dims, output: output, categories: index,
                               classes: categories.count, zeros: intAttribute(node, "zeros", default: 1) != 0,
                               fromFloat: values[source].dataType == .float32))
    }
}
