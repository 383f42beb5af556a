// Tests/RPCCoreTests/ClientStreamStateMachineTests.swift: the client role, event by event and as a state × event
// matrix.

import RPCCore
import Testing
import HTTPTypes

extension RPCStreamStateMachine {
    /// A client machine of `kind` that has sent its request headers (and END_STREAM when `ended`).
    static func startedClient(
        _ kind: RPCKind = .bidirectionalStreaming, ended: Bool = false,
        configuration: Configuration = Fixtures.configuration
    ) throws -> RPCStreamStateMachine {
        var machine = RPCStreamStateMachine(client: kind, configuration: configuration)
        _ = try machine.sendRequestHeaders(RequestHead(path: "/pkg.Svc/Chat", authority: "localhost"))
        if ended {
            if !kind.isRequestStreaming { _ = try machine.sendRequestMessage([1]) }
            _ = try machine.sendEndOfRequest()
        }
        return machine
    }
}

extension ClientReceiveAction {
    var finishedStatus: Status? {
        if case .finished(let status, _, _) = self { status } else { nil }
    }
    var resetCode: HTTP2ErrorCode? {
        if case .finished(_, _, let reset) = self { reset } else { nil }
    }
}

@Suite struct ClientRequestTests {
    @Test func requestHeadersFollowTheGRPCOrderAndEncodeTheTimeout() throws {
        var machine = RPCStreamStateMachine(
            client: .unary, configuration: .init(supportedEncodings: ["gzip"], assertsOnInvalidTransition: false))
        var metadata = Metadata()
        try metadata.addString("v", forKey: "x-custom")
        let head = RequestHead(
            path: "/pkg.Svc/Unary", authority: "localhost:50051", metadata: metadata,
            timeout: GRPCTimeout(nanoseconds: 5_000_000_000), userAgent: "tensorwire/0.1")
        let fields = try #require(try machine.sendRequestHeaders(head).payload)
        #expect(
            fields == [
                HeaderField(":method", "POST"), HeaderField(":scheme", "http"), HeaderField(":path", "/pkg.Svc/Unary"),
                HeaderField(":authority", "localhost:50051"), HeaderField("content-type", "application/grpc"),
                HeaderField("te", "trailers"), HeaderField("grpc-timeout", "5000000u"),
                HeaderField("grpc-accept-encoding", "identity, gzip"), HeaderField("user-agent", "tensorwire/0.1"),
                HeaderField("x-custom", "v"),
            ])
        #expect(machine.clientSide == .open)
    }

    @Test func requestMessagesAreFramedAndEndOfRequestClosesTheClientSide() throws {
        var machine = try RPCStreamStateMachine.startedClient(.clientStreaming)
        #expect(try machine.sendRequestMessage([4, 2]).payload == [0, 0, 0, 0, 2, 4, 2])
        #expect(try machine.sendRequestMessage([]).payload == [0, 0, 0, 0, 0])
        #expect(try machine.sendEndOfRequest().payload != nil)
        #expect(machine.clientSide == .closed)
    }

    @Test func unaryClientSendingTwoMessagesIsOurBug() throws {
        var machine = try RPCStreamStateMachine.startedClient(.unary)
        _ = try machine.sendRequestMessage([1])
        #expect(rpcError { _ = try machine.sendRequestMessage([2]) }?.code == .internal)
        #expect(machine.termination == .poisoned)
    }

    @Test func unaryClientEndingWithoutAMessageIsOurBug() throws {
        var machine = try RPCStreamStateMachine.startedClient(.unary)
        #expect(rpcError { _ = try machine.sendEndOfRequest() }?.code == .internal)
    }
}

