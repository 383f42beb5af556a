internal import Batching
internal import Inference
internal import ProtoWire
internal import TensorwireProto

/// `tensorwire.v1.PredictResponse` encoded straight from the request's rows of the batch's output tensors: the bytes
/// `TensorwireV1.PredictResponse` holds after `TensorConversion.outputs` (PredictResponseViewTests compares them),
/// without copying the rows out of the batch, building a `TensorwireV1.Tensor` per output, copying each output's
/// shape and data into it, and destroying it all after the encode (docs/performance.md, "Fewer objects per
/// Predict").
struct PredictResponseView: EncodeOnlyMessage {
    var model = ""
    var version = ""
    var id = ""
    /// The request's rows of each output, in signature order (`BatchOutput.rows`).
    var rows = OutputRows(whole: [])
    /// The model's output signature, paired with the outputs by position.
    var signature: [TensorSignature] = []
    /// The outputs the request asked for by name; empty: all. Checked before the request was queued.
    var filter: [String] = []
    var batch: TensorwireV1.BatchInfo?

    init() {}

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(model, field: 1)
        visitor.visitString(version, field: 2)
        // Field 3, one embedded Tensor per output, as `TensorConversion.outputs` selects them.
        let count = min(signature.count, rows.tensors.count)
        var index = 0
        while index < count {
            let name = signature[index].name
            if filter.isEmpty || filter.contains(name) {
                visitor.visitMessage(OutputTensorView(.tensorwire, name: name, rows: rows, index: index), field: 3)
            }
            index += 1
        }
        visitor.visitString(id, field: 4)
        if let batch { visitor.visitMessage(batch, field: 5) }
    }
}

/// One output as an embedded message: a `tensorwire.v1.Tensor` (name, dtype, shape and the one typed data field
/// its storage fills) or a KServe `InferOutputTensor` (name, datatype and shape; its data goes in the response's
/// `raw_output_contents`). The shape and data are the request's rows of the output (`OutputRows`). Encode-only.
struct OutputTensorView: EncodeOnlyMessage {
    enum Form {
        case tensorwire
        case kserve
    }

    var form = Form.tensorwire
    var name = ""
    var rows = OutputRows(whole: [])
    var index = 0

    init() {}

    init(_ form: Form, name: String, rows: OutputRows, index: Int) {
        self.form = form
        self.name = name
        self.rows = rows
        self.index = index
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(name, field: 1)
        guard rows.tensors.indices.contains(index) else { return }
        let tensor = rows.tensors[index]
        switch form {
        case .tensorwire: visitor.visitEnum(TensorConversion.wireType(of: tensor.dataType).rawValue, field: 2)
        case .kserve: visitor.visitString(KServeTensors.datatype(of: tensor.dataType), field: 2)
        }
        Self.visitShape(of: tensor, rows: rows, &visitor)
        guard form == .tensorwire else { return }
        let range = rows.elements(of: index)
        switch tensor.storage {
        case .float32(let values): Self.visitPackedFixed(values, range, field: 4, &visitor)
        case .float64(let values): Self.visitPackedFixed(values, range, field: 5, &visitor)
        case .int64(let values):
            values.withUnsafeBufferPointer { visitor.visitPackedInt64(UnsafeBufferPointer(rebasing: $0[range]), field: 7) }
        case .string(let values):
            for element in range { visitor.visitStringValue(values[element], field: 9) }
        }
    }

    /// Field 3, packed int64: the tensor's dimensions when it is the request's alone, else the request's row count
    /// followed by the dimensions after the first (`OutputRows.copied`). Held inline (`TensorShape`): no array.
    private static func visitShape<V: ProtoFieldVisitor>(of tensor: Tensor, rows: OutputRows, _ visitor: inout V) {
        let dims = tensor.shape.dims
        var shape = TensorShape()
        if rows.isWhole {
            for dim in dims { shape.append(Int64(dim)) }
        } else {
            shape.append(Int64(rows.rowCount))
            for dim in dims.dropFirst() { shape.append(Int64(dim)) }
        }
        shape.withUnsafeBufferPointer { visitor.visitPackedInt64($0, field: 3) }
    }

