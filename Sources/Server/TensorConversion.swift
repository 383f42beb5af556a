internal import Inference
internal import RPCCore
internal import TensorwireProto

/// Converts `tensorwire.v1.Tensor` values from the wire into engine tensors checked against a model's signature,
/// and engine outputs back into wire tensors. Pure functions; every refusal is an INVALID_ARGUMENT that names the
/// tensor, what the model expects and what arrived.
///
/// Conversions: a FLOAT32 input also accepts FLOAT64, the integer types and FLOAT16 (converted on arrival); a FLOAT64
/// input (a graph that computes in double) accepts FLOAT32, the integer types and FLOAT16 as well, widened; an INT64
/// input accepts every integer type; a STRING input accepts strings only.
enum TensorConversion {
    typealias WireTensor = TensorwireV1.Tensor
    typealias WireType = TensorwireV1.DataType

    /// Wire dtypes accepted for an input of `type` (the first is the native one); listed by GetModel.
    static func acceptedWireTypes(for type: DataType) -> [WireType] {
        switch type {
        case .float32: return [.float32, .float64, .int32, .int64, .int8, .int16, .uint8, .uint16, .uint32, .uint64, .float16]
        case .float64: return [.float64, .float32, .int32, .int64, .int8, .int16, .uint8, .uint16, .uint32, .uint64, .float16]
        case .int64: return [.int64, .int32, .int8, .int16, .uint8, .uint16, .uint32, .uint64]
        case .string: return [.string]
        }
    }

    /// Whether `acceptedWireTypes(for: type)` holds `wire`, without building the list (checked on every request).
    static func accepts(_ wire: WireType, for type: DataType) -> Bool {
        // Exhaustive over the engine's types, so a new one must be added here as in `acceptedWireTypes`
        // (AcceptedTypesTests compares the two for every pair).
        switch type {
        case .float32, .float64:
            switch wire {
            case .float32, .float64, .int32, .int64, .int8, .int16, .uint8, .uint16, .uint32, .uint64, .float16: true
            default: false
            }
        case .int64:
            switch wire {
            case .int64, .int32, .int8, .int16, .uint8, .uint16, .uint32, .uint64: true
            default: false
            }
        case .string:
            wire == .string
        }
    }

    static func wireType(of type: DataType) -> WireType {
        switch type {
        case .float32: return .float32
        case .float64: return .float64
        case .int64: return .int64
        case .string: return .string
        }
    }

    /// The wire inputs matched to `signature` by name (in signature order), converted and checked.
    /// For a single-input model an unnamed tensor is taken as that input. `fixedBatchHint` is the model's
    /// `Model.fixedBatchHint`: when set, a request with another number of rows is told why and what to do.
    static func inputs(
        _ tensors: [WireTensor], model: String, signature: [TensorSignature], fixedBatchHint: String?
    ) throws(RPCError) -> [Tensor] {
        // One input, named as the model's or unnamed, as most requests are: no name table (a dictionary per request
        // cost ~2K instructions, callgrind). Anything else takes the general path and its messages.
        if tensors.count == 1, signature.count == 1, let tensor = tensors.first, let spec = signature.first,
           tensor.name.isEmpty || tensor.name == spec.name {
            return [try input(tensor, spec: spec, fixedBatchHint: fixedBatchHint)]
        }
        var byName: [String: WireTensor] = [:]
        for tensor in tensors {
            let name = tensor.name.isEmpty && signature.count == 1 ? signature[0].name : tensor.name
            guard signature.contains(where: { $0.name == name }) else {
                let expected = signature.map(\.name).joined(separator: ", ")
                throw invalid("model \(model) has no input \"\(tensor.name)\" (its inputs: \(expected))")
            }
            guard byName[name] == nil else { throw invalid("input \"\(name)\" is given twice") }
            byName[name] = tensor
        }
        var converted: [Tensor] = []
        var rows: Int?
        for spec in signature {
            guard let tensor = byName[spec.name] else {
                throw invalid("model \(model) needs input \"\(spec.name)\" (\(describe(spec))); it is missing")
            }
            let value = try input(tensor, spec: spec, fixedBatchHint: fixedBatchHint)
            if let axis = spec.batchAxis, value.shape.dims.indices.contains(axis) {
                let count = value.shape.dims[axis]
                if let rows, rows != count {
                    throw invalid("input \"\(spec.name)\" has \(count) rows but another input has \(rows)")
                }
                rows = count
            }
            converted.append(value)
        }
        return converted
    }