@Suite struct ClientResponseTests {
    @Test func fullResponseYieldsHeadersMessagesAndStatus() throws {
        var machine = try RPCStreamStateMachine.startedClient(.unary, ended: true)
        let headers = try machine.receiveResponseHeaders(
            Fixtures.okResponseHeaders + [
                HeaderField("x-initial", "1"), HeaderField("grpc-accept-encoding", "identity, gzip"),
            ],
            endStream: false)
        guard case .receivedHeaders(let head) = headers else {
            Issue.record("\(headers)")
            return
        }
        #expect(head.metadata.strings(forKey: "x-initial") == ["1"])
        #expect(head.acceptedEncodings == ["identity", "gzip"])
        #expect(
            try machine.receiveResponseData(Fixtures.framed([3, 3]), endStream: false)
                == .receivedMessages([ReceivedMessage(bytes: [3, 3])]))
        let end = try machine.receiveResponseTrailers([
            HeaderField("grpc-status", "0"), HeaderField("grpc-message", ""), HeaderField("x-trailer", "t"),
        ])
        guard case .finished(let status, let trailers, let reset) = end else {
            Issue.record("\(end)")
            return
        }
        #expect(status == .ok)
        #expect(trailers.strings(forKey: "x-trailer") == ["t"])
        #expect(reset == nil)
        #expect(machine.isFinished && machine.termination == nil)
    }

    @Test func trailersOnlyResponseFinishesTheCallWithItsDecodedStatus() throws {
        var machine = try RPCStreamStateMachine.startedClient(.unary, ended: true)
        let action = try machine.receiveResponseHeaders(
            Fixtures.okResponseHeaders + [
                HeaderField("grpc-status", "12"), HeaderField("grpc-message", "unknown%20x"),
            ],
            endStream: true)
        #expect(
            action
                == .finished(Status(code: .unimplemented, message: "unknown x"), trailers: Metadata(), resetStream: nil)
        )
    }

    @Test(arguments: [
        (503, Status.Code.unavailable), (404, .unimplemented), (400, .internal), (401, .unauthenticated),
        (500, .unknown),
    ])
    func nonOKHTTPStatusWithoutGRPCStatusMapsThroughTheHTTPTable(httpStatus: Int, expected: Status.Code) throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders(
            [HeaderField(":status", String(httpStatus)), HeaderField("content-type", "text/html")], endStream: true)
        #expect(action.finishedStatus?.code == expected)
        #expect(action.resetCode == nil)
    }

    @Test func nonOKHTTPStatusWithGRPCStatusUsesTheGRPCStatus() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders(
            [
                HeaderField(":status", "405"), HeaderField("content-type", "application/grpc"),
                HeaderField("grpc-status", "13"),
            ],
            endStream: true)
        #expect(action.finishedStatus?.code == .internal)
    }

    @Test func nonOKHTTPStatusWithGRPCStatusButNoEndStreamIsNotGRPC() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders(
            [
                HeaderField(":status", "503"), HeaderField("content-type", "application/grpc"),
                HeaderField("grpc-status", "0"),
            ],
            endStream: false)
        #expect(action.finishedStatus?.code == .unavailable)
        #expect(action.resetCode == .cancel)
    }

    @Test func nonOKHTTPStatusWithoutEndStreamResetsTheStream() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders([HeaderField(":status", "502")], endStream: false)
        #expect(action.finishedStatus?.code == .unavailable)
        #expect(action.resetCode == .cancel)
    }

    @Test func informationalResponseIsDropped() throws {
        var machine = try RPCStreamStateMachine.startedClient()
        #expect(try machine.receiveResponseHeaders([HeaderField(":status", "100")], endStream: false) == .drop)
        #expect(machine.serverSide == .idle)
    }

    @Test func missingContentTypeIsUnknownLikeGrpcGo() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders(
            [HeaderField(":status", "200"), HeaderField("grpc-status", "0")], endStream: true)
        #expect(action.finishedStatus == Status(code: .unknown, message: "malformed header: missing HTTP content-type"))
    }

    @Test func jsonContentTypeIsUnknown() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders(
            [HeaderField(":status", "200"), HeaderField("content-type", "application/json")], endStream: false)
        #expect(action.finishedStatus?.code == .unknown)
        #expect(action.resetCode == .cancel)
    }

    @Test func missingHTTPStatusIsInternal() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders(
            [HeaderField("content-type", "application/grpc")], endStream: true)
        #expect(action.finishedStatus?.code == .internal)
    }

    @Test func trailersWithoutGRPCStatusAreUnknown() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        #expect(try machine.receiveResponseTrailers([HeaderField("x", "y")]).finishedStatus?.code == .unknown)
    }

    @Test(arguments: [("abc", Status.Code.internal), ("99", .unknown), ("16", .unauthenticated)])
    func grpcStatusValuesAreParsedDefensively(raw: String, expected: Status.Code) throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        #expect(try machine.receiveResponseTrailers([HeaderField("grpc-status", raw)]).finishedStatus?.code == expected)
    }

    @Test func dataWithEndStreamAndNoTrailersIsInternal() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        let action = try machine.receiveResponseData(Fixtures.framed([1]), endStream: true)
        #expect(
            action
                == .finished(
                    Status(code: .internal, message: "server closed the stream without sending trailers"),
                    trailers: Metadata(), resetStream: nil))
    }

    @Test func dataBeforeResponseHeadersIsAProtocolViolation() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseData(Fixtures.framed([1]), endStream: false)
        #expect(action.finishedStatus?.code == .internal)
        #expect(action.resetCode == .cancel)
    }

    @Test(arguments: [RPCKind.unary, .clientStreaming])
    func twoResponseMessagesOnASingleResponseMethodIsUnimplemented(kind: RPCKind) throws {
        var machine = try RPCStreamStateMachine.startedClient(kind, ended: true)
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        let action = try machine.receiveResponseData(Fixtures.framed([1]) + Fixtures.framed([2]), endStream: false)
        #expect(action.finishedStatus?.code == .unimplemented)
        #expect(action.resetCode == .cancel)
    }

    @Test func okWithoutAResponseMessageOnAUnaryIsUnimplemented() throws {
        var machine = try RPCStreamStateMachine.startedClient(.unary, ended: true)
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        #expect(try machine.receiveResponseTrailers(Fixtures.okTrailers).finishedStatus?.code == .unimplemented)
    }

    @Test func serverStreamingWithManyMessagesIsFine() throws {
        var machine = try RPCStreamStateMachine.startedClient(.serverStreaming, ended: true)
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        let bytes = (0..<10).flatMap { Fixtures.framed([UInt8($0)]) }
        #expect(
            try machine.receiveResponseData(bytes, endStream: false)
                == .receivedMessages((0..<10).map { ReceivedMessage(bytes: [UInt8($0)]) }))
        #expect(try machine.receiveResponseTrailers(Fixtures.okTrailers).finishedStatus == .ok)
    }

    @Test func oversizedResponseMessageIsResourceExhausted() throws {
        var machine = try RPCStreamStateMachine.startedClient(
            ended: true, configuration: .init(maxReceiveMessageBytes: 4, assertsOnInvalidTransition: false))
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        let action = try machine.receiveResponseData([0, 0, 0, 0, 5], endStream: false)
        #expect(action.finishedStatus?.code == .resourceExhausted)
        #expect(action.finishedStatus?.message.contains("5 vs. 4") == true)
    }

    @Test func truncatedResponseMessageAtTrailersIsInternal() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        _ = try machine.receiveResponseData([0, 0, 0, 0, 5, 1], endStream: false)
        #expect(try machine.receiveResponseTrailers(Fixtures.okTrailers).finishedStatus?.code == .internal)
    }

    @Test func unsupportedResponseEncodingIsInternal() throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        let action = try machine.receiveResponseHeaders(
            Fixtures.okResponseHeaders + [HeaderField("grpc-encoding", "gzip")], endStream: false)
        #expect(action.finishedStatus?.code == .internal)
    }

    @Test func trailersWhileStillUploadingAskForANoErrorReset() throws {
        var machine = try RPCStreamStateMachine.startedClient()
        _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
        let action = try machine.receiveResponseTrailers([HeaderField("grpc-status", "3")])
        #expect(action.resetCode == .noError)
        #expect(try machine.sendRequestMessage([1]) == .drop)
    }

    @Test(arguments: [
        (HTTP2ErrorCode.cancel, Status.Code.cancelled), (.refusedStream, .unavailable), (.noError, .internal),
        (.enhanceYourCalm, .resourceExhausted),
    ])
    func peerResetFinishesTheCallWithTheMappedCode(code: HTTP2ErrorCode, expected: Status.Code) throws {
        var machine = try RPCStreamStateMachine.startedClient(ended: true)
        guard case .finished(let status) = machine.receiveReset(errorCode: code) else {
            Issue.record("not finished")
            return
        }
        #expect(status.code == expected)
        #expect(machine.termination == .resetByPeer(code))
    }

    @Test func cancellingARunningCallResetsWithCancel() throws {
        var machine = try RPCStreamStateMachine.startedClient()
        #expect(machine.cancel() == .resetStream(.cancel))
        #expect(try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false) == .drop)
    }
}

