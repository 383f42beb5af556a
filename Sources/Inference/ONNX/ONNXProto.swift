package import ProtoWire

// The subset of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) that dense models need.
// Field numbers are onnx.proto's; every other field is skipped as unknown. `traverse` writes the fields kept, which
// lets tests build small models in Swift.

/// `OperatorSetIdProto`: one opset import of a model.
package struct ONNXOperatorSetID: ProtoMessage, Equatable {
    package var domain = ""
    package var version: Int64 = 0

    package init() {}

    package init(domain: String, version: Int64) {
        self.domain = domain
        self.version = version
    }

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: domain = try reader.readString()
        case 2: version = try reader.readInt64()
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(domain, field: 1)
        visitor.visitInt64(version, field: 2)
    }
}

/// `StringStringEntryProto`: one key and value (a tensor's `external_data` entries).
package struct ONNXStringEntry: ProtoMessage, Equatable {
    package var key = ""
    package var value = ""

    package init() {}

    package init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: key = try reader.readString()
        case 2: value = try reader.readString()
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(key, field: 1)
        visitor.visitString(value, field: 2)
    }
}

/// `ModelProto`: the top-level message of a `.onnx` file.
package struct ONNXModel: ProtoMessage {
    package var irVersion: Int64 = 0
    package var producerName = ""
    package var producerVersion = ""
    package var graph = ONNXGraph()
    package var opsetImports: [ONNXOperatorSetID] = []

    package init() {}

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: irVersion = try reader.readInt64()
        case 2: producerName = try reader.readString()
        case 3: producerVersion = try reader.readString()
        case 7: try reader.mergeMessage(into: &graph)
        case 8: opsetImports.append(try reader.readMessage(ONNXOperatorSetID.self))
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitInt64(irVersion, field: 1)
        visitor.visitString(producerName, field: 2)
        visitor.visitString(producerVersion, field: 3)
        visitor.visitMessage(graph, field: 7)
        visitor.visitRepeatedMessages(opsetImports, field: 8)
    }
}

/// `GraphProto`: nodes in topological order (not trusted: the compiler sorts), initializers, inputs and outputs.
package struct ONNXGraph: ProtoMessage {
    package var nodes: [ONNXNode] = []
    package var name = ""
    package var initializers: [ONNXTensor] = []
    package var inputs: [ONNXValueInfo] = []
    package var outputs: [ONNXValueInfo] = []
    /// Sparse initializers are not supported; their count is kept so the compiler can say so.
    package var sparseInitializerCount = 0

    package init() {}

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: nodes.append(try reader.readMessage(ONNXNode.self))
        case 2: name = try reader.readString()
        case 5: initializers.append(try reader.readMessage(ONNXTensor.self))
        case 11: inputs.append(try reader.readMessage(ONNXValueInfo.self))
        case 12: outputs.append(try reader.readMessage(ONNXValueInfo.self))
        case 15:
            sparseInitializerCount += 1
            try reader.skipField()
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitRepeatedMessages(nodes, field: 1)
        visitor.visitString(name, field: 2)
        visitor.visitRepeatedMessages(initializers, field: 5)
        visitor.visitRepeatedMessages(inputs, field: 11)
        visitor.visitRepeatedMessages(outputs, field: 12)
    }
}

/// `NodeProto`: one operator application.
package struct ONNXNode: ProtoMessage {
    package var inputs: [String] = []
    package var outputs: [String] = []
    package var name = ""
    package var opType = ""
    package var attributes: [ONNXAttribute] = []
    package var domain = ""

    package init() {}

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: inputs.append(try reader.readString())
        case 2: outputs.append(try reader.readString())
        case 3: name = try reader.readString()
        case 4: opType = try reader.readString()
        case 5: attributes.append(try reader.readMessage(ONNXAttribute.self))
        case 7: domain = try reader.readString()
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitRepeatedStrings(inputs, field: 1)
        visitor.visitRepeatedStrings(outputs, field: 2)
        visitor.visitString(name, field: 3)
        visitor.visitString(opType, field: 4)
        visitor.visitRepeatedMessages(attributes, field: 5)
        visitor.visitString(domain, field: 7)
    }

    /// The attribute called `name`, if present.
    package func attribute(_ name: String) -> ONNXAttribute? {
        attributes.first { $0.name == name }
    }
}