    static func describe(_ spec: TensorSignature) -> String {
        "\(wireType(of: spec.dataType)) shape \(spec.dims)"
    }

    /// One input: dtype resolved and converted, shape checked against the signature, element count checked.
    /// `fixedBatchHint` (the model's `Model.fixedBatchHint`) explains a first dimension other than the fixed one.
    static func input(_ tensor: WireTensor, spec: TensorSignature, fixedBatchHint: String?) throws(RPCError) -> Tensor {
        let name = spec.name
        let shape = tensor.shape
        guard shape.count == spec.dims.count else {
            throw invalid("input \"\(name)\": expected shape \(spec.dims) (rank \(spec.dims.count)), got \(shape)")
        }
        // Indices rather than zip/enumerated over the wire shape: ~1K instructions less per input (callgrind).
        for index in spec.dims.indices {
            let given = shape[index]
            let expected = spec.dims[index]
            guard given >= 0, given <= Int64(Int32.max) else {
                throw invalid("input \"\(name)\": dimension \(index) is \(given); dimensions must be 0…\(Int32.max)")
            }
            if expected >= 0, given != Int64(expected) {
                if index == 0, let fixedBatchHint {
                    throw invalid("input \"\(name)\": expected shape \(spec.dims), got \(shape): \(fixedBatchHint)")
                }
                throw invalid("input \"\(name)\": expected shape \(spec.dims), got \(shape)")
            }
        }
        // Every dimension is now 0…Int32.max. Built by `map` over the checked wire shape, a specialized copy:
        // `[Int](repeating:count:)` calls an unspecialized runtime function that looks up the array type's metadata
        // on every call (~350 instructions, callgrind).
        let dims = shape.map { Int($0) }
        if let axis = spec.batchAxis, dims[axis] == 0 {
            throw invalid("input \"\(name)\": the batch dimension is 0; send at least one row")
        }
        let checkedShape = Shape(dims)
        guard let count = checkedShape.elementCount, count <= 1 << 30 else {
            throw invalid("input \"\(name)\": shape \(shape) has too many elements")
        }
        let wireType = try resolvedType(tensor, name: name)
        guard accepts(wireType, for: spec.dataType) else {
            let accepted = acceptedWireTypes(for: spec.dataType).map(\.description).joined(separator: ", ")
            throw invalid("input \"\(name)\": dtype \(wireType) is not accepted; the model takes \(accepted)")
        }
        try checkTypedField(tensor, type: wireType, spec: spec)
        let storage: Tensor.Storage
        switch spec.dataType {
        case .float32: storage = .float32(try floats(tensor, type: wireType, count: count, name: name))
        case .float64: storage = .float64(try reals(tensor, type: wireType, count: count, name: name, as: Double.self))
        case .int64: storage = .int64(try int64s(tensor, type: wireType, count: count, name: name))
        case .string: storage = .string(try elements(tensor.stringData, count: count, name: name))
        }
        guard let value = Tensor(shape: checkedShape, storage: storage) else {
            throw invalid("input \"\(name)\": \(count) elements do not fit shape \(shape)")
        }
        return value
    }

