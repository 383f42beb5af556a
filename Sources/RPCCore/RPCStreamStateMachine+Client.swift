// Sources/RPCCore/RPCStreamStateMachine+Client.swift: the client role's events.

public import HTTPTypes

/// What a client does with something the server sent.
public enum ClientReceiveAction: Sendable, Hashable {
    /// The response headers: initial metadata.
    case receivedHeaders(ResponseHead)
    /// Response messages, in order (possibly none: a partial message).
    case receivedMessages([ReceivedMessage])
    /// The call is over with this status and trailing metadata. When `resetStream` is set, send RST_STREAM with it:
    /// the server broke the protocol while still sending (CANCEL), or it ended while we were still uploading
    /// (NO_ERROR).
    case finished(Status, trailers: Metadata, resetStream: HTTP2ErrorCode?)
    /// Ignore: a 1xx response, or anything after the call finished.
    case drop
}

extension RPCStreamStateMachine {
    // MARK: Sending the request

    /// The request HEADERS (W-10…W-22): `:method POST`, `:scheme`, `:path`, `:authority`, content-type,
    /// `te: trailers`, `grpc-timeout` (finest unit that fits 8 digits), `grpc-encoding`, `grpc-accept-encoding`,
    /// `user-agent`, then the metadata.
    public mutating func sendRequestHeaders(_ head: RequestHead) throws(RPCError) -> SendAction<[HeaderField]> {
        try require(.client, "sendRequestHeaders")
        if termination != nil { return .drop }
        guard clientSide == .idle else { throw invalidTransition("request headers sent twice") }
        clientSide = .open
        outboundEncoding = head.encoding.flatMap { $0 == "identity" ? nil : $0 }
        var fields = [
            HeaderField(":method", "POST"),
            HeaderField(":scheme", head.scheme),
            HeaderField(":path", head.path),
        ]
        if let authority = head.authority { fields.append(HeaderField(":authority", authority)) }
        fields.append(HeaderField("content-type", head.contentType))
        fields.append(HeaderField("te", "trailers"))
        if let timeout = head.timeout { fields.append(HeaderField("grpc-timeout", timeout.headerValue)) }
        if let encoding = outboundEncoding { fields.append(HeaderField("grpc-encoding", encoding)) }
        if !configuration.supportedEncodings.isEmpty {
            fields.append(HeaderField("grpc-accept-encoding", configuration.acceptEncodingValue))
        }
        if let userAgent = head.userAgent { fields.append(HeaderField("user-agent", userAgent)) }
        fields.append(contentsOf: head.metadata.headerFields)
        return .send(fields)
    }

    /// One request message, framed (W-30).
    public mutating func sendRequestMessage(
        _ message: [UInt8], compressed: Bool = false
    ) throws(RPCError) -> SendAction<[UInt8]> {
        try require(.client, "sendRequestMessage")
        if sentFinal { throw invalidTransition("request message after END_STREAM") }
        if clientSide == .closed { return .drop }
        if clientSide == .idle { throw invalidTransition("request message before request headers") }
        if compressed && outboundEncoding == nil {
            throw invalidTransition("compressed request message without a grpc-encoding")
        }
        if let kind, !kind.isRequestStreaming, messagesSent >= 1 {
            throw invalidTransition("a second request message on a \(kind) RPC (W-36)")
        }
        let framed = try MessageFramer.frame(message, compressed: compressed)
        messagesSent += 1
        return .send(framed)
    }

    /// The client half-closes: send END_STREAM (an empty DATA frame, or the flag on the last one, W-35).
    public mutating func sendEndOfRequest() throws(RPCError) -> SendAction<Void> {
        try require(.client, "sendEndOfRequest")
        if sentFinal { throw invalidTransition("END_STREAM sent twice") }
        if clientSide == .closed { return .drop }
        if clientSide == .idle { throw invalidTransition("END_STREAM before request headers") }
        if let kind, !kind.isRequestStreaming, messagesSent == 0 {
            throw invalidTransition("END_STREAM without the request message of a \(kind) RPC (W-36)")
        }
        sentFinal = true
        clientSide = .closed
        return .send(())
    }

