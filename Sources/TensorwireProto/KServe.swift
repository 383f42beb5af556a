public import ProtoWire

/// Messages of `Proto/inference/grpc_service.proto` and `Proto/inference/model_config.proto` (package `inference`:
/// the KServe v2 / Open Inference Protocol with Triton's extensions), written by hand on `ProtoWire`. Plain values;
/// any thread. Maps are arrays of entry messages (key 1, value 2) kept in wire order; a oneof is an optional enum.
public enum KServe {}

// MARK: - Empty messages

extension KServe {
    /// `inference.ServerLiveRequest` (no fields).
    public struct ServerLiveRequest: ProtoMessage, Equatable {
        public init() {}
        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
    }

    /// `inference.ServerReadyRequest` (no fields).
    public struct ServerReadyRequest: ProtoMessage, Equatable {
        public init() {}
        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
    }

    /// `inference.ServerMetadataRequest` (no fields).
    public struct ServerMetadataRequest: ProtoMessage, Equatable {
        public init() {}
        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
    }

    /// `inference.RepositoryModelLoadResponse` (no fields).
    public struct RepositoryModelLoadResponse: ProtoMessage, Equatable {
        public init() {}
        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
    }

    /// `inference.RepositoryModelUnloadResponse` (no fields).
    public struct RepositoryModelUnloadResponse: ProtoMessage, Equatable {
        public init() {}
        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws { try reader.skipField() }
        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
    }
}

// MARK: - Health and metadata

extension KServe {
    /// `inference.ServerLiveResponse`.
    public struct ServerLiveResponse: ProtoMessage, Equatable {
        public var live = false

        public init() {}
        public init(live: Bool) { self.live = live }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: live = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitBool(live, field: 1)
        }
    }

    /// `inference.ServerReadyResponse`, and (same shape) `inference.ModelReadyResponse`.
    public struct ServerReadyResponse: ProtoMessage, Equatable {
        public var ready = false

        public init() {}
        public init(ready: Bool) { self.ready = ready }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: ready = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitBool(ready, field: 1)
        }
    }

    /// `inference.ModelReadyResponse` (field 1 `ready`, as ServerReadyResponse).
    public typealias ModelReadyResponse = ServerReadyResponse

    /// A request naming a model and a version (`""`: the server's choice): `inference.ModelReadyRequest`,
    /// `inference.ModelMetadataRequest` and `inference.ModelConfigRequest` share this shape (name 1, version 2).
    public struct ModelRequest: ProtoMessage, Equatable {
        public var name = ""
        public var version = ""

        public init() {}
        public init(name: String, version: String = "") {
            self.name = name
            self.version = version
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: version = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitString(version, field: 2)
        }
    }

    /// `inference.ModelReadyRequest`.
    public typealias ModelReadyRequest = ModelRequest
    /// `inference.ModelMetadataRequest`.
    public typealias ModelMetadataRequest = ModelRequest
    /// `inference.ModelConfigRequest`.
    public typealias ModelConfigRequest = ModelRequest

    /// `inference.ServerMetadataResponse`.
    public struct ServerMetadataResponse: ProtoMessage, Equatable {
        public var name = ""
        public var version = ""
        public var extensions: [String] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: version = try reader.readString()
            case 3: extensions.append(try reader.readString())
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitString(version, field: 2)
            visitor.visitRepeatedStrings(extensions, field: 3)
        }
    }

    /// `inference.ModelMetadataResponse`.
    public struct ModelMetadataResponse: ProtoMessage, Equatable {
        /// `inference.ModelMetadataResponse.TensorMetadata`.
        public struct TensorMetadata: ProtoMessage, Equatable {
            public var name = ""
            public var datatype = ""
            public var shape: [Int64] = []

            public init() {}
            public init(name: String, datatype: String, shape: [Int64]) {
                self.name = name
                self.datatype = datatype
                self.shape = shape
            }

            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
                switch field {
                case 1: name = try reader.readString()
                case 2: datatype = try reader.readString()
                case 3: try reader.readRepeatedInt64(into: &shape)
                default: try reader.skipField()
                }
            }

            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
                visitor.visitString(name, field: 1)
                visitor.visitString(datatype, field: 2)
                visitor.visitPackedInt64(shape, field: 3)
            }
        }

        public var name = ""
        public var versions: [String] = []
        public var platform = ""
        public var inputs: [TensorMetadata] = []
        public var outputs: [TensorMetadata] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: versions.append(try reader.readString())
            case 3: platform = try reader.readString()
            case 4: try reader.appendMessage(to: &inputs)
            case 5: try reader.appendMessage(to: &outputs)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitRepeatedStrings(versions, field: 2)
            visitor.visitString(platform, field: 3)
            visitor.visitRepeatedMessages(inputs, field: 4)
            visitor.visitRepeatedMessages(outputs, field: 5)
        }
    }
}