    /// The element type: `dtype` when given, else that of the one typed field that carries data.
    static func resolvedType(_ tensor: WireTensor, name: String) throws(RPCError) -> WireType {
        if tensor.dtype != .unspecified { return tensor.dtype }
        if !tensor.rawData.isEmpty { throw invalid("input \"\(name)\": raw_data needs dtype to be set") }
        var carriers: [WireType] = []
        if !tensor.floatData.isEmpty { carriers.append(.float32) }
        if !tensor.doubleData.isEmpty { carriers.append(.float64) }
        if !tensor.int32Data.isEmpty { carriers.append(.int32) }
        if !tensor.int64Data.isEmpty { carriers.append(.int64) }
        if !tensor.boolData.isEmpty { carriers.append(.bool) }
        if !tensor.stringData.isEmpty { carriers.append(.string) }
        if !tensor.uint64Data.isEmpty { carriers.append(.uint64) }
        guard carriers.count == 1, let type = carriers.first else {
            throw invalid(
                carriers.isEmpty
                    ? "input \"\(name)\" carries no data (set float_data or another typed field, or raw_data with dtype)"
                    : "input \"\(name)\": data in several typed fields; set dtype and use one field")
        }
        return type
    }

    /// The typed field that carries elements of `type` when raw_data is empty, with the number of values it holds
    /// in `tensor`; nil for FLOAT16 (raw_data only).
    static func typedField(for type: WireType, in tensor: WireTensor) -> (name: String, count: Int)? {
        switch type {
        case .float32: return ("float_data", tensor.floatData.count)
        case .float64: return ("double_data", tensor.doubleData.count)
        case .int32, .int8, .int16, .uint8, .uint16: return ("int32_data", tensor.int32Data.count)
        case .int64: return ("int64_data", tensor.int64Data.count)
        case .uint32, .uint64: return ("uint64_data", tensor.uint64Data.count)
        case .bool: return ("bool_data", tensor.boolData.count)
        case .string: return ("string_data", tensor.stringData.count)
        default: return nil
        }
    }

    /// The typed fields that hold values, in field-number order, each with the dtype named after it and its count.
    static func populatedFields(_ tensor: WireTensor) -> [(field: String, type: WireType, count: Int)] {
        let fields: [(String, WireType, Int)] = [
            ("float_data", .float32, tensor.floatData.count), ("double_data", .float64, tensor.doubleData.count),
            ("int32_data", .int32, tensor.int32Data.count), ("int64_data", .int64, tensor.int64Data.count),
            ("bool_data", .bool, tensor.boolData.count), ("string_data", .string, tensor.stringData.count),
            ("uint64_data", .uint64, tensor.uint64Data.count),
        ]
        return fields.filter { $0.2 > 0 }.map { (field: $0.0, type: $0.1, count: $0.2) }
    }

    /// A dtype's name as clients write it: FLOAT32 for DATA_TYPE_FLOAT32.
    static func shortName(_ type: WireType) -> String {
        let name = type.description
        return name.hasPrefix("DATA_TYPE_") ? String(name.dropFirst("DATA_TYPE_".count)) : name
    }

    /// With no raw_data, the typed field that `type` selects must hold the data. When it is empty, the error names
    /// that field and every field that does hold values (the usual mistake: FLOAT32 values sent as int64_data),
    /// rather than counting the empty field's zero elements against the shape.
    static func checkTypedField(_ tensor: WireTensor, type: WireType, spec: TensorSignature) throws(RPCError) {
        guard tensor.rawData.isEmpty else { return }
        let name = spec.name
        guard let selected = typedField(for: type, in: tensor) else {
            throw invalid(
                "input \"\(name)\": dtype \(shortName(type)) has no typed field; send its elements in raw_data "
                    + "(little-endian, \(rawElementSize(type).map { "\($0) bytes" } ?? "fixed size") each)")
        }
        // The usual case: the selected field holds values (a wrong count is reported against the shape).
        if selected.count > 0 { return }
        let field = selected.name
        let populated = populatedFields(tensor)
        guard let only = populated.first else {
            throw invalid(
                "input \"\(name)\" carries no data: dtype \(shortName(type)) reads \(field) (or raw_data), and both "
                    + "are empty")
        }
        let found = populated.map { "\($0.field) (\($0.count) values)" }.joined(separator: " and ")
        let fix: String
        if populated.count > 1 {
            fix = "send the values in \(field) only"
        } else if acceptedWireTypes(for: spec.dataType).contains(only.type) {
            fix = "set dtype to \(shortName(only.type)) (or leave it unset) to send them as \(only.field), "
                + "or send them in \(field)"
        } else {
            fix = "send them in \(field) (the input is \(shortName(wireType(of: spec.dataType))))"
        }
        throw invalid(
            "input \"\(name)\": the data is in \(found) while dtype says \(shortName(type)), which reads \(field) "
                + "(empty); \(fix)")
    }

