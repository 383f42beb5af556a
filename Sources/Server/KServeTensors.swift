internal import Inference
internal import RPCCore
internal import TensorwireProto

/// Converts between KServe v2 tensors (`datatype` strings, `raw_input_contents` or typed `contents`) and the
/// `tensorwire.v1.Tensor` values that `TensorConversion` validates and converts for the engine, so both services
/// accept exactly the same conversions. Pure functions; every refusal is an INVALID_ARGUMENT naming the tensor, the
/// model, what it accepts and what arrived.
enum KServeTensors {
    typealias WireType = TensorwireV1.DataType

    /// One KServe datatype: its name, the native type it maps to, its raw element size (nil: BYTES, variable).
    struct Datatype: Equatable {
        let name: String
        let wire: WireType
        let rawSize: Int?
        let configType: KServe.DataType
    }

    /// Every datatype of the protocol (kserve-v2.md section 4). BF16 arrives as the upper half of an FP32 and is
    /// widened to FP32 before validation.
    static let datatypes: [Datatype] = [
        Datatype(name: "BOOL", wire: .bool, rawSize: 1, configType: .bool),
        Datatype(name: "UINT8", wire: .uint8, rawSize: 1, configType: .uint8),
        Datatype(name: "UINT16", wire: .uint16, rawSize: 2, configType: .uint16),
        Datatype(name: "UINT32", wire: .uint32, rawSize: 4, configType: .uint32),
        Datatype(name: "UINT64", wire: .uint64, rawSize: 8, configType: .uint64),
        Datatype(name: "INT8", wire: .int8, rawSize: 1, configType: .int8),
        Datatype(name: "INT16", wire: .int16, rawSize: 2, configType: .int16),
        Datatype(name: "INT32", wire: .int32, rawSize: 4, configType: .int32),
        Datatype(name: "INT64", wire: .int64, rawSize: 8, configType: .int64),
        Datatype(name: "FP16", wire: .float16, rawSize: 2, configType: .fp16),
        Datatype(name: "FP32", wire: .float32, rawSize: 4, configType: .fp32),
        Datatype(name: "FP64", wire: .float64, rawSize: 8, configType: .fp64),
        Datatype(name: "BYTES", wire: .string, rawSize: nil, configType: .string),
        Datatype(name: "BF16", wire: .float32, rawSize: 2, configType: .bf16),
    ]

    static func datatype(named name: String) -> Datatype? {
        // FP32 first without the table walk: nearly every request names it (the walk compared up to 11 strings,
        // ~570 instructions per tensor, callgrind).
        if name == "FP32", let fp32 { return fp32 }
        return datatypes.first { $0.name == name }
    }

    private static let fp32 = datatypes.first { $0.name == "FP32" }

    /// The KServe name of an engine type.
    static func name(of type: DataType) -> String { type.kserveName }

    static func configType(of type: DataType) -> KServe.DataType {
        switch type {
        case .float32: return .fp32
        case .float64: return .fp64
        case .int64: return .int64
        case .string: return .string
        }
    }

    /// KServe datatypes an input of `type` accepts, native first: those `TensorConversion` accepts, plus BF16 for
    /// FP32 and FP64 inputs.
    static func acceptedNames(for type: DataType) -> [String] {
        var names: [String] = []
        for wire in TensorConversion.acceptedWireTypes(for: type) {
            if let match = datatypes.first(where: { $0.wire == wire && $0.name != "BF16" }) { names.append(match.name) }
        }
        if type == .float32 || type == .float64 { names.append("BF16") }
        return names
    }

    /// Whether an input of `type` accepts `datatype`: `acceptedNames(for:)` holds its name (BF16 for FP32 and FP64).
    static func accepts(_ datatype: Datatype, for type: DataType) -> Bool {
        datatype.name == "BF16" ? (type == .float32 || type == .float64) : TensorConversion.accepts(datatype.wire, for: type)
    }

    static func invalid(_ message: String) -> RPCError {
        RPCError(code: .invalidArgument, message: message)
    }

    /// Request-level checks of parameters Tensorwire cannot honour.
    static func checkParameters(_ request: KServe.ModelInferRequest) throws(RPCError) {
        for input in request.inputs {
            if input.parameters.contains(where: { $0.key.hasPrefix("shared_memory_") }) {
                throw invalid(
                    "input '\(input.name)': shared memory is not supported by this server; "
                        + "send the data in raw_input_contents")
            }
        }
        for output in request.outputs {
            if output.parameters.contains(where: { $0.key.hasPrefix("shared_memory_") }) {
                throw invalid("output '\(output.name)': shared memory is not supported by this server")
            }
            if output.parameters.contains(where: { $0.key == "classification" }) {
                throw invalid("output '\(output.name)': the classification parameter is not supported by this server")
            }
        }
    }

