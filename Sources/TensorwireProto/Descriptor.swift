public import ProtoWire

/// The subset of `google/protobuf/descriptor.proto` (package `google.protobuf`) that server reflection needs to
/// index symbols, written by hand on `ProtoWire`. Decoding keeps only the listed fields and skips the rest
/// (options, source info, oneofs, ranges), so re-encoding one of these values is *not* the original file: the raw
/// bytes of a file are kept beside its decoded form (`DescriptorFile`) and those are what reflection sends.
public enum ProtobufDescriptor {}

extension ProtobufDescriptor {
    /// `google.protobuf.FileDescriptorProto` (subset): one .proto file's name, package, imports and top-level
    /// declarations.
    public struct FileDescriptorProto: ProtoMessage, Equatable {
        /// The file's path as other files import it, such as `grpc/health/v1/health.proto`.
        public var name = ""
        public var package = ""
        /// Imported file names, exactly as written in the `import` statements.
        public var dependency: [String] = []
        public var messageType: [DescriptorProto] = []
        public var enumType: [EnumDescriptorProto] = []
        public var service: [ServiceDescriptorProto] = []
        public var `extension`: [FieldDescriptorProto] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: package = try reader.readString()
            case 3: dependency.append(try reader.readString())
            case 4: try reader.appendMessage(to: &messageType)
            case 5: try reader.appendMessage(to: &enumType)
            case 6: try reader.appendMessage(to: &service)
            case 7: try reader.appendMessage(to: &`extension`)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitString(package, field: 2)
            visitor.visitRepeatedStrings(dependency, field: 3)
            visitor.visitRepeatedMessages(messageType, field: 4)
            visitor.visitRepeatedMessages(enumType, field: 5)
            visitor.visitRepeatedMessages(service, field: 6)
            visitor.visitRepeatedMessages(`extension`, field: 7)
        }
    }

    /// `google.protobuf.DescriptorProto` (subset): a message type, its fields and what is nested in it.
    public struct DescriptorProto: ProtoMessage, Equatable {
        public var name = ""
        public var field: [FieldDescriptorProto] = []
        public var nestedType: [DescriptorProto] = []
        public var enumType: [EnumDescriptorProto] = []
        public var `extension`: [FieldDescriptorProto] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: try reader.appendMessage(to: &self.field)
            case 3: try reader.appendMessage(to: &nestedType)
            case 4: try reader.appendMessage(to: &enumType)
            case 6: try reader.appendMessage(to: &`extension`)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitRepeatedMessages(field, field: 2)
            visitor.visitRepeatedMessages(nestedType, field: 3)
            visitor.visitRepeatedMessages(enumType, field: 4)
            visitor.visitRepeatedMessages(`extension`, field: 6)
        }
    }

    /// `google.protobuf.FieldDescriptorProto` (subset): a field or an extension.
    public struct FieldDescriptorProto: ProtoMessage, Equatable {
        public var name = ""
        /// For extensions: the extended message's fully-qualified name, with protoc's leading dot.
        public var extendee = ""
        public var number: Int32 = 0
        /// `Label`: 1 optional, 2 required, 3 repeated.
        public var label: Int32 = 0
        /// `Type`: 1 double … 9 string, 11 message, 12 bytes, 14 enum … (descriptor.proto's numbering).
        public var type: Int32 = 0
        /// For message and enum fields: the type's fully-qualified name, with protoc's leading dot.
        public var typeName = ""

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: extendee = try reader.readString()
            case 3: number = try reader.readInt32()
            case 4: label = try reader.readEnum()
            case 5: type = try reader.readEnum()
            case 6: typeName = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitString(extendee, field: 2)
            visitor.visitInt32(number, field: 3)
            visitor.visitEnum(label, field: 4)
            visitor.visitEnum(type, field: 5)
            visitor.visitString(typeName, field: 6)
        }
    }

    /// `google.protobuf.EnumDescriptorProto` (subset): an enum and its value names.
    public struct EnumDescriptorProto: ProtoMessage, Equatable {
        public var name = ""
        public var value: [EnumValueDescriptorProto] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: try reader.appendMessage(to: &value)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitRepeatedMessages(value, field: 2)
        }
    }

    /// `google.protobuf.EnumValueDescriptorProto` (subset).
    public struct EnumValueDescriptorProto: ProtoMessage, Equatable {
        public var name = ""
        public var number: Int32 = 0

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: number = try reader.readInt32()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitInt32(number, field: 2)
        }
    }

    /// `google.protobuf.ServiceDescriptorProto` (subset): a service and its methods.
    public struct ServiceDescriptorProto: ProtoMessage, Equatable {
        public var name = ""
        public var method: [MethodDescriptorProto] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: try reader.appendMessage(to: &method)
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitRepeatedMessages(method, field: 2)
        }
    }

    /// `google.protobuf.MethodDescriptorProto` (subset): enough to check a router's `:path` table against the
    /// descriptors (types and streaming flags).
    public struct MethodDescriptorProto: ProtoMessage, Equatable {
        public var name = ""
        /// Fully-qualified request type, with protoc's leading dot.
        public var inputType = ""
        /// Fully-qualified response type, with protoc's leading dot.
        public var outputType = ""
        public var clientStreaming = false
        public var serverStreaming = false

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: inputType = try reader.readString()
            case 3: outputType = try reader.readString()
            case 5: clientStreaming = try reader.readBool()
            case 6: serverStreaming = try reader.readBool()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitString(inputType, field: 2)
            visitor.visitString(outputType, field: 3)
            visitor.visitBool(clientStreaming, field: 5)
            visitor.visitBool(serverStreaming, field: 6)
        }
    }
}
