// Tests/RPCCoreTests/RouterTests.swift: path parsing and method lookup (W-12).

import RPCCore
import Testing

@Suite struct RouterTests {
    typealias Handler = @Sendable (Int) -> Int

    static func makeRouter() -> Router<Handler> {
        var router = Router<Handler>()
        router.register(MethodDescriptor(service: "pkg.Svc", method: "Double", kind: .unary)) { $0 * 2 }
        router.register(MethodDescriptor(service: "pkg.Svc", method: "Stream", kind: .bidirectionalStreaming)) { $0 }
        router.register(MethodDescriptor(service: "grpc.health.v1.Health", method: "Check", kind: .unary)) { _ in 1 }
        return router
    }

    @Test func findsRegisteredMethodWithItsKindAndHandler() throws {
        let route = try Self.makeRouter().lookup(path: "/pkg.Svc/Double").get()
        #expect(route.descriptor.kind == .unary)
        #expect(route.descriptor.path == "/pkg.Svc/Double")
        #expect(route.handler(21) == 42)
        #expect(try Self.makeRouter().lookup(path: "/pkg.Svc/Stream").get().descriptor.kind == .bidirectionalStreaming)
    }

    @Test(arguments: ["", "/", "noslash", "/pkg.Svc", "/pkg.Svc/", "//Double", "/pkg.Svc/Double/x", "pkg.Svc/Double"])
    func malformedPathIsUnimplementedWithGrpcGoWording(_ path: String) {
        guard case .failure(let error) = Self.makeRouter().lookup(path: path) else {
            Issue.record("\(path) matched")
            return
        }
        #expect(error.code == .unimplemented)
        #expect(error.message == "malformed method name: \"\(path)\"")
    }

    @Test func unknownServiceIsUnimplementedWithGrpcGoWording() {
        guard case .failure(let error) = Self.makeRouter().lookup(path: "/pkg.Other/Double") else {
            Issue.record("matched")
            return
        }
        #expect(error.code == .unimplemented)
        #expect(error.message == "unknown service pkg.Other")
    }

    @Test func unknownMethodIsUnimplementedWithGrpcGoWording() {
        guard case .failure(let error) = Self.makeRouter().lookup(path: "/pkg.Svc/Triple") else {
            Issue.record("matched")
            return
        }
        #expect(error.code == .unimplemented)
        #expect(error.message == "unknown method Triple for service pkg.Svc")
    }

    @Test func pathMatchingIsCaseSensitive() {
        guard case .failure(let error) = Self.makeRouter().lookup(path: "/pkg.svc/Double") else {
            Issue.record("matched")
            return
        }
        #expect(error.message == "unknown service pkg.svc")
    }

    @Test func listsServicesAndMethodsSorted() {
        let router = Self.makeRouter()
        #expect(router.serviceNames == ["grpc.health.v1.Health", "pkg.Svc"])
        #expect(router.methods.map(\.path) == ["/grpc.health.v1.Health/Check", "/pkg.Svc/Double", "/pkg.Svc/Stream"])
    }

    @Test func mappedHandlersKeepEveryMethodAndTheMissWording() throws {
        var transformed: [String] = []
        let mapped = Self.makeRouter().mapHandlers { descriptor, handler -> Handler in
            transformed.append(descriptor.path)
            return { handler($0) + 1 }
        }
        #expect(transformed.sorted() == ["/grpc.health.v1.Health/Check", "/pkg.Svc/Double", "/pkg.Svc/Stream"])
        #expect(try mapped.lookup(path: "/pkg.Svc/Double").get().handler(21) == 43)
        #expect(try mapped.lookup(path: "/pkg.Svc/Stream").get().descriptor.kind == .bidirectionalStreaming)
        #expect(mapped.methods == Self.makeRouter().methods)
        #expect(mapped.serviceNames == ["grpc.health.v1.Health", "pkg.Svc"])
        guard case .failure(let error) = mapped.lookup(path: "/pkg.Svc/Triple") else {
            Issue.record("matched")
            return
        }
        #expect(error.message == "unknown method Triple for service pkg.Svc")
    }

    @Test func kindsKnowWhichDirectionsStream() {
        #expect(!RPCKind.unary.isRequestStreaming && !RPCKind.unary.isResponseStreaming)
        #expect(RPCKind.clientStreaming.isRequestStreaming && !RPCKind.clientStreaming.isResponseStreaming)
        #expect(!RPCKind.serverStreaming.isRequestStreaming && RPCKind.serverStreaming.isResponseStreaming)
        #expect(RPCKind.bidirectionalStreaming.isRequestStreaming && RPCKind.bidirectionalStreaming.isResponseStreaming)
    }
}
