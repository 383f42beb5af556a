// Sources/RPCCore/RPCStreamStateMachine+Server.swift: the server role's events.

public import HTTPTypes

/// What a server does with a request's HEADERS.
public enum ServerHeadersAction<Handler> {
    /// A valid gRPC request for a registered method: start its handler. `requestComplete` is true when the HEADERS
    /// carried END_STREAM (a client-streaming or bidi call with no messages).
    case accept(RequestHead, Router<Handler>.Route, requestComplete: Bool)
    /// Not a valid request: send this trailers-only response (W-10, W-12, W-14, W-16, W-17, W-21, W-36).
    case reject(ResponseEnd)
}

extension ServerHeadersAction: Sendable where Handler: Sendable {}

/// What a server does with request DATA or request trailers.
/// `RPCStreamStateMachine.receiveRequestHead`'s answer: `ServerHeadersAction` without the route.
@usableFromInline
enum RequestHeadOutcome {
    case accept(RequestHead, requestComplete: Bool)
    case reject(ResponseEnd)
}

/// What a response's header fields depend on when it carries no metadata (`RPCStreamStateMachine.openResponse`):
/// equal keys, on connections with the same configuration, mean equal fields.
public struct ResponseHeadersKey: Sendable, Hashable {
    /// The request's content-type, echoed.
    public let contentType: String
    /// `grpc-encoding` of the response messages; nil for identity.
    public let encoding: String?
}

public enum ServerRequestAction: Sendable, Hashable {
    /// Hand these messages, in order, to the handler; `endOfRequest` says the client has half-closed. The array may
    /// be empty (a partial message, or an END_STREAM alone).
    case deliver([ReceivedMessage], endOfRequest: Bool)
    /// The request is malformed (framing, size, cardinality, compression): cancel the handler if it runs and send
    /// this final response.
    case reject(ResponseEnd)
    /// Ignore: the response has already ended (the client has not seen it yet) or the stream was reset.
    case drop
}

extension RPCStreamStateMachine {
    // MARK: Receiving the request

    /// The request HEADERS arrived (nghttp2 category REQUEST). Validates them in this order and rejects the first
    /// failure with a trailers-only response: `:method` POST (else 405 + INTERNAL, W-10), content-type (not gRPC:
    /// 415 + INVALID_ARGUMENT; a codec other than proto: UNIMPLEMENTED, W-14), `grpc-timeout` (400 + INTERNAL, W-16),
    /// `-bin` metadata (400 + INTERNAL, W-21), `:path` through `router` (UNIMPLEMENTED, W-12), `grpc-encoding`
    /// (UNIMPLEMENTED plus `grpc-accept-encoding`, W-17), a zero timeout (DEADLINE_EXCEEDED, W-16), and END_STREAM
    /// already on a non-client-streaming call (zero requests: UNIMPLEMENTED, W-36).
    ///
    /// Inlinable, around the non-generic `receiveRequestHead`: compiled unspecialised in this module, the generic body
    /// looked up `Router.Route`, `Result` and `ServerHeadersAction` metadata at run time on every RPC (~1.8K
    /// instructions, callgrind); the caller's module now specialises this wrapper and `Router.lookup`.
    @inlinable
    public mutating func receiveRequestHeaders<Handler>(
        _ fields: [HeaderField], endStream: Bool, router: Router<Handler>
    ) throws(RPCError) -> ServerHeadersAction<Handler> {
        try receiveRequestHeaders(fields, endStream: endStream) { router.lookup(path: $0) }
    }

    /// `receiveRequestHeaders(_:endStream:router:)` with the lookup given as a function (a caller that keeps
    /// recent routes). Inlinable for the same reason.
    @inlinable
    public mutating func receiveRequestHeaders<Handler>(
        _ fields: [HeaderField], endStream: Bool,
        route: (String) -> Result<Router<Handler>.Route, RPCError>
    ) throws(RPCError) -> ServerHeadersAction<Handler> {
        var found: Router<Handler>.Route?
        let outcome = try receiveRequestHead(fields, endStream: endStream) { path in
            switch route(path) {
            case .success(let route):
                found = route
                return .success(route.descriptor)
            case .failure(let error):
                return .failure(error)
            }
        }
        // Consumed, so the request head moves into the action rather than being copied and the copy destroyed.
        switch consume outcome {
        case .reject(let end):
            return .reject(end)
        case .accept(let head, let requestComplete):
            // `receiveRequestHead` accepts only after `lookup` succeeded.
            guard let found else {
                throw RPCError(code: .internal, message: "internal error: accepted without a route")
            }
            return .accept(consume head, found, requestComplete: requestComplete)
        }
    }

