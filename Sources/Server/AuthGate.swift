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
        router.mapHandlers { descriptor, handler in guarding(handler, descriptor) }
    }

    func guarding(_ inner: ServerMethodHandler, _ descriptor: MethodDescriptor) -> ServerMethodHandler {
        let rule = Self.rule(for: descriptor)
        if case .open = rule { return inner }
        let method = GatedMethod(gate: self, inner: inner, rule: rule, origin: Self.origin(for: descriptor))
        return ServerMethodHandler { call in method.begin(call) }
    }

    /// One guarded method: its rule and handler, built once, so that a call retains one object for all of them.
    /// Immutable; any thread.
    private final class GatedMethod: Sendable {
        let gate: AuthGate
        let inner: ServerMethodHandler
        let rule: MethodRule
        let origin: RequestOrigin

        init(gate: AuthGate, inner: ServerMethodHandler, rule: MethodRule, origin: RequestOrigin) {
            self.gate = gate
            self.inner = inner
            self.rule = rule
            self.origin = origin
        }

        /// The call's start, on its loop thread: authenticate, then authorize a fixed action now or a model-scoped
        /// one per request message.
        func begin(_ call: ServerCall) -> RequestObserver {
            if case .fixed(let action) = rule, gate.keys.isPublic(action) { return inner.begin(call) }
            let grant: AuthGrant
            let now = gate.wallClock()
            switch gate.keys.grant(authorization: call.authorization, identity: call.peerIdentity, now: now) {
            case .success(let found): grant = found
            case .failure(let refusal): return gate.refuse(call, refusal.decision, origin)
            }
            switch rule {
            case .open:
                return inner.begin(call)
            case .fixed(let action):
                let decision = Authorizer.authorize(grant.entry, action)
                guard case .allowed = decision else { return gate.refuse(call, decision, origin) }
                return inner.begin(call)
            case .infer, .read:
                // One object per call; each closure captures only it, so no closure context is allocated.
                let gated = GatedCall(method: self, call: call, inner: inner.begin(call), grant: grant)
                return RequestObserver(onMessage: { [gated] bytes in gated.message(bytes) },
                                       onEnd: { [gated] in gated.end() })
            }
        }

        /// Whether `grant` may do what this method's request message `bytes` asks, for the model the message names.
        /// Decided on the name's bytes in the message buffer when it is ASCII and every pattern involved is; else
        /// (and for a refusal's reason) by `decision(_:_:)`, which makes the name a `String`: the same answer.
        func allows(_ grant: AuthGrant, _ bytes: [UInt8]) -> Bool {
            let (field, kind, allOnEmpty): (Int, ModelScopeKind, Bool) = switch rule {
            case .infer(let field): (field, .infer, false)
            case .read(let field, let allOnEmpty): (field, .read, allOnEmpty)
            case .open, .fixed: (0, .infer, false)  // not model-scoped: `begin` decides once
            }
            let answer = bytes.withUnsafeBytes { buffer -> Bool? in
                guard let range = AuthGate.peekASCII(field: field, in: buffer), !(allOnEmpty && range.isEmpty) else {
                    return nil
                }
                return grant.allows(kind, asciiModel: UnsafeRawBufferPointer(rebasing: buffer[range]))
            }
            if let answer { return answer }
            if case .allowed = decision(grant, bytes) { return true }
            return false
        }

        /// The decision on a request message with the model name as a `String` (what `allows` falls back on).
        func decision(_ grant: AuthGrant, _ bytes: [UInt8]) -> AuthDecision {
            let action: AuthAction
            switch rule {
            case .open, .fixed:
                return .allowed(grant.entry.name)
            case .infer(let field):
                action = .infer(model: AuthGate.peekString(field: field, in: bytes))
            case .read(let field, let allOnEmpty):
                let model = AuthGate.peekString(field: field, in: bytes)
                action = allOnEmpty && model.isEmpty ? .read(model: nil) : .read(model: model)
            }
            return Authorizer.authorize(grant.entry, action)
        }
    }

    /// A model-scoped call after authentication: each request message is authorized for the model it names
    /// before the handler sees it. Touched only on the call's loop thread (the observer's closures).
    private final class GatedCall {
        let method: GatedMethod
        let call: ServerCall
        let inner: RequestObserver
        let grant: AuthGrant
        /// The gate ended the call; later messages of a stream are not handed on.
        var ended = false

        init(method: GatedMethod, call: ServerCall, inner: RequestObserver, grant: AuthGrant) {
            self.method = method
            self.call = call
            self.inner = inner
            self.grant = grant
        }

        func message(_ bytes: [UInt8]) {
            guard !ended else { return }
            guard method.allows(grant, bytes) else {
                ended = true
                _ = method.gate.refuse(call, method.decision(grant, bytes), method.origin)
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

    /// Where the last occurrence of length-delimited field `field` lies in a serialized message (the range
    /// `peekString` would read: the bytes up to a parse error), when every occurrence up to there is ASCII; nil
    /// when one is not (then `peekString` decides, with its UTF-8 check). An absent field is an empty range.
    static func peekASCII(field: Int, in buffer: UnsafeRawBufferPointer) -> Range<Int>? {
        scanASCII(field: field, in: buffer) ?? readASCII(field: field, in: buffer)
    }

    /// `peekASCII` for the messages clients send: one-byte tags (fields 1-15), varints of at most 9 bytes, fixed32
    /// and fixed64 values, lengths of at most 4 bytes, all within the buffer and every occurrence of `field` ASCII.
    /// Anything else (groups, longer encodings, an error, a non-ASCII name) is nil, and `readASCII` decides with a
    /// `ProtoReader`; what this accepts, the reader parses the same way, so both find the same range. A few dozen
    /// instructions for a Predict request, where the reader took about 300 (callgrind).
    static func scanASCII(field: Int, in buffer: UnsafeRawBufferPointer) -> Range<Int>? {
        var found = 0..<0
        var position = 0
        let count = buffer.count
        while position < count {
            let tag = buffer[position]
            guard tag >= 8, tag < 0x80 else { return nil }
            position += 1
            switch tag & 7 {
            case 0:  // varint
                let limit = min(count, position + 9)
                while position < limit, buffer[position] >= 0x80 { position += 1 }
                guard position < limit else { return nil }
                position += 1
            case 1:  // fixed64
                guard count - position >= 8 else { return nil }
                position += 8
            case 5:  // fixed32
                guard count - position >= 4 else { return nil }
                position += 4
            case 2:  // length-delimited
                var length = 0
                var shift = 0
                while true {
                    guard position < count, shift < 28 else { return nil }
                    let byte = buffer[position]
                    position += 1
                    length |= Int(byte & 0x7F) << shift
                    if byte < 0x80 { break }
                    shift += 7
                }
                guard length <= count - position else { return nil }
                if Int(tag >> 3) == field {
                    found = position..<(position + length)
                    for index in found where buffer[index] >= 0x80 { return nil }
                }
                position += length
            default:
                return nil
            }
        }
        return found
    }

    /// `peekASCII` with a `ProtoReader`: any message the reader parses, and its errors.
    static func readASCII(field: Int, in buffer: UnsafeRawBufferPointer) -> Range<Int>? {
        var reader = ProtoReader(buffer)
        var found = 0..<0
        do {
            while let number = try reader.nextField() {
                if number == field, reader.wireType == .lengthDelimited {
                    found = try reader.readLengthDelimitedRange()
                    for index in found where buffer[index] >= 0x80 { return nil }
                } else {
                    try reader.skipField()
                }
            }
        } catch {
            return found
        }
        return found
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
