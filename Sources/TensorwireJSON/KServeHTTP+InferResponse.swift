// Sources/TensorwireJSON/KServeHTTP+InferResponse.swift: inference response bodies, JSON and binary outputs.

internal import JSONWire
public import TensorwireProto

extension KServeHTTP {
    /// Encodes an inference response as Triton's HTTP endpoint does: `id` (when set), `model_name`,
    /// `model_version`, `parameters` (when any), and `outputs[{name, datatype, shape, …}]`. An output `choice` sends
    /// as binary gets `parameters.binary_data_size` and its bytes after the JSON header (in output order); any
    /// other gets a flat `data` array (tritonclient reshapes it): numbers for numeric types (floats in shortest
    /// round-trip form; NaN and the infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`), `true`/`false`
    /// for BOOL, strings for BYTES.
    ///
    /// Each output's data is `raw_output_contents[i]` when present, else its typed `contents`. Refused: data whose
    /// size does not match the shape and datatype, FP16/BF16 or BYTES that are not UTF-8 asked for as JSON (ask for
    /// `binary_data` instead).
    public static func encodeInferResponse(
        _ response: KServe.ModelInferResponse, outputs choice: KServeOutputChoice
    ) throws(KServeHTTPError) -> KServeHTTPBody {
        var writer = JSONWriter(reservingCapacity: 256)
        var binary: [[UInt8]] = []
        writer.beginObject()
        if !response.id.isEmpty { writer.member("id", response.id) }
        writer.member("model_name", response.modelName)
        writer.member("model_version", response.modelVersion)
        if !response.parameters.isEmpty {
            writer.member("parameters") { writer in writer.kserveParameterMembers(response.parameters) }
        }
        writer.key("outputs")
        writer.beginArray()
        for (index, output) in response.outputs.enumerated() {
            let data = index < response.rawOutputContents.count
                ? response.rawOutputContents[index] : output.contents.map { $0.rawBytes(datatype: output.datatype) } ?? []
            let tensor = try OutputTensor(output)
            writer.beginObject()
            writer.member("name", output.name)
            writer.member("datatype", output.datatype)
            writer.member("shape", int64s: output.shape)
            if choice.isBinary(output.name) {
                try tensor.checkSize(data)
                writer.member("parameters") { writer in
                    writer.kserveParameterMembers(output.parameters)
                    writer.member("binary_data_size", uint64: UInt64(data.count))
                }
                if !data.isEmpty { binary.append(data) }
            } else {
                if !output.parameters.isEmpty {
                    writer.member("parameters") { writer in writer.kserveParameterMembers(output.parameters) }
                }
                writer.key("data")
                try tensor.writeJSONData(data, to: &writer)
            }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        guard !binary.isEmpty else { return KServeHTTPBody(bytes: writer.bytes, jsonLength: nil) }
        var bytes = writer.bytes
        let jsonLength = bytes.count
        bytes.reserveCapacity(jsonLength + binary.reduce(0) { $0 + $1.count })
        for data in binary { bytes.append(contentsOf: data) }
        return KServeHTTPBody(bytes: bytes, jsonLength: jsonLength)
    }
}

/// An output's datatype and element count, to check its data and write it as JSON.
private struct OutputTensor {
    let name: String
    let datatype: String
    let elementSize: Int
    let count: Int

    init(_ output: KServe.ModelInferResponse.InferOutputTensor) throws(KServeHTTPError) {
        name = output.name
        datatype = output.datatype
        guard let size = KServeDatatype.elementSizes[output.datatype] else {
            throw KServeHTTPError("output '\(output.name)' has an unknown datatype '\(output.datatype)'")
        }
        elementSize = size
        var count = 1
        for dimension in output.shape {
            guard let size = Int(exactly: dimension), size >= 0 else {
                throw KServeHTTPError("output '\(output.name)' has an invalid shape \(output.shape)")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw KServeHTTPError("output '\(output.name)' has an invalid shape \(output.shape)") }
            count = product
        }
        self.count = count
    }