    /// `receiveRequestHeaders` without the handler type: `lookup` resolves `:path` to its method (or the error).
    @usableFromInline
    mutating func receiveRequestHead(
        _ fields: [HeaderField], endStream: Bool, lookup: (String) -> Result<MethodDescriptor, RPCError>
    ) throws(RPCError) -> RequestHeadOutcome {
        try require(.server, "receiveRequestHeaders")
        guard clientSide == .idle, termination == nil else {
            throw invalidTransition("request HEADERS received twice (later HEADERS are trailers)")
        }
        clientSide = endStream ? .closed : .open

        var method: String?
        var path: String?
        var authority: String?
        var host: String?
        var scheme = "http"
        var contentType: String?
        var timeoutValue: String?
        var encoding: String?
        var acceptEncoding: String?
        var userAgent: String?
        var authorization: String?
        // Dispatched on the name's UTF-8 length first (O(1) for native strings): a `switch` over the ten names made
        // every field pay up to ten failed string compares, each a runtime call (~1K instructions per RPC).
        // `unclaimed` counts the fields none of these names took: only those can be custom metadata, and when there
        // are none (the usual request) the metadata scan is skipped (~650 instructions per RPC, callgrind).
        var unclaimed = 0
        // The first and last unclaimed field: the metadata scan reads only that stretch (h2load's one
        // `accept-encoding` then costs one field's check, not every field's).
        var firstUnclaimed = 0
        var lastUnclaimed = 0
        for (index, field) in fields.enumerated() {
            let name = field.name
            switch name.utf8.count {
            case 2: if name == "te" { continue }
            case 4: if name == "host" { host = field.value; continue }
            case 5: if name == ":path" { path = field.value; continue }
            case 7:
                if name == ":method" {
                    method = field.value
                    continue
                } else if name == ":scheme" {
                    scheme = field.value
                    continue
                }
            case 10:
                if name == ":authority" {
                    authority = field.value
                    continue
                } else if name == "user-agent" {
                    userAgent = field.value
                    continue
                }
            case 12:
                if name == "content-type" {
                    contentType = field.value
                    continue
                } else if name == "grpc-timeout" {
                    timeoutValue = field.value
                    continue
                }
            case 13:
                if name == "grpc-encoding" {
                    encoding = field.value
                    continue
                } else if name == "authorization" {
                    authorization = field.value
                    continue
                }
            case 20: if name == "grpc-accept-encoding" { acceptEncoding = field.value; continue }
            default: break
            }
            if unclaimed == 0 { firstUnclaimed = index }
            lastUnclaimed = index
            unclaimed += 1
        }

        guard method == "POST" else {
            let shown = method.map { "\"\($0)\"" } ?? "(missing)"
            return .reject(
                rejectRequest(
                    httpStatus: 405,
                    Status(
                        code: .internal,
                        message: "Received a HEADERS frame with :method \(shown) which should be POST")))
        }
        guard let subtype = Self.grpcContentSubtype(contentType) else {
            return .reject(
                rejectRequest(
                    httpStatus: 415,
                    Status(
                        code: .invalidArgument,
                        message: "invalid gRPC request content-type \"\(contentType ?? "")\"")))
        }
        guard subtype.isEmpty || subtype == "proto" else {
            return .reject(
                rejectRequest(
                    httpStatus: 200,
                    Status(code: .unimplemented, message: "grpc: no codec registered for content-subtype \(subtype)")))
        }
        var timeout: GRPCTimeout?
        if let timeoutValue {
            do throws(GRPCTimeoutError) {
                timeout = try GRPCTimeout(headerValue: timeoutValue)
            } catch {
                return .reject(rejectRequest(httpStatus: 400, error.rpcError.status))
            }
        }
        let metadata: Metadata
        do throws(MetadataError) {
            // Every claimed name is one `Metadata` leaves out (reserved, or the credential kept apart).
            metadata = unclaimed == 0
                ? Metadata() : try Metadata(headerFields: fields[firstUnclaimed..<(lastUnclaimed + 1)], credentialsApart: true)
        } catch {
            return .reject(
                rejectRequest(
                    httpStatus: 400, Status(code: .internal, message: "malformed binary metadata: \(error)")))
        }
        let descriptor: MethodDescriptor
        switch lookup(path ?? "") {
        case .success(let found): descriptor = found
        case .failure(let error): return .reject(rejectRequest(httpStatus: 200, error.status))
        }
        let requestEncoding = encoding.flatMap { $0 == "identity" ? nil : $0 }
        if let requestEncoding, !configuration.supportedEncodings.contains(requestEncoding) {
            return .reject(
                rejectRequest(
                    httpStatus: 200,
                    Status(
                        code: .unimplemented,
                        message: "grpc: Decompressor is not installed for grpc-encoding \"\(requestEncoding)\""),
                    extraFields: [HeaderField("grpc-accept-encoding", configuration.acceptEncodingValue)]))
        }
        if timeout?.nanoseconds == 0 {
            return .reject(
                rejectRequest(
                    httpStatus: 200, Status(code: .deadlineExceeded, message: "deadline exceeded: grpc-timeout is zero")
                ))
        }
        let kind = descriptor.kind
        if endStream && !kind.isRequestStreaming {
            return .reject(rejectRequest(httpStatus: 200, Self.noRequestMessageStatus))
        }

        self.kind = kind
        inboundEncoding = requestEncoding
        responseContentType = contentType ?? "application/grpc"
        let acceptedEncodings = acceptEncoding.map(Self.commaSeparated) ?? []
        peerAcceptedEncodings = acceptedEncodings
        // Built in the return: a local head was copied into the outcome and then destroyed (~450 instructions).
        return .accept(
            RequestHead(
                path: path ?? "",
                authority: authority ?? host,
                scheme: scheme,
                contentType: responseContentType,
                metadata: metadata,
                timeout: timeout,
                encoding: requestEncoding,
                acceptedEncodings: acceptedEncodings,
                userAgent: userAgent,
                authorization: authorization
            ),
            requestComplete: endStream)
    }

