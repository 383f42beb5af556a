public import ProtoWire

/// Messages of `grpc.testing` (`Tools/interop/grpc_interop/protos/src/proto/grpc/testing/messages.proto` and
/// `empty.proto`), the fields the interop cases use, written by hand on `ProtoWire`. Field numbers are the interop
/// wire contract; unknown fields are skipped.
public enum GRPCTesting {}

extension GRPCTesting {
    /// `grpc.testing.Empty`.
    public struct Empty: ProtoMessage, Equatable {
        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            try reader.skipField()
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {}
    }

    /// `grpc.testing.BoolValue`.
    public struct BoolValue: ProtoMessage, Equatable {
        public var value = false

        public init() {}
        public init(_ value: Bool) { self.value = value }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: value = try reader.readBool()
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitBool(value, field: 1)
        }
    }

    /// `grpc.testing.Payload`; `type` is always COMPRESSABLE (0).
    public struct Payload: ProtoMessage, Equatable {
        public var type: Int32 = 0
        public var body: [UInt8] = []

        public init() {}
        public init(body: [UInt8]) { self.body = body }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: type = try reader.readEnum()
            case 2: body = try reader.readBytes()
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitEnum(type, field: 1)
            visitor.visitBytes(body, field: 2)
        }
    }

    /// `grpc.testing.EchoStatus`.
    public struct EchoStatus: ProtoMessage, Equatable {
        public var code: Int32 = 0
        public var message = ""

        public init() {}
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

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitInt32(code, field: 1)
            visitor.visitString(message, field: 2)
        }
    }

    /// `grpc.testing.SimpleRequest`.
    public struct SimpleRequest: ProtoMessage, Equatable {
        public var responseType: Int32 = 0
        public var responseSize: Int32 = 0
        public var payload: Payload?
        public var responseCompressed: BoolValue?
        public var responseStatus: EchoStatus?
        public var expectCompressed: BoolValue?

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: responseType = try reader.readEnum()
            case 2: responseSize = try reader.readInt32()
            case 3: try reader.mergeMessage(into: &payload.defaulted)
            case 6: try reader.mergeMessage(into: &responseCompressed.defaulted)
            case 7: try reader.mergeMessage(into: &responseStatus.defaulted)
            case 8: try reader.mergeMessage(into: &expectCompressed.defaulted)
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitEnum(responseType, field: 1)
            visitor.visitInt32(responseSize, field: 2)
            if let payload { visitor.visitMessage(payload, field: 3) }
            if let responseCompressed { visitor.visitMessage(responseCompressed, field: 6) }
            if let responseStatus { visitor.visitMessage(responseStatus, field: 7) }
            if let expectCompressed { visitor.visitMessage(expectCompressed, field: 8) }
        }
    }

    /// `grpc.testing.SimpleResponse`.
    public struct SimpleResponse: ProtoMessage, Equatable {
        public var payload: Payload?

        public init() {}
        public init(payload: Payload) { self.payload = payload }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.mergeMessage(into: &payload.defaulted)
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            if let payload { visitor.visitMessage(payload, field: 1) }
        }
    }

    /// `grpc.testing.StreamingInputCallRequest`.
    public struct StreamingInputCallRequest: ProtoMessage, Equatable {
        public var payload: Payload?
        public var expectCompressed: BoolValue?

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.mergeMessage(into: &payload.defaulted)
            case 2: try reader.mergeMessage(into: &expectCompressed.defaulted)
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            if let payload { visitor.visitMessage(payload, field: 1) }
            if let expectCompressed { visitor.visitMessage(expectCompressed, field: 2) }
        }
    }

    /// `grpc.testing.StreamingInputCallResponse`.
    public struct StreamingInputCallResponse: ProtoMessage, Equatable {
        public var aggregatedPayloadSize: Int32 = 0

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: aggregatedPayloadSize = try reader.readInt32()
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitInt32(aggregatedPayloadSize, field: 1)
        }
    }

    /// `grpc.testing.ResponseParameters`.
    public struct ResponseParameters: ProtoMessage, Equatable {
        public var size: Int32 = 0
        public var intervalUs: Int32 = 0
        public var compressed: BoolValue?

        public init() {}
        public init(size: Int32, compressed: Bool? = nil) {
            self.size = size
            self.compressed = compressed.map(BoolValue.init)
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: size = try reader.readInt32()
            case 2: intervalUs = try reader.readInt32()
            case 3: try reader.mergeMessage(into: &compressed.defaulted)
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitInt32(size, field: 1)
            visitor.visitInt32(intervalUs, field: 2)
            if let compressed { visitor.visitMessage(compressed, field: 3) }
        }
    }

    /// `grpc.testing.StreamingOutputCallRequest` (also each request of FullDuplexCall and HalfDuplexCall).
    public struct StreamingOutputCallRequest: ProtoMessage, Equatable {
        public var responseType: Int32 = 0
        public var responseParameters: [ResponseParameters] = []
        public var payload: Payload?
        public var responseStatus: EchoStatus?

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: responseType = try reader.readEnum()
            case 2: responseParameters.append(try reader.readMessage())
            case 3: try reader.mergeMessage(into: &payload.defaulted)
            case 7: try reader.mergeMessage(into: &responseStatus.defaulted)
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitEnum(responseType, field: 1)
            visitor.visitRepeatedMessages(responseParameters, field: 2)
            if let payload { visitor.visitMessage(payload, field: 3) }
            if let responseStatus { visitor.visitMessage(responseStatus, field: 7) }
        }
    }

    /// `grpc.testing.StreamingOutputCallResponse`.
    public struct StreamingOutputCallResponse: ProtoMessage, Equatable {
        public var payload: Payload?

        public init() {}
        public init(payload: Payload) { self.payload = payload }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.mergeMessage(into: &payload.defaulted)
            default: try reader.skipField()
            }
        }

        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            if let payload { visitor.visitMessage(payload, field: 1) }
        }
    }
}

extension Optional where Wrapped: ProtoMessage {
    /// The wrapped message, created empty on first access, so a singular message field that occurs twice merges.
    var defaulted: Wrapped {
        get { self ?? Wrapped() }
        set { self = newValue }
    }
}