    /// A packed run of `values[range]` (floats or doubles), left out when empty, as `visitPackedFloat` writes it.
    private static func visitPackedFixed<T: BitwiseCopyable, V: ProtoFieldVisitor>(
        _ values: [T], _ range: Range<Int>, field: Int, _ visitor: inout V
    ) {
        guard !range.isEmpty else { return }
        #if _endian(little)
        // The packed form is the elements' little-endian bytes: on this host, their bytes in memory.
        values.withUnsafeBytes { bytes in
            let size = MemoryLayout<T>.stride
            visitor.visitBytes(UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound * size)..<(range.upperBound * size)]),
                               field: field)
        }
        #else
        visitor.visitPackedFixed(Array(values[range]), field: field)
        #endif
    }
}

/// A message type that is only ever encoded (a view over values that are not messages): it conforms to
/// `ProtoMessage` for `traverse`, and decoding one skips every field.
protocol EncodeOnlyMessage: ProtoMessage {}

extension EncodeOnlyMessage {
    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        try reader.skipField()
    }
}

/// `inference.ModelInferResponse` encoded straight from the request's rows of the batch's output tensors: the bytes
/// of the response `KServeService.infer` builds (an `InferOutputTensor` per output, its raw contents copied out of
/// the tensor), without building or copying either (KServeInferResponseViewTests compares them). Outputs in the
/// requested order, or all in model order when none was requested; each output's contents in
/// `raw_output_contents`.
struct ModelInferResponseView: EncodeOnlyMessage {
    var modelName = ""
    var modelVersion = ""
    var id = ""
    /// The request's rows of each output, in signature order (`BatchOutput.rows`).
    var rows = OutputRows(whole: [])
    /// The model's output signature, paired with the outputs by position.
    var signature: [TensorSignature] = []
    /// The outputs the request named, in its order; empty: all.
    var requested: [String] = []

    init() {}

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(modelName, field: 1)
        visitor.visitString(modelVersion, field: 2)
        visitor.visitString(id, field: 3)
        // Field 5, one InferOutputTensor per answered output, then field 6, their contents in the same order.
        forEachAnswered { name, index in
            visitor.visitMessage(OutputTensorView(.kserve, name: name, rows: rows, index: index), field: 5)
        }
        forEachAnswered { _, index in visitRawContents(of: index, &visitor) }
    }

    /// The outputs the response holds, in its order: a requested name the model lacks is skipped (the filter was
    /// checked before the request was queued), as is an index past the tensors the batch gave.
    private func forEachAnswered(_ body: (String, Int) -> Void) {
        let count = rows.tensors.count
        if requested.isEmpty {
            var index = 0
            while index < signature.count {
                if index < count { body(signature[index].name, index) }
                index += 1
            }
            return
        }
        for name in requested {
            if let index = signature.firstIndex(where: { $0.name == name }), index < count {
                body(signature[index].name, index)
            }
        }
    }

    /// One `raw_output_contents` entry: the request's elements as KServe's raw form lays them out
    /// (`fillRawOutput`: little-endian fixed-width values, or length-prefixed strings).
    private func visitRawContents<V: ProtoFieldVisitor>(of index: Int, _ visitor: inout V) {
        let range = rows.elements(of: index)
        #if _endian(little)
        switch rows.tensors[index].storage {
        case .float32(let values): Self.visitBytes(values, range, &visitor)
        case .float64(let values): Self.visitBytes(values, range, &visitor)
        case .int64(let values): Self.visitBytes(values, range, &visitor)
        case .string(let values):
            KServeTensors.encodeBytesElements(Array(values[range])).withUnsafeBytes { visitor.visitBytes($0, field: 6) }
        }
        #else
        var scratch = KServe.ModelInferResponse.InferOutputTensor()
        let own = rows.copied()
        KServeTensors.fillRawOutput(&scratch, name: "", from: own[index]).withUnsafeBytes { visitor.visitBytes($0, field: 6) }
        #endif
    }

    /// Field 6 holding `values[range]`'s bytes in memory (little-endian on this host).
    private static func visitBytes<T: BitwiseCopyable, V: ProtoFieldVisitor>(
        _ values: [T], _ range: Range<Int>, _ visitor: inout V
    ) {
        values.withUnsafeBytes { bytes in
            let size = MemoryLayout<T>.stride
            visitor.visitBytes(UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound * size)..<(range.upperBound * size)]),
                               field: 6)
        }
    }
}