    static func elements<T>(_ values: [T], count: Int, name: String) throws(RPCError) -> [T] {
        guard values.count == count else {
            throw invalid("input \"\(name)\": shape needs \(count) elements, got \(values.count)")
        }
        return values
    }

    /// Bytes per element of `type` in raw_data, or nil for types raw_data cannot carry.
    static func rawElementSize(_ type: WireType) -> Int? {
        switch type {
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        case .int16, .uint16, .float16: return 2
        case .int8, .uint8, .bool: return 1
        default: return nil
        }
    }

    /// Reads `count` little-endian elements of `type` from raw_data as Float, converting.
    static func rawElements<T>(
        _ tensor: WireTensor, type: WireType, count: Int, name: String, _ convert: (UnsafeRawBufferPointer, Int) -> T
    ) throws(RPCError) -> [T] {
        guard let size = rawElementSize(type) else { throw invalid("input \"\(name)\": dtype \(type) cannot travel in raw_data") }
        guard tensor.rawData.count == count * size else {
            throw invalid("input \"\(name)\": raw_data holds \(tensor.rawData.count) bytes; shape and dtype \(type) need \(count * size)")
        }
        return tensor.rawData.withUnsafeBytes { raw in (0..<count).map { convert(raw, $0 * size) } }
    }

    static func floats(_ tensor: WireTensor, type: WireType, count: Int, name: String) throws(RPCError) -> [Float] {
        if !tensor.rawData.isEmpty {
            if type == .float32, tensor.rawData.count == count * 4 {
                // The common fast path: one copy of little-endian FP32 rows.
                return littleEndianFloats(tensor.rawData, count: count)
            }
        }
        if tensor.rawData.isEmpty, type == .float32 { return try elements(tensor.floatData, count: count, name: name) }
        return try reals(tensor, type: type, count: count, name: name, as: Float.self)
    }