/// `AttributeProto`: a named operator parameter. Graph-valued attributes are skipped (no control flow).
package struct ONNXAttribute: ProtoMessage {
    package var name = ""
    package var type: Int32 = 0
    package var f: Float = 0
    package var i: Int64 = 0
    package var s: [UInt8] = []
    package var t: ONNXTensor?
    package var floats: [Float] = []
    package var ints: [Int64] = []
    package var strings: [[UInt8]] = []

    package init() {}

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: name = try reader.readString()
        case 2: f = try reader.readFloat()
        case 3: i = try reader.readInt64()
        case 4: s = try reader.readBytes()
        case 5:
            var tensor = t ?? ONNXTensor()
            try reader.mergeMessage(into: &tensor)
            t = tensor
        case 7: try reader.readRepeatedFloat(into: &floats)
        case 8: try reader.readRepeatedInt64(into: &ints)
        case 9: strings.append(try reader.readBytes())
        case 20: type = try reader.readEnum()
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(name, field: 1)
        visitor.visitFloat(f, field: 2)
        visitor.visitInt64(i, field: 3)
        visitor.visitBytes(s, field: 4)
        if let t { visitor.visitMessage(t, field: 5) }
        visitor.visitPackedFloat(floats, field: 7)
        visitor.visitPackedInt64(ints, field: 8)
        visitor.visitRepeatedBytes(strings, field: 9)
        visitor.visitEnum(type, field: 20)
    }

    /// `AttributeProto.AttributeType` numbers.
    package enum Kind {
        package static let float: Int32 = 1
        package static let int: Int32 = 2
        package static let string: Int32 = 3
        package static let tensor: Int32 = 4
        package static let floats: Int32 = 6
        package static let ints: Int32 = 7
        package static let strings: Int32 = 8
    }
}

/// `TensorProto`: an initializer or a constant. Data comes from `raw_data` (little-endian) or the typed fields.
package struct ONNXTensor: ProtoMessage {
    package var dims: [Int64] = []
    package var dataType: Int32 = 0
    package var floatData: [Float] = []
    package var int32Data: [Int32] = []
    package var stringData: [[UInt8]] = []
    package var int64Data: [Int64] = []
    package var name = ""
    package var rawData: [UInt8] = []
    package var doubleData: [Double] = []
    package var uint64Data: [UInt64] = []
    /// True when the tensor keeps its data in an external file (`data_location = EXTERNAL` or `external_data`).
    package var isExternal = false
    /// Where the external data is: `location` (relative to the model file), `offset`, `length`, `checksum`.
    package var externalData: [ONNXStringEntry] = []
    /// True when a `segment` field is present (segmented tensors are not supported).
    package var isSegmented = false

    package init() {}

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.readRepeatedInt64(into: &dims)
        case 2: dataType = try reader.readInt32()
        case 3:
            isSegmented = true
            try reader.skipField()
        case 4: try reader.readRepeatedFloat(into: &floatData)
        case 5: try reader.readRepeatedInt32(into: &int32Data)
        case 6: stringData.append(try reader.readBytes())
        case 7: try reader.readRepeatedInt64(into: &int64Data)
        case 8: name = try reader.readString()
        case 9: rawData = try reader.readBytes()
        case 10: try reader.readRepeatedDouble(into: &doubleData)
        case 11: try reader.readRepeatedUInt64(into: &uint64Data)
        case 13:
            isExternal = true
            externalData.append(try reader.readMessage(ONNXStringEntry.self))
        case 14:
            if try reader.readEnum() == 1 { isExternal = true }
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitPackedInt64(dims, field: 1)
        visitor.visitInt32(dataType, field: 2)
        visitor.visitPackedFloat(floatData, field: 4)
        visitor.visitPackedInt32(int32Data, field: 5)
        visitor.visitRepeatedBytes(stringData, field: 6)
        visitor.visitPackedInt64(int64Data, field: 7)
        visitor.visitString(name, field: 8)
        visitor.visitBytes(rawData, field: 9)
        visitor.visitPackedDouble(doubleData, field: 10)
        visitor.visitPackedUInt64(uint64Data, field: 11)
        visitor.visitRepeatedMessages(externalData, field: 13)
        if isExternal { visitor.visitEnum(1, field: 14) }
    }

    /// `TensorProto.DataType` numbers.
    package enum ElementType {
        package static let float: Int32 = 1
        package static let uint8: Int32 = 2
        package static let int8: Int32 = 3
        package static let uint16: Int32 = 4
        package static let int16: Int32 = 5
        package static let int32: Int32 = 6
        package static let int64: Int32 = 7
        package static let string: Int32 = 8
        package static let bool: Int32 = 9
        package static let double: Int32 = 11
        package static let uint32: Int32 = 12
        package static let uint64: Int32 = 13
    }
}