/// Every reachable client state × every client event, for a bidirectional call.
@Suite struct ClientStateEventMatrixTests {
    enum State: String, CaseIterable, Sendable {
        case idleIdle, openIdle, openOpen, closedIdle, closedOpen, closedClosed, finishedEarly, resetByPeer
    }

    enum Event: String, CaseIterable, Sendable {
        case sendHeaders, sendMessage, sendEnd, receiveHeaders, receiveData, receiveTrailers, receiveReset, cancel
    }

    static func machine(in state: State) throws -> RPCStreamStateMachine {
        switch state {
        case .idleIdle:
            return RPCStreamStateMachine(client: .bidirectionalStreaming, configuration: Fixtures.configuration)
        case .openIdle:
            return try .startedClient()
        case .openOpen:
            var machine = try RPCStreamStateMachine.startedClient()
            _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
            return machine
        case .closedIdle:
            return try .startedClient(ended: true)
        case .closedOpen:
            var machine = try RPCStreamStateMachine.startedClient(ended: true)
            _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
            return machine
        case .closedClosed:
            var machine = try RPCStreamStateMachine.startedClient(ended: true)
            _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
            _ = try machine.receiveResponseTrailers(Fixtures.okTrailers)
            return machine
        case .finishedEarly:
            var machine = try RPCStreamStateMachine.startedClient()
            _ = try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false)
            _ = try machine.receiveResponseTrailers(Fixtures.okTrailers)
            return machine
        case .resetByPeer:
            var machine = try RPCStreamStateMachine.startedClient()
            _ = machine.receiveReset(errorCode: .refusedStream)
            return machine
        }
    }

    static func apply(_ event: Event, to machine: inout RPCStreamStateMachine) -> Outcome {
        do throws(RPCError) {
            switch event {
            case .sendHeaders:
                return try machine.sendRequestHeaders(RequestHead(path: "/pkg.Svc/Chat")).payload == nil ? .drop : .send
            case .sendMessage:
                return try machine.sendRequestMessage([1]).payload == nil ? .drop : .send
            case .sendEnd:
                return try machine.sendEndOfRequest().payload == nil ? .drop : .send
            case .receiveHeaders:
                return outcome(try machine.receiveResponseHeaders(Fixtures.okResponseHeaders, endStream: false))
            case .receiveData:
                return outcome(try machine.receiveResponseData(Fixtures.framed([1]), endStream: false))
            case .receiveTrailers:
                return outcome(try machine.receiveResponseTrailers(Fixtures.okTrailers))
            case .receiveReset:
                return machine.receiveReset(errorCode: .cancel) == .none ? .none : .finished
            case .cancel:
                return machine.cancel() == .none ? .none : .resetStream
            }
        } catch {
            return error.code == .internal ? .bug : .unexpected("\(error)")
        }
    }

    static func outcome(_ action: ClientReceiveAction) -> Outcome {
        switch action {
        case .receivedHeaders: .headers
        case .receivedMessages: .messages
        case .finished: .finished
        case .drop: .drop
        }
    }

    static let expected: [State: [Outcome]] = [
        // sendHeaders, sendMessage, sendEnd, receiveHeaders, receiveData, receiveTrailers, receiveReset, cancel
        .idleIdle: [.send, .bug, .bug, .bug, .bug, .bug, .none, .none],
        .openIdle: [.bug, .send, .send, .headers, .finished, .bug, .finished, .resetStream],
        .openOpen: [.bug, .send, .send, .bug, .messages, .finished, .finished, .resetStream],
        .closedIdle: [.bug, .bug, .bug, .headers, .finished, .bug, .finished, .resetStream],
        .closedOpen: [.bug, .bug, .bug, .bug, .messages, .finished, .finished, .resetStream],
        .closedClosed: [.bug, .bug, .bug, .drop, .drop, .drop, .none, .none],
        .finishedEarly: [.bug, .drop, .drop, .drop, .drop, .drop, .none, .none],
        .resetByPeer: [.drop, .drop, .drop, .drop, .drop, .drop, .none, .none],
    ]

    @Test(arguments: State.allCases, Event.allCases)
    func eventInState(state: State, event: Event) throws {
        var machine = try Self.machine(in: state)
        let outcome = Self.apply(event, to: &machine)
        let index = try #require(Event.allCases.firstIndex(of: event))
        #expect(outcome == Self.expected[state]?[index], "\(event) in \(state)")
        if outcome == .bug {
            #expect(machine.termination == .poisoned)
        }
        if outcome == .finished || outcome == .resetStream {
            #expect(machine.isFinished)
        }
    }
}
