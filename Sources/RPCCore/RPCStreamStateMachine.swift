// Sources/RPCCore/RPCStreamStateMachine.swift: one gRPC stream, server or client role, as a value.

public import HTTPTypes

/// The state of one gRPC stream (one RPC) on one side of the connection, server or client role: it owns the two
/// half-stream states, the deframer of the incoming direction, and what the request headers decided (the RPC kind,
/// the message encoding, the content-type to echo). It performs no I/O: each event the transport observes or wants
/// is a `mutating func` that returns what to put on the wire or hand to the handler. It is a value owned by the
/// stream's connection and touched only by that connection's loop thread.
///
/// ## The state product
///
/// A gRPC stream is two half-streams. The *client side* is the request direction (client → server), the *server
/// side* the response direction (server → client). Each is `idle` (nothing sent yet), `open` (headers sent, messages
/// may follow) or `closed` (END_STREAM sent, or the stream was torn down). The state is the product
/// `clientSide × serverSide`, the same in both roles; only which events move which side differs:
///
/// | event (server role)                      | event (client role)                  | moves                   |
/// |------------------------------------------|--------------------------------------|-------------------------|
/// | `receiveRequestHeaders`                  | `sendRequestHeaders`                 | client idle → open      |
/// | END_STREAM in `receiveRequestData`/`…Trailers` | `sendEndOfRequest`             | client open → closed    |
/// | `sendResponseHeaders`                    | `receiveResponseHeaders`             | server idle → open      |
/// | `sendStatus`                             | `receiveResponseTrailers` / trailers-only | server → closed    |
/// | a rejection, `receiveReset`, `cancel`    | a failure, `receiveReset`, `cancel`  | sides → closed          |
///
/// Reachable states: `idle×idle` (created); `open×idle` (request under way, no response yet); `open×open`;
/// `closed×idle` and `closed×open` (request complete, response pending or streaming); `open×closed` (the server
/// ended early: a rejection, an early status, W-52; the client may still be uploading); `closed×closed`.
/// `idle×open` and `idle×closed` are unreachable: no response before a request.
///
/// ## Terminal states
///
/// `closed×closed` is terminal. It is reached normally (both END_STREAMs) or through a `termination`:
/// `.resetByPeer(code)` (RST_STREAM received before the RPC finished, W-50/W-51), `.cancelled` (local `cancel()`:
/// a client giving up), `.deadlineExceeded` (the server's deadline, `expireDeadline()`, W-55), or `.poisoned` (our
/// own bug, below); the first reason is kept. In a
/// terminal state, resets and cancels are no-ops (`.none`); after a termination, incoming frames and the handler's
/// late output are dropped; after a normal end, events that only a broken caller can produce (a send after its own
/// final status, request DATA after END_STREAM) are still our bugs. `Tests/RPCCoreTests` holds the full
/// state × event matrix for both roles.
///
/// ## Three kinds of invalid operation
///
/// 1. **Our bug** — an event the transport or handler layer can never legitimately produce: request HEADERS twice,
///    DATA before HEADERS or after END_STREAM (nghttp2 already rejects those), a message before response headers,
///    anything after our own final status, the wrong role's event. The machine `assertionFailure`s in debug builds
///    (unless `Configuration.assertsOnInvalidTransition` is false, as tests set it), poisons itself into
///    `closed×closed`, and throws `RPCError(.internal)`; the transport resets the stream with INTERNAL_ERROR.
/// 2. **Peer violation** — the peer sent something gRPC forbids: a bad `:method`, content-type, `:path`,
///    `grpc-timeout`, `-bin` value or encoding; a bad message prefix, a message over the limit, a truncated message,
///    a cardinality violation (W-36, W-47); a response without content-type or `grpc-status`. The server answers with
///    a final status (`ServerRequestAction.reject`, trailers-only when no headers went out, W-41) and, if the client
///    is still uploading, RST_STREAM(NO_ERROR) after it (W-52). The client ends the call with a status and resets the
///    stream if the server is still sending. Never a crash: every path yields a `Status`.
/// 3. **Silent drop** — legitimate races and noise: DATA from a client after the server ended the RPC (it has not
///    seen our trailers yet), a 1xx informational response, a reset after the RPC already finished (nghttp2 reports
///    every stream close), a handler's output after the peer reset or the deadline cancelled the stream (it ran on
///    another thread and could not know). The action is `.drop`.
public struct RPCStreamStateMachine: Sendable {
    /// Which end of the stream this machine plays.
    public enum Role: Sendable, Hashable {
        case client
        case server
    }