    /// Request DATA arrived (any chunk of it, W-31); `endStream` when the frame carried END_STREAM (W-35).
    ///
    /// For unary and server-streaming methods the single request message is held until END_STREAM proves it is
    /// alone, then delivered with `endOfRequest: true`; a second message is rejected at once (W-36, UNIMPLEMENTED).
    /// Streaming requests are delivered message by message as they complete.
    public mutating func receiveRequestData(
        _ bytes: UnsafeRawBufferPointer, endStream: Bool
    ) throws(RPCError) -> ServerRequestAction {
        try require(.server, "receiveRequestData")
        if termination != nil { return .drop }
        switch clientSide {
        case .idle: throw invalidTransition("request DATA before request HEADERS")
        case .closed: throw invalidTransition("request DATA after END_STREAM")
        case .open: break
        }
        if serverSide == .closed {
            // The response already ended (an early status or a rejection); the client has not seen it yet.
            if endStream { clientSide = .closed }
            return .drop
        }

        var messages: [ReceivedMessage] = []
        do throws(DeframingError) {
            try deframer.receive(bytes, into: &messages)
            if endStream {
                clientSide = .closed
                try deframer.finish()
            }
        } catch {
            if endStream { clientSide = .closed }
            return .reject(failRequest(error.rpcError.status))
        }
        if let violation = compressionViolation(in: messages) { return .reject(failRequest(violation)) }
        messagesReceived += messages.count

        guard let kind, !kind.isRequestStreaming else {
            return .deliver(messages, endOfRequest: endStream)
        }
        // Unary and server-streaming: exactly one request message (W-36), held until END_STREAM proves it.
        if messagesReceived > 1 {
            return .reject(failRequest(Self.multipleRequestMessagesStatus))
        }
        if endStream, messages.count == 1 {
            // The message and END_STREAM in one DATA (the common unary request): deliver the array as it is, with no
            // second one-element array.
            heldRequest = nil
            return .deliver(messages, endOfRequest: true)
        }
        if let first = messages.first { heldRequest = first }
        guard endStream else { return .deliver([], endOfRequest: false) }
        guard let request = heldRequest else { return .reject(failRequest(Self.noRequestMessageStatus)) }
        heldRequest = nil
        return .deliver([request], endOfRequest: true)
    }

    /// Request DATA as an array (tests, and transports that copy anyway).
    public mutating func receiveRequestData(_ bytes: [UInt8], endStream: Bool) throws(RPCError) -> ServerRequestAction {
        var result: Result<ServerRequestAction, RPCError> = .success(.drop)
        bytes.withUnsafeBytes { buffer in
            result = Result { () throws(RPCError) in try receiveRequestData(buffer, endStream: endStream) }
        }
        return try result.get()
    }

