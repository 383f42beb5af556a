// Tests/RPCCoreTests/ServerStreamStateMachineTests.swift: the server role, event by event and as a state × event
// matrix.

import RPCCore
import Testing
import HTTPTypes

@Suite struct ServerRequestHeadersTests {
    @Test func validRequestIsAcceptedWithItsParsedHead() throws {
        let (machine, action) = try RPCStreamStateMachine.server(extra: [
            HeaderField("grpc-timeout", "4997448u"), HeaderField("grpc-accept-encoding", "identity, deflate, gzip"),
            HeaderField("x-custom", "v"), HeaderField("trace-bin", "AAE"),
        ])
        guard case .accept(let head, let route, let complete) = action else {
            Issue.record("\(action)")
            return
        }
        #expect(route.handler == "Chat")
        #expect(route.descriptor.kind == .bidirectionalStreaming)
        #expect(!complete)
        #expect(head.path == "/pkg.Svc/Chat")
        #expect(head.authority == "localhost:50051")
        #expect(head.timeout == GRPCTimeout(nanoseconds: 4_997_448_000))
        #expect(head.acceptedEncodings == ["identity", "deflate", "gzip"])
        #expect(head.userAgent == "grpc-go/1.44.0")
        #expect(head.metadata.map(\.key) == ["x-custom", "trace-bin"])
        #expect(head.metadata.binaryValues(forKey: "trace-bin") == [[0, 1]])
        #expect(machine.clientSide == .open && machine.serverSide == .idle)
        #expect(machine.kind == .bidirectionalStreaming)
    }

    @Test func authorizationIsCarriedApartFromTheMetadata() throws {
        let (_, action) = try RPCStreamStateMachine.server(extra: [
            HeaderField("authorization", "Bearer k-1"), HeaderField("x-custom", "v"),
        ])
        guard case .accept(let head, _, _) = action else {
            Issue.record("\(action)")
            return
        }
        #expect(head.authorization == "Bearer k-1")
        // A handler that logs or forwards its metadata never carries the credential.
        #expect(head.metadata.map(\.key) == ["x-custom"])
        // Without one, nothing is made up; a client's metadata may still carry it (Metadata keeps it by default).
        let (_, bare) = try RPCStreamStateMachine.server(extra: [])
        guard case .accept(let plain, _, _) = bare else {
            Issue.record("\(bare)")
            return
        }
        #expect(plain.authorization == nil)
        let parsed = try Metadata(headerFields: [HeaderField("authorization", "Bearer k-1")])
        #expect(parsed.map(\.key) == ["authorization"])
    }

    /// The head's metadata is what a full scan of the block gives, whether every field is one the head reads by
    /// name (the scan is then skipped) or some are not (reserved ones among them, which stay out).
    @Test func metadataEqualsAFullScanWithAndWithoutUnclaimedFields() throws {
        let named = [
            HeaderField("te", "trailers"), HeaderField("grpc-timeout", "1S"), HeaderField("grpc-encoding", "identity"),
            HeaderField("authorization", "Bearer k-1"), HeaderField("grpc-accept-encoding", "gzip"),
            HeaderField("host", "h:1"),
        ]
        let unclaimed = [
            HeaderField("accept-encoding", "gzip, deflate"), HeaderField("connection", "x"),
            HeaderField("grpc-previous-rpc-attempts", "1"), HeaderField("x-a", "1"), HeaderField("tracE", "no"),
        ]
        for extra in [[], named, named + unclaimed, unclaimed + named] {
            let (_, action) = try RPCStreamStateMachine.server(extra: extra)
            guard case .accept(let head, _, _) = action else {
                Issue.record("\(action)")
                continue
            }
            let scanned = try Metadata(headerFields: Fixtures.requestHeaders() + extra, credentialsApart: true)
            #expect(head.metadata == scanned)
        }
        let (_, mixed) = try RPCStreamStateMachine.server(extra: named + unclaimed)
        guard case .accept(let head, _, _) = mixed else {
            Issue.record("\(mixed)")
            return
        }
        #expect(head.metadata.map(\.key) == ["accept-encoding", "x-a"])
    }

