// Sources/Server/AuthGate.swift: authentication and scope checks in front of every gRPC method and REST route.

public import Auth
internal import HTTPTypes
public import Logging
internal import ProtoWire
public import RPCCore
public import Transport

/// The server's authorization check (issue 19): wraps every router handler but gRPC health, and answers REST
/// requests before `RESTService` dispatches them. Credentials are read from `authorization` (gRPC metadata or HTTP
/// header) and the verified client certificate's identity under mutual TLS (`peerIdentity`); the decision is `Auth.Authorizer`'s, against the key set `KeyFileWatcher` keeps current. A call is
/// authenticated when it starts; methods that name a model are authorized per request message, after peeking the
/// model name out of the protobuf bytes (no full decode), so a refusal precedes decoding, batching and model
/// control. Refusals are counted in `requests_total` with their code and no model. A value; any thread.
public struct AuthGate: Sendable {
    public let keys: KeyFileWatcher
    let metrics: ServerMetrics?
    let wallClock: @Sendable () -> WallTime

    public init(keys: KeyFileWatcher, metrics: ServerMetrics?, wallClock: @escaping @Sendable () -> WallTime = { .now() }) {
        self.keys = keys
        self.metrics = metrics
        self.wallClock = wallClock
    }

    /// What a gRPC method needs: a fixed action, or a model-scoped one whose model name is string field `field` of
    /// each request message (`allOnEmpty`: an empty name means every model).
    enum MethodRule {
        case open
        case fixed(AuthAction)
        case infer(field: Int)
        case read(field: Int, allOnEmpty: Bool)
    }

    static func rule(for descriptor: MethodDescriptor) -> MethodRule {
        switch (descriptor.service, descriptor.method) {
        case (HealthRPC.serviceName, _): .open
        case (InferenceRPC.serviceName, "Predict"), (InferenceRPC.serviceName, "PredictStream"): .infer(field: 1)
        case (InferenceRPC.serviceName, "ListModels"): .fixed(.read(model: nil))
        case (InferenceRPC.serviceName, "GetModel"): .read(field: 1, allOnEmpty: false)
        case (KServeRPC.serviceName, "ServerLive"), (KServeRPC.serviceName, "ServerReady"): .fixed(.health)
        case (KServeRPC.serviceName, "ServerMetadata"): .fixed(.serverInfo)
        case (KServeRPC.serviceName, "ModelReady"), (KServeRPC.serviceName, "ModelMetadata"),
             (KServeRPC.serviceName, "ModelConfig"):
            .read(field: 1, allOnEmpty: false)
        case (KServeRPC.serviceName, "ModelStatistics"): .read(field: 1, allOnEmpty: true)
        case (KServeRPC.serviceName, "ModelInfer"), (KServeRPC.serviceName, "ModelStreamInfer"): .infer(field: 1)
        case (KServeRPC.serviceName, _): .fixed(.admin)  // RepositoryIndex, RepositoryModelLoad/Unload
        case (let service, _) where service.hasPrefix("grpc.reflection."): .fixed(.reflection)
        default: .fixed(.admin)  // a method added later is closed until it is given a rule
        }
    }

    static func origin(for descriptor: MethodDescriptor) -> RequestOrigin {
        descriptor.service == KServeRPC.serviceName ? .grpcKServe : .grpcNative
    }

    /// A router with every handler but health behind the check.
    public func guarding(_ router: Router<ServerMethodHandler>) -> Router<ServerMethodHandler> {
        var guarded = Router<ServerMethodHandler>()
        for descriptor in router.methods {
            guard case .success(let route) = router.lookup(path: descriptor.path) else { continue }
            guarded.register(descriptor, handler: guarding(route.handler, descriptor))
        }
        return guarded
    }

    func guarding(_ inner: ServerMethodHandler, _ descriptor: MethodDescriptor) -> ServerMethodHandler {
        let rule = Self.rule(for: descriptor)
        if case .open = rule { return inner }
        let origin = Self.origin(for: descriptor)
        return ServerMethodHandler { call in
            if case .fixed(let action) = rule, keys.isPublic(action) { return inner.begin(call) }
            let entry: AuthEntry
            switch keys.authenticate(authorization: call.authorization, identity: call.peerIdentity, now: wallClock()) {
            case .success(let found): entry = found
            case .failure(let refusal): return refuse(call, refusal.decision, origin)
            }
            switch rule {
            case .open:
                return inner.begin(call)
            case .fixed(let action):
                let decision = Authorizer.authorize(entry, action)
                guard case .allowed = decision else { return refuse(call, decision, origin) }
                return inner.begin(call)
            case .infer(let field), .read(let field, _):
                // One object per call; each closure captures only it, so no closure context is allocated.
                let gated = GatedCall(gate: self, call: call, inner: inner.begin(call), entry: entry, rule: rule,
                                      field: field, origin: origin)
                return RequestObserver(onMessage: { [gated] bytes in gated.message(bytes) },
                                       onEnd: { [gated] in gated.end() })
            }
        }
    }