    /// `count` FP32 values from little-endian `bytes` (which hold at least `count * 4`): one memory copy on a
    /// little-endian machine (the element-by-element load cost ~1K instructions per 64 values, callgrind).
    static func littleEndianFloats(_ bytes: [UInt8], count: Int) -> [Float] {
        let count = max(0, min(count, bytes.count / 4))
        #if _endian(little)
        let aligned = bytes.withUnsafeBytes { raw -> [Float]? in
            guard count > 0, let base = raw.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 else {
                return nil
            }
            // A specialized collection copy: `Array(unsafeUninitializedCapacity:)` calls an unspecialized runtime
            // function that looks up `[Float]`'s metadata on every call (~350 instructions, callgrind).
            return UnsafeRawBufferPointer(start: base, count: count &* 4).withMemoryRebound(to: Float.self) { Array($0) }
        }
        if let aligned { return aligned }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                if let source = raw.baseAddress, let target = buffer.baseAddress, count > 0 {
                    UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: count &* 4)
                }
            }
            initialized = count
        }
        #else
        return bytes.withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 &* 4, as: UInt32.self))) }
        }
        #endif
    }

    /// The elements of a float or integer tensor converted to `T` (FLOAT32 or FLOAT64).
    static func reals<T: BinaryFloatingPoint>(
        _ tensor: WireTensor, type: WireType, count: Int, name: String, as: T.Type
    ) throws(RPCError) -> [T] {
        if !tensor.rawData.isEmpty {
            return try rawElements(tensor, type: type, count: count, name: name) { raw, offset in
                rawReal(raw, offset, type)
            }
        }
        switch type {
        case .float32: return try elements(tensor.floatData, count: count, name: name).map { T($0) }
        case .float64: return try elements(tensor.doubleData, count: count, name: name).map { T($0) }
        case .int32, .int8, .int16, .uint8, .uint16:
            return try elements(tensor.int32Data, count: count, name: name).map { T($0) }
        case .int64: return try elements(tensor.int64Data, count: count, name: name).map { T($0) }
        case .uint32, .uint64: return try elements(tensor.uint64Data, count: count, name: name).map { T($0) }
        default:
            throw invalid("input \"\(name)\": dtype \(type) cannot be converted to \(T.self == Float.self ? "FLOAT32" : "FLOAT64")")
        }
    }

    static func int64s(_ tensor: WireTensor, type: WireType, count: Int, name: String) throws(RPCError) -> [Int64] {
        if !tensor.rawData.isEmpty {
            return try rawElements(tensor, type: type, count: count, name: name) { raw, offset in
                rawInteger(raw, offset, type)
            }
        }
        switch type {
        case .int64: return try elements(tensor.int64Data, count: count, name: name)
        case .int32, .int8, .int16, .uint8, .uint16:
            return try elements(tensor.int32Data, count: count, name: name).map { Int64($0) }
        case .uint32, .uint64:
            return try elements(tensor.uint64Data, count: count, name: name).map { Int64(clamping: $0) }
        default: throw invalid("input \"\(name)\": dtype \(type) cannot be converted to INT64")
        }
    }

    static func rawReal<T: BinaryFloatingPoint>(_ raw: UnsafeRawBufferPointer, _ offset: Int, _ type: WireType) -> T {
        switch type {
        case .float32: return T(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
        case .float64: return T(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
        case .float16: return T(halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
        default: return T(rawInteger(raw, offset, type))
        }
    }

    static func rawInteger(_ raw: UnsafeRawBufferPointer, _ offset: Int, _ type: WireType) -> Int64 {
        switch type {
        case .int8: return Int64(raw.loadUnaligned(fromByteOffset: offset, as: Int8.self))
        case .uint8, .bool: return Int64(raw.loadUnaligned(fromByteOffset: offset, as: UInt8.self))
        case .int16: return Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        case .uint16: return Int64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case .int32: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        case .uint32: return Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .uint64: return Int64(clamping: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
        default: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        }
    }

    /// IEEE 754 binary16 → binary32 (subnormals, infinities and NaN included).
    static func halfToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    }

    /// Refuses an output filter that names an output the model does not have (INVALID_ARGUMENT, naming the model's
    /// outputs): checked before a request is queued, so that nothing is computed for it.
    static func checkOutputFilter(_ filter: [String], signature: [TensorSignature], model: String) throws(RPCError) {
        for name in filter where !signature.contains(where: { $0.name == name }) {
            let known = signature.map(\.name).joined(separator: ", ")
            throw invalid("model \(model) has no output \"\(name)\" (its outputs: \(known))")
        }
    }

    /// Engine outputs to wire tensors, keeping only `filter` (all when empty, unknown names refused).
    static func outputs(
        _ values: [Tensor], signature: [TensorSignature], filter: [String], model: String
    ) throws(RPCError) -> [WireTensor] {
        try checkOutputFilter(filter, signature: signature, model: model)
        var result: [WireTensor] = []
        result.reserveCapacity(min(signature.count, values.count))
        for (spec, value) in zip(signature, values) where filter.isEmpty || filter.contains(spec.name) {
            // Filled in place in the array: a local appended afterwards was copied and destroyed (~550
            // instructions per output, callgrind).
            result.append(WireTensor())
            fill(&result[result.count - 1], name: spec.name, from: value)
        }
        return result
    }

    /// `tensor` (a new one) as the wire form of output `name` holding `value`.
    private static func fill(_ tensor: inout WireTensor, name: String, from value: Tensor) {
        tensor.name = name
        tensor.dtype = wireType(of: value.dataType)
        tensor.shape = TensorShape(value.shape.dims.lazy.map { Int64($0) })
        switch value.storage {
        case .float32(let values): tensor.floatData = values
        case .float64(let values): tensor.doubleData = values
        case .int64(let values): tensor.int64Data = values
        case .string(let values): tensor.stringData = values
        }
    }

    static func invalid(_ message: String) -> RPCError {
        RPCError(code: .invalidArgument, message: message)
    }
}