    @Test func hostStandsInForMissingAuthority() throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        let fields = Fixtures.requestHeaders().filter { $0.name != ":authority" } + [HeaderField("host", "h:1")]
        guard
            case .accept(let head, _, _) = try machine.receiveRequestHeaders(
                fields, endStream: false, router: Fixtures.router)
        else {
            Issue.record("unexpected action")
            return
        }
        #expect(head.authority == "h:1")
    }

    @Test(arguments: ["GET", "PUT", ""])
    func nonPostMethodIsHTTP405WithInternalTrailersOnly(method: String) throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        let action = try machine.receiveRequestHeaders(
            Fixtures.requestHeaders(method: method), endStream: true, router: Fixtures.router)
        let end = try #require(action.rejection)
        #expect(end.isTrailersOnly)
        #expect(value(":status", in: end.fields) == "405")
        #expect(value("content-type", in: end.fields) == "application/grpc")
        #expect(value("grpc-status", in: end.fields) == "13")
        #expect(end.status.message.contains("should be POST"))
        #expect(!end.resetStreamAfterSending)
        #expect(machine.isFinished)
    }

    @Test func getWithoutContentTypeIsStill405() throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        let end = try #require(
            try machine.receiveRequestHeaders(
                Fixtures.requestHeaders(method: "GET", contentType: nil), endStream: true, router: Fixtures.router
            ).rejection)
        #expect(value(":status", in: end.fields) == "405")
    }

    @Test(arguments: ["text/plain", "application/json", "application/grpcx", "application/grpc-web"])
    func nonGRPCContentTypeIsHTTP415WithInvalidArgument(contentType: String) throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        let end = try #require(
            try machine.receiveRequestHeaders(
                Fixtures.requestHeaders(contentType: contentType), endStream: false, router: Fixtures.router
            ).rejection)
        #expect(value(":status", in: end.fields) == "415")
        #expect(value("grpc-status", in: end.fields) == "3")
        #expect(end.status.message == "invalid gRPC request content-type \"\(contentType)\"")
        #expect(end.resetStreamAfterSending)
    }

    @Test func missingContentTypeIs415() throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        let end = try #require(
            try machine.receiveRequestHeaders(
                Fixtures.requestHeaders(contentType: nil), endStream: false, router: Fixtures.router
            ).rejection)
        #expect(value(":status", in: end.fields) == "415")
    }

    @Test func jsonCodecIsUnimplementedWithHTTP200() throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        let end = try #require(
            try machine.receiveRequestHeaders(
                Fixtures.requestHeaders(contentType: "application/grpc+json"), endStream: false,
                router: Fixtures.router
            ).rejection)
        #expect(value(":status", in: end.fields) == "200")
        #expect(value("grpc-status", in: end.fields) == "12")
    }

    @Test(arguments: ["application/grpc+proto", "application/grpc;charset=utf-8", "Application/GRPC"])
    func protoAndParameterisedContentTypesAreAcceptedAndEchoed(contentType: String) throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        guard
            case .accept = try machine.receiveRequestHeaders(
                Fixtures.requestHeaders(contentType: contentType), endStream: false, router: Fixtures.router)
        else {
            Issue.record("unexpected action")
            return
        }
        let fields = try #require(try machine.sendResponseHeaders().payload)
        #expect(value("content-type", in: fields) == contentType)
    }

    @Test(arguments: ["abc", "123456789S", "1s", ""])
    func malformedTimeoutIsHTTP400WithInternal(timeout: String) throws {
        let (_, action) = try RPCStreamStateMachine.server(extra: [HeaderField("grpc-timeout", timeout)])
        let end = try #require(action.rejection)
        #expect(value(":status", in: end.fields) == "400")
        #expect(value("grpc-status", in: end.fields) == "13")
        #expect(end.status.message.hasPrefix("malformed grpc-timeout"))
    }

    @Test func zeroTimeoutIsDeadlineExceededAtOnce() throws {
        let (_, action) = try RPCStreamStateMachine.server(extra: [HeaderField("grpc-timeout", "0m")])
        let end = try #require(action.rejection)
        #expect(value(":status", in: end.fields) == "200")
        #expect(end.status.code == .deadlineExceeded)
    }

    @Test func malformedBinaryMetadataIsHTTP400WithInternal() throws {
        let (_, action) = try RPCStreamStateMachine.server(extra: [HeaderField("x-bin", "%%%")])
        let end = try #require(action.rejection)
        #expect(value(":status", in: end.fields) == "400")
        #expect(end.status.code == .internal)
        #expect(end.status.message.contains("malformed binary metadata"))
    }

    @Test(arguments: [
        ("/pkg.Svc/Nope", "unknown method Nope for service pkg.Svc"), ("/pkg.Other/Chat", "unknown service pkg.Other"),
        ("/bad", "malformed method name: \"/bad\""),
    ])
    func unroutablePathIsUnimplementedTrailersOnlyWithHTTP200(path: String, message: String) throws {
        let (machine, action) = try RPCStreamStateMachine.server(path: path)
        let end = try #require(action.rejection)
        #expect(end.isTrailersOnly)
        #expect(
            end.fields == [
                HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"),
                HeaderField("grpc-status", "12"), HeaderField("grpc-message", message),
            ])
        #expect(end.resetStreamAfterSending)
        #expect(machine.clientSide == .open && machine.serverSide == .closed)
    }

    @Test func unsupportedRequestEncodingIsUnimplementedListingAcceptedEncodings() throws {
        let (_, action) = try RPCStreamStateMachine.server(extra: [HeaderField("grpc-encoding", "snappy")])
        let end = try #require(action.rejection)
        #expect(end.status.code == .unimplemented)
        #expect(end.status.message == "grpc: Decompressor is not installed for grpc-encoding \"snappy\"")
        #expect(value("grpc-accept-encoding", in: end.fields) == "identity")
    }

    @Test func supportedRequestEncodingIsAcceptedAndCompressedMessagesAreSurfaced() throws {
        var machine = RPCStreamStateMachine(
            server: .init(supportedEncodings: ["gzip", "deflate"], assertsOnInvalidTransition: false))
        guard
            case .accept(let head, _, _) = try machine.receiveRequestHeaders(
                Fixtures.requestHeaders(extra: [HeaderField("grpc-encoding", "gzip")]), endStream: false,
                router: Fixtures.router)
        else {
            Issue.record("unexpected action")
            return
        }
        #expect(head.encoding == "gzip")
        let action = try machine.receiveRequestData(Fixtures.framed([1, 2], compressed: true), endStream: false)
        #expect(action == .deliver([ReceivedMessage(bytes: [1, 2], isCompressed: true)], endOfRequest: false))
    }

    @Test func identityEncodingIsTheSameAsNone() throws {
        let (_, action) = try RPCStreamStateMachine.server(extra: [HeaderField("grpc-encoding", "identity")])
        guard case .accept(let head, _, _) = action else {
            Issue.record("unexpected action")
            return
        }
        #expect(head.encoding == nil)
    }

    @Test(arguments: ["/pkg.Svc/Unary", "/pkg.Svc/Watch"])
    func endStreamOnHeadersOfASingleRequestMethodIsACardinalityViolation(path: String) throws {
        let (_, action) = try RPCStreamStateMachine.server(path: path, endStream: true)
        let end = try #require(action.rejection)
        #expect(end.status.code == .unimplemented)
        #expect(end.status.message.contains("received no request message"))
        #expect(!end.resetStreamAfterSending)
    }

    @Test(arguments: ["/pkg.Svc/Upload", "/pkg.Svc/Chat"])
    func endStreamOnHeadersOfAStreamingRequestMethodIsAnEmptyRequest(path: String) throws {
        let (machine, action) = try RPCStreamStateMachine.server(path: path, endStream: true)
        guard case .accept(_, _, let complete) = action else {
            Issue.record("unexpected action")
            return
        }
        #expect(complete)
        #expect(machine.clientSide == .closed)
    }
}