    // MARK: Receiving the response

    /// The first response HEADERS (nghttp2 category RESPONSE); with `endStream` it is a trailers-only response.
    /// A non-200 `:status` maps through the HTTP table (W-54) unless the response is trailers-only with a
    /// `grpc-status`; a 1xx is dropped. A 200 response must carry a gRPC content-type (grpc-go is this strict,
    /// W-41/W-53).
    public mutating func receiveResponseHeaders(
        _ fields: [HeaderField], endStream: Bool
    ) throws(RPCError) -> ClientReceiveAction {
        try require(.client, "receiveResponseHeaders")
        if termination != nil || serverSide == .closed { return .drop }
        if clientSide == .idle { throw invalidTransition("response HEADERS before request HEADERS") }
        if serverSide == .open { throw invalidTransition("response HEADERS twice (later HEADERS are trailers)") }

        var httpStatus: String?
        var contentType: String?
        var grpcStatus: String?
        var encoding: String?
        var acceptEncoding: String?
        for field in fields {
            switch field.name {
            case ":status": httpStatus = field.value
            case "content-type": contentType = field.value
            case "grpc-status": grpcStatus = field.value
            case "grpc-encoding": encoding = field.value
            case "grpc-accept-encoding": acceptEncoding = field.value
            default: break
            }
        }
        guard let httpStatus, let code = Int(httpStatus), (100...599).contains(code) else {
            return finishCall(
                Status(code: .internal, message: "malformed header: missing HTTP status"), peerEnded: endStream)
        }
        if code < 200 { return .drop }  // informational; the final response follows
        // A non-200 final response is not gRPC; only a trailers-only one with grpc-status is read as such (W-54).
        if code != 200 && (grpcStatus == nil || !endStream) {
            return finishCall(
                Status(
                    code: Status.Code(httpStatus: code),
                    message: "unexpected HTTP status code received from server: \(code)"),
                peerEnded: endStream)
        }
        if code == 200 {
            guard let contentType else {
                return finishCall(
                    Status(code: .unknown, message: "malformed header: missing HTTP content-type"),
                    peerEnded: endStream)
            }
            guard Self.grpcContentSubtype(contentType) != nil else {
                return finishCall(
                    Status(code: .unknown, message: "transport: received unexpected content-type \"\(contentType)\""),
                    peerEnded: endStream)
            }
        }
        if endStream { return finishWithTrailers(fields) }

        let responseEncoding = encoding.flatMap { $0 == "identity" ? nil : $0 }
        if let responseEncoding, !configuration.supportedEncodings.contains(responseEncoding) {
            return finishCall(
                Status(
                    code: .internal,
                    message: "grpc: Decompressor is not installed for grpc-encoding \"\(responseEncoding)\""),
                peerEnded: false)
        }
        let metadata: Metadata
        do throws(MetadataError) {
            metadata = try Metadata(headerFields: fields)
        } catch {
            return finishCall(Status(code: .internal, message: "malformed binary metadata: \(error)"), peerEnded: false)
        }
        serverSide = .open
        inboundEncoding = responseEncoding
        let head = ResponseHead(
            contentType: contentType ?? "application/grpc",
            metadata: metadata,
            encoding: responseEncoding,
            acceptedEncodings: acceptEncoding.map(Self.commaSeparated) ?? []
        )
        peerAcceptedEncodings = head.acceptedEncodings
        return .receivedHeaders(head)
    }

