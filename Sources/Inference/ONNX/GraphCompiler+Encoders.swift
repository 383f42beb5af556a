// Category encoders: the default-domain OneHot (built from comparison and select steps) and the ai.onnx.ml
// LabelEncoder in every attribute form of its opsets 1 to 4 (a LabelTable built at load). Semantics in
// docs/engine.md ("Category encoders").

extension GraphCompiler {
    // MARK: OneHot

    /// OneHot(indices, depth, values): out[..., k, ...] (k on `axis`) is values[1] where the index, taken modulo
    /// depth when negative, equals k, else values[0]. Lowered as Equal(index, 0..<depth) and a select, so that an
    /// index outside [-depth, depth) gives a row of values[0] as the operator defines.
    mutating func lowerOneHot(_ node: ONNXNode) throws {
        let indices = try input(node, 0)
        let indexType = values[indices].dataType
        guard indexType != .string else { throw CompileFailure("indices are strings; they must be numbers") }
        let depthID = try input(node, 1)
        let depthValues = try constantFloats(depthID, what: "depth")
        guard depthValues.count == 1, let depthFloat = depthValues.first, depthFloat.isFinite,
              depthFloat >= 1, depthFloat <= Float(maxElementsPerValue)
        else {
            throw CompileFailure("depth must be one number from 1 to \(maxElementsPerValue) (it is \(depthValues))")
        }
        let depth = Int(depthFloat)
        let valuesID = try input(node, 2)
        guard let buffer = values[valuesID].constant, buffer.count == 2, buffer.dataType != .string else {
            throw CompileFailure("values must be a constant numeric tensor of two elements [off, on]")
        }
        let dims = values[indices].dims
        let axis = try self.axis(intAttribute(node, "axis", default: -1), rank: dims.count, inclusive: true)
        if let batchAxis = Self.batchAxis(dims), axis <= batchAxis {
            throw CompileFailure("the one-hot axis \(axis) would come before the batch axis (\(batchAxis)); only axes "
                + "after it are supported")
        }
        let outDims = Array(dims[..<axis]) + [depth] + Array(dims[axis...])
        try Self.checkCount(outDims)

        // index + depth where index < 0, in the indices' own type (a float index is truncated afterwards).
        let scalarType = indexType
        let zero = try scalarConstant(0, scalarType), depthConstant = try scalarConstant(Int64(depth), scalarType)
        let negative = define(CompiledValue(name: "", dataType: scalarType, dims: dims))
        try emit(.binary(.less, a: indices, aDims: dims, b: zero, bDims: [], output: negative, outDims: dims,
                         elementType: scalarType))
        let shift = define(CompiledValue(name: "", dataType: scalarType, dims: dims))
        try emit(.binary(.mul, a: negative, aDims: dims, b: depthConstant, bDims: [], output: shift, outDims: dims,
                         elementType: scalarType))
        let wrapped = define(CompiledValue(name: "", dataType: scalarType, dims: dims))
        try emit(.binary(.add, a: indices, aDims: dims, b: shift, bDims: dims, output: wrapped, outDims: dims,
                         elementType: scalarType))
        var index = wrapped
        if scalarType == .float32 {
            index = define(CompiledValue(name: "", dataType: .int64, dims: dims))
            try emit(.cast(input: wrapped, output: index, dims: dims, from: .float32, to: .int64))
        }
        // The index with a 1 inserted at `axis`, against 0..<depth laid along `axis`.
        let spread = Array(dims[..<axis]) + [1] + Array(dims[axis...])
        try charge(depth, elementSize: 8, for: "OneHot's \(depth) positions")
        let positionDims = [depth] + [Int](repeating: 1, count: dims.count - axis)
        let positions = define(CompiledValue(name: "", dataType: .int64, dims: positionDims,
                                             constant: ConstantBuffer(int64s: (0..<Int64(depth)).map { $0 })))
        let hits = define(CompiledValue(name: "", dataType: .int64, dims: outDims))
        try emit(.binary(.equal, a: index, aDims: spread, b: positions, bDims: positionDims, output: hits,
                         outDims: outDims, elementType: .int64))
        let off = define(CompiledValue(name: "", dataType: buffer.dataType, dims: [],
                                       constant: Self.element(of: buffer, at: 0)))
        let on = define(CompiledValue(name: "", dataType: buffer.dataType, dims: [],
                                      constant: Self.element(of: buffer, at: 1)))
        let output = try newValue(node, 0, buffer.dataType, outDims)
        try emit(.select(condition: hits, conditionDims: outDims, x: on, xDims: [], y: off, yDims: [], output: output,
                         outDims: outDims, elementSize: buffer.dataType.bufferElementSize))
    }

    /// A one-element constant of `type` (float32 or int64).
    private mutating func scalarConstant(_ value: Int64, _ type: DataType) throws -> ValueID {
        if type == .float32 { return try newConstant(floats: [Float(value)], dims: []) }
        return define(CompiledValue(name: "", dataType: .int64, dims: [], constant: ConstantBuffer(int64s: [value])))
    }

    /// Element `index` of a numeric constant, as a one-element constant of the same type.
    private static func element(of buffer: ConstantBuffer, at index: Int) -> ConstantBuffer {
        buffer.dataType == .float32 ? ConstantBuffer(floats: [buffer.floats[index]])
            : ConstantBuffer(int64s: [buffer.int64s[index]])
    }

    // MARK: LabelEncoder

    /// A keys_* / values_* / default list, whatever attribute form carried it.
    private enum LabelList {
        case ints([Int64]), floats([Float]), strings([String])

        var count: Int {
            switch self {
            case .ints(let v): return v.count
            case .floats(let v): return v.count
            case .strings(let v): return v.count
            }
        }

