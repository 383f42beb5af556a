// Sources/RPCCore/Router.swift: `/package.Service/Method` → registered method (W-12).

/// The four gRPC call shapes. The kind decides request cardinality (W-36) and response cardinality (W-47).
public enum RPCKind: Sendable, Hashable, CaseIterable {
    case unary
    case clientStreaming
    case serverStreaming
    case bidirectionalStreaming

    /// The client may send any number of request messages.
    public var isRequestStreaming: Bool { self == .clientStreaming || self == .bidirectionalStreaming }
    /// The server may send any number of response messages.
    public var isResponseStreaming: Bool { self == .serverStreaming || self == .bidirectionalStreaming }
}

/// A method's identity and shape: the fully-qualified service (`package.Service`), the method name and its kind.
/// Owns only those names; it is what the router matches `:path` against.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    public let service: String
    public let method: String
    public let kind: RPCKind

    /// A descriptor for `service`/`method`. Names must be non-empty and free of `/`; a bad name is a programming error
    /// in the code that registers methods, so it stops the program.
    public init(service: String, method: String, kind: RPCKind) {
        precondition(Self.isValidName(service), "invalid gRPC service name \"\(service)\"")
        precondition(Self.isValidName(method), "invalid gRPC method name \"\(method)\"")
        self.service = service
        self.method = method
        self.kind = kind
    }

    /// The `:path` of this method: `/service/method`.
    public var path: String { "/\(service)/\(method)" }

    public var description: String { "\(path) (\(kind))" }

    /// Splits a `:path` into service and method: exactly `/` + service + `/` + method, both non-empty (W-12).
    /// Anything else (a missing leading slash, a third slash, an empty part) is `nil`.
    public static func parse(path: String) -> (service: Substring, method: Substring)? {
        guard path.first == "/" else { return nil }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (parts[0], parts[1])
    }

    private static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/")
    }
}

/// The method table of a server: it owns, for every registered `/service/method`, the descriptor and a handler of
/// the caller's choosing (the Transport or Server layer decides what a handler is: a closure, an enum, an index).
///
/// Built once at startup, then only read; a `Router` of `Sendable` handlers is `Sendable` and may be shared by every
/// loop thread.
public struct Router<Handler> {
    /// A registered method and its handler.
    public struct Route {
        public let descriptor: MethodDescriptor
        public let handler: Handler
    }

    private var services: [String: [String: Route]] = [:]
    /// The same routes keyed by their whole `:path`: one hash and compare per request, where splitting the path and
    /// building two substrings cost more than the rest of the request headers (callgrind, transport bench).
    @usableFromInline var routesByPath: [String: Route] = [:]

    public init() {}

    /// Registers `handler` for `descriptor`. Registering the same path twice is a programming error.
    public mutating func register(_ descriptor: MethodDescriptor, handler: Handler) {
        precondition(
            services[descriptor.service]?[descriptor.method] == nil, "\(descriptor.path) is registered twice")
        let route = Route(descriptor: descriptor, handler: handler)
        services[descriptor.service, default: [:]][descriptor.method] = route
        routesByPath[descriptor.path] = route
    }

    /// The same methods with each handler replaced by `transform(descriptor, handler)` (a wrapper such as the
    /// server's authorization gate), each transformed once. The path table keeps its layout (`mapValues` neither
    /// rehashes nor moves a key), so every lookup probes what it probed in `self`: rebuilt by registering, the
    /// digits Predict path landed at the end of a longer probe chain, 8 string compares instead of 1 (~800
    /// instructions per request, callgrind, `Tools/bench/unary_cost.py`).
    public func mapHandlers<New>(_ transform: (MethodDescriptor, Handler) throws -> New) rethrows -> Router<New> {
        let byPath = try routesByPath.mapValues { route in
            Router<New>.Route(descriptor: route.descriptor, handler: try transform(route.descriptor, route.handler))
        }
        var mapped = Router<New>()
        mapped.routesByPath = byPath
        mapped.services = services.mapValues { methods in methods.compactMapValues { byPath[$0.descriptor.path] } }
        return mapped
    }

    /// The route for a `:path`, or the UNIMPLEMENTED error a server answers with (W-12, grpc-go wording):
    /// `malformed method name: "<path>"`, `unknown service <svc>`, `unknown method <m> for service <svc>`.
    @inlinable
    public func lookup(path: String) -> Result<Route, RPCError> {
        // A registered path is exactly `/service/method` with valid names, so a hit here is what the split in
        // `lookupMiss` would find; a miss goes through it for the precise error. Inlinable so that the server's
        // per-RPC hit is specialised for its handler type (no run-time generic metadata lookups).
        if let route = routesByPath[path] { return .success(route) }
        return lookupMiss(path: path)
    }

    @usableFromInline
    func lookupMiss(path: String) -> Result<Route, RPCError> {
        guard let (service, method) = MethodDescriptor.parse(path: path) else {
            return .failure(RPCError(code: .unimplemented, message: "malformed method name: \"\(path)\""))
        }
        guard let methods = services[String(service)] else {
            return .failure(RPCError(code: .unimplemented, message: "unknown service \(service)"))
        }
        guard let route = methods[String(method)] else {
            return .failure(RPCError(code: .unimplemented, message: "unknown method \(method) for service \(service)"))
        }
        return .success(route)
    }

    /// The registered service names, sorted (reflection lists them).
    public var serviceNames: [String] { services.keys.sorted() }

    /// Every registered method, sorted by path.
    public var methods: [MethodDescriptor] {
        services.values.flatMap { $0.values.map(\.descriptor) }.sorted { $0.path < $1.path }
    }
}

extension Router: Sendable where Handler: Sendable {}
extension Router.Route: Sendable where Handler: Sendable {}
