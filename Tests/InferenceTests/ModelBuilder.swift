import Inference
import ProtoWire

/// Builds small ONNX models in Swift through the decoder's own types (their `traverse` writes the kept fields).
enum ModelBuilder {
    static func floatTensor(_ name: String, _ dims: [Int64], _ values: [Float]) -> ONNXTensor {
        var tensor = ONNXTensor()
        tensor.name = name
        tensor.dims = dims
        tensor.dataType = ONNXTensor.ElementType.float
        tensor.floatData = values
        return tensor
    }

    static func int64Tensor(_ name: String, _ dims: [Int64], _ values: [Int64]) -> ONNXTensor {
        var tensor = ONNXTensor()
        tensor.name = name
        tensor.dims = dims
        tensor.dataType = ONNXTensor.ElementType.int64
        tensor.int64Data = values
        return tensor
    }

    static func valueInfo(_ name: String, _ dims: [ONNXDimension], elementType: Int32 = 1) -> ONNXValueInfo {
        var info = ONNXValueInfo()
        info.name = name
        info.elementType = elementType
        info.dims = dims
        return info
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "",
                     domain: String = "", attributes: [ONNXAttribute] = []) -> ONNXNode {
        var node = ONNXNode()
        node.opType = op
        node.inputs = inputs
        node.outputs = outputs
        node.name = name.isEmpty ? op.lowercased() : name
        node.domain = domain
        node.attributes = attributes
        return node
    }

    static func intAttribute(_ name: String, _ value: Int64) -> ONNXAttribute {
        var attribute = ONNXAttribute()
        attribute.name = name
        attribute.type = ONNXAttribute.Kind.int
        attribute.i = value
        return attribute
    }

    static func floatAttribute(_ name: String, _ value: Float) -> ONNXAttribute {
        var attribute = ONNXAttribute()
        attribute.name = name
        attribute.type = ONNXAttribute.Kind.float
        attribute.f = value
        return attribute
    }

    static let batch = ONNXDimension(param: "N")

    static func model(
        nodes: [ONNXNode], inputs: [ONNXValueInfo], outputs: [ONNXValueInfo], initializers: [ONNXTensor] = [],
        opset: Int64 = 17
    ) -> ONNXModel {
        var model = ONNXModel()
        model.irVersion = 8
        model.producerName = "swift-test"
        model.opsetImports = [ONNXOperatorSetID(domain: "", version: opset)]
        model.graph.nodes = nodes
        model.graph.inputs = inputs
        model.graph.outputs = outputs
        model.graph.initializers = initializers
        return model
    }

    /// x[N, k] → Gemm(W[n, k], b[n], transB=1) → out.
    static func gemm(k: Int, n: Int, weights: [Float], bias: [Float], activation: String? = nil) -> ONNXModel {
        var nodes = [node("Gemm", ["x", "w", "b"], [activation == nil ? "y" : "h"], name: "fc",
                          attributes: [intAttribute("transB", 1)])]
        if let activation { nodes.append(node(activation, ["h"], ["y"], name: "act")) }
        return model(
            nodes: nodes,
            inputs: [valueInfo("x", [batch, ONNXDimension(value: Int64(k))])],
            outputs: [valueInfo("y", [batch, ONNXDimension(value: Int64(n))])],
            initializers: [floatTensor("w", [Int64(n), Int64(k)], weights), floatTensor("b", [Int64(n)], bias)]
        )
    }
}