@Suite struct ServerRequestDataTests {
    @Test func unaryRequestInOneFrameIsDeliveredWithTheEndOfRequest() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Unary")
        let action = try machine.receiveRequestData(Fixtures.framed([1, 2, 3]), endStream: true)
        #expect(action == .deliver([ReceivedMessage(bytes: [1, 2, 3])], endOfRequest: true))
        #expect(machine.clientSide == .closed)
    }

    @Test func unaryRequestIsHeldUntilEndStreamProvesItIsAlone() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Unary")
        for byte in Fixtures.framed([9, 8, 7]) {
            #expect(try machine.receiveRequestData([byte], endStream: false) == .deliver([], endOfRequest: false))
        }
        #expect(
            try machine.receiveRequestData([], endStream: true)
                == .deliver([ReceivedMessage(bytes: [9, 8, 7])], endOfRequest: true))
    }

    @Test(arguments: ["/pkg.Svc/Unary", "/pkg.Svc/Watch"])
    func secondRequestMessageOnASingleRequestMethodIsUnimplemented(path: String) throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: path)
        _ = try machine.receiveRequestData(Fixtures.framed([1]), endStream: false)
        let end = try #require(try machine.receiveRequestData(Fixtures.framed([2]), endStream: false).rejection)
        #expect(end.status.code == .unimplemented)
        #expect(end.status.message.contains("multiple request messages"))
        #expect(end.isTrailersOnly)
        #expect(end.resetStreamAfterSending)
    }

    @Test func zeroRequestMessagesOnAUnaryMethodIsUnimplemented() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Unary")
        let end = try #require(try machine.receiveRequestData([], endStream: true).rejection)
        #expect(end.status.code == .unimplemented)
        #expect(!end.resetStreamAfterSending)
    }

    @Test func clientStreamingMessagesAreDeliveredAsTheyComplete() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Upload")
        let bytes = Fixtures.framed([1]) + Fixtures.framed([]) + Fixtures.framed([2, 2])
        #expect(
            try machine.receiveRequestData(Array(bytes.prefix(8)), endStream: false)
                == .deliver([ReceivedMessage(bytes: [1])], endOfRequest: false))
        #expect(
            try machine.receiveRequestData(Array(bytes.dropFirst(8)), endStream: true)
                == .deliver([ReceivedMessage(bytes: []), ReceivedMessage(bytes: [2, 2])], endOfRequest: true))
    }

    @Test func oversizedMessageBeforeResponseHeadersIsResourceExhaustedTrailersOnly() throws {
        var machine = RPCStreamStateMachine(
            server: .init(maxReceiveMessageBytes: 16, assertsOnInvalidTransition: false))
        _ = try machine.receiveRequestHeaders(Fixtures.requestHeaders(), endStream: false, router: Fixtures.router)
        let end = try #require(try machine.receiveRequestData([0, 0, 0, 0, 17], endStream: false).rejection)
        #expect(end.isTrailersOnly)
        #expect(value("grpc-status", in: end.fields) == "8")
        #expect(end.status.message.contains("17 vs. 16"))
        #expect(end.status.message.contains("--max-receive-message-bytes"))
        #expect(end.resetStreamAfterSending)
    }

    @Test func malformedFramingAfterResponseHeadersEndsWithTrailers() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        _ = try machine.sendResponseHeaders()
        let end = try #require(try machine.receiveRequestData([2, 0, 0, 0, 0], endStream: false).rejection)
        #expect(!end.isTrailersOnly)
        #expect(end.fields.first == HeaderField("grpc-status", "13"))
        #expect(!end.fields.contains { $0.name.hasPrefix(":") })
        #expect(end.status.message.contains("unexpected payload format"))
    }

    @Test func truncatedMessageAtEndStreamIsInternal() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Unary")
        let end = try #require(try machine.receiveRequestData([0, 0, 0, 0, 9, 1], endStream: true).rejection)
        #expect(end.status.code == .internal)
        #expect(!end.resetStreamAfterSending)
        #expect(machine.isFinished)
    }

    @Test func compressedFlagWithoutEncodingIsInternal() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        let end = try #require(
            try machine.receiveRequestData(Fixtures.framed([1], compressed: true), endStream: false).rejection)
        #expect(
            end.status == Status(code: .internal, message: "grpc: compressed flag set with identity or empty encoding"))
    }

    @Test func dataAfterTheResponseEndedIsDroppedAndEndStreamStillClosesTheRequest() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        _ = try machine.sendStatus(Status(code: .notFound, message: "x"))
        #expect(try machine.receiveRequestData(Fixtures.framed([1]), endStream: false) == .drop)
        #expect(try machine.receiveRequestData([], endStream: true) == .drop)
        #expect(machine.isFinished)
    }

    @Test func requestTrailersAreIgnoredAndEndTheRequest() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Unary")
        _ = try machine.receiveRequestData(Fixtures.framed([5]), endStream: false)
        let action = try machine.receiveRequestTrailers([HeaderField("x-trailer", "1")])
        #expect(action == .deliver([ReceivedMessage(bytes: [5])], endOfRequest: true))
    }
}