    /// The state of one half-stream.
    public enum Side: Sendable, Hashable {
        case idle
        case open
        case closed
    }

    /// Why a stream ended other than by both END_STREAMs.
    public enum Termination: Sendable, Hashable {
        /// The peer sent RST_STREAM (or the connection went away) before the RPC finished.
        case resetByPeer(HTTP2ErrorCode)
        /// This side cancelled the stream with `cancel()`.
        case cancelled
        /// The server's deadline passed and `expireDeadline()` ended the response with DEADLINE_EXCEEDED: the
        /// handler, on another thread, may still answer; its late output is dropped, never treated as our bug.
        case deadlineExceeded
        /// This side hit one of its own bugs (an invalid transition).
        case poisoned
    }

    /// Limits and capabilities of one stream.
    public struct Configuration: Sendable, Hashable {
        /// The largest incoming message, prefix excluded (W-33).
        public var maxReceiveMessageBytes: Int
        /// Message encodings besides `identity` that this side can decompress (for example `gzip`, `deflate`);
        /// advertised in `grpc-accept-encoding`. Decompression itself happens outside RPCCore.
        public var supportedEncodings: [String] {
            didSet { acceptEncodingValue = Self.acceptEncodingValue(supportedEncodings) }
        }
        /// Whether our own bugs stop a debug build with `assertionFailure`. Tests turn it off to observe the
        /// release-build behaviour (poison and throw INTERNAL).
        public var assertsOnInvalidTransition: Bool

        public init(
            maxReceiveMessageBytes: Int = MessageDeframer.defaultMaxMessageBytes,
            supportedEncodings: [String] = [],
            assertsOnInvalidTransition: Bool = true
        ) {
            self.maxReceiveMessageBytes = maxReceiveMessageBytes
            self.supportedEncodings = supportedEncodings
            self.assertsOnInvalidTransition = assertsOnInvalidTransition
            self.acceptEncodingValue = Self.acceptEncodingValue(supportedEncodings)
        }

        /// The `grpc-accept-encoding` value: `identity` followed by the supported encodings. Kept with them (not
        /// joined per response: that was ~1.4K instructions per RPC, callgrind).
        private(set) var acceptEncodingValue: String

        private static func acceptEncodingValue(_ encodings: [String]) -> String {
            (["identity"] + encodings).joined(separator: ", ")
        }
    }

    public let role: Role
    public let configuration: Configuration
    /// The request direction.
    public internal(set) var clientSide: Side = .idle
    /// The response direction.
    public internal(set) var serverSide: Side = .idle
    /// Set when the stream ended abnormally; `nil` while it runs and after a normal end.
    public internal(set) var termination: Termination?
    /// The RPC kind: known from the start on a client, from the route on a server.
    public internal(set) var kind: RPCKind?

    var deframer: MessageDeframer
    /// Encoding of incoming messages (`grpc-encoding` of the other side); nil is identity.
    var inboundEncoding: String?
    /// Encoding this side declared for its outgoing messages; nil is identity.
    var outboundEncoding: String?
    /// Encodings the peer accepts for our messages (its `grpc-accept-encoding`).
    var peerAcceptedEncodings: [String] = []
    /// Server: the request content-type, echoed in response headers (W-14).
    var responseContentType = "application/grpc"
    var messagesReceived = 0
    var messagesSent = 0
    /// Server, non-request-streaming RPC: the one request message, delivered once END_STREAM proves it is alone
    /// (W-36; grpc-go waits for the end of the request the same way).
    var heldRequest: ReceivedMessage?
    /// This side sent its final word: the server its status, the client its END_STREAM.
    var sentFinal = false

