public import TensorwireProto

/// The logic of `grpc.reflection.v1.ServerReflection` and `grpc.reflection.v1alpha.ServerReflection`
/// (health-reflection.md section 2), sans-I/O: it owns a descriptor pool and the list of served service names,
/// and turns each request of a `ServerReflectionInfo` stream into its one response. Immutable; any thread.
///
/// The stream handler decodes each request message, calls `respond(to:)`, and sends the result, one response
/// per request, in order, ending the stream with OK when the client half-closes. A name that is not found is a
/// normal response carrying `error_response` (NOT_FOUND), never a gRPC status. Every file response carries the
/// file and all its transitive dependencies (as grpcio's Python server does; grpc-go skips files sent earlier on
/// the same stream, and clients accept both).
public struct ReflectionResponder: Sendable {
    /// The two reflection services; always listed, since every listed service must resolve.
    public static let reflectionServices = [
        "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
    ]

    /// gRPC status codes used inside `error_response`.
    static let notFound: Int32 = 5
    static let invalidArgument: Int32 = 3

    /// A configuration mistake found at startup.
    public enum ConfigurationError: Error, Equatable {
        /// A served service has no descriptor, so `grpcurl describe` would fail on it.
        case serviceWithoutDescriptor(String)
    }

    public let pool: DescriptorPool
    /// What `list_services` answers: the served services, then the reflection services, each once.
    public let listedServices: [String]

    /// A responder over `pool` that lists `servedServices` (fully-qualified names, such as
    /// `grpc.health.v1.Health`) plus the reflection services. Throws if a listed service is not in `pool`.
    public init(pool: DescriptorPool, servedServices: [String]) throws {
        var listed: [String] = []
        var seen: Set<String> = []
        for name in servedServices + Self.reflectionServices where seen.insert(name).inserted {
            guard pool.kind(of: name) == .service, !name.hasPrefix(".") else {
                throw ConfigurationError.serviceWithoutDescriptor(name)
            }
            listed.append(name)
        }
        self.pool = pool
        self.listedServices = listed
    }

    /// A responder over the embedded descriptors (every file under `Proto/`).
    public init(servedServices: [String]) throws {
        try self.init(pool: DescriptorPool.embedded(), servedServices: servedServices)
    }

    /// The response to one request: `valid_host` and `original_request` echo the request.
    public func respond(
        to request: GRPCReflection.ServerReflectionRequest
    ) -> GRPCReflection.ServerReflectionResponse {
        GRPCReflection.ServerReflectionResponse(
            validHost: request.host,
            originalRequest: request,
            answer(request.messageRequest)
        )
    }

    func answer(
        _ messageRequest: GRPCReflection.ServerReflectionRequest.MessageRequest?
    ) -> GRPCReflection.ServerReflectionResponse.MessageResponse {
        switch messageRequest {
        case .listServices:
            return .listServicesResponse(
                GRPCReflection.ListServiceResponse(service: listedServices.map { .init(name: $0) }))
        case .fileByFilename(let name):
            guard let file = pool.file(named: name) else { return Self.error(Self.notFound, "file not found: \(name)") }
            return files(file)
        case .fileContainingSymbol(let symbol):
            guard let file = pool.file(containingSymbol: symbol) else {
                return Self.error(Self.notFound, "symbol not found: \(symbol)")
            }
            return files(file)
        case .fileContainingExtension(let request):
            guard let file = pool.file(containingExtensionOf: request.containingType, number: request.extensionNumber)
            else {
                return Self.error(
                    Self.notFound, "extension not found: \(request.containingType) \(request.extensionNumber)")
            }
            return files(file)
        case .allExtensionNumbersOfType(let type):
            guard let numbers = pool.extensionNumbers(of: type) else {
                return Self.error(Self.notFound, "message type not found: \(type)")
            }
            return .allExtensionNumbersResponse(
                GRPCReflection.ExtensionNumberResponse(
                    baseTypeName: DescriptorPool.strippingLeadingDot(type), extensionNumber: numbers))
        case nil:
            // grpc-go ends the stream with INVALID_ARGUMENT here; an in-band error keeps the stream usable.
            return Self.error(Self.invalidArgument, "request sets none of message_request")
        }
    }

    func files(_ file: DescriptorFile) -> GRPCReflection.ServerReflectionResponse.MessageResponse {
        .fileDescriptorResponse(
            GRPCReflection.FileDescriptorResponse(fileDescriptorProto: pool.withDependencies(file).map(\.bytes)))
    }

    static func error(_ code: Int32, _ message: String) -> GRPCReflection.ServerReflectionResponse.MessageResponse {
        .errorResponse(GRPCReflection.ErrorResponse(errorCode: code, errorMessage: message))
    }
}