@Suite struct ServerResponseTests {
    @Test func responseHeadersAreStatus200ContentTypeThenMetadata() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        var metadata = Metadata()
        try metadata.addString("v", forKey: "x-initial")
        let fields = try #require(try machine.sendResponseHeaders(metadata).payload)
        #expect(
            fields == [
                HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"),
                HeaderField("x-initial", "v"),
            ])
        #expect(machine.serverSide == .open)
    }

    @Test func responseHeadersAdvertiseSupportedEncodingsAndDeclareTheChosenOne() throws {
        var machine = RPCStreamStateMachine(
            server: .init(supportedEncodings: ["gzip"], assertsOnInvalidTransition: false))
        _ = try machine.receiveRequestHeaders(
            Fixtures.requestHeaders(extra: [HeaderField("grpc-accept-encoding", "gzip")]), endStream: false,
            router: Fixtures.router)
        let fields = try #require(try machine.sendResponseHeaders(encoding: "gzip").payload)
        #expect(value("grpc-encoding", in: fields) == "gzip")
        #expect(value("grpc-accept-encoding", in: fields) == "identity, gzip")
        #expect(try machine.sendResponseMessage([1], compressed: true).payload == [1, 0, 0, 0, 1, 1])
    }

    /// The transport keeps one encoded block per `ResponseHeadersKey`: streams with equal keys must get equal
    /// fields, the same fields `sendResponseHeaders` makes, and a different content-type or encoding a new key.
    @Test func responseHeadersKeyDeterminesTheFieldsWithoutMetadata() throws {
        let configuration = RPCStreamStateMachine.Configuration(
            supportedEncodings: ["gzip"], assertsOnInvalidTransition: false)
        func opened(contentType: String, encoding: String?) throws -> (ResponseHeadersKey, [HeaderField], [HeaderField]) {
            let headers = Fixtures.requestHeaders(
                contentType: contentType, extra: [HeaderField("grpc-accept-encoding", "gzip")])
            var viaKey = RPCStreamStateMachine(server: configuration)
            _ = try viaKey.receiveRequestHeaders(headers, endStream: false, router: Fixtures.router)
            let key = try #require(try viaKey.openResponse(encoding: encoding).payload)
            var direct = RPCStreamStateMachine(server: configuration)
            _ = try direct.receiveRequestHeaders(headers, endStream: false, router: Fixtures.router)
            let fields = try #require(try direct.sendResponseHeaders(encoding: encoding).payload)
            #expect(direct.serverSide == viaKey.serverSide)
            return (key, viaKey.responseHeaderFields(), fields)
        }
        let plain = try opened(contentType: "application/grpc", encoding: nil)
        let again = try opened(contentType: "application/grpc", encoding: "identity")
        let gzip = try opened(contentType: "application/grpc", encoding: "gzip")
        let proto = try opened(contentType: "application/grpc+proto", encoding: nil)
        for stream in [plain, again, gzip, proto] { #expect(stream.1 == stream.2) }
        #expect(plain.0 == again.0 && plain.1 == again.1)
        #expect(plain.0 != gzip.0 && value("grpc-encoding", in: gzip.1) == "gzip" && value("grpc-encoding", in: plain.1) == nil)
        #expect(plain.0 != proto.0 && value("content-type", in: proto.1) == "application/grpc+proto")
    }

    @Test func responseEncodingTheClientDoesNotAcceptIsOurBug() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        #expect(rpcError { _ = try machine.sendResponseHeaders(encoding: "gzip") }?.code == .internal)
        #expect(machine.termination == .poisoned)
    }

    @Test func responseMessagesAreFramed() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        _ = try machine.sendResponseHeaders()
        #expect(try machine.sendResponseMessage([0xAB, 0xCD]).payload == [0, 0, 0, 0, 2, 0xAB, 0xCD])
        #expect(try machine.sendResponseMessage([]).payload == [0, 0, 0, 0, 0])
    }

    @Test func statusAfterHeadersIsTrailersWithGRPCStatusEvenForOK() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
        _ = try machine.sendResponseHeaders()
        let end = try #require(try machine.sendStatus(.ok).payload)
        #expect(end.fields == [HeaderField("grpc-status", "0")])
        #expect(!end.isTrailersOnly)
        #expect(!end.resetStreamAfterSending)
        #expect(machine.isFinished && machine.termination == nil)
    }

    @Test func statusWithoutHeadersIsTrailersOnlyWithContentType() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
        var trailers = Metadata()
        try trailers.addBinary([1, 2, 3], forKey: "detail-bin")
        let end = try #require(
            try machine.sendStatus(Status(code: .notFound, message: "no model \"x\""), trailers: trailers).payload)
        #expect(end.isTrailersOnly)
        #expect(
            end.fields == [
                HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"),
                HeaderField("grpc-status", "5"), HeaderField("grpc-message", "no model \"x\""),
                HeaderField("detail-bin", "AQID"),
            ])
    }

    /// Numeric trailers (the batch facts) are the transport's to append after response headers, where it spells
    /// them out; before response headers they join the one trailers-only block as ordinary fields.
    @Test func numericTrailersFollowTheStatusAfterHeadersAndJoinATrailersOnlyBlock() throws {
        let names = try #require(NumericHeaderNames([("tw-batch-size", true), ("tw-queue-us", false)]))
        let numbers = NumericHeaderFields(names, 16, 250)
        var afterHeaders = try RPCStreamStateMachine.acceptedServer(endStream: true)
        _ = try afterHeaders.sendResponseHeaders()
        _ = try afterHeaders.sendResponseMessage([1])
        let end = try #require(try afterHeaders.sendStatus(.ok, numericTrailers: numbers).payload)
        #expect(end.fields == [HeaderField("grpc-status", "0")])
        #expect(end.appendsNumericTrailers)

        var trailersOnly = try RPCStreamStateMachine.acceptedServer(endStream: true)
        let early = try #require(
            try trailersOnly.sendStatus(Status(code: .unavailable), numericTrailers: numbers).payload)
        #expect(early.isTrailersOnly)
        #expect(!early.appendsNumericTrailers)
        #expect(Array(early.fields.suffix(2)) == [
            HeaderField("tw-batch-size", "16"), HeaderField("tw-queue-us", "250", isIndexable: false),
        ])
    }

    @Test func statusMessageIsPercentEncoded() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
        _ = try machine.sendResponseHeaders()
        let end = try #require(try machine.sendStatus(Status(code: .unknown, message: "50%\n☺")).payload)
        #expect(value("grpc-message", in: end.fields) == "50%25%0A%E2%98%BA")
    }

    @Test func earlyStatusWhileTheClientUploadsAsksForAResetAfterwards() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        let end = try #require(try machine.sendStatus(Status(code: .invalidArgument, message: "bad")).payload)
        #expect(end.resetStreamAfterSending)
        #expect(machine.clientSide == .open && machine.serverSide == .closed)
    }

    @Test func okUnaryWithoutAResponseMessageBecomesInternal() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Unary")
        _ = try machine.receiveRequestData(Fixtures.framed([1]), endStream: true)
        _ = try machine.sendResponseHeaders()
        let end = try #require(try machine.sendStatus(.ok).payload)
        #expect(end.status.code == .internal)
    }

    @Test func secondResponseMessageOnAUnaryIsOurBug() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(path: "/pkg.Svc/Upload")
        _ = try machine.sendResponseHeaders()
        _ = try machine.sendResponseMessage([1])
        #expect(rpcError { _ = try machine.sendResponseMessage([2]) }?.code == .internal)
        #expect(machine.termination == .poisoned)
        #expect(machine.isFinished)
    }

    @Test func clientRoleEventsOnAServerMachineAreOurBug() throws {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        #expect(rpcError { _ = try machine.sendRequestHeaders(RequestHead(path: "/a/b")) }?.code == .internal)
        #expect(machine.termination == .poisoned)
    }

    @Test func handlerOutputAfterAPeerResetIsDropped() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        _ = try machine.sendResponseHeaders()
        #expect(
            machine.receiveReset(errorCode: .cancel)
                == .finished(Status(code: .cancelled, message: "stream reset by the client (CANCEL)")))
        #expect(machine.termination == .resetByPeer(.cancel))
        #expect(try machine.sendResponseMessage([1]) == .drop)
        #expect(try machine.sendStatus(.ok).payload == nil)
    }

    @Test func deadlineCancelResetsTheStreamWithCancel() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        #expect(machine.cancel() == .resetStream(.cancel))
        #expect(machine.termination == .cancelled)
        #expect(machine.cancel() == .none)
        #expect(try machine.sendStatus(Status(code: .deadlineExceeded)).payload == nil)
    }

    @Test func deadlineBeforeResponseHeadersIsTrailersOnlyDeadlineExceeded() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
        guard case .send(let end) = machine.expireDeadline() else {
            Issue.record("no end sent")
            return
        }
        #expect(end.isTrailersOnly && end.status.code == .deadlineExceeded && !end.resetStreamAfterSending)
        #expect(end.fields.contains(HeaderField("grpc-status", "4")))
        #expect(machine.termination == .deadlineExceeded && machine.isFinished)
    }

    @Test func deadlineWhileTheClientUploadsEndsWithTrailersAndAsksForAReset() throws {
        var machine = try RPCStreamStateMachine.acceptedServer()
        _ = try machine.sendResponseHeaders()
        guard case .send(let end) = machine.expireDeadline() else {
            Issue.record("no end sent")
            return
        }
        #expect(!end.isTrailersOnly && end.status.code == .deadlineExceeded && end.resetStreamAfterSending)
    }

    /// The race of issue 15: the handler's unary answer (message, then OK) lands on the loop just after the deadline
    /// ended the response. Before the fix the status counted as "sent twice", poisoned the stream and the transport
    /// reset it with INTERNAL_ERROR.
    @Test func handlerAnswerAfterTheDeadlineIsDroppedNotABug() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
        #expect(machine.expireDeadline() != .none)
        #expect(try machine.sendResponseHeaders().payload == nil)
        #expect(try machine.sendResponseMessage([1]) == .drop)
        #expect(try machine.sendStatus(.ok).payload == nil)
        #expect(machine.termination == .deadlineExceeded)
        #expect(machine.receiveReset(errorCode: .noError) == .none)
    }

    @Test func deadlineAfterTheResponseEndedLeavesItsStatusStanding() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
        _ = try machine.sendResponseHeaders()
        _ = try machine.sendResponseMessage([1])
        _ = try machine.sendStatus(.ok)
        #expect(machine.expireDeadline() == .none)
        #expect(machine.termination == nil)
    }

    @Test func closeAfterANormalFinishIsNotACancellation() throws {
        var machine = try RPCStreamStateMachine.acceptedServer(endStream: true)
        _ = try machine.sendStatus(Status(code: .aborted))
        #expect(machine.receiveReset(errorCode: .noError) == .none)
        #expect(machine.termination == nil)
    }
}