    /// Checks that `data` is the shape's worth of elements (for BYTES: `count` length-prefixed elements).
    func checkSize(_ data: [UInt8]) throws(KServeHTTPError) {
        if elementSize == 0 {
            _ = try bytesElements(data)
            return
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow, data.count == expected else {
            throw KServeHTTPError(
                "output '\(name)' has \(data.count) bytes of data but its shape of \(count) \(datatype) elements needs "
                    + (overflow ? "more than memory holds" : "\(expected)"))
        }
    }

    /// The elements of BYTES data: each a 4-byte little-endian length and that many bytes.
    func bytesElements(_ data: [UInt8]) throws(KServeHTTPError) -> [ArraySlice<UInt8>] {
        var elements: [ArraySlice<UInt8>] = []
        var cursor = 0
        while cursor < data.count {
            guard data.count - cursor >= 4 else { throw KServeHTTPError("output '\(name)' has truncated BYTES data") }
            let length = data.withUnsafeBytes { raw in
                Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: cursor, as: UInt32.self)))
            }
            cursor += 4
            guard data.count - cursor >= length else { throw KServeHTTPError("output '\(name)' has truncated BYTES data") }
            elements.append(data[cursor..<(cursor + length)])
            cursor += length
        }
        guard elements.count == count else {
            throw KServeHTTPError("output '\(name)' has \(elements.count) BYTES elements but its shape needs \(count)")
        }
        return elements
    }

    /// Writes `data` as a flat JSON array of `count` values.
    func writeJSONData(_ data: [UInt8], to writer: inout JSONWriter) throws(KServeHTTPError) {
        switch datatype {
        case "FP16", "BF16":
            throw KServeHTTPError(
                "output '\(name)' is \(datatype), which JSON cannot carry; ask for it with \"binary_data\": true")
        case "BYTES":
            let elements = try bytesElements(data)
            writer.beginArray()
            for element in elements {
                guard let text = String(validating: element, as: UTF8.self) else {
                    throw KServeHTTPError(
                        "output '\(name)' holds BYTES that are not UTF-8, which JSON cannot carry; ask for it with "
                            + "\"binary_data\": true")
                }
                writer.string(text)
            }
            writer.endArray()
            return
        default:
            break
        }
        try checkSize(data)
        writer.beginArray()
        data.withUnsafeBytes { raw in
            func load<T: FixedWidthInteger>(_ index: Int, as type: T.Type) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
            }
            for index in 0..<count {
                switch datatype {
                case "BOOL": writer.bool(raw[index] != 0)
                case "UINT8": writer.uint64(UInt64(raw[index]))
                case "UINT16": writer.uint64(UInt64(load(index, as: UInt16.self)))
                case "UINT32": writer.uint64(UInt64(load(index, as: UInt32.self)))
                case "UINT64": writer.uint64(load(index, as: UInt64.self))
                case "INT8": writer.int64(Int64(Int8(bitPattern: raw[index])))
                case "INT16": writer.int64(Int64(load(index, as: Int16.self)))
                case "INT32": writer.int64(Int64(load(index, as: Int32.self)))
                case "INT64": writer.int64(load(index, as: Int64.self))
                case "FP32": writer.protoFloatValue(Float(bitPattern: load(index, as: UInt32.self)))
                default: writer.protoDoubleValue(Double(bitPattern: load(index, as: UInt64.self)))
                }
            }
        }
        writer.endArray()
    }
}

extension KServe.InferTensorContents {
    /// The typed contents in the binary form of `datatype` (the table in docs/kserve-v2.md §4): little-endian,
    /// narrowed to the datatype's width; BYTES as 4-byte lengths and bytes.
    func rawBytes(datatype: String) -> [UInt8] {
        func narrow<T: FixedWidthInteger, U: FixedWidthInteger & BitwiseCopyable>(_ values: [T], to type: U.Type) -> [UInt8] {
            values.map { (value: T) -> U in U(truncatingIfNeeded: value) }.littleEndianBytes()
        }
        switch datatype {
        case "BOOL": return boolContents.map { $0 ? 1 : 0 }
        case "INT8": return narrow(intContents, to: Int8.self)
        case "INT16": return narrow(intContents, to: Int16.self)
        case "INT32": return narrow(intContents, to: Int32.self)
        case "INT64": return int64Contents.littleEndianBytes()
        case "UINT8": return narrow(uintContents, to: UInt8.self)
        case "UINT16": return narrow(uintContents, to: UInt16.self)
        case "UINT32": return narrow(uintContents, to: UInt32.self)
        case "UINT64": return uint64Contents.littleEndianBytes()
        case "FP32": return fp32Contents.littleEndianBytes()
        case "FP64": return fp64Contents.littleEndianBytes()
        case "BYTES":
            var bytes: [UInt8] = []
            for element in bytesContents {
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: element.count).littleEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: element)
            }
            return bytes
        default: return []
        }
    }
}