// MARK: - Inference

extension KServe {
    /// `inference.InferParameter`: a oneof of five scalar kinds.
    public struct InferParameter: ProtoMessage, Equatable {
        /// `parameter_choice`.
        public enum Choice: Equatable, Sendable {
            case bool(Bool)
            case int64(Int64)
            case string(String)
            case double(Double)
            case uint64(UInt64)
        }

        public var choice: Choice?

        public init() {}
        public init(_ choice: Choice) { self.choice = choice }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: choice = .bool(try reader.readBool())
            case 2: choice = .int64(try reader.readInt64())
            case 3: choice = .string(try reader.readString())
            case 4: choice = .double(try reader.readDouble())
            case 5: choice = .uint64(try reader.readUInt64())
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            switch choice {
            case .bool(let value): visitor.visitBool(value, field: 1, explicit: true)
            case .int64(let value): visitor.visitInt64(value, field: 2, explicit: true)
            case .string(let value): visitor.visitString(value, field: 3, explicit: true)
            case .double(let value): visitor.visitDouble(value, field: 4, explicit: true)
            case .uint64(let value): visitor.visitUInt64(value, field: 5, explicit: true)
            case nil: break
            }
        }
    }

    /// One entry of a `map<string, InferParameter>` field (key 1, value 2). The value is always written.
    public struct ParameterEntry: ProtoMessage, Equatable {
        public var key = ""
        public var value = InferParameter()

        public init() {}
        public init(key: String, value: InferParameter) {
            self.key = key
            self.value = value
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: key = try reader.readString()
            case 2: try reader.mergeMessage(into: &value)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(key, field: 1)
            visitor.visitMessage(value, field: 2)
        }
    }

    /// `inference.InferTensorContents`: elements in the typed field the datatype selects.
    public struct InferTensorContents: ProtoMessage, Equatable {
        public var boolContents: [Bool] = []
        public var intContents: [Int32] = []
        public var int64Contents: [Int64] = []
        public var uintContents: [UInt32] = []
        public var uint64Contents: [UInt64] = []
        public var fp32Contents: [Float] = []
        public var fp64Contents: [Double] = []
        public var bytesContents: [[UInt8]] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.readRepeatedBool(into: &boolContents)
            case 2: try reader.readRepeatedInt32(into: &intContents)
            case 3: try reader.readRepeatedInt64(into: &int64Contents)
            case 4: try reader.readRepeatedUInt32(into: &uintContents)
            case 5: try reader.readRepeatedUInt64(into: &uint64Contents)
            case 6: try reader.readRepeatedFloat(into: &fp32Contents)
            case 7: try reader.readRepeatedDouble(into: &fp64Contents)
            case 8: bytesContents.append(try reader.readBytes())
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitPackedBool(boolContents, field: 1)
            visitor.visitPackedInt32(intContents, field: 2)
            visitor.visitPackedInt64(int64Contents, field: 3)
            visitor.visitPackedUInt32(uintContents, field: 4)
            visitor.visitPackedUInt64(uint64Contents, field: 5)
            visitor.visitPackedFloat(fp32Contents, field: 6)
            visitor.visitPackedDouble(fp64Contents, field: 7)
            visitor.visitRepeatedBytes(bytesContents, field: 8)
        }
    }

    /// `inference.ModelInferRequest`.
    public struct ModelInferRequest: ProtoMessage, Equatable {
        /// `inference.ModelInferRequest.InferInputTensor`.
        public struct InferInputTensor: ProtoMessage, Equatable {
            public var name = ""
            public var datatype = ""
            public var shape: [Int64] = []
            public var parameters: [ParameterEntry] = []
            public var contents: InferTensorContents?

            public init() {}
            public init(name: String, datatype: String, shape: [Int64]) {
                self.name = name
                self.datatype = datatype
                self.shape = shape
            }

            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
                switch field {
                case 1: name = try reader.readString()
                case 2: datatype = try reader.readString()
                case 3: try reader.readRepeatedInt64(into: &shape)
                case 4: try reader.appendMessage(to: &parameters)
                case 5:
                    var value = contents ?? InferTensorContents()
                    try reader.mergeMessage(into: &value)
                    contents = value
                default: try reader.skipField()
                }
            }

            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
                visitor.visitString(name, field: 1)
                visitor.visitString(datatype, field: 2)
                visitor.visitPackedInt64(shape, field: 3)
                visitor.visitRepeatedMessages(parameters, field: 4)
                if let contents { visitor.visitMessage(contents, field: 5) }
            }
        }

        /// `inference.ModelInferRequest.InferRequestedOutputTensor`.
        public struct InferRequestedOutputTensor: ProtoMessage, Equatable {
            public var name = ""
            public var parameters: [ParameterEntry] = []

            public init() {}
            public init(name: String) { self.name = name }

            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
                switch field {
                case 1: name = try reader.readString()
                case 2: try reader.appendMessage(to: &parameters)
                default: try reader.skipField()
                }
            }

            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
                visitor.visitString(name, field: 1)
                visitor.visitRepeatedMessages(parameters, field: 2)
            }
        }

        public var modelName = ""
        public var modelVersion = ""
        public var id = ""
        public var parameters: [ParameterEntry] = []
        public var inputs: [InferInputTensor] = []
        public var outputs: [InferRequestedOutputTensor] = []
        public var rawInputContents: [[UInt8]] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: modelName = try reader.readString()
            case 2: modelVersion = try reader.readString()
            case 3: id = try reader.readString()
            case 4: try reader.appendMessage(to: &parameters)
            case 5: try reader.appendMessage(to: &inputs)
            case 6: try reader.appendMessage(to: &outputs)
            case 7: rawInputContents.append(try reader.readBytes())
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(modelName, field: 1)
            visitor.visitString(modelVersion, field: 2)
            visitor.visitString(id, field: 3)
            visitor.visitRepeatedMessages(parameters, field: 4)
            visitor.visitRepeatedMessages(inputs, field: 5)
            visitor.visitRepeatedMessages(outputs, field: 6)
            visitor.visitRepeatedBytes(rawInputContents, field: 7)
        }
    }

    /// `inference.ModelInferResponse`.
    public struct ModelInferResponse: ProtoMessage, Equatable {
        /// `inference.ModelInferResponse.InferOutputTensor`.
        public struct InferOutputTensor: ProtoMessage, Equatable {
            public var name = ""
            public var datatype = ""
            public var shape: [Int64] = []
            public var parameters: [ParameterEntry] = []
            public var contents: InferTensorContents?

            public init() {}
            public init(name: String, datatype: String, shape: [Int64]) {
                self.name = name
                self.datatype = datatype
                self.shape = shape
            }

            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
                switch field {
                case 1: name = try reader.readString()
                case 2: datatype = try reader.readString()
                case 3: try reader.readRepeatedInt64(into: &shape)
                case 4: try reader.appendMessage(to: &parameters)
                case 5:
                    var value = contents ?? InferTensorContents()
                    try reader.mergeMessage(into: &value)
                    contents = value
                default: try reader.skipField()
                }
            }

            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
                visitor.visitString(name, field: 1)
                visitor.visitString(datatype, field: 2)
                visitor.visitPackedInt64(shape, field: 3)
                visitor.visitRepeatedMessages(parameters, field: 4)
                if let contents { visitor.visitMessage(contents, field: 5) }
            }
        }

        public var modelName = ""
        public var modelVersion = ""
        public var id = ""
        public var parameters: [ParameterEntry] = []
        public var outputs: [InferOutputTensor] = []
        public var rawOutputContents: [[UInt8]] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: modelName = try reader.readString()
            case 2: modelVersion = try reader.readString()
            case 3: id = try reader.readString()
            case 4: try reader.appendMessage(to: &parameters)
            case 5: try reader.appendMessage(to: &outputs)
            case 6: rawOutputContents.append(try reader.readBytes())
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(modelName, field: 1)
            visitor.visitString(modelVersion, field: 2)
            visitor.visitString(id, field: 3)
            visitor.visitRepeatedMessages(parameters, field: 4)
            visitor.visitRepeatedMessages(outputs, field: 5)
            visitor.visitRepeatedBytes(rawOutputContents, field: 6)
        }
    }

    /// `inference.ModelStreamInferResponse`: a response, or (with `errorMessage` set) a failed request's id.
    public struct ModelStreamInferResponse: ProtoMessage, Equatable {
        public var errorMessage = ""
        public var inferResponse: ModelInferResponse?

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: errorMessage = try reader.readString()
            case 2:
                var value = inferResponse ?? ModelInferResponse()
                try reader.mergeMessage(into: &value)
                inferResponse = value
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(errorMessage, field: 1)
            if let inferResponse { visitor.visitMessage(inferResponse, field: 2) }
        }
    }

    /// `inference.ModelConfigResponse`.
    public struct ModelConfigResponse: ProtoMessage, Equatable {
        public var config: ModelConfig?

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1:
                var value = config ?? ModelConfig()
                try reader.mergeMessage(into: &value)
                config = value
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            if let config { visitor.visitMessage(config, field: 1) }
        }
    }
}