/// Every reachable server state × every server event.
@Suite struct ServerStateEventMatrixTests {
    enum State: String, CaseIterable, Sendable {
        case idleIdle, openIdle, openOpen, openClosedAfterStatus, openClosedRejected, closedIdle, closedOpen
        case closedClosed, resetByPeer, deadlineExpired
    }

    enum Event: String, CaseIterable, Sendable {
        case receiveHeaders, receiveData, receiveTrailers, sendHeaders, sendMessage, sendStatus, receiveReset, cancel
        case expireDeadline
    }

    static func machine(in state: State) throws -> RPCStreamStateMachine {
        var machine = RPCStreamStateMachine(server: Fixtures.configuration)
        switch state {
        case .idleIdle:
            break
        case .openIdle:
            machine = try .acceptedServer()
        case .openOpen:
            machine = try .acceptedServer()
            _ = try machine.sendResponseHeaders()
        case .openClosedAfterStatus:
            machine = try .acceptedServer()
            _ = try machine.sendStatus(.ok)
        case .openClosedRejected:
            machine = try .acceptedServer()
            _ = try machine.sendResponseHeaders()
            _ = try machine.receiveRequestData([7, 0, 0, 0, 0], endStream: false)
        case .closedIdle:
            machine = try .acceptedServer(endStream: true)
        case .closedOpen:
            machine = try .acceptedServer(endStream: true)
            _ = try machine.sendResponseHeaders()
        case .closedClosed:
            machine = try .acceptedServer(endStream: true)
            _ = try machine.sendResponseHeaders()
            _ = try machine.sendStatus(.ok)
        case .resetByPeer:
            machine = try .acceptedServer()
            _ = machine.receiveReset(errorCode: .cancel)
        case .deadlineExpired:
            machine = try .acceptedServer()
            _ = try machine.sendResponseHeaders()
            _ = machine.expireDeadline()
        }
        return machine
    }