    /// Request trailers arrived (a second HEADERS, nghttp2 category HEADERS, always with END_STREAM): gRPC clients
    /// do not send them; their fields are ignored and they end the request (W-38).
    public mutating func receiveRequestTrailers(_ fields: [HeaderField]) throws(RPCError) -> ServerRequestAction {
        try receiveRequestData([], endStream: true)
    }

    // MARK: Sending the response

    /// The handler's response headers: `:status 200`, the request's content-type (W-14, W-40), `grpc-encoding` when
    /// responses will be compressed (only with an encoding the client accepts, W-18), `grpc-accept-encoding`, then
    /// `metadata`.
    public mutating func sendResponseHeaders(
        _ metadata: Metadata = Metadata(), encoding: String? = nil
    ) throws(RPCError) -> SendAction<[HeaderField]> {
        switch try openResponse(encoding: encoding) {
        case .drop: return .drop
        case .send: return .send(responseHeaderFields(metadata))
        }
    }

    /// `sendResponseHeaders`'s checks and transition without building the fields, for a caller that keeps the encoded
    /// block of a response without metadata: `.send(responseHeadersKey)` when headers must go out, and
    /// `responseHeaderFields()` then makes them (the same fields for the same key; building them and comparing them
    /// with the kept ones cost ~500 instructions per RPC).
    public mutating func openResponse(encoding: String?) throws(RPCError) -> SendAction<ResponseHeadersKey> {
        try require(.server, "sendResponseHeaders")
        if termination != nil { return .drop }
        if sentFinal { throw invalidTransition("response headers after the status") }
        if serverSide == .closed { return .drop }
        if clientSide == .idle { throw invalidTransition("response headers before the request") }
        if serverSide == .open { throw invalidTransition("response headers sent twice") }
        let responseEncoding = encoding.flatMap { $0 == "identity" ? nil : $0 }
        if let responseEncoding, !peerAcceptedEncodings.contains(responseEncoding) {
            throw invalidTransition("response encoding \(responseEncoding) not accepted by the client")
        }
        serverSide = .open
        outboundEncoding = responseEncoding
        return .send(ResponseHeadersKey(contentType: responseContentType, encoding: responseEncoding))
    }

    /// The response header fields after `openResponse`: `:status`, content-type, `grpc-encoding`,
    /// `grpc-accept-encoding`, then `metadata`. Without metadata they depend only on `ResponseHeadersKey` (and the
    /// configuration, fixed for a connection).
    public func responseHeaderFields(_ metadata: Metadata = Metadata()) -> [HeaderField] {
        // Sized up front: appending past an array literal's capacity reallocated it on every RPC.
        var fields: [HeaderField] = []
        fields.reserveCapacity(4 + metadata.count)
        fields.append(HeaderField(":status", "200"))
        fields.append(HeaderField("content-type", responseContentType))
        if let outboundEncoding { fields.append(HeaderField("grpc-encoding", outboundEncoding)) }
        if !configuration.supportedEncodings.isEmpty {
            fields.append(HeaderField("grpc-accept-encoding", configuration.acceptEncodingValue))
        }
        metadata.appendHeaderFields(to: &fields)
        return fields
    }

    /// One response message, framed (W-30). `compressed` only after headers that declared an encoding.
    public mutating func sendResponseMessage(
        _ message: [UInt8], compressed: Bool = false
    ) throws(RPCError) -> SendAction<[UInt8]> {
        guard try admitResponseMessage(compressed: compressed) else { return .drop }
        let framed = try MessageFramer.frame(message, compressed: compressed)
        messagesSent += 1
        return .send(framed)
    }

    /// `sendResponseMessage` for a transport that queues the prefix and the message separately (no framed copy of
    /// the message): the same checks and count, and the prefix as `MessageFramer.packedPrefix` packs it.
    public mutating func sendResponseMessagePrefix(
        length: Int, compressed: Bool = false
    ) throws(RPCError) -> SendAction<UInt64> {
        guard try admitResponseMessage(compressed: compressed) else { return .drop }
        let prefix = try MessageFramer.packedPrefix(length: length, compressed: compressed)
        messagesSent += 1
        return .send(prefix)
    }

