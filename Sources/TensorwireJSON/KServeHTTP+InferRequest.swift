// Sources/TensorwireJSON/KServeHTTP+InferRequest.swift: `POST /v2/models/{m}[/versions/{v}]/infer` request bodies.

internal import JSONWire
public import TensorwireProto

extension KServeHTTP {
    /// Decodes an inference request body into the message a gRPC `ModelInfer` call carries.
    ///
    /// `jsonLength` is the `Inference-Header-Content-Length` header (nil when absent): the JSON header is that many
    /// bytes, and the rest of the body holds the binary inputs (those with a `binary_data_size` parameter), in input
    /// order. Every input's data ends up in `raw_input_contents` (one entry per input, in input order): binary data
    /// as it came, JSON `data` (flat or nested row-major, typed by `datatype`) converted to the same little-endian
    /// form, BYTES as 4-byte lengths and bytes. So the request has no typed `contents`, as Triton's clients send it.
    ///
    /// Kept in the message: `id`; the request's `parameters` (`binary_data_output` included, for
    /// `KServeOutputChoice`); each input's `parameters` but `binary_data_size`; each requested output with its
    /// `parameters` (`binary_data`, `classification`). `modelName` and `modelVersion` come from the URL.
    /// Refused, with a message for the `{"error": …}` body: malformed JSON, a missing or mistyped field, an unknown
    /// datatype, an input with both or neither of `data` and `binary_data_size`, `data` whose element count is not
    /// the shape's or whose values do not fit the datatype, FP16/BF16 in JSON, shared-memory parameters, binary data
    /// that is short or left over.
    public static func decodeInferRequest(
        body: [UInt8], jsonLength: Int?, modelName: String, modelVersion: String
    ) throws(KServeHTTPError) -> KServe.ModelInferRequest {
        let json: [UInt8]
        let binaryStart: Int
        if let jsonLength {
            guard jsonLength > 0, jsonLength <= body.count else {
                throw KServeHTTPError(
                    "Inference-Header-Content-Length is \(jsonLength) but the body has \(body.count) bytes")
            }
            json = Array(body[..<jsonLength])
            binaryStart = jsonLength
        } else {
            json = body
            binaryStart = body.count
        }
        var request = KServe.ModelInferRequest()
        request.modelName = modelName
        request.modelVersion = modelVersion
        var inputs: [DecodedInput] = []
        var sawInputs = false
        try readBodyObject(json) { reader, key throws(JSONError) in
            switch key {
            case "id":
                request.id = try reader.readString()
            case "parameters":
                try reader.readKServeParameters(into: &request.parameters, in: "the request")
            case "inputs":
                sawInputs = true
                try reader.readArray { reader throws(JSONError) in
                    inputs.append(try DecodedInput(from: &reader, json: json))
                }
            case "outputs":
                try reader.readArray { reader throws(JSONError) in
                    request.outputs.append(try .init(kserveJSONFrom: &reader))
                }
            default:
                // Unknown members are ignored, as Triton ignores them.
                try reader.skipValue()
            }
        }
        guard sawInputs else { throw KServeHTTPError("request body at line 1, column 1: the request has no 'inputs'") }
        // Binary inputs take their bytes from after the JSON header, in input order.
        var cursor = binaryStart
        for input in inputs {
            request.inputs.append(input.tensor)
            switch input.data {
            case .raw(let bytes):
                request.rawInputContents.append(bytes)
            case .binary(let size):
                guard size <= body.count - cursor else {
                    throw KServeHTTPError(
                        "input '\(input.tensor.name)' has binary_data_size \(size) but only \(body.count - cursor) bytes "
                            + "of binary data are left"
                            + (jsonLength == nil && size > 0
                                ? " (binary data needs an Inference-Header-Content-Length header)" : ""))
                }
                request.rawInputContents.append(Array(body[cursor..<(cursor + size)]))
                cursor += size
            }
        }
        guard cursor == body.count else {
            throw KServeHTTPError("\(body.count - cursor) bytes of binary data after the JSON header belong to no input")
        }
        return request
    }
}

/// One input as read from the JSON header: the tensor's description, and its data (converted from JSON, or the size
/// of its binary data, taken from after the header later).
private struct DecodedInput {
    enum Data {
        case raw([UInt8])
        case binary(Int)
    }