    static func apply(_ event: Event, to machine: inout RPCStreamStateMachine) -> Outcome {
        do throws(RPCError) {
            switch event {
            case .receiveHeaders:
                switch try machine.receiveRequestHeaders(
                    Fixtures.requestHeaders(), endStream: false, router: Fixtures.router)
                {
                case .accept: return .accept
                case .reject: return .reject
                }
            case .receiveData:
                return outcome(try machine.receiveRequestData(Fixtures.framed([1]), endStream: false))
            case .receiveTrailers:
                return outcome(try machine.receiveRequestTrailers([]))
            case .sendHeaders:
                return try machine.sendResponseHeaders().payload == nil ? .drop : .send
            case .sendMessage:
                return try machine.sendResponseMessage([1]).payload == nil ? .drop : .send
            case .sendStatus:
                return try machine.sendStatus(.ok).payload == nil ? .drop : .send
            case .receiveReset:
                return machine.receiveReset(errorCode: .cancel) == .none ? .none : .finished
            case .cancel:
                return machine.cancel() == .none ? .none : .resetStream
            case .expireDeadline:
                return machine.expireDeadline() == .none ? .none : .send
            }
        } catch {
            return error.code == .internal ? .bug : .unexpected("\(error)")
        }
    }

    static func outcome(_ action: ServerRequestAction) -> Outcome {
        switch action {
        case .deliver: .deliver
        case .reject: .reject
        case .drop: .drop
        }
    }