/// `ValueInfoProto` with its `TypeProto.Tensor` flattened: the element type and the shape, where a dimension is a
/// number, a symbolic name or unknown.
package struct ONNXValueInfo: ProtoMessage {
    package var name = ""
    /// `TensorProto.DataType` of the elements; 0 when the value is not a tensor or the type is missing.
    package var elementType: Int32 = 0
    /// Nil when no shape is given (rank unknown).
    package var dims: [ONNXDimension]?
    /// True when the type is something other than a tensor (sequence, map, optional).
    package var isNonTensor = false

    package init() {}

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: name = try reader.readString()
        case 2:
            try reader.withNestedMessage { typeReader in
                while let typeField = try typeReader.nextField() {
                    switch typeField {
                    case 1: try decodeTensorType(from: &typeReader)
                    case 4, 5, 8, 9:
                        isNonTensor = true
                        try typeReader.skipField()
                    default: try typeReader.skipField()
                    }
                }
            }
        default: try reader.skipField()
        }
    }

    private mutating func decodeTensorType(from reader: inout ProtoReader) throws {
        try reader.withNestedMessage { tensorReader in
            while let field = try tensorReader.nextField() {
                switch field {
                case 1: elementType = try tensorReader.readInt32()
                case 2:
                    var shape: [ONNXDimension] = dims ?? []
                    try tensorReader.withNestedMessage { shapeReader in
                        while let shapeField = try shapeReader.nextField() {
                            if shapeField == 1 {
                                shape.append(try shapeReader.readMessage(ONNXDimension.self))
                            } else {
                                try shapeReader.skipField()
                            }
                        }
                    }
                    dims = shape
                default: try tensorReader.skipField()
                }
            }
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(name, field: 1)
        let tensorType = TensorTypeWriter(elementType: elementType, dims: dims)
        let typeProto = TypeProtoWriter(tensor: tensorType)
        visitor.visitMessage(typeProto, field: 2)
    }
}

/// `TensorShapeProto.Dimension`.
package struct ONNXDimension: ProtoMessage, Equatable {
    package var value: Int64?
    package var param: String?

    package init() {}

    package init(value: Int64) { self.value = value }
    package init(param: String) { self.param = param }

    package mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: value = try reader.readInt64(); param = nil
        case 2: param = try reader.readString(); value = nil
        default: try reader.skipField()
        }
    }

    package func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        if let value { visitor.visitInt64(value, field: 1, explicit: true) }
        if let param { visitor.visitString(param, field: 2, explicit: true) }
    }
}

/// Encode-only helpers for `ONNXValueInfo.traverse` (`TypeProto` and `TypeProto.Tensor`).
struct TensorShapeWriter: ProtoMessage {
    var dims: [ONNXDimension] = []
    init() {}
    init(dims: [ONNXDimension]) { self.dims = dims }
    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) { visitor.visitRepeatedMessages(dims, field: 1) }
}

struct TensorTypeWriter: ProtoMessage {
    var elementType: Int32 = 0
    var dims: [ONNXDimension]?
    init() {}
    init(elementType: Int32, dims: [ONNXDimension]?) {
        self.elementType = elementType
        self.dims = dims
    }
    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitInt32(elementType, field: 1)
        if let dims { visitor.visitMessage(TensorShapeWriter(dims: dims), field: 2) }
    }
}

struct TypeProtoWriter: ProtoMessage {
    var tensor = TensorTypeWriter()
    init() {}
    init(tensor: TensorTypeWriter) { self.tensor = tensor }
    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) { visitor.visitMessage(tensor, field: 1) }
}