    /// The checks before a response message: false when it is dropped (the response already ended).
    private mutating func admitResponseMessage(compressed: Bool) throws(RPCError) -> Bool {
        try require(.server, "sendResponseMessage")
        if termination != nil { return false }
        if sentFinal { throw invalidTransition("response message after the status") }
        if serverSide == .closed { return false }
        if serverSide == .idle { throw invalidTransition("response message before response headers") }
        if compressed && outboundEncoding == nil {
            throw invalidTransition("compressed response message without a grpc-encoding")
        }
        if let kind, !kind.isResponseStreaming, messagesSent >= 1 {
            throw invalidTransition("a second response message on a \(kind) RPC (W-47)")
        }
        return true
    }

    /// The handler's final status and trailing metadata: trailers after response headers (W-40), or a trailers-only
    /// response when no headers went out (W-41). An OK unary or client-streaming response without a message is a
    /// handler fault and becomes INTERNAL (W-47: grpc-go clients fail such calls).
    ///
    /// `numericTrailers` follow `trailers` (a server's per-response counters): after response headers the end says
    /// so (`ResponseEnd.appendsNumericTrailers`) and the transport appends them, spelling the numbers out only when
    /// it lays the block out; in a trailers-only response they are among its fields.
    public mutating func sendStatus(
        _ status: Status, trailers: Metadata = Metadata(), numericTrailers: NumericHeaderFields? = nil
    ) throws(RPCError) -> SendAction<ResponseEnd> {
        try require(.server, "sendStatus")
        if termination != nil { return .drop }
        if sentFinal { throw invalidTransition("status sent twice") }
        if serverSide == .closed { return .drop }
        if clientSide == .idle { throw invalidTransition("status before the request") }
        var status = status
        if status.isOK, let kind, !kind.isResponseStreaming, messagesSent == 0 {
            status = Status(code: .internal, message: "server handler returned OK without a response message")
        }
        sentFinal = true
        let end: ResponseEnd
        if serverSide == .open {
            serverSide = .closed
            end = ResponseEnd(
                fields: Self.statusFields(status, trailers: trailers),
                appendsNumericTrailers: numericTrailers != nil,
                isTrailersOnly: false,
                status: status,
                resetStreamAfterSending: clientSide == .open
            )
        } else {
            end = rejectRequest(
                httpStatus: 200, status, extraFields: trailers.headerFields + (numericTrailers?.headerFields ?? []))
        }
        return .send(end)
    }

    // MARK: The deadline

    /// The call's deadline passed (W-55). While the response is still open this ends it with DEADLINE_EXCEEDED
    /// (trailers after response headers, trailers-only before them, and a reset after it if the client is still
    /// uploading) and terminates the stream with `.deadlineExceeded`; the handler runs on another thread and may
    /// answer a moment later, so its late headers, messages and status are then dropped (`.drop`), never treated as
    /// our bug (which would reset the stream with INTERNAL_ERROR). Once the response has ended, its status (OK or
    /// not) stands and this is `.none`.
    public mutating func expireDeadline() -> DeadlineAction {
        guard role == .server, clientSide != .idle, serverSide != .closed, termination == nil, !sentFinal else {
            return .none
        }
        let status = Status(code: .deadlineExceeded, message: "deadline exceeded")
        let end = failRequest(status)
        sentFinal = true
        close(.deadlineExceeded)
        return .send(end)
    }

    // MARK: Helpers

    static let multipleRequestMessagesStatus = Status(
        code: .unimplemented,
        message: "grpc: cardinality violation: received multiple request messages for non-client-streaming RPC"
    )

    static let noRequestMessageStatus = Status(
        code: .unimplemented,
        message: "grpc: cardinality violation: received no request message from non-client-streaming RPC"
    )

    /// Ends the response with a trailers-only HEADERS and closes the server side.
    mutating func rejectRequest(httpStatus: Int, _ status: Status, extraFields: [HeaderField] = []) -> ResponseEnd {
        serverSide = .closed
        heldRequest = nil
        // W-41: trailers-only must carry content-type, or grpc-go reports UNKNOWN.
        let fields =
            [HeaderField(":status", String(httpStatus)), HeaderField("content-type", "application/grpc")]
            + Self.statusFields(status) + extraFields
        return ResponseEnd(
            fields: fields, isTrailersOnly: true, status: status, resetStreamAfterSending: clientSide == .open)
    }

    /// Ends the response because the request is malformed, with trailers if headers went out.
    mutating func failRequest(_ status: Status) -> ResponseEnd {
        guard serverSide == .open else { return rejectRequest(httpStatus: 200, status) }
        serverSide = .closed
        heldRequest = nil
        return ResponseEnd(
            fields: Self.statusFields(status),
            isTrailersOnly: false,
            status: status,
            resetStreamAfterSending: clientSide == .open
        )
    }
}
