// Tests/RPCCoreTests/InMemoryPumpTests.swift: a client machine and a server machine exchanging header lists and
// bytes in memory, as the transport will carry them.

import RPCCore
import Testing
import HTTPTypes
import TestSupport

@Suite struct InMemoryPumpTests {
    @Test func unaryCallRoundTripsMetadataMessagesAndTheSpecialStatusMessage() throws {
        var client = RPCStreamStateMachine(client: .unary, configuration: Fixtures.configuration)
        var server = RPCStreamStateMachine(server: Fixtures.configuration)
        var requestMetadata = Metadata()
        try requestMetadata.addBinary([0, 0xFF, 0x10], forKey: "trace-bin")
        try requestMetadata.addString("42", forKey: "x-id")

        let requestHeaders = try #require(
            try client.sendRequestHeaders(
                RequestHead(
                    path: "/pkg.Svc/Unary", authority: "localhost", metadata: requestMetadata,
                    timeout: GRPCTimeout(.seconds(5)))
            ).payload)
        guard
            case .accept(let head, let route, false) = try server.receiveRequestHeaders(
                requestHeaders, endStream: false, router: Fixtures.router)
        else {
            Issue.record("not accepted")
            return
        }
        #expect(route.handler == "Unary")
        #expect(head.metadata == requestMetadata)
        #expect(head.timeout == GRPCTimeout(.seconds(5)))

        let request = try #require(try client.sendRequestMessage(Array(0..<200)).payload)
        #expect(try client.sendEndOfRequest().payload != nil)
        var delivered: [ReceivedMessage] = []
        let pieces = chunks(request, size: 7)
        for (index, piece) in pieces.enumerated() {
            if case .deliver(let messages, _) = try server.receiveRequestData(
                piece, endStream: index == pieces.count - 1)
            {
                delivered += messages
            }
        }
        #expect(delivered == [ReceivedMessage(bytes: Array(0..<200))])

        var initial = Metadata()
        try initial.addString("ready", forKey: "x-state")
        let responseHeaders = try #require(try server.sendResponseHeaders(initial).payload)
        guard
            case .receivedHeaders(let responseHead) = try client.receiveResponseHeaders(
                responseHeaders, endStream: false)
        else {
            Issue.record("no headers")
            return
        }
        #expect(responseHead.metadata == initial)

        let response = try #require(try server.sendResponseMessage([9, 9, 9]).payload)
        #expect(
            try client.receiveResponseData(response, endStream: false)
                == .receivedMessages([ReceivedMessage(bytes: [9, 9, 9])]))

        let special = StatusMessageTests.special
        var trailing = Metadata()
        try trailing.addBinary(Array("fooba".utf8), forKey: "detail-bin")
        let end = try #require(try server.sendStatus(Status(code: .ok, message: special), trailers: trailing).payload)
        #expect(!end.resetStreamAfterSending)
        guard case .finished(let status, let trailers, nil) = try client.receiveResponseTrailers(end.fields) else {
            Issue.record("not finished")
            return
        }
        #expect(Array(status.message.utf8) == Array(special.utf8))
        #expect(status.code == .ok)
        #expect(trailers == trailing)
        #expect(client.isFinished && server.isFinished)
    }

    @Test func unknownMethodReachesTheClientAsUnimplementedTrailersOnly() throws {
        var client = RPCStreamStateMachine(client: .unary, configuration: Fixtures.configuration)
        var server = RPCStreamStateMachine(server: Fixtures.configuration)
        let headers = try #require(try client.sendRequestHeaders(RequestHead(path: "/pkg.Svc/Missing")).payload)
        let end = try #require(
            try server.receiveRequestHeaders(headers, endStream: false, router: Fixtures.router).rejection)
        let action = try client.receiveResponseHeaders(end.fields, endStream: true)
        #expect(
            action.finishedStatus == Status(code: .unimplemented, message: "unknown method Missing for service pkg.Svc")
        )
        #expect(action.resetCode == .noError)
    }

    @Test func bidiStreamPipelinesManyMessagesInBothDirections() throws {
        var client = RPCStreamStateMachine(client: .bidirectionalStreaming, configuration: Fixtures.configuration)
        var server = RPCStreamStateMachine(server: Fixtures.configuration)
        let headers = try #require(try client.sendRequestHeaders(RequestHead(path: "/pkg.Svc/Chat")).payload)
        _ = try server.receiveRequestHeaders(headers, endStream: false, router: Fixtures.router)
        _ = try client.receiveResponseHeaders(try #require(try server.sendResponseHeaders().payload), endStream: false)
        var rng = SplitMix64(seed: 99)
        var echoed = 0
        for round in 0..<50 {
            let message = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8(round) }
            let framed = try #require(try client.sendRequestMessage(message).payload)
            for piece in randomChunks(framed, maxSize: 6, using: &rng) {
                guard case .deliver(let messages, _) = try server.receiveRequestData(piece, endStream: false) else {
                    Issue.record("not delivered")
                    return
                }
                for request in messages {
                    let reply = try #require(try server.sendResponseMessage(request.bytes).payload)
                    if case .receivedMessages(let replies) = try client.receiveResponseData(reply, endStream: false) {
                        #expect(replies.map(\.bytes) == [message])
                        echoed += replies.count
                    }
                }
            }
        }
        #expect(echoed == 50)
        _ = try client.sendEndOfRequest()
        #expect(try server.receiveRequestData([], endStream: true) == .deliver([], endOfRequest: true))
        let end = try #require(try server.sendStatus(.ok).payload)
        #expect(try client.receiveResponseTrailers(end.fields).finishedStatus == .ok)
    }
}
