internal import Inference
internal import ProtoWire
internal import TensorwireProto

/// `tensorwire.v1.PredictResponse` encoded straight from a request's output tensors: the bytes
/// `TensorwireV1.PredictResponse` holds after `TensorConversion.outputs` (PredictResponseViewTests compares them),
/// without building a `TensorwireV1.Tensor` per output, copying each output's shape and data into it, and
/// destroying it all after the encode (~2,500 instructions a digits Predict, callgrind; docs/performance.md).
///
/// Encode-only: it conforms to `ProtoMessage` for `traverse`; decoding one skips every field.
struct PredictResponseView: ProtoMessage {
    var model = ""
    var version = ""
    var id = ""
    /// The request's output tensors, in signature order (`BatchOutput.outputs`).
    var outputs: [Tensor] = []
    /// The model's output signature, paired with `outputs` by position.
    var signature: [TensorSignature] = []
    /// The outputs the request asked for by name; empty: all. Checked before the request was queued.
    var filter: [String] = []
    var batch: TensorwireV1.BatchInfo?

    init() {}

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        try reader.skipField()
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(model, field: 1)
        visitor.visitString(version, field: 2)
        // Field 3, one embedded Tensor per output, as `TensorConversion.outputs` selects them.
        let count = min(signature.count, outputs.count)
        var index = 0
        while index < count {
            let name = signature[index].name
            if filter.isEmpty || filter.contains(name) {
                visitor.visitMessage(OutputTensorView(name: name, value: outputs[index]), field: 3)
            }
            index += 1
        }
        visitor.visitString(id, field: 4)
        if let batch { visitor.visitMessage(batch, field: 5) }
    }
}

/// One output as a `tensorwire.v1.Tensor`: name, dtype, shape and the one typed data field its storage fills.
/// Encode-only, like `PredictResponseView`.
struct OutputTensorView: ProtoMessage {
    var name = ""
    var value: Tensor?

    init() {}

    init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        try reader.skipField()
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(name, field: 1)
        guard let value else { return }
        visitor.visitEnum(TensorConversion.wireType(of: value.dataType).rawValue, field: 2)
        // Field 3, packed int64: `Int` is 64 bits on every platform this builds for (checked in
        // PredictResponseViewTests), so the dimensions are written as they are stored.
        value.shape.dims.withUnsafeBufferPointer { dims in
            dims.withMemoryRebound(to: Int64.self) { visitor.visitPackedInt64($0, field: 3) }
        }
        switch value.storage {
        case .float32(let values): visitor.visitPackedFloat(values, field: 4)
        case .float64(let values): visitor.visitPackedDouble(values, field: 5)
        case .int64(let values): visitor.visitPackedInt64(values, field: 7)
        case .string(let values): visitor.visitRepeatedStrings(values, field: 9)
        }
    }
}