    var tensor = KServe.ModelInferRequest.InferInputTensor()
    var data = Data.binary(0)

    init(from reader: inout JSONReader, json: [UInt8]) throws(JSONError) {
        let start = reader.offset
        guard try reader.peekKind() == .object else { throw reader.error("an input must be an object") }
        var names = MemberNames()
        var binarySize: Int?
        var dataOffset: Int?
        var converted: [UInt8]?
        var shape: [Int64]?
        try reader.readObject { reader, key throws(JSONError) in
            try names.insert(key, reader, in: "an input")
            switch key {
            case "name":
                tensor.name = try reader.readString()
            case "datatype":
                tensor.datatype = try reader.readString()
            case "shape":
                var dimensions: [Int64] = []
                try reader.readArrayLeaves(flattening: false) { reader throws(JSONError) in
                    let at = reader.offset
                    let dimension = try reader.readInt64()
                    guard dimension >= 0 else { throw reader.error("a shape's sizes cannot be negative", at: at) }
                    dimensions.append(dimension)
                }
                shape = dimensions
            case "parameters":
                try reader.readKServeParameters(into: &tensor.parameters, in: "input '\(tensor.name)'") {
                    key, reader throws(JSONError) in
                    guard key == "binary_data_size" else { return .generic }
                    let size = try reader.readUInt64()
                    guard let fits = Int(exactly: size) else { throw reader.error("binary_data_size \(size) is too large") }
                    binarySize = fits
                    return .drop
                }
            case "data":
                // tritonclient writes `data` last; a body that puts it before `datatype` or `shape` has it skipped
                // now and read once the input's other members are known.
                if let shape, !tensor.datatype.isEmpty, KServeDatatype.elementSizes[tensor.datatype] != nil {
                    converted = try Self.convert(&reader, datatype: tensor.datatype, shape: shape, name: tensor.name)
                } else {
                    dataOffset = reader.offset
                    try reader.skipValue()
                }
            default:
                try reader.skipValue()
            }
        }
        func fail(_ reason: String) -> JSONError { reader.error(reason, at: start) }
        guard names.contains("name") else { throw fail("an input has no 'name'") }
        let what = "input '\(tensor.name)'"
        guard let shape else { throw fail("\(what) has no 'shape'") }
        tensor.shape = shape
        guard names.contains("datatype") else { throw fail("\(what) has no 'datatype'") }
        guard KServeDatatype.elementSizes[tensor.datatype] != nil else {
            throw fail("\(what) has an unknown datatype '\(tensor.datatype)'")
        }
        let hasData = names.contains("data")
        switch (hasData, binarySize) {
        case (true, nil):
            if let converted {
                data = .raw(converted)
            } else if let dataOffset {
                var later = JSONReader(json, at: dataOffset, maxDepth: reader.maxDepth)
                data = .raw(try Self.convert(&later, datatype: tensor.datatype, shape: shape, name: tensor.name))
            }
        case (false, let size?):
            data = .binary(size)
        case (true, _?):
            throw fail("\(what) sets both 'data' and 'binary_data_size'; it must set one")
        case (false, nil):
            throw fail("\(what) sets neither 'data' nor 'binary_data_size'; it must set one")
        }
    }

