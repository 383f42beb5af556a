public import ProtoWire

/// Messages of `Proto/grpc/reflection/v1/reflection.proto` (package `grpc.reflection.v1`) and of
/// `Proto/grpc/reflection/v1alpha/reflection.proto` (package `grpc.reflection.v1alpha`), written by hand on
/// `ProtoWire`. The two packages are wire-identical (same messages, same field numbers), so one set of types
/// serves both services.
public enum GRPCReflection {}

extension GRPCReflection {
    /// `ServerReflectionRequest`: one question on a reflection stream.
    public struct ServerReflectionRequest: ProtoMessage, Equatable {
        /// The `message_request` oneof.
        public enum MessageRequest: Equatable, Sendable {
            case fileByFilename(String)
            case fileContainingSymbol(String)
            case fileContainingExtension(ExtensionRequest)
            case allExtensionNumbersOfType(String)
            /// The value is not checked (grpcurl sends `"*"`).
            case listServices(String)
        }

        public var host = ""
        public var messageRequest: MessageRequest?

        public init() {}

        public init(host: String = "", _ messageRequest: MessageRequest) {
            self.host = host
            self.messageRequest = messageRequest
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: host = try reader.readString()
            case 3: messageRequest = .fileByFilename(try reader.readString())
            case 4: messageRequest = .fileContainingSymbol(try reader.readString())
            case 5:
                // A oneof message member seen twice is merged, like any singular message field.
                var value = ExtensionRequest()
                if case .fileContainingExtension(let existing) = messageRequest { value = existing }
                try reader.mergeMessage(into: &value)
                messageRequest = .fileContainingExtension(value)
            case 6: messageRequest = .allExtensionNumbersOfType(try reader.readString())
            case 7: messageRequest = .listServices(try reader.readString())
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(host, field: 1)
            switch messageRequest {
            case .fileByFilename(let value): visitor.visitString(value, field: 3, explicit: true)
            case .fileContainingSymbol(let value): visitor.visitString(value, field: 4, explicit: true)
            case .fileContainingExtension(let value): visitor.visitMessage(value, field: 5)
            case .allExtensionNumbersOfType(let value): visitor.visitString(value, field: 6, explicit: true)
            case .listServices(let value): visitor.visitString(value, field: 7, explicit: true)
            case nil: break
            }
        }
    }

    /// `ExtensionRequest`: a message type and one of its extension numbers.
    public struct ExtensionRequest: ProtoMessage, Equatable {
        /// Fully-qualified name of the extended message.
        public var containingType = ""
        public var extensionNumber: Int32 = 0

        public init() {}

        public init(containingType: String, extensionNumber: Int32) {
            self.containingType = containingType
            self.extensionNumber = extensionNumber
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: containingType = try reader.readString()
            case 2: extensionNumber = try reader.readInt32()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(containingType, field: 1)
            visitor.visitInt32(extensionNumber, field: 2)
        }
    }

    /// `ServerReflectionResponse`: the one answer to one `ServerReflectionRequest`.
    public struct ServerReflectionResponse: ProtoMessage, Equatable {
        /// The `message_response` oneof.
        public enum MessageResponse: Equatable, Sendable {
            case fileDescriptorResponse(FileDescriptorResponse)
            case allExtensionNumbersResponse(ExtensionNumberResponse)
            case listServicesResponse(ListServiceResponse)
            case errorResponse(ErrorResponse)
        }

        public var validHost = ""
        public var originalRequest: ServerReflectionRequest?
        public var messageResponse: MessageResponse?

        public init() {}

        public init(validHost: String, originalRequest: ServerReflectionRequest?, _ messageResponse: MessageResponse) {
            self.validHost = validHost
            self.originalRequest = originalRequest
            self.messageResponse = messageResponse
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: validHost = try reader.readString()
            case 2:
                var value = originalRequest ?? ServerReflectionRequest()
                try reader.mergeMessage(into: &value)
                originalRequest = value
            case 4:
                var value = FileDescriptorResponse()
                if case .fileDescriptorResponse(let existing) = messageResponse { value = existing }
                try reader.mergeMessage(into: &value)
                messageResponse = .fileDescriptorResponse(value)
            case 5:
                var value = ExtensionNumberResponse()
                if case .allExtensionNumbersResponse(let existing) = messageResponse { value = existing }
                try reader.mergeMessage(into: &value)
                messageResponse = .allExtensionNumbersResponse(value)
            case 6:
                var value = ListServiceResponse()
                if case .listServicesResponse(let existing) = messageResponse { value = existing }
                try reader.mergeMessage(into: &value)
                messageResponse = .listServicesResponse(value)
            case 7:
                var value = ErrorResponse()
                if case .errorResponse(let existing) = messageResponse { value = existing }
                try reader.mergeMessage(into: &value)
                messageResponse = .errorResponse(value)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(validHost, field: 1)
            if let originalRequest { visitor.visitMessage(originalRequest, field: 2) }
            switch messageResponse {
            case .fileDescriptorResponse(let value): visitor.visitMessage(value, field: 4)
            case .allExtensionNumbersResponse(let value): visitor.visitMessage(value, field: 5)
            case .listServicesResponse(let value): visitor.visitMessage(value, field: 6)
            case .errorResponse(let value): visitor.visitMessage(value, field: 7)
            case nil: break
            }
        }
    }

    /// `FileDescriptorResponse`: serialized `FileDescriptorProto`s, opaque bytes.
    public struct FileDescriptorResponse: ProtoMessage, Equatable {
        public var fileDescriptorProto: [[UInt8]] = []

        public init() {}

        public init(fileDescriptorProto: [[UInt8]]) {
            self.fileDescriptorProto = fileDescriptorProto
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: fileDescriptorProto.append(try reader.readBytes())
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitRepeatedBytes(fileDescriptorProto, field: 1)
        }
    }

    /// `ExtensionNumberResponse`: the extension numbers of one message type.
    public struct ExtensionNumberResponse: ProtoMessage, Equatable {
        public var baseTypeName = ""
        public var extensionNumber: [Int32] = []

        public init() {}

        public init(baseTypeName: String, extensionNumber: [Int32]) {
            self.baseTypeName = baseTypeName
            self.extensionNumber = extensionNumber
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: baseTypeName = try reader.readString()
            case 2: try reader.readRepeatedInt32(into: &extensionNumber)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(baseTypeName, field: 1)
            visitor.visitPackedInt32(extensionNumber, field: 2)
        }
    }

    /// `ListServiceResponse`: the services a server offers.
    public struct ListServiceResponse: ProtoMessage, Equatable {
        public var service: [ServiceResponse] = []

        public init() {}

        public init(service: [ServiceResponse]) {
            self.service = service
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.appendMessage(to: &service)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitRepeatedMessages(service, field: 1)
        }
    }

    /// `ServiceResponse`: one service's full name.
    public struct ServiceResponse: ProtoMessage, Equatable {
        public var name = ""

        public init() {}

        public init(name: String) {
            self.name = name
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
        }
    }

    /// `ErrorResponse`: a gRPC status code and message, carried inside a normal response.
    public struct ErrorResponse: ProtoMessage, Equatable {
        public var errorCode: Int32 = 0
        public var errorMessage = ""

        public init() {}

        public init(errorCode: Int32, errorMessage: String) {
            self.errorCode = errorCode
            self.errorMessage = errorMessage
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: errorCode = try reader.readInt32()
            case 2: errorMessage = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitInt32(errorCode, field: 1)
            visitor.visitString(errorMessage, field: 2)
        }
    }
}