    /// Request bytes this machine holds that no handler has seen: the incomplete message in the deframer and, for
    /// a non-request-streaming RPC, the one complete message waiting for END_STREAM (W-36). Transports bound the sum
    /// of these per connection and per server (issue 25, point 2).
    public var bufferedRequestBytes: Int {
        deframer.bufferedByteCount + (heldRequest?.bytes.count ?? 0)
    }

    /// Server, once this side has sent its final status (a refusal while the request was still arriving): drops
    /// the unfinished message and any held one, which no handler will read, so that `bufferedRequestBytes` is 0 and
    /// the transport's budgets get the bytes back now rather than when the stream closes. Later request DATA is
    /// dropped unread (`receiveRequestData` answers `.drop` once the response has ended).
    public mutating func discardBufferedRequest() {
        guard role == .server, serverSide == .closed else { return }
        deframer = MessageDeframer(maxMessageBytes: configuration.maxReceiveMessageBytes)
        heldRequest = nil
    }

    /// A machine for the server end of a stream that has just been opened by the peer.
    public init(server configuration: Configuration = Configuration()) {
        self.role = .server
        self.configuration = configuration
        self.deframer = MessageDeframer(maxMessageBytes: configuration.maxReceiveMessageBytes)
    }

    /// A machine for a client call of `kind`.
    public init(client kind: RPCKind, configuration: Configuration = Configuration()) {
        self.role = .client
        self.configuration = configuration
        self.kind = kind
        self.deframer = MessageDeframer(maxMessageBytes: configuration.maxReceiveMessageBytes)
    }

    /// True once both sides are closed.
    public var isFinished: Bool { clientSide == .closed && serverSide == .closed }

    // MARK: - Shared events

    /// The peer reset the stream, or the stream closed under us (nghttp2 `on_stream_close`, any error code). Returns
    /// `.finished(status)` when this ends a running RPC — a server cancels its handler, a client completes the call
    /// with the status (W-50) — and `.none` when the RPC had already finished (the close that follows every stream).
    public mutating func receiveReset(errorCode: HTTP2ErrorCode) -> ResetAction {
        let wasRunning = isRunning
        close(wasRunning ? .resetByPeer(errorCode) : nil)
        guard wasRunning else { return .none }
        switch role {
        case .server:
            return .finished(Status(code: .cancelled, message: "stream reset by the client (\(errorCode))"))
        case .client:
            return .finished(
                Status(code: Status.Code(resetCode: errorCode), message: "stream reset by the server (\(errorCode))"))
        }
    }

    /// This side gives up on the stream: a server whose deadline passed (W-55: RST_STREAM(CANCEL), the client then
    /// reports DEADLINE_EXCEEDED itself), a client cancelling its call or hitting its deadline. Returns the reset to
    /// send, or `.none` when the stream has nothing left to reset (not started, or the response already ended).
    /// Every later event is dropped.
    public mutating func cancel() -> CancelAction {
        if isRunning {
            close(.cancelled)
            return .resetStream(.cancel)
        }
        close(clientSide == .idle ? .cancelled : nil)
        return .none
    }

    /// The request has started and the response has not ended.
    var isRunning: Bool { clientSide != .idle && serverSide != .closed && termination == nil }

    // MARK: - Helpers shared by both roles

    mutating func close(_ reason: Termination?) {
        clientSide = .closed
        serverSide = .closed
        if termination == nil { termination = reason }
        heldRequest = nil
        deframer = MessageDeframer(maxMessageBytes: 0)
    }

    /// Our own bug: assert in debug, poison, and return the INTERNAL error to throw.
    mutating func invalidTransition(_ what: String) -> RPCError {
        if configuration.assertsOnInvalidTransition {
            assertionFailure("RPCStreamStateMachine: \(what) (client \(clientSide), server \(serverSide))")
        }
        close(.poisoned)
        return RPCError(code: .internal, message: "internal error: \(what)")
    }