    /// Response DATA arrived. DATA carrying END_STREAM is a server that ended without trailers (W-53): INTERNAL.
    public mutating func receiveResponseData(
        _ bytes: UnsafeRawBufferPointer, endStream: Bool
    ) throws(RPCError) -> ClientReceiveAction {
        try require(.client, "receiveResponseData")
        if termination != nil || serverSide == .closed { return .drop }
        if clientSide == .idle { throw invalidTransition("response DATA before request HEADERS") }
        if serverSide == .idle {
            return finishCall(
                Status(code: .internal, message: "protocol violation: DATA before response headers"),
                peerEnded: endStream)
        }
        var messages: [ReceivedMessage] = []
        do throws(DeframingError) {
            try deframer.receive(bytes, into: &messages)
        } catch {
            return finishCall(clientStatus(for: error), peerEnded: endStream)
        }
        if let violation = compressionViolation(in: messages) { return finishCall(violation, peerEnded: endStream) }
        messagesReceived += messages.count
        if let kind, !kind.isResponseStreaming, messagesReceived > 1 {
            return finishCall(
                Status(
                    code: .unimplemented,
                    message: "cardinality violation: received multiple response messages for non-server-streaming RPC"
                ),
                peerEnded: endStream)
        }
        if endStream {
            return finishCall(
                Status(code: .internal, message: "server closed the stream without sending trailers"), peerEnded: true)
        }
        return .receivedMessages(messages)
    }

    /// Response DATA as an array.
    public mutating func receiveResponseData(
        _ bytes: [UInt8], endStream: Bool
    ) throws(RPCError) -> ClientReceiveAction {
        var result: Result<ClientReceiveAction, RPCError> = .success(.drop)
        bytes.withUnsafeBytes { buffer in
            result = Result { () throws(RPCError) in try receiveResponseData(buffer, endStream: endStream) }
        }
        return try result.get()
    }

    /// The response trailers (a HEADERS with END_STREAM after the response headers, nghttp2 category HEADERS).
    public mutating func receiveResponseTrailers(_ fields: [HeaderField]) throws(RPCError) -> ClientReceiveAction {
        try require(.client, "receiveResponseTrailers")
        if termination != nil || serverSide == .closed { return .drop }
        if clientSide == .idle || serverSide == .idle {
            throw invalidTransition("response trailers before response headers")
        }
        return finishWithTrailers(fields)
    }

    // MARK: Helpers

    /// Reads the status and trailing metadata from trailers or a trailers-only response and finishes the call.
    mutating func finishWithTrailers(_ fields: [HeaderField]) -> ClientReceiveAction {
        do throws(DeframingError) {
            try deframer.finish()
        } catch {
            return finishCall(clientStatus(for: error), peerEnded: true)
        }
        var grpcStatus: String?
        var grpcMessage: String?
        for field in fields {
            if field.name == "grpc-status" { grpcStatus = field.value }
            if field.name == "grpc-message" { grpcMessage = field.value }
        }
        let message = grpcMessage.map(StatusMessage.percentDecode) ?? ""
        var status: Status
        if let grpcStatus {
            status = Status(grpcStatus: grpcStatus, message: message)
        } else {
            // W-53/W-54: HTTP 200 without grpc-status is UNKNOWN.
            status = Status(code: .unknown, message: message.isEmpty ? "missing grpc-status" : message)
        }
        let trailers: Metadata
        do throws(MetadataError) {
            trailers = try Metadata(headerFields: fields)
        } catch {
            return finishCall(Status(code: .internal, message: "malformed binary metadata: \(error)"), peerEnded: true)
        }
        if status.isOK, let kind, !kind.isResponseStreaming, messagesReceived == 0 {
            status = Status(
                code: .unimplemented,
                message: "cardinality violation: received no response message for non-server-streaming RPC")
        }
        return finishCall(status, trailers: trailers, peerEnded: true)
    }

    /// Ends the call. If the server is still sending, reset with CANCEL; if it ended but we are still uploading,
    /// reset with NO_ERROR so the stream closes (as grpc-go's client does).
    mutating func finishCall(
        _ status: Status, trailers: Metadata = Metadata(), peerEnded: Bool
    ) -> ClientReceiveAction {
        let reset: HTTP2ErrorCode? = !peerEnded ? .cancel : (clientSide == .open ? .noError : nil)
        close(nil)
        return .finished(status, trailers: trailers, resetStream: reset)
    }

    func clientStatus(for error: DeframingError) -> Status {
        if case .messageTooLarge(let length, let limit) = error {
            return Status(
                code: .resourceExhausted,
                message: "grpc: received message larger than max (\(length) vs. \(limit) bytes) on the client")
        }
        return error.rpcError.status
    }
}
