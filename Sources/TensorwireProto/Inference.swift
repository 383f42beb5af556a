public import ProtoWire

/// Messages of `Proto/tensorwire/v1/inference.proto` (package `tensorwire.v1`), written by hand on `ProtoWire`.
/// Field numbers are the public contract; each `decodeField` and `traverse` below lists them in order.
public enum TensorwireV1 {}

extension TensorwireV1 {
    /// `tensorwire.v1.DataType`. A struct over the raw number, so values unknown to this build are kept.
    public struct DataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let unspecified = DataType(rawValue: 0)
        public static let float32 = DataType(rawValue: 1)
        public static let float64 = DataType(rawValue: 2)
        public static let int32 = DataType(rawValue: 3)
        public static let int64 = DataType(rawValue: 4)
        public static let bool = DataType(rawValue: 5)
        public static let string = DataType(rawValue: 6)
        public static let uint8 = DataType(rawValue: 7)
        public static let int8 = DataType(rawValue: 8)
        public static let uint16 = DataType(rawValue: 9)
        public static let int16 = DataType(rawValue: 10)
        public static let uint32 = DataType(rawValue: 11)
        public static let uint64 = DataType(rawValue: 12)
        public static let float16 = DataType(rawValue: 13)

        /// The values' names in the .proto file, indexed by number (proto3 JSON writes enums by name).
        public static let names = [
            "DATA_TYPE_UNSPECIFIED", "DATA_TYPE_FLOAT32", "DATA_TYPE_FLOAT64", "DATA_TYPE_INT32", "DATA_TYPE_INT64",
            "DATA_TYPE_BOOL", "DATA_TYPE_STRING", "DATA_TYPE_UINT8", "DATA_TYPE_INT8", "DATA_TYPE_UINT16",
            "DATA_TYPE_INT16", "DATA_TYPE_UINT32", "DATA_TYPE_UINT64", "DATA_TYPE_FLOAT16",
        ]