    /// The request's inputs as `tensorwire.v1.Tensor`s, following Triton's precedence per input (kserve-v2.md
    /// section 5): `contents` and `raw_input_contents` together are refused; `contents` when set; otherwise the next
    /// raw entry. `signature` supplies the accepted datatypes for precise errors; `fixedBatchHint` (the model's
    /// `Model.fixedBatchHint`) explains a first dimension other than the one the model's export fixed.
    static func wireInputs(
        _ request: KServe.ModelInferRequest, model: String, signature: [TensorSignature], fixedBatchHint: String?
    ) throws(RPCError) -> [TensorwireV1.Tensor] {
        var nextRaw = 0
        var tensors: [TensorwireV1.Tensor] = []
        tensors.reserveCapacity(request.inputs.count)
        for input in request.inputs {
            guard let type = datatype(named: input.datatype) else {
                let names = datatypes.map(\.name).joined(separator: ", ")
                throw invalid("input '\(input.name)' for model '\(model)': unknown datatype '\(input.datatype)' (datatypes: \(names))")
            }
            let spec = signature.first { $0.name == input.name } ?? (signature.count == 1 && input.name.isEmpty ? signature.first : nil)
            if let spec, !accepts(type, for: spec.dataType) {
                let accepted = acceptedNames(for: spec.dataType)
                throw invalid(
                    "input '\(input.name)' for model '\(model)': datatype \(type.name) is not accepted; "
                        + "the input is \(name(of: spec.dataType)) and accepts \(accepted.joined(separator: ", "))")
            }
            // The shape first: a wrong shape is the better explanation of a wrong byte count.
            if let spec, input.shape.count != spec.dims.count
                || zip(input.shape, spec.dims).contains(where: { $1 >= 0 && $0 != Int64($1) }) {
                let message = "input '\(input.name)' for model '\(model)': expected shape \(spec.dims), got \(input.shape)"
                if let fixedBatchHint, input.shape.count == spec.dims.count, let rows = input.shape.first,
                   let fixed = spec.dims.first, rows != Int64(fixed) {
                    throw invalid("\(message): \(fixedBatchHint)")
                }
                throw invalid(message)
            }
            var tensor = TensorwireV1.Tensor()
            tensor.name = input.name
            tensor.dtype = type.wire
            tensor.shape = TensorShape(input.shape)
            if let contents = input.contents {
                guard request.rawInputContents.isEmpty else {
                    throw invalid(
                        "contents field must not be specified when using raw_input_contents for '\(input.name)' "
                            + "for model '\(model)'")
                }
                try fillTyped(&tensor, contents, type: type, input: input.name, model: model, spec: spec)
            } else {
                guard request.rawInputContents.indices.contains(nextRaw) else {
                    throw invalid("unable to find data for input tensor '\(input.name)' for model '\(model)' in request")
                }
                try fillRaw(&tensor, request.rawInputContents[nextRaw], type: type, input: input.name, model: model)
                nextRaw += 1
            }
            tensors.append(tensor)
        }
        if !request.rawInputContents.isEmpty, nextRaw != request.rawInputContents.count {
            throw invalid(
                "expected \(nextRaw) raw_input_contents entries for model '\(model)' (one per input), "
                    + "got \(request.rawInputContents.count)")
        }
        return tensors
    }

    /// The engine tensor of the usual request — one FP32 input in `raw_input_contents` for a model with one FP32
    /// input, named as the model's input or unnamed, of the signature's shape and byte count — read straight from
    /// the raw bytes; nil for anything else, which takes `wireInputs` and `TensorConversion` (and their precise
    /// refusals). Every check those two make on such a request is made here, so both paths accept the same ones.
    static func rawFloat32Input(_ request: KServe.ModelInferRequest, signature: [TensorSignature]) -> [Tensor]? {
        guard request.inputs.count == 1, request.rawInputContents.count == 1, signature.count == 1 else { return nil }
        // The input and its spec are read in place: `inputs.first` copied the whole input message, every array in
        // its contents included (~1K instructions per request with the destroy, callgrind).
        return request.inputs.withUnsafeBufferPointer { inputs in
            signature.withUnsafeBufferPointer { specs in
                rawFloat32Input(inputs[0], raw: request.rawInputContents[0], spec: specs[0])
            }
        }
    }

