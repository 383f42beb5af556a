// Clients/TensorwireCLI/TensorJSON.swift: JSON and .npy inputs to request tensors, response tensors to JSON.
public import TensorwireProto

/// Conversions between the CLI's JSON (nested arrays, shape inferred from nesting) and `TensorwireV1.Tensor`.
public enum TensorJSON {
    /// The shape of a nested array and its scalars in row-major order. Ragged nesting is an error.
    public static func flatten(_ value: JSONValue) throws(CLIError) -> (shape: [Int], scalars: [JSONValue]) {
        var shape: [Int] = []
        var probe = value
        while case .array(let elements) = probe {
            shape.append(elements.count)
            guard let first = elements.first else { break }
            probe = first
        }
        var scalars: [JSONValue] = []
        scalars.reserveCapacity(shape.reduce(1) { $0 &* max($1, 1) })
        try collect(value, depth: 0, shape: shape, into: &scalars)
        return (shape, scalars)
    }

    private static func collect(_ value: JSONValue, depth: Int, shape: [Int], into scalars: inout [JSONValue])
        throws(CLIError)
    {
        if depth == shape.count {
            switch value {
            case .array, .object: throw .input("ragged array: expected a scalar at depth \(depth)")
            default: scalars.append(value)
            }
            return
        }
        guard case .array(let elements) = value, elements.count == shape[depth] else {
            throw .input("ragged array: every array at depth \(depth) must have \(shape[depth]) elements")
        }
        for element in elements { try collect(element, depth: depth + 1, shape: shape, into: &scalars) }
    }

    /// A tensor named `name` of `dtype` from a nested JSON array (numbers, booleans or strings as dtype needs).
    public static func tensor(name: String, dtype: TensorwireV1.DataType, json: JSONValue) throws(CLIError)
        -> TensorwireV1.Tensor
    {
        let (shape, scalars) = try flatten(json)
        var tensor = TensorwireV1.Tensor()
        tensor.name = name
        tensor.shape = TensorShape(shape.map { Int64($0) })
        func numbers() throws(CLIError) -> [Double] {
            var out: [Double] = []
            out.reserveCapacity(scalars.count)
            for (index, scalar) in scalars.enumerated() {
                switch scalar {
                case .integer(let value): out.append(Double(value))
                case .number(let value):
                    guard !value.isInfinite else { throw nonFinite(name, at: index, shape: shape, value) }
                    out.append(value)
                case .string(let text) where text == "NaN" || text == "nan": out.append(.nan)
                case .bool(let flag): out.append(flag ? 1 : 0)
                default: throw .input("input '\(name)': expected numbers, found \(JSONPrinter().string(scalar))")
                }
            }
            return out
        }
        switch dtype {
        case .float64:
            tensor.dtype = .float64
            tensor.doubleData = try numbers()
        case .int64, .int32, .int16, .int8, .uint8, .uint16, .uint32:
            var values: [Int64] = []
            for (index, scalar) in scalars.enumerated() {
                switch scalar {
                case .integer(let value): values.append(value)
                case .number(let value) where !value.isFinite: throw nonFinite(name, at: index, shape: shape, value)
                case .number(let value) where value == value.rounded() && abs(value) < 9e18: values.append(Int64(value))
                default: throw .input("input '\(name)': expected integers, found \(JSONPrinter().string(scalar))")
                }
            }
            if dtype == .int64 {
                tensor.dtype = .int64
                tensor.int64Data = values
            } else {
                tensor.dtype = dtype
                for value in values {
                    guard let narrow = Int32(exactly: value) else { throw .input("input '\(name)': \(value) out of range") }
                    tensor.int32Data.append(narrow)
                }
            }
        case .bool:
            tensor.dtype = .bool
            for scalar in scalars {
                guard case .bool(let flag) = scalar else { throw .input("input '\(name)': expected booleans") }
                tensor.boolData.append(flag)
            }
        case .string:
            tensor.dtype = .string
            for scalar in scalars {
                guard case .string(let text) = scalar else { throw .input("input '\(name)': expected strings") }
                tensor.stringData.append(text)
            }
        default:
            tensor.dtype = .float32
            let values = try numbers()
            tensor.floatData = values.map { Float($0) }
            if let index = tensor.floatData.firstIndex(where: { $0.isInfinite }) {
                throw .input("input '\(name)': element \(position(index, shape: shape)) (\(values[index])) is out of float32 "
                    + "range; inputs must be finite numbers (or NaN)")
            }
        }
        return tensor
    }

    /// `[i, j, …]`: where the element at row-major `index` sits in `shape`.
    static func position(_ index: Int, shape: [Int]) -> String {
        var rest = index
        var indices = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() {
            let size = max(shape[axis], 1)
            indices[axis] = rest % size
            rest /= size
        }
        return "[" + indices.map(String.init).joined(separator: ", ") + "]"
    }