        /// The enum value's name in the .proto file, or the number for values unknown to this build.
        public var description: String {
            Self.names.indices.contains(Int(rawValue)) ? Self.names[Int(rawValue)] : String(rawValue)
        }
    }

    /// `tensorwire.v1.ModelState`.
    public struct ModelState: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let unspecified = ModelState(rawValue: 0)
        public static let loading = ModelState(rawValue: 1)
        public static let ready = ModelState(rawValue: 2)
        public static let failed = ModelState(rawValue: 3)
        public static let unloaded = ModelState(rawValue: 4)

        /// The values' names in the .proto file, indexed by number (proto3 JSON writes enums by name).
        public static let names = [
            "MODEL_STATE_UNSPECIFIED", "MODEL_STATE_LOADING", "MODEL_STATE_READY", "MODEL_STATE_FAILED",
            "MODEL_STATE_UNLOADED",
        ]
    }

    /// `tensorwire.v1.Tensor`: a dense row-major tensor; `rawData` (when non-empty) wins over the typed fields.
    public struct Tensor: ProtoMessage, Equatable {
        public var name = ""
        public var dtype = DataType.unspecified
        /// Up to four dimensions held inline: decoding a typical shape allocates nothing.
        public var shape = TensorShape()
        public var floatData: [Float] = []
        public var doubleData: [Double] = []
        public var int32Data: [Int32] = []
        public var int64Data: [Int64] = []
        public var boolData: [Bool] = []
        public var stringData: [String] = []
        public var rawData: [UInt8] = []
        public var uint64Data: [UInt64] = []

        @inlinable public init() {}

        public init(name: String, dtype: DataType = .unspecified, shape: TensorShape, floatData: [Float] = []) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.floatData = floatData
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: dtype = DataType(rawValue: try reader.readEnum())
            case 3: try reader.readRepeatedInt64(into: &shape)
            case 4: try reader.readRepeatedFloat(into: &floatData)
            case 5: try reader.readRepeatedDouble(into: &doubleData)
            case 6: try reader.readRepeatedInt32(into: &int32Data)
            case 7: try reader.readRepeatedInt64(into: &int64Data)
            case 8: try reader.readRepeatedBool(into: &boolData)
            case 9: stringData.append(try reader.readString())
            case 10: rawData = try reader.readBytes()
            case 11: try reader.readRepeatedUInt64(into: &uint64Data)
            default: try reader.skipField()
            }
        }

        @inlinable @inline(__always)
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitEnum(dtype.rawValue, field: 2)
            shape.withUnsafeBufferPointer { visitor.visitPackedInt64($0, field: 3) }
            visitor.visitPackedFloat(floatData, field: 4)
            visitor.visitPackedDouble(doubleData, field: 5)
            visitor.visitPackedInt32(int32Data, field: 6)
            visitor.visitPackedInt64(int64Data, field: 7)
            visitor.visitPackedBool(boolData, field: 8)
            visitor.visitRepeatedStrings(stringData, field: 9)
            visitor.visitBytes(rawData, field: 10)
            visitor.visitPackedUInt64(uint64Data, field: 11)
        }
    }

    /// `tensorwire.v1.PredictRequest`.
    public struct PredictRequest: ProtoMessage, Equatable {
        public var model = ""
        public var version = ""
        public var inputs: [Tensor]
        public var outputs: [String]
        public var id = ""

        /// The array fields are set here rather than by default values: the empty array literals then inline into
        /// callers in other modules instead of each costing a call to a property initialiser.
        @inlinable public init() {
            inputs = []
            outputs = []
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: model = try reader.readString()
            case 2: version = try reader.readString()
            case 3: try reader.appendMessage(to: &inputs)
            case 4: outputs.append(try reader.readString())
            case 5: id = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable @inline(__always)
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(model, field: 1)
            visitor.visitString(version, field: 2)
            visitor.visitRepeatedMessages(inputs, field: 3)
            visitor.visitRepeatedStrings(outputs, field: 4)
            visitor.visitString(id, field: 5)
        }
    }

    /// `tensorwire.v1.BatchInfo`: how the server ran one request.
    public struct BatchInfo: ProtoMessage, Equatable {
        public var batchSize: UInt32 = 0
        public var queueUs: UInt64 = 0
        public var computeUs: UInt64 = 0
        public var batchRequests: UInt32 = 0

        @inlinable public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: batchSize = try reader.readUInt32()
            case 2: queueUs = try reader.readUInt64()
            case 3: computeUs = try reader.readUInt64()
            case 4: batchRequests = try reader.readUInt32()
            default: try reader.skipField()
            }
        }

        @inlinable @inline(__always)
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitUInt32(batchSize, field: 1)
            visitor.visitUInt64(queueUs, field: 2)
            visitor.visitUInt64(computeUs, field: 3)
            visitor.visitUInt32(batchRequests, field: 4)
        }
    }

    /// `tensorwire.v1.PredictError`: a failed request inside a PredictStream.
    public struct PredictError: ProtoMessage, Equatable {
        public var code: Int32 = 0
        public var message = ""

        @inlinable public init() {}

        public init(code: Int32, message: String) {
            self.code = code
            self.message = message
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: code = try reader.readInt32()
            case 2: message = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable @inline(__always)
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitInt32(code, field: 1)
            visitor.visitString(message, field: 2)
        }
    }

    /// `tensorwire.v1.PredictResponse`.
    public struct PredictResponse: ProtoMessage, Equatable {
        public var model = ""
        public var version = ""
        public var outputs: [Tensor]
        public var id = ""
        public var batch: BatchInfo?
        public var error: PredictError?

        /// `outputs` is set here rather than by a default value, as in `PredictRequest.init()`.
        @inlinable public init() {
            outputs = []
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: model = try reader.readString()
            case 2: version = try reader.readString()
            case 3: try reader.appendMessage(to: &outputs)
            case 4: id = try reader.readString()
            case 5:
                var value = batch ?? BatchInfo()
                try reader.mergeMessage(into: &value)
                batch = value
            case 6:
                var value = error ?? PredictError()
                try reader.mergeMessage(into: &value)
                error = value
            default: try reader.skipField()
            }
        }

        @inlinable @inline(__always)
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(model, field: 1)
            visitor.visitString(version, field: 2)
            visitor.visitRepeatedMessages(outputs, field: 3)
            visitor.visitString(id, field: 4)
            if let batch { visitor.visitMessage(batch, field: 5) }
            if let error { visitor.visitMessage(error, field: 6) }
        }
    }

    /// `tensorwire.v1.ListModelsRequest` (no fields).
    public struct ListModelsRequest: ProtoMessage, Equatable {
        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            try reader.skipField()
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
    }

    /// `tensorwire.v1.ListModelsResponse`.
    public struct ListModelsResponse: ProtoMessage, Equatable {
        public var models: [ModelInfo] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.appendMessage(to: &models)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitRepeatedMessages(models, field: 1)
        }
    }

    /// `tensorwire.v1.GetModelRequest`.
    public struct GetModelRequest: ProtoMessage, Equatable {
        public var model = ""

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: model = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(model, field: 1)
        }
    }

    /// `tensorwire.v1.TensorSpec`: one input or output of a model.
    public struct TensorSpec: ProtoMessage, Equatable {
        public var name = ""
        public var dtype = DataType.unspecified
        public var shape: [Int64] = []
        public var acceptedDtypes: [DataType] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: dtype = DataType(rawValue: try reader.readEnum())
            case 3: try reader.readRepeatedInt64(into: &shape)
            case 4:
                var raw: [Int32] = []
                try reader.readRepeatedEnum(into: &raw)
                acceptedDtypes.append(contentsOf: raw.map(DataType.init(rawValue:)))
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitEnum(dtype.rawValue, field: 2)
            visitor.visitPackedInt64(shape, field: 3)
            visitor.visitPackedEnum(acceptedDtypes.map(\.rawValue), field: 4)
        }
    }

    /// `tensorwire.v1.ModelVersion`.
    public struct ModelVersion: ProtoMessage, Equatable {
        public var version = ""
        public var state = ModelState.unspecified
        public var error = ""
        /// Loaded from `model.onnx.sealed`.
        public var sealed = false
        /// SHA-256 of the plaintext model file, hex; "" when not loaded.
        public var sha256 = ""

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: version = try reader.readString()
            case 2: state = ModelState(rawValue: try reader.readEnum())
            case 3: error = try reader.readString()
            case 4: sealed = try reader.readBool()
            case 5: sha256 = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(version, field: 1)
            visitor.visitEnum(state.rawValue, field: 2)
            visitor.visitString(error, field: 3)
            visitor.visitBool(sealed, field: 4)
            visitor.visitString(sha256, field: 5)
        }
    }

    /// `tensorwire.v1.BatchingConfig`: dynamic batching settings, named as in Triton.
    public struct BatchingConfig: ProtoMessage, Equatable {
        public var maxBatchSize: UInt32 = 0
        public var maxQueueDelayUs: UInt64 = 0
        public var preferredBatchSizes: [UInt32] = []
        public var maxQueueSize: UInt32 = 0
        public var defaultTimeoutUs: UInt64 = 0
        public var instances: UInt32 = 0

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: maxBatchSize = try reader.readUInt32()
            case 2: maxQueueDelayUs = try reader.readUInt64()
            case 3: try reader.readRepeatedUInt32(into: &preferredBatchSizes)
            case 4: maxQueueSize = try reader.readUInt32()
            case 5: defaultTimeoutUs = try reader.readUInt64()
            case 6: instances = try reader.readUInt32()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitUInt32(maxBatchSize, field: 1)
            visitor.visitUInt64(maxQueueDelayUs, field: 2)
            visitor.visitPackedUInt32(preferredBatchSizes, field: 3)
            visitor.visitUInt32(maxQueueSize, field: 4)
            visitor.visitUInt64(defaultTimeoutUs, field: 5)
            visitor.visitUInt32(instances, field: 6)
        }
    }

    /// `tensorwire.v1.ModelInfo`: a model's versions, state, signature and batching settings.
    public struct ModelInfo: ProtoMessage, Equatable {
        public var name = ""
        public var versions: [ModelVersion] = []
        public var state = ModelState.unspecified
        public var error = ""
        public var inputs: [TensorSpec] = []
        public var outputs: [TensorSpec] = []
        public var batching: BatchingConfig?
        public var defaultVersion = ""
        public var platform = ""
        public var description = ""

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: try reader.appendMessage(to: &versions)
            case 3: state = ModelState(rawValue: try reader.readEnum())
            case 4: error = try reader.readString()
            case 5: try reader.appendMessage(to: &inputs)
            case 6: try reader.appendMessage(to: &outputs)
            case 7:
                var value = batching ?? BatchingConfig()
                try reader.mergeMessage(into: &value)
                batching = value
            case 8: defaultVersion = try reader.readString()
            case 9: platform = try reader.readString()
            case 10: description = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitRepeatedMessages(versions, field: 2)
            visitor.visitEnum(state.rawValue, field: 3)
            visitor.visitString(error, field: 4)
            visitor.visitRepeatedMessages(inputs, field: 5)
            visitor.visitRepeatedMessages(outputs, field: 6)
            if let batching { visitor.visitMessage(batching, field: 7) }
            visitor.visitString(defaultVersion, field: 8)
            visitor.visitString(platform, field: 9)
            visitor.visitString(description, field: 10)
        }
    }
}