    /// Reads a `data` array (flat or nested) of `datatype` values into their little-endian binary form, checking
    /// that it holds exactly the shape's element count.
    static func convert(
        _ reader: inout JSONReader, datatype: String, shape: [Int64], name: String
    ) throws(JSONError) -> [UInt8] {
        let start = reader.offset
        let what = "input '\(name)'"
        var expected: Int64 = 1
        for dimension in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw reader.error("\(what): the shape \(shape) has too many elements", at: start) }
            expected = product
        }
        var bytes: [UInt8] = []
        var count: Int64 = 0
        func integers(_ range: ClosedRange<Int64>, width: Int) throws(JSONError) {
            try reader.readArrayLeaves(flattening: true) { reader throws(JSONError) in
                let at = reader.offset
                let value = try reader.readInt64()
                guard range.contains(value) else {
                    throw reader.error("\(what): \(value) is out of range for \(datatype)", at: at)
                }
                withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0.prefix(width)) }
                count += 1
            }
        }
        func unsigned(_ maximum: UInt64, width: Int) throws(JSONError) {
            try reader.readArrayLeaves(flattening: true) { reader throws(JSONError) in
                let at = reader.offset
                let value = try reader.readUInt64()
                guard value <= maximum else {
                    throw reader.error("\(what): \(value) is out of range for \(datatype)", at: at)
                }
                withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0.prefix(width)) }
                count += 1
            }
        }
        switch datatype {
        case "BOOL":
            try reader.readArrayLeaves(flattening: true) { reader throws(JSONError) in
                bytes.append(try reader.readBool() ? 1 : 0)
                count += 1
            }
        case "INT8": try integers(Int64(Int8.min)...Int64(Int8.max), width: 1)
        case "INT16": try integers(Int64(Int16.min)...Int64(Int16.max), width: 2)
        case "INT32": try integers(Int64(Int32.min)...Int64(Int32.max), width: 4)
        case "INT64": try integers(Int64.min...Int64.max, width: 8)
        case "UINT8": try unsigned(UInt64(UInt8.max), width: 1)
        case "UINT16": try unsigned(UInt64(UInt16.max), width: 2)
        case "UINT32": try unsigned(UInt64(UInt32.max), width: 4)
        case "UINT64": try unsigned(UInt64.max, width: 8)
        case "FP32":
            var values: [Float] = []
            try reader.readFloats(into: &values, options: .nonFiniteStrings, flattening: true)
            count = Int64(values.count)
            bytes = values.littleEndianBytes()
        case "FP64":
            var values: [Double] = []
            try reader.readDoubles(into: &values, options: .nonFiniteStrings, flattening: true)
            count = Int64(values.count)
            bytes = values.littleEndianBytes()
        case "BYTES":
            try reader.readArrayLeaves(flattening: true) { reader throws(JSONError) in
                let at = reader.offset
                let element = try reader.readStringBytes()
                guard let length = UInt32(exactly: element.count) else {
                    throw reader.error("\(what): a string is too long", at: at)
                }
                withUnsafeBytes(of: length.littleEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: element)
                count += 1
            }
        default:
            // FP16 and BF16: JSON has no 16-bit floats, and rounding a decimal to them here would be a guess.
            throw reader.error("\(what): \(datatype) data can only be sent as binary data (binary_data_size)", at: start)
        }
        guard count == expected else {
            throw reader.error("\(what): 'data' holds \(count) elements but the shape \(shape) needs \(expected)", at: start)
        }
        return bytes
    }
}

extension KServe.ModelInferRequest.InferRequestedOutputTensor {
    /// A requested output: `name` and `parameters` (`binary_data`, `classification` and anything else, kept).
    init(kserveJSONFrom reader: inout JSONReader) throws(JSONError) {
        self.init()
        let start = reader.offset
        guard try reader.peekKind() == .object else { throw reader.error("an output must be an object") }
        var names = MemberNames()
        try reader.readObject { reader, key throws(JSONError) in
            try names.insert(key, reader, in: "an output")
            switch key {
            case "name":
                name = try reader.readString()
            case "parameters":
                try reader.readKServeParameters(into: &parameters, in: "output '\(name)'") { key, reader throws(JSONError) in
                    // Typed here, so that a bad value fails the request rather than its response.
                    var value = KServe.InferParameter()
                    switch key {
                    case "binary_data":
                        value.choice = .bool(try reader.readBool())
                    case "classification":
                        let count = try reader.readUInt64()
                        guard let classes = Int64(exactly: count) else { throw reader.error("classification is too large") }
                        value.choice = .int64(classes)
                    default:
                        return .generic
                    }
                    return .keep(value)
                }
            default:
                try reader.skipValue()
            }
        }
        guard names.contains("name") else { throw reader.error("an output has no 'name'", at: start) }
    }
}

extension Array where Element: BitwiseCopyable {
    /// The elements' bytes, little-endian.
    func littleEndianBytes() -> [UInt8] {
        #if _endian(little)
        return withUnsafeBytes { [UInt8]($0) }
        #else
        #error("KServe binary tensors are little-endian; this host is not")
        #endif
    }
}