    mutating func require(_ expected: Role, _ event: String) throws(RPCError) {
        guard role == expected else { throw invalidTransition("\(event) called on a \(role)-role stream") }
    }

    /// Checks a batch of received messages against the stream's encoding (W-17): a compressed flag needs a
    /// non-identity `grpc-encoding`.
    func compressionViolation(in messages: [ReceivedMessage]) -> Status? {
        guard inboundEncoding == nil, messages.contains(where: \.isCompressed) else { return nil }
        return Status(code: .internal, message: "grpc: compressed flag set with identity or empty encoding")
    }

    static func statusFields(_ status: Status, trailers: Metadata = Metadata()) -> [HeaderField] {
        // The usual end of a call: one shared list, so that no array is made per RPC, and the transport's kept
        // block for it matches by storage identity before any field is compared.
        if status.code == .ok, status.message.isEmpty, trailers.isEmpty { return okStatusFields }
        var fields: [HeaderField] = []
        fields.reserveCapacity(2 + trailers.count)
        fields.append(HeaderField("grpc-status", statusCodeText(status.code.rawValue)))
        if !status.message.isEmpty {
            fields.append(HeaderField("grpc-message", StatusMessage.headerValue(status.message)))
        }
        trailers.appendHeaderFields(to: &fields)
        return fields
    }

    /// `grpc-status: 0` alone.
    static let okStatusFields = [HeaderField("grpc-status", "0")]

    /// The grpc-status value: a literal for the defined codes instead of an integer-to-string conversion per RPC.
    static func statusCodeText(_ code: Int) -> String {
        switch code {
        case 0: "0"
        case 1: "1"
        case 2: "2"
        case 3: "3"
        case 4: "4"
        case 5: "5"
        case 6: "6"
        case 7: "7"
        case 8: "8"
        case 9: "9"
        case 10: "10"
        case 11: "11"
        case 12: "12"
        case 13: "13"
        case 14: "14"
        case 15: "15"
        case 16: "16"
        default: String(code)
        }
    }

    static func commaSeparated(_ value: String) -> [String] {
        value.split(separator: ",").map { String(Metadata.trimmingWhitespace($0)) }.filter { !$0.isEmpty }
    }

    /// Classifies a content-type (W-14): `nil` when it is not gRPC, otherwise the codec subtype (`""` for the bare
    /// form and for `application/grpc;…`). Media types are case-insensitive.
    static func grpcContentSubtype(_ contentType: String?) -> Substring? {
        guard let contentType else { return nil }
        // What every gRPC client sends; the general parse below lowercases and slices (~2.7K instructions).
        if contentType == "application/grpc" || contentType == "application/grpc+proto" {
            return contentType.utf8.count == 16 ? "" : "proto"
        }
        let lowered = contentType.lowercased()
        let base = "application/grpc"
        guard lowered.hasPrefix(base) else { return nil }
        let rest = lowered.dropFirst(base.count)
        if rest.isEmpty || rest.first == ";" { return "" }
        guard rest.first == "+" else { return nil }
        return rest.dropFirst().prefix { $0 != ";" }
    }
}

// MARK: - Values carried by actions

/// The request head of one RPC: what the client's HEADERS say, parsed. A server receives it in
/// `ServerHeadersAction.accept`; a client passes one to `sendRequestHeaders`.
public struct RequestHead: Sendable, Hashable {
    /// `:path`, `/package.Service/Method`.
    public var path: String
    /// `:authority`, or `host` when `:authority` is absent (W-13).
    public var authority: String?
    /// `:scheme`; accepted as sent (W-11).
    public var scheme: String
    /// `content-type`, a form of `application/grpc` (W-14).
    public var contentType: String
    /// Custom metadata (W-20, W-21).
    public var metadata: Metadata
    /// `grpc-timeout`; nil means no deadline (W-16).
    public var timeout: GRPCTimeout?
    /// `grpc-encoding` of the request messages; nil means identity (W-17).
    public var encoding: String?
    /// `grpc-accept-encoding`: encodings the client can decode (W-18).
    public var acceptedEncodings: [String]
    /// `user-agent`; informational (W-22).
    public var userAgent: String?
    /// `authorization`: a credential, kept out of `metadata` so that a handler that logs or forwards metadata never
    /// carries a key (the server's access check reads it here).
    public var authorization: String?