        var dataType: DataType {
            switch self {
            case .ints: return .int64
            case .floats: return .float32
            case .strings: return .string
            }
        }
    }

    /// The one `prefix`_tensor, `prefix`_int64s, `prefix`_floats or `prefix`_strings attribute the node gives.
    private mutating func labelList(_ node: ONNXNode, _ prefix: String) throws -> LabelList {
        var found: [(String, LabelList)] = []
        if let tensor = node.attribute(prefix + "_tensor")?.t {
            found.append((prefix + "_tensor", try labelList(tensor, name: prefix + "_tensor")))
        }
        if let attribute = node.attribute(prefix + "_int64s") { found.append((prefix + "_int64s", .ints(attribute.ints))) }
        if let attribute = node.attribute(prefix + "_floats") {
            found.append((prefix + "_floats", .floats(attribute.floats)))
        }
        if let attribute = node.attribute(prefix + "_strings") {
            found.append((prefix + "_strings", .strings(try Self.utf8(attribute.strings, name: prefix + "_strings"))))
        }
        guard found.count == 1, let list = found.first?.1 else {
            throw CompileFailure("exactly one of \(prefix)_tensor, \(prefix)_int64s, \(prefix)_floats and "
                + "\(prefix)_strings must be given (found \(found.isEmpty ? "none" : found.map(\.0).joined(separator: ", ")))")
        }
        return list
    }

    private mutating func labelList(_ tensor: ONNXTensor, name: String) throws -> LabelList {
        let buffer: ConstantBuffer
        do {
            (buffer, _) = try decodeConstant(tensor, what: name)
        } catch let failure as CompileFailure {
            throw CompileFailure("\(name): \(failure.reason)")
        }
        switch buffer.dataType {
        case .float32: return .floats(buffer.floats)
        case .int64: return .ints(buffer.int64s)
        case .string: return .strings(buffer.strings)
        case .float64: throw CompileFailure("\(name): double keys or values are not supported (float, int64 or strings)")
        }
    }

    private static func utf8(_ strings: [[UInt8]], name: String) throws -> [String] {
        try strings.map {
            guard let string = String(validating: $0, as: UTF8.self) else {
                throw CompileFailure("\(name) holds a string that is not valid UTF-8")
            }
            return string
        }
    }

    mutating func lowerLabelEncoder(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        let inputType = values[source].dataType
        let dims = values[source].dims
        let keys: LabelList, mapped: LabelList
        if let classes = node.attribute("classes_strings") {
            // Opset 1: strings become their position in classes_strings, positions become the strings.
            let strings = try Self.utf8(classes.strings, name: "classes_strings")
            let positions = LabelList.ints((0..<Int64(strings.count)).map { $0 })
            (keys, mapped) = inputType == .string ? (.strings(strings), positions) : (positions, .strings(strings))
        } else {
            keys = try labelList(node, "keys")
            mapped = try labelList(node, "values")
        }
        guard keys.dataType == inputType else {
            throw CompileFailure("the keys are \(keys.dataType) but the input is \(inputType)")
        }
        guard keys.count == mapped.count else {
            throw CompileFailure("\(keys.count) keys for \(mapped.count) values")
        }
        guard keys.count < Int(Int32.max) else { throw CompileFailure("\(keys.count) keys is too many") }
        // A map entry per key and a value per key.
        try charge(keys.count, elementSize: 32, for: "LabelEncoder's \(keys.count) keys")

        // The default: default_tensor, else the default_* of the values' type, else the operator's default.
        var fallback: LabelList?
        if let tensor = node.attribute("default_tensor")?.t {
            let list = try labelList(tensor, name: "default_tensor")
            guard list.count == 1, list.dataType == mapped.dataType else {
                throw CompileFailure("default_tensor must be one \(mapped.dataType) element (it has \(list.count) "
                    + "\(list.dataType))")
            }
            fallback = list
        }
        let values: LabelTable.Values
        var table: [String] = []
        switch (mapped, fallback) {
        case (.ints(let list), .ints(let given)?): values = .int64(list + given)
        case (.ints(let list), _): values = .int64(list + [intAttribute(node, "default_int64", default: -1)])
        case (.floats(let list), .floats(let given)?): values = .float(list + given)
        case (.floats(let list), _): values = .float(list + [floatAttribute(node, "default_float", default: -0.0)])
        case (.strings(let list), .strings(let given)?):
            values = .tableIndex
            table = list + given
        case (.strings(let list), _):
            values = .tableIndex
            table = list + [stringAttribute(node, "default_string", default: "_Unused")]
        }

        let defaultPosition = Int32(keys.count)
        let lookup: LabelTable.Keys
        switch keys {
        case .ints(let list):
            var map: [Int64: Int32] = [:]
            for (position, key) in list.enumerated() { map[key] = Int32(position) }
            lookup = .int64(map)
        case .floats(let list):
            var map: [Float: Int32] = [:]
            var nan: Int32?
            // A NaN key matches NaN inputs from opset 4 on; before, like onnxruntime's map, it matches nothing.
            for (position, key) in list.enumerated() {
                if !key.isNaN {
                    map[key] = Int32(position)
                } else if mlOpset >= 4 {
                    nan = Int32(position)
                }
            }
            lookup = .float(map, nan: nan)
        case .strings(let list):
            var map: [String: Int32] = [:]
            for (position, key) in list.enumerated() { map[key] = Int32(position) }
            lookup = .tableIndex(self.values[source].strings.map { map[$0] ?? defaultPosition })
        }
        let output = try newValue(node, 0, mapped.dataType, dims, strings: table)
        try emit(.labelEncode(input: source, output: output, dims: dims,
                              table: LabelTable(keys: lookup, values: values, defaultPosition: defaultPosition)))
    }
}
