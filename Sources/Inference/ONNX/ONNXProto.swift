public import ProtoWire

// The subset of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) that dense models need.
// Field numbers are onnx.proto's; every other field is skipped as unknown. `traverse` writes the fields kept, which
// lets tests build small models in Swift.

/// `OperatorSetIdProto`: one opset import of a model.
public struct ONNXOperatorSetID: ProtoMessage, Equatable {
    public var domain = ""
    public var version: Int64 = 0

    public init() {}

    public init(domain: String, version: Int64) {
        self.domain = domain
        self.version = version
    }

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: domain = try reader.readString()
        case 2: version = try reader.readInt64()
        default: try reader.skipField()
        }
    }

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(domain, field: 1)
        visitor.visitInt64(version, field: 2)
    }
}

/// `ModelProto`: the top-level message of a `.onnx` file.
public struct ONNXModel: ProtoMessage {
    public var irVersion: Int64 = 0
    public var producerName = ""
    public var producerVersion = ""
    public var graph = ONNXGraph()
    public var opsetImports: [ONNXOperatorSetID] = []

    public init() {}

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: irVersion = try reader.readInt64()
        case 2: producerName = try reader.readString()
        case 3: producerVersion = try reader.readString()
        case 7: try reader.mergeMessage(into: &graph)
        case 8: opsetImports.append(try reader.readMessage(ONNXOperatorSetID.self))
        default: try reader.skipField()
        }
    }

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitInt64(irVersion, field: 1)
        visitor.visitString(producerName, field: 2)
        visitor.visitString(producerVersion, field: 3)
        visitor.visitMessage(graph, field: 7)
        visitor.visitRepeatedMessages(opsetImports, field: 8)
    }
}

/// `GraphProto`: nodes in topological order (not trusted: the compiler sorts), initializers, inputs and outputs.
public struct ONNXGraph: ProtoMessage {
    public var nodes: [ONNXNode] = []
    public var name = ""
    public var initializers: [ONNXTensor] = []
    public var inputs: [ONNXValueInfo] = []
    public var outputs: [ONNXValueInfo] = []
    /// Sparse initializers are not supported; their count is kept so the compiler can say so.
    public var sparseInitializerCount = 0

    public init() {}

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
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

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitRepeatedMessages(nodes, field: 1)
        visitor.visitString(name, field: 2)
        visitor.visitRepeatedMessages(initializers, field: 5)
        visitor.visitRepeatedMessages(inputs, field: 11)
        visitor.visitRepeatedMessages(outputs, field: 12)
    }
}

/// `NodeProto`: one operator application.
public struct ONNXNode: ProtoMessage {
    public var inputs: [String] = []
    public var outputs: [String] = []
    public var name = ""
    public var opType = ""
    public var attributes: [ONNXAttribute] = []
    public var domain = ""

    public init() {}

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
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

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitRepeatedStrings(inputs, field: 1)
        visitor.visitRepeatedStrings(outputs, field: 2)
        visitor.visitString(name, field: 3)
        visitor.visitString(opType, field: 4)
        visitor.visitRepeatedMessages(attributes, field: 5)
        visitor.visitString(domain, field: 7)
    }

    /// The attribute called `name`, if present.
    public func attribute(_ name: String) -> ONNXAttribute? {
        attributes.first { $0.name == name }
    }
}

/// `AttributeProto`: a named operator parameter. Graph-valued attributes are skipped (no control flow).
public struct ONNXAttribute: ProtoMessage {
    public var name = ""
    public var type: Int32 = 0
    public var f: Float = 0
    public var i: Int64 = 0
    public var s: [UInt8] = []
    public var t: ONNXTensor?
    public var floats: [Float] = []
    public var ints: [Int64] = []
    public var strings: [[UInt8]] = []

    public init() {}

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
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

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
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
    public enum Kind {
        public static let float: Int32 = 1
        public static let int: Int32 = 2
        public static let string: Int32 = 3
        public static let tensor: Int32 = 4
        public static let floats: Int32 = 6
        public static let ints: Int32 = 7
        public static let strings: Int32 = 8
    }
}

/// `TensorProto`: an initializer or a constant. Data comes from `raw_data` (little-endian) or the typed fields.
public struct ONNXTensor: ProtoMessage {
    public var dims: [Int64] = []
    public var dataType: Int32 = 0
    public var floatData: [Float] = []
    public var int32Data: [Int32] = []
    public var stringData: [[UInt8]] = []
    public var int64Data: [Int64] = []
    public var name = ""
    public var rawData: [UInt8] = []
    public var doubleData: [Double] = []
    public var uint64Data: [UInt64] = []
    /// True when the tensor keeps its data in an external file (`data_location = EXTERNAL` or `external_data`).
    public var isExternal = false
    /// True when a `segment` field is present (segmented tensors are not supported).
    public var isSegmented = false

    public init() {}

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
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
            try reader.skipField()
        case 14:
            if try reader.readEnum() == 1 { isExternal = true }
        default: try reader.skipField()
        }
    }

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
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
        if isExternal { visitor.visitEnum(1, field: 14) }
    }

    /// `TensorProto.DataType` numbers.
    public enum ElementType {
        public static let float: Int32 = 1
        public static let uint8: Int32 = 2
        public static let int8: Int32 = 3
        public static let uint16: Int32 = 4
        public static let int16: Int32 = 5
        public static let int32: Int32 = 6
        public static let int64: Int32 = 7
        public static let string: Int32 = 8
        public static let bool: Int32 = 9
        public static let double: Int32 = 11
        public static let uint32: Int32 = 12
        public static let uint64: Int32 = 13
    }
}

/// `ValueInfoProto` with its `TypeProto.Tensor` flattened: the element type and the shape, where a dimension is a
/// number, a symbolic name or unknown.
public struct ONNXValueInfo: ProtoMessage {
    public var name = ""
    /// `TensorProto.DataType` of the elements; 0 when the value is not a tensor or the type is missing.
    public var elementType: Int32 = 0
    /// Nil when no shape is given (rank unknown).
    public var dims: [ONNXDimension]?
    /// True when the type is something other than a tensor (sequence, map, optional).
    public var isNonTensor = false

    public init() {}

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
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

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(name, field: 1)
        let tensorType = TensorTypeWriter(elementType: elementType, dims: dims)
        let typeProto = TypeProtoWriter(tensor: tensorType)
        visitor.visitMessage(typeProto, field: 2)
    }
}

/// `TensorShapeProto.Dimension`.
public struct ONNXDimension: ProtoMessage, Equatable {
    public var value: Int64?
    public var param: String?

    public init() {}

    public init(value: Int64) { self.value = value }
    public init(param: String) { self.param = param }

    public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: value = try reader.readInt64(); param = nil
        case 2: param = try reader.readString(); value = nil
        default: try reader.skipField()
        }
    }

    public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
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
