public import ProtoWire

/// Messages of `Proto/grpc/health/v1/health.proto` (package `grpc.health.v1`), written by hand on `ProtoWire`.
public enum GRPCHealthV1 {}

extension GRPCHealthV1 {
    /// `grpc.health.v1.HealthCheckRequest`.
    public struct HealthCheckRequest: ProtoMessage, Equatable {
        /// The service to check; "" is the server as a whole.
        public var service = ""

        public init() {}

        public init(service: String) {
            self.service = service
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: service = try reader.readString()
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(service, field: 1)
        }
    }

    /// `grpc.health.v1.HealthCheckResponse`.
    public struct HealthCheckResponse: ProtoMessage, Equatable {
        /// `grpc.health.v1.HealthCheckResponse.ServingStatus`, kept as its raw number.
        public struct ServingStatus: RawRepresentable, Hashable, Sendable {
            public var rawValue: Int32
            public init(rawValue: Int32) { self.rawValue = rawValue }

            public static let unknown = ServingStatus(rawValue: 0)
            public static let serving = ServingStatus(rawValue: 1)
            public static let notServing = ServingStatus(rawValue: 2)
            /// Used only by Watch.
            public static let serviceUnknown = ServingStatus(rawValue: 3)
        }

        public var status = ServingStatus.unknown

        public init() {}

        public init(status: ServingStatus) {
            self.status = status
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: status = ServingStatus(rawValue: try reader.readEnum())
            default: try reader.skipField()
            }
        }

        @inlinable
        public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitEnum(status.rawValue, field: 1)
        }
    }
}