    static let expected: [State: [Outcome]] = [
        // receiveHeaders, receiveData, receiveTrailers, sendHeaders, sendMessage, sendStatus, receiveReset, cancel,
        // expireDeadline
        .idleIdle: [.accept, .bug, .bug, .bug, .bug, .bug, .none, .none, .none],
        .openIdle: [.bug, .deliver, .deliver, .send, .bug, .send, .finished, .resetStream, .send],
        .openOpen: [.bug, .deliver, .deliver, .bug, .send, .send, .finished, .resetStream, .send],
        .openClosedAfterStatus: [.bug, .drop, .drop, .bug, .bug, .bug, .none, .none, .none],
        .openClosedRejected: [.bug, .drop, .drop, .drop, .drop, .drop, .none, .none, .none],
        .closedIdle: [.bug, .bug, .bug, .send, .bug, .send, .finished, .resetStream, .send],
        .closedOpen: [.bug, .bug, .bug, .bug, .send, .send, .finished, .resetStream, .send],
        .closedClosed: [.bug, .bug, .bug, .bug, .bug, .bug, .none, .none, .none],
        .resetByPeer: [.bug, .drop, .drop, .drop, .drop, .drop, .none, .none, .none],
        // The handler answers a moment after the deadline ended the response: everything it sends is dropped.
        .deadlineExpired: [.bug, .drop, .drop, .drop, .drop, .drop, .none, .none, .none],
    ]