    /// The refusal of an infinite input element (JSON numbers beyond Double's range parse as infinite; .npy files
    /// can hold infinities), or of a NaN in an integer tensor. A float tensor takes NaN: tree ensembles and imputers
    /// read it as a missing value.
    static func nonFinite(_ name: String, at index: Int, shape: [Int], _ value: Double) -> CLIError {
        if value.isNaN {
            return .input("input '\(name)': element \(position(index, shape: shape)) is NaN; an integer input takes "
                + "whole numbers only")
        }
        let what = "infinite (\(value < 0 ? "-" : "")Infinity, or a number out of range)"
        return .input("input '\(name)': element \(position(index, shape: shape)) is \(what); inputs must be finite "
            + "numbers (or NaN, for a missing value)")
    }

    /// A tensor from a .npy array; the server converts its dtype where the model accepts it. uint8 and float16
    /// travel as raw_data (FLOAT16 has no typed field). An infinite element is refused; NaN (a missing value) is kept.
    public static func tensor(name: String, npy: NPYArray) throws(CLIError) -> TensorwireV1.Tensor {
        var tensor = TensorwireV1.Tensor()
        tensor.name = name
        tensor.shape = TensorShape(npy.shape.map { Int64($0) })
        switch npy.elements {
        case .float32(let values):
            if let index = values.firstIndex(where: { $0.isInfinite }) {
                throw nonFinite(name, at: index, shape: npy.shape, Double(values[index]))
            }
            tensor.dtype = .float32
            tensor.floatData = values
        case .float64(let values):
            if let index = values.firstIndex(where: { $0.isInfinite }) {
                throw nonFinite(name, at: index, shape: npy.shape, values[index])
            }
            tensor.dtype = .float64
            tensor.doubleData = values
        case .float16(let bits):
            // Exponent all ones and mantissa 0: infinity (a mantissa makes it NaN, which is kept).
            if let index = bits.firstIndex(where: { $0 & 0x7FFF == 0x7C00 }) {
                throw nonFinite(name, at: index, shape: npy.shape, bits[index] & 0x8000 == 0 ? .infinity : -.infinity)
            }
            tensor.dtype = .float16
            tensor.rawData = bits.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        case .uint8(let values):
            tensor.dtype = .uint8
            tensor.rawData = values
        case .int32(let values):
            tensor.dtype = .int32
            tensor.int32Data = values
        case .int64(let values):
            tensor.dtype = .int64
            tensor.int64Data = values
        }
        return tensor
    }

    /// The request inputs for `model` from a JSON value: an object of input name → nested array, or, for a
    /// one-input model, the nested array itself.
    public static func inputs(from json: JSONValue, model: TensorwireV1.ModelInfo) throws(CLIError)
        -> [TensorwireV1.Tensor]
    {
        let names = model.inputs.map(\.name)
        switch json {
        case .array:
            guard let only = model.inputs.first, model.inputs.count == 1 else {
                throw .input("model '\(model.name)' has \(model.inputs.count) inputs (\(names.joined(separator: ", "))); "
                    + "give an object of input name → array")
            }
            return [try tensor(name: only.name, dtype: only.dtype, json: json)]
        case .object(let members):
            var tensors: [TensorwireV1.Tensor] = []
            for (key, value) in members {
                guard let spec = model.inputs.first(where: { $0.name == key }) else {
                    throw .input("model '\(model.name)' has no input '\(key)' (inputs: \(names.joined(separator: ", ")))")
                }
                tensors.append(try tensor(name: key, dtype: spec.dtype, json: value))
            }
            return tensors
        default:
            throw .input("expected a nested array or an object of input name → array")
        }
    }

    /// A float's shortest decimal text as a JSON number (Float precision, so `0.1` prints as `0.1`).
    static func floatJSON(_ value: Float) -> JSONValue {
        guard value.isFinite else { return .null }
        if value == value.rounded(), abs(value) < 1e7 { return .integer(Int64(value)) }
        return .number(Double("\(value)") ?? Double(value))
    }