    /// A model-scoped call after authentication: each request message is authorized for the model it names
    /// before the handler sees it. Touched only on the call's loop thread (the observer's closures).
    private final class GatedCall {
        let gate: AuthGate
        let call: ServerCall
        let inner: RequestObserver
        let entry: AuthEntry
        let rule: MethodRule
        let field: Int
        let origin: RequestOrigin
        /// The gate ended the call; later messages of a stream are not handed on.
        var ended = false

        init(gate: AuthGate, call: ServerCall, inner: RequestObserver, entry: AuthEntry, rule: MethodRule, field: Int,
             origin: RequestOrigin) {
            self.gate = gate
            self.call = call
            self.inner = inner
            self.entry = entry
            self.rule = rule
            self.field = field
            self.origin = origin
        }

        func message(_ bytes: [UInt8]) {
            guard !ended else { return }
            let model = AuthGate.peekString(field: field, in: bytes)
            let action: AuthAction = switch rule {
            case .read(_, true) where model.isEmpty: .read(model: nil)
            case .read: .read(model: model)
            default: .infer(model: model)
            }
            let decision = Authorizer.authorize(entry, action)
            guard case .allowed = decision else {
                ended = true
                _ = gate.refuse(call, decision, origin)
                return
            }
            inner.onMessage(bytes)
        }

        func end() {
            if !ended { inner.onEnd() }
        }
    }

    /// Ends the call with the refusal's status and counts it.
    fileprivate func refuse(_ call: ServerCall, _ decision: AuthDecision, _ origin: RequestOrigin) -> RequestObserver {
        let error = Self.error(for: decision)
        metrics?.recordUnresolved(origin, code: error.code)
        call.annotate {
            $0.api = origin.api
            $0.statusName = error.code.name
        }
        call.finish(error: error)
        return RequestObserver(onMessage: { _ in })
    }

    static func error(for decision: AuthDecision) -> RPCError {
        switch decision {
        case .allowed: RPCError(code: .unknown, message: "not a refusal")
        case .unauthenticated(let reason): RPCError(code: .unauthenticated, message: reason)
        case .permissionDenied(let scope): RPCError(code: .permissionDenied, message: "this key lacks the scope \(scope)")
        }
    }

    /// The last occurrence of string field `field` (proto3: the last one wins) in a serialized message, or "" when
    /// absent or the bytes do not parse (the handler's decode then answers as it would without the gate).
    static func peekString(field: Int, in bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { buffer in
            var reader = ProtoReader(buffer)
            var found = ""
            do {
                while let number = try reader.nextField() {
                    if number == field, reader.wireType == .lengthDelimited {
                        found = try reader.readString()
                    } else {
                        try reader.skipField()
                    }
                }
            } catch {
                return found
            }
            return found
        }
    }

    // MARK: REST

    /// The action a REST route needs.
    static func action(for route: RESTRoute) -> AuthAction {
        switch route {
        case .metrics: .metrics
        case .serverLive, .serverReady: .health
        case .serverMetadata: .serverInfo
        case .modelMetadata(let model, _), .modelReady(let model, _), .modelConfig(let model, _), .getModel(let model):
            .read(model: model)
        case .modelStatistics(let model, _): .read(model: model)
        case .infer(let model, _), .predict(let model, _): .infer(model: model)
        case .listModels: .read(model: nil)
        case .repositoryIndex, .repositoryLoad, .repositoryUnload: .admin
        }
    }

    /// The 401 or 403 answer to `request` on `route`, or nil when it may go on.
    func refusal(_ route: RESTRoute, _ request: HTTPRequest) -> HTTPResponse? {
        refusal(action: Self.action(for: route), authorization: request.header("authorization"),
                identity: request.peerIdentity, origin: Self.restOrigin(route))
    }

    func refusal(action: AuthAction, authorization: String?, identity: String?, origin: RequestOrigin) -> HTTPResponse? {
        let decision = keys.check(authorization: authorization, identity: identity, action: action, now: wallClock())
        if case .allowed = decision { return nil }
        let error = Self.error(for: decision)
        metrics?.recordUnresolved(origin, code: error.code)
        var response = RESTService.errorResponse(error)
        // RFC 6750 §3: a 401 names the scheme; a 403 says the scope was insufficient.
        let challenge = if case .permissionDenied(let scope) = decision {
            "Bearer error=\"insufficient_scope\", scope=\"\(scope)\""
        } else {
            "Bearer"
        }
        response.headers.append(HeaderField("www-authenticate", challenge))
        return response
    }

    static func restOrigin(_ route: RESTRoute) -> RequestOrigin {
        switch route {
        case .predict, .listModels, .getModel: .httpNative
        default: .httpKServe
        }
    }
}
