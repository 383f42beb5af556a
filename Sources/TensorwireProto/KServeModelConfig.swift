public import ProtoWire

// Messages of `Proto/inference/model_config.proto`: the part of Triton's model configuration that ModelConfig
// answers with. Plain values; any thread.

extension KServe {
    /// `inference.DataType`. A struct over the raw number, so values unknown to this build are kept.
    public struct DataType: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let invalid = DataType(rawValue: 0)
        public static let bool = DataType(rawValue: 1)
        public static let uint8 = DataType(rawValue: 2)
        public static let uint16 = DataType(rawValue: 3)
        public static let uint32 = DataType(rawValue: 4)
        public static let uint64 = DataType(rawValue: 5)
        public static let int8 = DataType(rawValue: 6)
        public static let int16 = DataType(rawValue: 7)
        public static let int32 = DataType(rawValue: 8)
        public static let int64 = DataType(rawValue: 9)
        public static let fp16 = DataType(rawValue: 10)
        public static let fp32 = DataType(rawValue: 11)
        public static let fp64 = DataType(rawValue: 12)
        public static let string = DataType(rawValue: 13)
        public static let bf16 = DataType(rawValue: 14)
    }

    /// `inference.ModelInstanceGroup` (name, count, kind).
    public struct ModelInstanceGroup: ProtoMessage, Equatable {
        /// `inference.ModelInstanceGroup.Kind`.
        public struct Kind: RawRepresentable, Hashable, Sendable {
            public var rawValue: Int32
            public init(rawValue: Int32) { self.rawValue = rawValue }

            public static let auto = Kind(rawValue: 0)
            public static let gpu = Kind(rawValue: 1)
            public static let cpu = Kind(rawValue: 2)
            public static let model = Kind(rawValue: 3)
        }

        public var name = ""
        public var count: Int32 = 0
        public var kind = Kind.auto

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: count = try reader.readInt32()
            case 4: kind = Kind(rawValue: try reader.readEnum())
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitInt32(count, field: 2)
            visitor.visitEnum(kind.rawValue, field: 4)
        }
    }

    /// `inference.ModelTensorReshape`.
    public struct ModelTensorReshape: ProtoMessage, Equatable {
        public var shape: [Int64] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.readRepeatedInt64(into: &shape)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitPackedInt64(shape, field: 1)
        }
    }

    /// `inference.ModelInput`.
    public struct ModelInput: ProtoMessage, Equatable {
        public var name = ""
        public var dataType = DataType.invalid
        /// `inference.ModelInput.Format`, as its raw number (0 none, 1 NHWC, 2 NCHW).
        public var format: Int32 = 0
        public var dims: [Int64] = []
        public var reshape: ModelTensorReshape?
        public var isShapeTensor = false
        public var allowRaggedBatch = false
        public var optional = false
        public var isNonLinearFormatIO = false

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: dataType = DataType(rawValue: try reader.readEnum())
            case 3: format = try reader.readEnum()
            case 4: try reader.readRepeatedInt64(into: &dims)
            case 5:
                var value = reshape ?? ModelTensorReshape()
                try reader.mergeMessage(into: &value)
                reshape = value
            case 6: isShapeTensor = try reader.readBool()
            case 7: allowRaggedBatch = try reader.readBool()
            case 8: optional = try reader.readBool()
            case 9: isNonLinearFormatIO = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitEnum(dataType.rawValue, field: 2)
            visitor.visitEnum(format, field: 3)
            visitor.visitPackedInt64(dims, field: 4)
            if let reshape { visitor.visitMessage(reshape, field: 5) }
            visitor.visitBool(isShapeTensor, field: 6)
            visitor.visitBool(allowRaggedBatch, field: 7)
            visitor.visitBool(optional, field: 8)
            visitor.visitBool(isNonLinearFormatIO, field: 9)
        }
    }

    /// `inference.ModelOutput`.
    public struct ModelOutput: ProtoMessage, Equatable {
        public var name = ""
        public var dataType = DataType.invalid
        public var dims: [Int64] = []
        public var labelFilename = ""
        public var reshape: ModelTensorReshape?
        public var isShapeTensor = false
        public var isNonLinearFormatIO = false

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: dataType = DataType(rawValue: try reader.readEnum())
            case 3: try reader.readRepeatedInt64(into: &dims)
            case 4: labelFilename = try reader.readString()
            case 5:
                var value = reshape ?? ModelTensorReshape()
                try reader.mergeMessage(into: &value)
                reshape = value
            case 6: isShapeTensor = try reader.readBool()
            case 7: isNonLinearFormatIO = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitEnum(dataType.rawValue, field: 2)
            visitor.visitPackedInt64(dims, field: 3)
            visitor.visitString(labelFilename, field: 4)
            if let reshape { visitor.visitMessage(reshape, field: 5) }
            visitor.visitBool(isShapeTensor, field: 6)
            visitor.visitBool(isNonLinearFormatIO, field: 7)
        }
    }

    /// `inference.ModelQueuePolicy`.
    public struct ModelQueuePolicy: ProtoMessage, Equatable {
        /// `inference.ModelQueuePolicy.TimeoutAction`, as its raw number (0 REJECT, 1 DELAY).
        public var timeoutAction: Int32 = 0
        public var defaultTimeoutMicroseconds: UInt64 = 0
        public var allowTimeoutOverride = false
        public var maxQueueSize: UInt32 = 0

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: timeoutAction = try reader.readEnum()
            case 2: defaultTimeoutMicroseconds = try reader.readUInt64()
            case 3: allowTimeoutOverride = try reader.readBool()
            case 4: maxQueueSize = try reader.readUInt32()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitEnum(timeoutAction, field: 1)
            visitor.visitUInt64(defaultTimeoutMicroseconds, field: 2)
            visitor.visitBool(allowTimeoutOverride, field: 3)
            visitor.visitUInt32(maxQueueSize, field: 4)
        }
    }

    /// `inference.ModelDynamicBatching`.
    public struct ModelDynamicBatching: ProtoMessage, Equatable {
        public var preferredBatchSize: [Int32] = []
        public var maxQueueDelayMicroseconds: UInt64 = 0
        public var preserveOrdering = false
        public var priorityLevels: UInt64 = 0
        public var defaultPriorityLevel: UInt64 = 0
        public var defaultQueuePolicy: ModelQueuePolicy?

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.readRepeatedInt32(into: &preferredBatchSize)
            case 2: maxQueueDelayMicroseconds = try reader.readUInt64()
            case 3: preserveOrdering = try reader.readBool()
            case 4: priorityLevels = try reader.readUInt64()
            case 5: defaultPriorityLevel = try reader.readUInt64()
            case 6:
                var value = defaultQueuePolicy ?? ModelQueuePolicy()
                try reader.mergeMessage(into: &value)
                defaultQueuePolicy = value
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitPackedInt32(preferredBatchSize, field: 1)
            visitor.visitUInt64(maxQueueDelayMicroseconds, field: 2)
            visitor.visitBool(preserveOrdering, field: 3)
            visitor.visitUInt64(priorityLevels, field: 4)
            visitor.visitUInt64(defaultPriorityLevel, field: 5)
            if let defaultQueuePolicy { visitor.visitMessage(defaultQueuePolicy, field: 6) }
        }
    }

    /// `inference.ModelVersionPolicy`: a oneof of latest / all / specific.
    public struct ModelVersionPolicy: ProtoMessage, Equatable {
        /// `inference.ModelVersionPolicy.Latest`: the highest `numVersions` versions.
        public struct Latest: ProtoMessage, Equatable {
            public var numVersions: UInt32 = 0

            public init() {}
            public init(numVersions: UInt32) { self.numVersions = numVersions }

            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
                switch field {
                case 1: numVersions = try reader.readUInt32()
                default: try reader.skipField()
                }
            }

            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
                visitor.visitUInt32(numVersions, field: 1)
            }
        }

        /// `inference.ModelVersionPolicy.All` (no fields).
        public struct All: ProtoMessage, Equatable {
            public init() {}
            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
        }

        /// `inference.ModelVersionPolicy.Specific`: exactly these versions.
        public struct Specific: ProtoMessage, Equatable {
            public var versions: [Int64] = []

            public init() {}
            public init(versions: [Int64]) { self.versions = versions }

            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
                switch field {
                case 1: try reader.readRepeatedInt64(into: &versions)
                default: try reader.skipField()
                }
            }

            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
                visitor.visitPackedInt64(versions, field: 1)
            }
        }

        /// `policy_choice`.
        public enum Choice: Equatable, Sendable {
            case latest(Latest)
            case all(All)
            case specific(Specific)
        }

        public var choice: Choice?

        public init() {}
        public init(_ choice: Choice) { self.choice = choice }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            // A oneof message member that occurs again merges into the same member, as protobuf requires.
            switch field {
            case 1:
                var value = Latest()
                if case .latest(let current) = choice { value = current }
                try reader.mergeMessage(into: &value)
                choice = .latest(value)
            case 2:
                var value = All()
                try reader.mergeMessage(into: &value)
                choice = .all(value)
            case 3:
                var value = Specific()
                if case .specific(let current) = choice { value = current }
                try reader.mergeMessage(into: &value)
                choice = .specific(value)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            switch choice {
            case .latest(let value): visitor.visitMessage(value, field: 1)
            case .all(let value): visitor.visitMessage(value, field: 2)
            case .specific(let value): visitor.visitMessage(value, field: 3)
            case nil: break
            }
        }
    }

    /// `inference.ModelTransactionPolicy`.
    public struct ModelTransactionPolicy: ProtoMessage, Equatable {
        public var decoupled = false

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: decoupled = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitBool(decoupled, field: 1)
        }
    }

    /// `inference.ModelResponseCache`.
    public struct ModelResponseCache: ProtoMessage, Equatable {
        public var enable = false

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: enable = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitBool(enable, field: 1)
        }
    }

    /// `inference.ModelConfig`: the fields Tensorwire reports.
    public struct ModelConfig: ProtoMessage, Equatable {
        public var name = ""
        public var platform = ""
        public var versionPolicy: ModelVersionPolicy?
        public var maxBatchSize: Int32 = 0
        public var input: [ModelInput] = []
        public var output: [ModelOutput] = []
        public var instanceGroup: [ModelInstanceGroup] = []
        /// `scheduling_choice`: the only member declared is `dynamic_batching` (11).
        public var dynamicBatching: ModelDynamicBatching?
        public var backend = ""
        public var modelTransactionPolicy: ModelTransactionPolicy?
        public var responseCache: ModelResponseCache?
        public var runtime = ""

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: platform = try reader.readString()
            case 3:
                var value = versionPolicy ?? ModelVersionPolicy()
                try reader.mergeMessage(into: &value)
                versionPolicy = value
            case 4: maxBatchSize = try reader.readInt32()
            case 5: try reader.appendMessage(to: &input)
            case 6: try reader.appendMessage(to: &output)
            case 7: try reader.appendMessage(to: &instanceGroup)
            case 11:
                var value = dynamicBatching ?? ModelDynamicBatching()
                try reader.mergeMessage(into: &value)
                dynamicBatching = value
            case 17: backend = try reader.readString()
            case 19:
                var value = modelTransactionPolicy ?? ModelTransactionPolicy()
                try reader.mergeMessage(into: &value)
                modelTransactionPolicy = value
            case 24:
                var value = responseCache ?? ModelResponseCache()
                try reader.mergeMessage(into: &value)
                responseCache = value
            case 25: runtime = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitString(platform, field: 2)
            if let versionPolicy { visitor.visitMessage(versionPolicy, field: 3) }
            visitor.visitInt32(maxBatchSize, field: 4)
            visitor.visitRepeatedMessages(input, field: 5)
            visitor.visitRepeatedMessages(output, field: 6)
            visitor.visitRepeatedMessages(instanceGroup, field: 7)
            if let dynamicBatching { visitor.visitMessage(dynamicBatching, field: 11) }
            visitor.visitString(backend, field: 17)
            if let modelTransactionPolicy { visitor.visitMessage(modelTransactionPolicy, field: 19) }
            if let responseCache { visitor.visitMessage(responseCache, field: 24) }
            visitor.visitString(runtime, field: 25)
        }
    }
}