// MARK: - Model repository

extension KServe {
    /// `inference.ModelRepositoryParameter`: a oneof of four kinds.
    public struct ModelRepositoryParameter: ProtoMessage, Equatable {
        /// `parameter_choice`.
        public enum Choice: Equatable, Sendable {
            case bool(Bool)
            case int64(Int64)
            case string(String)
            case bytes([UInt8])
        }

        public var choice: Choice?

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: choice = .bool(try reader.readBool())
            case 2: choice = .int64(try reader.readInt64())
            case 3: choice = .string(try reader.readString())
            case 4: choice = .bytes(try reader.readBytes())
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            switch choice {
            case .bool(let value): visitor.visitBool(value, field: 1, explicit: true)
            case .int64(let value): visitor.visitInt64(value, field: 2, explicit: true)
            case .string(let value): visitor.visitString(value, field: 3, explicit: true)
            case .bytes(let value): visitor.visitBytes(value, field: 4, explicit: true)
            case nil: break
            }
        }
    }

    /// One entry of a `map<string, ModelRepositoryParameter>` field (key 1, value 2).
    public struct RepositoryParameterEntry: ProtoMessage, Equatable {
        public var key = ""
        public var value = ModelRepositoryParameter()

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: key = try reader.readString()
            case 2: try reader.mergeMessage(into: &value)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(key, field: 1)
            visitor.visitMessage(value, field: 2)
        }
    }

    /// `inference.RepositoryIndexRequest`.
    public struct RepositoryIndexRequest: ProtoMessage, Equatable {
        public var repositoryName = ""
        public var ready = false

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: repositoryName = try reader.readString()
            case 2: ready = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(repositoryName, field: 1)
            visitor.visitBool(ready, field: 2)
        }
    }

    /// `inference.RepositoryIndexResponse`.
    public struct RepositoryIndexResponse: ProtoMessage, Equatable {
        /// `inference.RepositoryIndexResponse.ModelIndex`.
        public struct ModelIndex: ProtoMessage, Equatable {
            public var name = ""
            public var version = ""
            public var state = ""
            public var reason = ""

            public init() {}
            public init(name: String, version: String = "", state: String = "", reason: String = "") {
                self.name = name
                self.version = version
                self.state = state
                self.reason = reason
            }

            public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
                switch field {
                case 1: name = try reader.readString()
                case 2: version = try reader.readString()
                case 3: state = try reader.readString()
                case 4: reason = try reader.readString()
                default: try reader.skipField()
                }
            }

            @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
                visitor.visitString(name, field: 1)
                visitor.visitString(version, field: 2)
                visitor.visitString(state, field: 3)
                visitor.visitString(reason, field: 4)
            }
        }

        public var models: [ModelIndex] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.appendMessage(to: &models)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitRepeatedMessages(models, field: 1)
        }
    }

    /// `inference.RepositoryModelLoadRequest` and (same shape) `inference.RepositoryModelUnloadRequest`.
    public struct RepositoryModelRequest: ProtoMessage, Equatable {
        public var repositoryName = ""
        public var modelName = ""
        public var parameters: [RepositoryParameterEntry] = []

        public init() {}
        public init(modelName: String) { self.modelName = modelName }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: repositoryName = try reader.readString()
            case 2: modelName = try reader.readString()
            case 3: try reader.appendMessage(to: &parameters)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(repositoryName, field: 1)
            visitor.visitString(modelName, field: 2)
            visitor.visitRepeatedMessages(parameters, field: 3)
        }
    }

    /// `inference.RepositoryModelLoadRequest`.
    public typealias RepositoryModelLoadRequest = RepositoryModelRequest
    /// `inference.RepositoryModelUnloadRequest`.
    public typealias RepositoryModelUnloadRequest = RepositoryModelRequest
}
