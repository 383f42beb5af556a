internal import Inference
internal import ProtoWire
internal import TensorwireProto

/// `tensorwire.v1.PredictResponse` encoded straight from a request's output tensors: the bytes
/// `TensorwireV1.PredictResponse` holds after `TensorConversion.outputs` (PredictResponseViewTests compares them),
/// without building a `TensorwireV1.Tensor` per output, copying each output's shape and data into it, and
/// destroying it all after the encode (~2,500 instructions a digits Predict, callgrind; docs/performance.md).
struct PredictResponseView: EncodeOnlyMessage {
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

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(model, field: 1)
        visitor.visitString(version, field: 2)
        // Field 3, one embedded Tensor per output, as `TensorConversion.outputs` selects them.
        let count = min(signature.count, outputs.count)
        var index = 0
        while index < count {
            let name = signature[index].name
            if filter.isEmpty || filter.contains(name) {
                visitor.visitMessage(OutputTensorView(.tensorwire, name: name, value: outputs[index]), field: 3)
            }
            index += 1
        }
        visitor.visitString(id, field: 4)
        if let batch { visitor.visitMessage(batch, field: 5) }
    }
}

/// One output as an embedded message: a `tensorwire.v1.Tensor` (name, dtype, shape and the one typed data field
/// its storage fills) or a KServe `InferOutputTensor` (name, datatype and shape; its data goes in the response's
/// `raw_output_contents`). Encode-only.
struct OutputTensorView: EncodeOnlyMessage {
    enum Form {
        case tensorwire
        case kserve
    }

    var form = Form.tensorwire
    var name = ""
    var value: Tensor?

    init() {}

    init(_ form: Form, name: String, value: Tensor) {
        self.form = form
        self.name = name
        self.value = value
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(name, field: 1)
        guard let value else { return }
        switch form {
        case .tensorwire: visitor.visitEnum(TensorConversion.wireType(of: value.dataType).rawValue, field: 2)
        case .kserve: visitor.visitString(KServeTensors.datatype(of: value.dataType), field: 2)
        }
        // Field 3 in both, packed int64: `Int` is 64 bits on every platform this builds for (checked in
        // PredictResponseViewTests), so the dimensions are written as they are stored.
        value.shape.dims.withUnsafeBufferPointer { dims in
            dims.withMemoryRebound(to: Int64.self) { visitor.visitPackedInt64($0, field: 3) }
        }
        guard form == .tensorwire else { return }
        switch value.storage {
        case .float32(let values): visitor.visitPackedFloat(values, field: 4)
        case .float64(let values): visitor.visitPackedDouble(values, field: 5)
        case .int64(let values): visitor.visitPackedInt64(values, field: 7)
        case .string(let values): visitor.visitRepeatedStrings(values, field: 9)
        }
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

/// `inference.ModelInferResponse` encoded straight from a request's output tensors: the bytes of the response
/// `KServeService.infer` builds (an `InferOutputTensor` per output, its raw contents copied out of the tensor),
/// without building or copying either (KServeInferResponseViewTests compares them). Outputs in the requested
/// order, or all in model order when none was requested; each output's contents in `raw_output_contents`.
struct ModelInferResponseView: EncodeOnlyMessage {
    var modelName = ""
    var modelVersion = ""
    var id = ""
    /// The request's output tensors, in signature order (`BatchOutput.outputs`).
    var outputs: [Tensor] = []
    /// The model's output signature, paired with `outputs` by position.
    var signature: [TensorSignature] = []
    /// The outputs the request named, in its order; empty: all.
    var requested: [String] = []

    init() {}

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(modelName, field: 1)
        visitor.visitString(modelVersion, field: 2)
        visitor.visitString(id, field: 3)
        // Field 5, one InferOutputTensor per answered output, then field 6, their contents in the same order.
        forEachAnswered { name, value in visitor.visitMessage(OutputTensorView(.kserve, name: name, value: value), field: 5) }
        forEachAnswered { _, value in Self.visitRawContents(of: value, &visitor) }
    }

    /// The outputs the response holds, in its order: a requested name the model lacks is skipped (the filter was
    /// checked before the request was queued), as is an index past the tensors the batch gave.
    private func forEachAnswered(_ body: (String, Tensor) -> Void) {
        if requested.isEmpty {
            var index = 0
            while index < signature.count {
                if index < outputs.count { body(signature[index].name, outputs[index]) }
                index += 1
            }
            return
        }
        for name in requested {
            if let index = signature.firstIndex(where: { $0.name == name }), index < outputs.count {
                body(signature[index].name, outputs[index])
            }
        }
    }

    /// One `raw_output_contents` entry: the elements as KServe's raw form lays them out (`fillRawOutput`).
    private static func visitRawContents<V: ProtoFieldVisitor>(of value: Tensor, _ visitor: inout V) {
        #if _endian(little)
        switch value.storage {
        case .float32(let values): values.withUnsafeBytes { visitor.visitBytes($0, field: 6) }
        case .float64(let values): values.withUnsafeBytes { visitor.visitBytes($0, field: 6) }
        case .int64(let values): values.withUnsafeBytes { visitor.visitBytes($0, field: 6) }
        case .string(let values): KServeTensors.encodeBytesElements(values).withUnsafeBytes { visitor.visitBytes($0, field: 6) }
        }
        #else
        var scratch = KServe.ModelInferResponse.InferOutputTensor()
        KServeTensors.fillRawOutput(&scratch, name: "", from: value).withUnsafeBytes { visitor.visitBytes($0, field: 6) }
        #endif
    }
}