    @Test(arguments: State.allCases, Event.allCases)
    func eventInState(state: State, event: Event) throws {
        var machine = try Self.machine(in: state)
        let before = (machine.clientSide, machine.serverSide)
        let outcome = Self.apply(event, to: &machine)
        let index = try #require(Event.allCases.firstIndex(of: event))
        #expect(outcome == Self.expected[state]?[index], "\(event) in \(state)")
        switch outcome {
        case .bug:
            // The first reason a stream ended is kept; a bug on a live stream poisons it.
            let first: RPCStreamStateMachine.Termination? = switch state {
            case .resetByPeer: .resetByPeer(.cancel)
            case .deadlineExpired: .deadlineExceeded
            default: .poisoned
            }
            #expect(machine.termination == first)
            #expect(machine.isFinished)
        case .drop, .none:
            if state != .idleIdle && state != .openClosedAfterStatus && state != .openClosedRejected {
                #expect(machine.clientSide == before.0 && machine.serverSide == before.1)
            }
        case .finished, .resetStream:
            #expect(machine.isFinished)
        case .send where event == .expireDeadline:
            #expect(machine.isFinished && machine.termination == .deadlineExceeded)
        default:
            break
        }
    }

    @Test func reachableStatesHaveTheirNamedSides() throws {
        let sides: [State: (RPCStreamStateMachine.Side, RPCStreamStateMachine.Side)] = [
            .idleIdle: (.idle, .idle), .openIdle: (.open, .idle), .openOpen: (.open, .open),
            .openClosedAfterStatus: (.open, .closed), .openClosedRejected: (.open, .closed),
            .closedIdle: (.closed, .idle), .closedOpen: (.closed, .open), .closedClosed: (.closed, .closed),
            .resetByPeer: (.closed, .closed), .deadlineExpired: (.closed, .closed),
        ]
        for state in State.allCases {
            let machine = try Self.machine(in: state)
            let expected = try #require(sides[state])
            #expect(machine.clientSide == expected.0 && machine.serverSide == expected.1, "\(state)")
        }
    }
}