    public init(
        path: String,
        authority: String? = nil,
        scheme: String = "http",
        contentType: String = "application/grpc",
        metadata: Metadata = Metadata(),
        timeout: GRPCTimeout? = nil,
        encoding: String? = nil,
        acceptedEncodings: [String] = [],
        userAgent: String? = nil,
        authorization: String? = nil
    ) {
        self.path = path
        self.authority = authority
        self.scheme = scheme
        self.contentType = contentType
        self.metadata = metadata
        self.timeout = timeout
        self.encoding = encoding
        self.acceptedEncodings = acceptedEncodings
        self.userAgent = userAgent
        self.authorization = authorization
    }
}

/// The response head as a client receives it: metadata and the negotiated message encoding.
public struct ResponseHead: Sendable, Hashable {
    public var contentType: String
    public var metadata: Metadata
    /// `grpc-encoding` of the response messages; nil means identity.
    public var encoding: String?
    /// `grpc-accept-encoding` of the server.
    public var acceptedEncodings: [String]
}

/// The last HEADERS a server sends for one RPC: trailers after response headers, or a trailers-only response
/// (`:status`, `content-type`, status, metadata in one HEADERS with END_STREAM, W-41).
public struct ResponseEnd: Sendable, Hashable {
    /// The header list, in order, to send with END_STREAM.
    public var fields: [HeaderField]
    /// The `numericTrailers` given to `sendStatus` follow `fields` in the same block: the transport appends them
    /// as numbers (a trailers-only end has them among `fields` already). A flag rather than the fields, so that
    /// every end stays as small to copy as it was (callgrind).
    public var appendsNumericTrailers = false
    /// True when no response headers were sent: `fields` start with `:status` and `content-type`. With nghttp2,
    /// `submit_response` with a NULL data provider; otherwise `submit_trailer`.
    public var isTrailersOnly: Bool
    /// The status these fields carry.
    public var status: Status
    /// The client is still uploading: once these HEADERS have gone out, send RST_STREAM(NO_ERROR) so it stops
    /// (RFC 9113 §8.1, W-52; from `on_frame_send_callback`, because a reset cancels queued frames).
    public var resetStreamAfterSending: Bool
}

/// What to do with something this side wants to send.
public enum SendAction<Payload: Sendable>: Sendable {
    /// Put `payload` on the wire.
    case send(Payload)
    /// The stream already ended (peer reset, cancellation, an earlier rejection): discard it.
    case drop
}

extension SendAction: Equatable where Payload: Equatable {}

/// What a reset means for the RPC.
public enum ResetAction: Sendable, Hashable {
    /// The RPC was running and is now over with this status: a server cancels its handler (CANCELLED), a client
    /// completes the call (W-50).
    case finished(Status)
    /// The RPC had already finished; only free the stream's state.
    case none
}

/// What a server puts on the wire when the call's deadline passes (`expireDeadline()`).
public enum DeadlineAction: Sendable, Hashable {
    /// Send this DEADLINE_EXCEEDED end: trailers after response headers, trailers-only before them.
    case send(ResponseEnd)
    /// Nothing: the response had already ended (its status, OK or not, stands) or the stream was torn down.
    case none
}

/// What a local cancellation puts on the wire.
public enum CancelAction: Sendable, Hashable {
    /// Send RST_STREAM with this code.
    case resetStream(HTTP2ErrorCode)
    /// Nothing: the stream had not started or had already finished.
    case none
}