    /// The elements of a response tensor as JSON scalars (typed fields or little-endian raw_data).
    public static func scalars(of tensor: TensorwireV1.Tensor) -> [JSONValue] {
        if !tensor.rawData.isEmpty {
            let raw = tensor.rawData
            func words(_ width: Int) -> [UInt64] {
                stride(from: 0, to: raw.count - width + 1, by: width).map { start in
                    var value: UInt64 = 0
                    for byte in 0..<width { value |= UInt64(raw[start + byte]) << (8 * UInt64(byte)) }
                    return value
                }
            }
            switch tensor.dtype {
            case .float32: return words(4).map { floatJSON(Float(bitPattern: UInt32(truncatingIfNeeded: $0))) }
            case .float64: return words(8).map { .number(Double(bitPattern: $0)) }
            case .int32: return words(4).map { .integer(Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: $0)))) }
            case .int64: return words(8).map { .integer(Int64(bitPattern: $0)) }
            case .bool, .uint8: return raw.map { tensor.dtype == .bool ? .bool($0 != 0) : .integer(Int64($0)) }
            default: return raw.map { .integer(Int64($0)) }
            }
        }
        if !tensor.floatData.isEmpty { return tensor.floatData.map(floatJSON) }
        if !tensor.doubleData.isEmpty { return tensor.doubleData.map { .number($0) } }
        if !tensor.int64Data.isEmpty { return tensor.int64Data.map { .integer($0) } }
        if !tensor.int32Data.isEmpty { return tensor.int32Data.map { .integer(Int64($0)) } }
        if !tensor.boolData.isEmpty { return tensor.boolData.map { .bool($0) } }
        if !tensor.stringData.isEmpty { return tensor.stringData.map { .string($0) } }
        if !tensor.uint64Data.isEmpty {
            return tensor.uint64Data.map { Int64(exactly: $0).map { .integer($0) } ?? .number(Double($0)) }
        }
        return []
    }

    /// The tensor as a nested array following its shape (flat when the shape does not match the element count).
    public static func json(of tensor: TensorwireV1.Tensor) -> JSONValue {
        let flat = scalars(of: tensor)
        let shape = tensor.shape.map { Int($0) }
        let count = shape.reduce(1) { $0 &* $1 }
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }), count == flat.count else { return .array(flat) }
        var offset = 0
        func nest(_ depth: Int) -> JSONValue {
            if depth == shape.count {
                defer { offset += 1 }
                return flat[offset]
            }
            return .array((0..<shape[depth]).map { _ in nest(depth + 1) })
        }
        return nest(0)
    }

    /// The K most probable classes of each row of a [N, C] (or [C]) probabilities tensor.
    public static func topK(_ k: Int, of tensor: TensorwireV1.Tensor) -> JSONValue {
        let flat = scalars(of: tensor).map { $0.doubleValue ?? 0 }
        let classes = tensor.shape.last.map { Int($0) } ?? flat.count
        guard classes > 0, flat.count % classes == 0 else { return .array([]) }
        var rows: [JSONValue] = []
        for row in stride(from: 0, to: flat.count, by: classes) {
            let ranked = (0..<classes).sorted { flat[row + $0] > flat[row + $1] || (flat[row + $0] == flat[row + $1] && $0 < $1) }
            rows.append(.array(ranked.prefix(k).map { index in
                .object([("class", .integer(Int64(index))), ("probability", floatJSON(Float(flat[row + index])))])
            }))
        }
        return .array(rows)
    }

    /// The output tensor `--top-k` ranks: a float output named like "prob…", else the only float output with more
    /// than one column.
    public static func probabilitiesOutput(in outputs: [TensorwireV1.Tensor]) -> TensorwireV1.Tensor? {
        let floats = outputs.filter { [.float32, .float64, .unspecified].contains($0.dtype) && $0.stringData.isEmpty }
        if let named = floats.first(where: { $0.name.lowercased().contains("prob") }) { return named }
        let wide = floats.filter { ($0.shape.last ?? 0) > 1 }
        return wide.count == 1 ? wide.first : nil
    }

    /// A response as the CLI prints it: model, version, id (when set), outputs (name → nested array), `top_k`
    /// when asked for, the batch facts, and `error` for a failed stream request.
    public static func json(of response: TensorwireV1.PredictResponse, topK: Int?) throws(CLIError) -> JSONValue {
        var members: [(String, JSONValue)] = [("model", .string(response.model)), ("version", .string(response.version))]
        if !response.id.isEmpty { members.append(("id", .string(response.id))) }
        if let error = response.error {
            members.append(("error", .object([("code", .integer(Int64(error.code))), ("message", .string(error.message))])))
            return .object(members)
        }
        members.append(("outputs", .object(response.outputs.map { ($0.name, json(of: $0)) })))
        if let k = topK {
            guard let probabilities = probabilitiesOutput(in: response.outputs) else {
                throw .usage("--top-k: the model has no probabilities output (a float output named 'prob…')")
            }
            members.append(("top_k", Self.topK(k, of: probabilities)))
        }
        if let batch = response.batch {
            members.append(("batch", .object([
                ("batch_size", .integer(Int64(batch.batchSize))), ("batch_requests", .integer(Int64(batch.batchRequests))),
                ("queue_us", .integer(Int64(clamping: batch.queueUs))), ("compute_us", .integer(Int64(clamping: batch.computeUs))),
            ])))
        }
        return .object(members)
    }
}
