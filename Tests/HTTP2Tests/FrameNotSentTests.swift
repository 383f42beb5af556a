// Tests/HTTP2Tests/FrameNotSentTests.swift: a header block nghttp2 refuses to send (over its 64 KiB
// max_send_header_block_length) resets the stream instead of leaving it open forever (issue 25, point 5).

import HTTP2
import Testing
import HTTPTypes

@Suite struct FrameNotSentTests {
    /// 70,000 bytes: past nghttp2's 64 KiB limit on a header block it sends.
    static let hugeValue = String(repeating: "m", count: 70_000)

    @Test func anOversizeTrailersOnlyResetsTheStreamWithInternalError() throws {
        let pair = try InMemoryPair()
        let id = try pair.client.sendRequest(headers: grpcRequest(path: "/no.Such/Method"), endStream: true)
        try pair.pump()
        _ = pair.takeServerEvents()

        let status = grpcResponseHeaders + [HeaderField("grpc-status", "5"), HeaderField("grpc-message", Self.hugeValue)]
        try pair.server.sendTrailersOnly(streamID: id, headers: status)
        try pair.pump()
        #expect(pair.server.framesNotSent == 1)
        #expect(pair.takeClientEvents().stream(id) == [.streamClosed(streamID: id, errorCode: .internalError)])
        #expect(pair.takeServerEvents().stream(id) == [.streamClosed(streamID: id, errorCode: .internalError)])
        #expect(pair.server.openStreamCount == 0)
        #expect(pair.client.openStreamCount == 0)
    }

    @Test func oversizeTrailersAfterABodyResetTheStreamAndTheConnectionServesOn() throws {
        let pair = try InMemoryPair()
        let id = try pair.client.sendRequest(headers: grpcRequest(), endStream: true)
        try pair.pump()
        _ = pair.takeServerEvents()

        let response = framed(Array("partial".utf8))
        try pair.server.sendResponseHeaders(streamID: id, headers: grpcResponseHeaders)
        try pair.server.sendData(streamID: id, response)
        try pair.server.finish(
            streamID: id, trailers: [HeaderField("grpc-status", "13"), HeaderField("x-detail", Self.hugeValue)])
        try pair.pump()
        #expect(pair.server.framesNotSent == 1)
        let atClient = pair.takeClientEvents().stream(id)
        #expect(atClient.last == .streamClosed(streamID: id, errorCode: .internalError), "\(atClient)")
        #expect(pair.server.openStreamCount == 0)
        #expect(pair.server.queuedOutboundBytes == 0)

        // The connection still serves.
        let next = try pair.client.sendRequest(headers: grpcRequest(), endStream: true)
        try pair.pump()
        _ = pair.takeServerEvents()
        let status = grpcResponseHeaders + [HeaderField("grpc-status", "0")]
        try pair.server.sendTrailersOnly(streamID: next, headers: status)
        try pair.pump()
        #expect(
            pair.takeClientEvents().stream(next) == [
                .headers(streamID: next, headers: status, kind: .response, endStream: true),
                .streamClosed(streamID: next, errorCode: .noError),
            ])
    }

    @Test func queuedOutboundBytesSumsEveryStreamAndDrains() throws {
        var small = HTTP2Session.Configuration()
        small.initialWindowSize = 65_535
        small.connectionWindowSize = 65_535
        let pair = try InMemoryPair(client: small)
        pair.clientConsumesData = false
        let first = try pair.client.sendRequest(headers: grpcRequest(), endStream: true)
        let second = try pair.client.sendRequest(headers: grpcRequest(), endStream: true)
        try pair.pump()
        _ = pair.takeServerEvents()
        try pair.server.sendResponseHeaders(streamID: first, headers: grpcResponseHeaders)
        try pair.server.sendResponseHeaders(streamID: second, headers: grpcResponseHeaders)
        try pair.server.sendData(streamID: first, [UInt8](repeating: 1, count: 100_000))
        try pair.server.sendData(streamID: second, [UInt8](repeating: 2, count: 50_000))
        #expect(pair.server.queuedOutboundBytes == 150_000)
        // The client's 65,535-byte windows take part of it; the rest stays queued.
        try pair.pump()
        let queued = pair.server.queuedOutboundBytes
        #expect(queued > 0 && queued < 150_000)
        #expect(queued == pair.server.queuedOutboundBytes(streamID: first) + pair.server.queuedOutboundBytes(streamID: second))
        pair.client.resetStream(streamID: first)
        try pair.pump()
        #expect(pair.server.queuedOutboundBytes == pair.server.queuedOutboundBytes(streamID: second))
    }
}
