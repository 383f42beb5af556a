import ProtoWire
import ServiceSupport
import TensorwireProto
import Testing

typealias Request = GRPCReflection.ServerReflectionRequest
typealias Response = GRPCReflection.ServerReflectionResponse

/// Server reflection answers, checked the way grpcurl uses them (health-reflection.md section 2).
struct ReflectionResponderTests {
    static let served = ["tensorwire.v1.Inference", "grpc.health.v1.Health"]

    static func responder() throws -> ReflectionResponder {
        try ReflectionResponder(servedServices: served)
    }

    /// The names of the files in a file response, in order; nil for any other answer.
    static func fileNames(_ response: Response) throws -> [String]? {
        guard case .fileDescriptorResponse(let files) = response.messageResponse else { return nil }
        return try files.fileDescriptorProto.map {
            try ProtobufDescriptor.FileDescriptorProto(serializedBytes: $0).name
        }
    }

    static func errorCode(_ response: Response) -> Int32? {
        guard case .errorResponse(let error) = response.messageResponse else { return nil }
        return error.errorCode
    }

    @Test func listServicesListsServedServicesThenBothReflectionServices() throws {
        let response = try Self.responder().respond(to: Request(host: "h", .listServices("*")))
        #expect(
            response.messageResponse
                == .listServicesResponse(
                    .init(service: [
                        .init(name: "tensorwire.v1.Inference"), .init(name: "grpc.health.v1.Health"),
                        .init(name: "grpc.reflection.v1.ServerReflection"),
                        .init(name: "grpc.reflection.v1alpha.ServerReflection"),
                    ])))
        #expect(response.validHost == "h")
        #expect(response.originalRequest == Request(host: "h", .listServices("*")))
    }

    @Test func everyListedServiceResolvesToItsFile() throws {
        let responder = try Self.responder()
        let expected = [
            "tensorwire.v1.Inference": "tensorwire/v1/inference.proto",
            "grpc.health.v1.Health": "grpc/health/v1/health.proto",
            "grpc.reflection.v1.ServerReflection": "grpc/reflection/v1/reflection.proto",
            "grpc.reflection.v1alpha.ServerReflection": "grpc/reflection/v1alpha/reflection.proto",
        ]
        #expect(Set(responder.listedServices) == Set(expected.keys))
        for service in responder.listedServices {
            let names = try Self.fileNames(responder.respond(to: Request(.fileContainingSymbol(service))))
            #expect(names?.first == expected[service], "\(service)")
        }
    }

    @Test func everyMethodMessageAndEnumOfInferenceProtoResolves() throws {
        let responder = try Self.responder()
        let file = try #require(responder.pool.file(named: "tensorwire/v1/inference.proto")).proto
        var symbols: [String] = []
        func add(_ message: ProtobufDescriptor.DescriptorProto, scope: String) {
            let name = scope + "." + message.name
            symbols.append(name)
            symbols += message.field.map { name + "." + $0.name }
            symbols += message.enumType.map { name + "." + $0.name }
            for nested in message.nestedType { add(nested, scope: name) }
        }
        for message in file.messageType { add(message, scope: file.package) }
        symbols += file.enumType.map { file.package + "." + $0.name }
        symbols += file.enumType.flatMap { $0.value.map { file.package + "." + $0.name } }
        for service in file.service {
            symbols.append(file.package + "." + service.name)
            symbols += service.method.map { file.package + "." + service.name + "." + $0.name }
        }
        #expect(symbols.contains("tensorwire.v1.Inference.PredictStream"))
        #expect(symbols.contains("tensorwire.v1.PredictRequest"))
        #expect(symbols.contains("tensorwire.v1.DataType"))
        #expect(symbols.count > 40)
        for symbol in symbols {
            let names = try Self.fileNames(responder.respond(to: Request(.fileContainingSymbol(symbol))))
            #expect(names == ["tensorwire/v1/inference.proto"], "\(symbol)")
        }
    }

    @Test func nestedTypesEnumValuesAndALeadingDotResolve() throws {
        let responder = try Self.responder()
        for symbol in [
            "grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN",
            ".grpc.health.v1.Health.Watch", "grpc.health.v1.HealthCheckRequest.service",
            // grpcurl spells an enum value under its enum's name.
            "grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING",
        ] {
            let names = try Self.fileNames(responder.respond(to: Request(.fileContainingSymbol(symbol))))
            #expect(names == ["grpc/health/v1/health.proto"], "\(symbol)")
        }
    }

    @Test func unknownNamesAreNotFoundInsideANormalResponse() throws {
        let responder = try Self.responder()
        let requests: [Request] = [
            Request(host: "x", .fileContainingSymbol("tensorwire.v1.Nope")),
            Request(.fileContainingSymbol("tensorwire.v1")),
            Request(.fileContainingSymbol("")),
            Request(.fileByFilename("inference.proto")),
            Request(
                .fileContainingExtension(.init(containingType: "tensorwire.v1.PredictRequest", extensionNumber: 100))),
            Request(.allExtensionNumbersOfType("tensorwire.v1.Nope")),
            Request(.allExtensionNumbersOfType("tensorwire.v1.Inference")),
        ]
        for request in requests {
            let response = responder.respond(to: request)
            #expect(Self.errorCode(response) == 5, "\(request)")
            #expect(response.originalRequest == request)
            #expect(response.validHost == request.host)
        }
        #expect(Self.errorCode(responder.respond(to: Request())) == 3)
    }

    @Test func fileByFilenameAndExtensionNumbersOfAKnownMessage() throws {
        let responder = try Self.responder()
        let names = try Self.fileNames(responder.respond(to: Request(.fileByFilename("grpc/health/v1/health.proto"))))
        #expect(names == ["grpc/health/v1/health.proto"])
        let response = responder.respond(to: Request(.allExtensionNumbersOfType(".tensorwire.v1.PredictRequest")))
        #expect(
            response.messageResponse
                == .allExtensionNumbersResponse(
                    .init(baseTypeName: "tensorwire.v1.PredictRequest", extensionNumber: [])))
    }

    @Test func aServedServiceWithoutADescriptorIsAStartupError() {
        #expect(
            throws: ReflectionResponder.ConfigurationError.serviceWithoutDescriptor("inference.NotDeclaredService")
        ) {
            try ReflectionResponder(servedServices: ["inference.NotDeclaredService"])
        }
        #expect(throws: ReflectionResponder.ConfigurationError.serviceWithoutDescriptor("tensorwire.v1.PredictRequest"))
        {
            try ReflectionResponder(servedServices: ["tensorwire.v1.PredictRequest"])
        }
    }

    // MARK: A synthetic pool: dependencies and extensions (the embedded proto3 files have neither)

    static func file(
        _ name: String, package: String, dependencies: [String] = [], messages: [String] = [],
        extensions: [(name: String, extendee: String, number: Int32)] = []
    ) throws -> DescriptorFile {
        var proto = ProtobufDescriptor.FileDescriptorProto()
        proto.name = name
        proto.package = package
        proto.dependency = dependencies
        proto.messageType = messages.map {
            var message = ProtobufDescriptor.DescriptorProto()
            message.name = $0
            return message
        }
        proto.extension = extensions.map {
            var field = ProtobufDescriptor.FieldDescriptorProto()
            field.name = $0.name
            field.extendee = $0.extendee
            field.number = $0.number
            return field
        }
        return try DescriptorFile(bytes: proto.serializedBytes())
    }

    /// Four files with imports and extensions, plus the reflection files (a responder always lists reflection).
    static func syntheticPool() throws -> DescriptorPool {
        let reflection = try EmbeddedDescriptors.files.filter { $0.name.hasPrefix("grpc/reflection/") }
        return try DescriptorPool(
            files: reflection + [
                file("a.proto", package: "p", dependencies: ["b.proto", "c.proto"], messages: ["A"]),
                file("b.proto", package: "p", dependencies: ["c.proto", "d.proto"], messages: ["B"]),
                file("c.proto", package: "p", messages: ["C"]),
                file(
                    "d.proto", package: "q", dependencies: ["c.proto"],
                    extensions: [("d_ext", ".p.C", 100), ("e", ".p.C", 7)]),
            ])
    }

    @Test func fileResponsesCarryEveryTransitiveDependencyOnceBreadthFirst() throws {
        let responder = try ReflectionResponder(pool: Self.syntheticPool(), servedServices: [])
        #expect(
            try Self.fileNames(responder.respond(to: Request(.fileContainingSymbol("p.A")))) == [
                "a.proto", "b.proto", "c.proto", "d.proto",
            ])
        #expect(
            try Self.fileNames(responder.respond(to: Request(.fileByFilename("d.proto")))) == ["d.proto", "c.proto"])
    }

    @Test func extensionsAreIndexedByExtendedTypeAndNumber() throws {
        let responder = try ReflectionResponder(pool: Self.syntheticPool(), servedServices: [])
        let found = responder.respond(
            to: Request(.fileContainingExtension(.init(containingType: "p.C", extensionNumber: 100))))
        #expect(try Self.fileNames(found) == ["d.proto", "c.proto"])
        #expect(
            responder.respond(to: Request(.allExtensionNumbersOfType("p.C"))).messageResponse
                == .allExtensionNumbersResponse(.init(baseTypeName: "p.C", extensionNumber: [7, 100])))
        #expect(
            try Self.fileNames(responder.respond(to: Request(.fileContainingSymbol("q.d_ext")))) == [
                "d.proto", "c.proto",
            ])
    }

    @Test func aMissingDependencyOrADuplicateNameIsABuildError() throws {
        #expect(throws: DescriptorPool.BuildError.missingDependency(file: "a.proto", dependency: "b.proto")) {
            try DescriptorPool(files: [Self.file("a.proto", package: "p", dependencies: ["b.proto"])])
        }
        #expect(throws: DescriptorPool.BuildError.duplicateSymbol("p.A", files: ["a.proto", "b.proto"])) {
            try DescriptorPool(files: [
                Self.file("a.proto", package: "p", messages: ["A"]),
                Self.file("b.proto", package: "p", messages: ["A"]),
            ])
        }
    }

    // MARK: The messages

    @Test func requestGoldenBytes() throws {
        // Encodings as protoc's reference encoder writes them: field 7 "*"; an empty oneof string is still present.
        #expect(Request(.listServices("*")).serializedBytes() == [0x3A, 0x01, 0x2A])
        #expect(Request(.listServices("")).serializedBytes() == [0x3A, 0x00])
        #expect(
            Request(host: "h", .fileContainingExtension(.init(containingType: "a.B", extensionNumber: 5)))
                .serializedBytes() == [0x0A, 0x01, 0x68, 0x2A, 0x07, 0x0A, 0x03, 0x61, 0x2E, 0x42, 0x10, 0x05])
        #expect(try Request(serializedBytes: [0x3A, 0x00]) == Request(.listServices("")))
    }

    @Test func requestsAndResponsesRoundTrip() throws {
        let requests: [Request] = [
            Request(), Request(host: "localhost:50051", .fileByFilename("a.proto")),
            Request(.fileContainingSymbol("x.Y")),
            Request(.fileContainingExtension(.init(containingType: "x.Y", extensionNumber: -1))),
            Request(.allExtensionNumbersOfType("x.Y")), Request(.listServices("*")),
        ]
        for request in requests {
            #expect(try Request(serializedBytes: request.serializedBytes()) == request)
        }
        let responder = try Self.responder()
        for request in requests + [Request(.fileContainingSymbol("grpc.health.v1.Health"))] {
            let response = responder.respond(to: request)
            #expect(try Response(serializedBytes: response.serializedBytes()) == response)
        }
        let numbers = Response(
            validHost: "", originalRequest: nil,
            .allExtensionNumbersResponse(.init(baseTypeName: "t", extensionNumber: [1, 300])))
        #expect(try Response(serializedBytes: numbers.serializedBytes()) == numbers)
    }

    @Test func theLastOneofMemberWinsAndRepeatedMessageMembersMerge() throws {
        // file_by_filename "a" then list_services "": the later member replaces the earlier one.
        #expect(try Request(serializedBytes: [0x1A, 0x01, 0x61, 0x3A, 0x00]) == Request(.listServices("")))
        // file_containing_extension { containing_type "a" } then { extension_number 3 } merges.
        let merged = try Request(serializedBytes: [0x2A, 0x03, 0x0A, 0x01, 0x61, 0x2A, 0x02, 0x10, 0x03])
        #expect(merged == Request(.fileContainingExtension(.init(containingType: "a", extensionNumber: 3))))
        // Unpacked extension numbers are accepted too.
        let unpacked = try GRPCReflection.ExtensionNumberResponse(serializedBytes: [0x10, 0x01, 0x10, 0x02])
        #expect(unpacked.extensionNumber == [1, 2])
    }
}