    private static func rawFloat32Input(
        _ input: borrowing KServe.ModelInferRequest.InferInputTensor, raw: [UInt8], spec: borrowing TensorSignature
    ) -> [Tensor]? {
        guard input.contents == nil, spec.dataType == .float32, input.datatype == "FP32",
              input.name.isEmpty || input.name == spec.name, input.shape.count == spec.dims.count
        else { return nil }
        var count = 1
        for index in spec.dims.indices {
            let given = input.shape[index]
            let expected = spec.dims[index]
            guard given >= 0, given <= Int64(Int32.max), expected < 0 || given == Int64(expected) else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(given))
            guard !overflow else { return nil }
            count = product
        }
        // Every dimension is now 0…Int32.max; `map` is a specialized copy (`[Int](repeating:count:)` looks up the
        // array type's metadata in the runtime on every call, ~350 instructions).
        let dims = input.shape.map { Int($0) }
        if let axis = spec.batchAxis, dims[axis] == 0 { return nil }
        guard count <= 1 << 30, raw.count == count &* 4 else { return nil }
        let floats = TensorConversion.littleEndianFloats(raw, count: count)
        guard let tensor = Tensor(shape: Shape(dims), storage: .float32(floats)) else { return nil }
        return [tensor]
    }

    /// The element count of `shape`, or nil when a dimension is negative or the product overflows.
    static func elementCount<Shape: Sequence<Int64>>(_ shape: Shape) -> Int? {
        var product = 1
        for dim in shape {
            guard dim >= 0, dim <= Int64(Int32.max) else { return nil }
            let (result, overflow) = product.multipliedReportingOverflow(by: Int(dim))
            if overflow { return nil }
            product = result
        }
        return product
    }

    static func fillRaw(
        _ tensor: inout TensorwireV1.Tensor, _ raw: [UInt8], type: Datatype, input: String, model: String
    ) throws(RPCError) {
        guard let size = type.rawSize else {
            tensor.stringData = try decodeBytesElements(raw, input: input, model: model)
            return
        }
        if let count = elementCount(tensor.shape) {
            let (needed, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, raw.count == needed else {
                throw invalid(
                    "input '\(input)' for model '\(model)': raw_input_contents holds \(raw.count) bytes; "
                        + "shape \(tensor.shape) of \(type.name) needs \(overflow ? "too many" : String(needed))")
            }
        }
        // Otherwise TensorConversion refuses the shape with its own message.
        if type.name == "BF16" {
            tensor.rawData = widenBF16(raw)
        } else {
            tensor.rawData = raw
        }
    }

    /// BF16 (the upper 16 bits of an FP32, little-endian) to FP32 little-endian bytes.
    static func widenBF16(_ raw: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: (raw.count / 2) * 4)
        for index in 0..<(raw.count / 2) {
            result[index * 4 + 2] = raw[index * 2]
            result[index * 4 + 3] = raw[index * 2 + 1]
        }
        return result
    }

    /// BYTES raw form: each element is a little-endian u32 length and that many bytes. The engine takes text, so
    /// each element must be UTF-8.
    static func decodeBytesElements(_ raw: [UInt8], input: String, model: String) throws(RPCError) -> [String] {
        var strings: [String] = []
        var offset = 0
        while offset < raw.count {
            guard raw.count - offset >= 4 else {
                throw invalid("input '\(input)' for model '\(model)': BYTES element \(strings.count) has a truncated length prefix")
            }
            let length = Int(raw[offset]) | Int(raw[offset + 1]) << 8 | Int(raw[offset + 2]) << 16 | Int(raw[offset + 3]) << 24
            offset += 4
            guard length <= raw.count - offset else {
                throw invalid(
                    "input '\(input)' for model '\(model)': BYTES element \(strings.count) claims \(length) bytes; "
                        + "\(raw.count - offset) remain")
            }
            guard let text = String(validating: raw[offset..<(offset + length)], as: UTF8.self) else {
                throw invalid("input '\(input)' for model '\(model)': BYTES element \(strings.count) is not UTF-8 text")
            }
            strings.append(text)
            offset += length
        }
        return strings
    }

    /// Copies typed `contents` into the tensor's typed fields; data in a field other than the one the datatype
    /// selects is refused, as Triton does, naming the field that holds it, the one the datatype reads and the
    /// datatype that would read it. With `spec` (the input is known), an empty selected field with a non-empty
    /// shape is refused here too, in the protocol's own field names.
    static func fillTyped(
        _ tensor: inout TensorwireV1.Tensor, _ contents: KServe.InferTensorContents, type: Datatype, input: String,
        model: String, spec: TensorSignature?
    ) throws(RPCError) {
        // Each field with the datatype named after it and the number of values it holds.
        let fields: [(field: String, datatype: String, count: Int)] = [
            ("bool_contents", "BOOL", contents.boolContents.count), ("int_contents", "INT32", contents.intContents.count),
            ("int64_contents", "INT64", contents.int64Contents.count),
            ("uint_contents", "UINT32", contents.uintContents.count),
            ("uint64_contents", "UINT64", contents.uint64Contents.count),
            ("fp32_contents", "FP32", contents.fp32Contents.count), ("fp64_contents", "FP64", contents.fp64Contents.count),
            ("bytes_contents", "BYTES", contents.bytesContents.count),
        ]
        let populated = fields.filter { $0.count > 0 }
        let expected: String
        switch type.name {
        case "BOOL": expected = "bool_contents"
        case "INT8", "INT16", "INT32": expected = "int_contents"
        case "INT64": expected = "int64_contents"
        case "UINT8", "UINT16", "UINT32": expected = "uint_contents"
        case "UINT64": expected = "uint64_contents"
        case "FP32": expected = "fp32_contents"
        case "FP64": expected = "fp64_contents"
        case "BYTES": expected = "bytes_contents"
        default:
            throw invalid("input '\(input)' for model '\(model)': \(type.name) has no typed contents field; send it in raw_input_contents")
        }
        let strays = populated.filter { $0.field != expected }
        if let stray = strays.first {
            let prefix = "unexpected explicit tensor data for input tensor '\(input)' for model '\(model)': "
            let found = strays.map { "\($0.field) (\($0.count) values)" }.joined(separator: " and ")
            if populated.contains(where: { $0.field == expected }) {
                throw invalid(
                    prefix + "\(found) is set besides \(expected); datatype \(type.name) reads \(expected) only, so "
                        + "send the values there alone")
            }
            let fix: String
            if strays.count == 1, spec.map({ acceptedNames(for: $0.dataType).contains(stray.datatype) }) ?? true {
                fix = "set datatype \(stray.datatype) to send them as \(stray.field), or send them in \(expected)"
            } else {
                fix = "send them in \(expected)"
            }
            throw invalid(
                prefix + "the data is in \(found) while datatype says \(type.name), which reads \(expected) (empty); \(fix)")
        }
        if spec != nil, populated.isEmpty, let count = elementCount(tensor.shape), count > 0 {
            throw invalid(
                "input '\(input)' for model '\(model)' carries no data: datatype \(type.name) reads \(expected), which is "
                    + "empty, and shape \(tensor.shape) needs \(count) values")
        }
        switch type.name {
        case "BOOL": tensor.boolData = contents.boolContents
        case "INT8", "INT16", "INT32": tensor.int32Data = contents.intContents
        case "INT64": tensor.int64Data = contents.int64Contents
        // TensorConversion reads UINT8/UINT16 from int32_data and UINT32/UINT64 from uint64_data.
        case "UINT8", "UINT16": tensor.int32Data = contents.uintContents.map { Int32(clamping: $0) }
        case "UINT32": tensor.uint64Data = contents.uintContents.map { UInt64($0) }
        case "UINT64": tensor.uint64Data = contents.uint64Contents
        case "FP32": tensor.floatData = contents.fp32Contents
        case "FP64": tensor.doubleData = contents.fp64Contents
        default:
            var strings: [String] = []
            for (index, element) in contents.bytesContents.enumerated() {
                guard let text = String(validating: element, as: UTF8.self) else {
                    throw invalid("input '\(input)' for model '\(model)': BYTES element \(index) is not UTF-8 text")
                }
                strings.append(text)
            }
            tensor.stringData = strings
        }
    }

    /// The KServe datatype name an engine output of `type` is answered in.
    static func datatype(of type: DataType) -> String {
        switch type {
        case .float32: "FP32"
        case .float64: "FP64"
        case .int64: "INT64"
        case .string: "BYTES"
        }
    }

    /// The KServe form of engine output `name` into `output` (a new one, in place), returning the raw contents.
    static func fillRawOutput(
        _ output: inout KServe.ModelInferResponse.InferOutputTensor, name: String, from tensor: borrowing Tensor
    ) -> [UInt8] {
        output.name = name
        output.shape = tensor.shape.dims.map { Int64($0) }
        output.datatype = datatype(of: tensor.dataType)
        switch tensor.storage {
        case .int64(let values):
            return littleEndianBytes(values)
        case .string(let values):
            return encodeBytesElements(values)
        case .float64(let values):
            return littleEndianBytes(values.map(\.bitPattern))
        case .float32(let values):
            #if _endian(little)
            return values.withUnsafeBytes { Array($0) }  // already the wire's byte order: one copy
            #else
            return littleEndianBytes(values.map(\.bitPattern))
            #endif
        }
    }

    static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        #if _endian(little)
        return values.withUnsafeBytes { Array($0) }  // already the wire's byte order: one copy
        #else
        let littleEndian = values.map(\.littleEndian)
        return littleEndian.withUnsafeBytes { Array($0) }
        #endif
    }

    static func encodeBytesElements(_ strings: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for string in strings {
            let utf8 = Array(string.utf8)
            let length = UInt32(clamping: utf8.count)
            bytes.append(contentsOf: [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), UInt8(length >> 24)])
            bytes.append(contentsOf: utf8)
        }
        return bytes
    }
}
