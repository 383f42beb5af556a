/// Models whose ONNX export fixed the batch dimension (for example `torch.onnx.export` without `dynamic_axes`, which
/// writes the dummy input's batch size, such as `[1, 4]`, into the graph). Such a model takes exactly that many rows
/// per request and the batcher runs each request alone; `fixedBatchHint` says so and how to re-export it, in one
/// text shared by the load-time log line and the INVALID_ARGUMENT a request with another row count gets.
extension ModelSignature {
    /// The batch size the ONNX export fixed, or nil when the model takes any number of rows.
    ///
    /// Non-nil when every input has rank 2 or more and the same concrete first dimension N, and no input has a dynamic
    /// dimension. nil when an input's first dimension is dynamic (-1: the usual export), when there is no input, when
    /// an input has rank 0 or 1 (it has no batch axis to fix), or when the inputs' first dimensions differ (then
    /// they are not one batch axis).
    public var fixedBatchSize: Int? {
        guard let size = inputs.first?.dims.first, size > 0 else { return nil }
        for input in inputs {
            guard input.dims.count >= 2, input.dims[0] == size, !input.dims.contains(where: { $0 < 0 }) else {
                return nil
            }
        }
        return size
    }

    /// What a fixed batch dimension means and how to export the model with a dynamic one, naming this model's
    /// tensors; nil when `fixedBatchSize` is nil. One clause in lower case, without the model's name, so it can follow
    /// "model NAME version V: " in a log line or "expected shape …, got …: " in an error. For example:
    ///
    ///     the batch dimension is fixed at 1 by the model's ONNX export (input 'x' has shape [1, 4]), so every
    ///     request must have exactly 1 row and requests are not batched together; to accept any number of rows,
    ///     re-export it with a dynamic batch axis: torch.onnx.export(..., dynamic_axes={'x': {0: 'batch'},
    ///     'y': {0: 'batch'}}); tf2onnx/keras2onnx: a None batch dimension, e.g. input_signature=
    ///     [tf.TensorSpec([None, 4], tf.float32, name='x')]; skl2onnx: initial_types with None, e.g.
    ///     [('x', FloatTensorType([None, 4]))]
    public var fixedBatchHint: String? {
        guard let size = fixedBatchSize, let first = inputs.first else { return nil }
        let rows = size == 1 ? "1 row" : "\(size) rows"
        return "the batch dimension is fixed at \(size) by the model's ONNX export (input \(Self.python(first.name)) "
            + "has shape \(first.dims)), so every request must have exactly \(rows) and requests are not batched "
            + "together; to accept any number of rows, re-export it with a dynamic batch axis: "
            + Self.dynamicBatchAdvice(inputs: inputs, outputs: outputs)
    }

    /// How each exporter writes a dynamic batch axis, with this model's tensor names and shapes in the examples.
    static func dynamicBatchAdvice(inputs: [TensorSignature], outputs: [TensorSignature]) -> String {
        let names = (inputs + outputs).map(\.name)
        let axes = names.count <= 4
            ? "{" + names.map { "\(python($0)): {0: 'batch'}" }.joined(separator: ", ") + "}"
            : "{name: {0: 'batch'} for name in input_names + output_names}"
        var advice = "torch.onnx.export(..., dynamic_axes=\(axes))"
        if let first = inputs.first {
            let dims = "[None" + first.dims.dropFirst().map { ", \($0)" }.joined() + "]"
            let (tensorflow, skl2onnx) = switch first.dataType {
            case .float32: ("tf.float32", "FloatTensorType")
            case .float64: ("tf.float64", "DoubleTensorType")
            case .int64: ("tf.int64", "Int64TensorType")
            case .string: ("tf.string", "StringTensorType")
            }
            advice += "; tf2onnx/keras2onnx: a None batch dimension, e.g. input_signature=[tf.TensorSpec(\(dims), "
                + "\(tensorflow), name=\(python(first.name)))]; skl2onnx: initial_types with None, e.g. "
                + "[(\(python(first.name)), \(skl2onnx)(\(dims)))]"
        }
        return advice
    }

    /// `text` as a single-quoted Python string literal.
    static func python(_ text: String) -> String {
        var literal = "'"
        for character in text.unicodeScalars {
            switch character {
            case "\\": literal += "\\\\"
            case "'": literal += "\\'"
            case "\n": literal += "\\n"
            case "\r": literal += "\\r"
            case "\t": literal += "\\t"
            default: literal.unicodeScalars.append(character)
            }
        }
        return literal + "'"
    }
}
