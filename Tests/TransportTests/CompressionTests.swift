import GRPCCompression
import RPCCore
import Locks
import Testing
@testable import Transport
import TestSupport

/// What a compression-aware echo handler saw: each request message and whether it arrived compressed.
private final class RequestLog: Sendable {
    let entries = Lock<[(bytes: [UInt8], compressed: Bool)]>([])

    func record(_ call: ServerCall, _ bytes: [UInt8]) {
        entries.withLock { $0.append((bytes, call.requestMessageWasCompressed)) }
    }

    var flags: [Bool] { entries.withLock { $0.map(\.compressed) } }
    var messages: [[UInt8]] { entries.withLock { $0.map(\.bytes) } }
}

/// Echo methods that record the compressed flags; the bidi one sends every odd-indexed response uncompressed.
private func compressionRouter(_ log: RequestLog) -> Router<ServerMethodHandler> {
    var router = Router<ServerMethodHandler>()
    router.register(
        Echo.unary,
        handler: .unary { call, request in
            log.record(call, request)
            call.respond(request)
        })
    router.register(
        Echo.expand,
        handler: .serverStreaming { call, request in
            log.record(call, request)
            for index in 0..<4 { call.send(request, compressed: index % 2 == 0) }
            call.finish()
        })
    router.register(
        Echo.update,
        handler: .bidirectionalStreaming { call in
            let count = Lock(0)
            return RequestObserver(
                onMessage: { message in
                    log.record(call, message)
                    let index = count.withLock { value in
                        defer { value += 1 }
                        return value
                    }
                    call.send(message, compressed: index % 2 == 0)
                },
                onEnd: { call.finish() })
        })
    return router
}

/// Large enough to span several DATA frames, compressible, not all one byte.
private let payload: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 / 7) }

/// Records messages together with their compressed flags.
private final class FlagRecorder: Sendable {
    let flags = Lock<[Bool]>([])
    let recorder = CallRecorder()

    var handlers: ClientCallHandlers {
        var handlers = recorder.handlers
        handlers.onCompressedFlag = { flag in self.flags.withLock { $0.append(flag) } }
        return handlers
    }
}

@Suite(.serialized, .tags(.live))
struct CompressionTransportLiveTests {
    @Test(arguments: CompressionAlgorithm.allCases)
    func compressedUnaryRequestIsInflatedForTheHandler(algorithm: CompressionAlgorithm) throws {
        let log = RequestLog()
        let server = try makeServer(compressionRouter(log))
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let response = client.unary(
            path: Echo.unary.path, request: payload, timeout: .seconds(30), compression: algorithm)
        #expect(response.status == .ok)
        #expect(response.message == payload)
        let plain = client.unary(path: Echo.unary.path, request: [1, 2, 3], timeout: .seconds(30))
        #expect(plain.message == [1, 2, 3])
        #expect(log.flags == [true, false])
        #expect(log.messages == [payload, [1, 2, 3]])
    }

    @Test(arguments: CompressionAlgorithm.allCases)
    func responsesAreCompressedOnlyWhenConfigured(algorithm: CompressionAlgorithm) throws {
        let log = RequestLog()
        let compressing = try makeServer(compressionRouter(log)) { $0.responseCompression = algorithm }
        defer { compressing.shutdown(drainSeconds: 1) }
        let plain = try makeServer(compressionRouter(log))
        defer { plain.shutdown(drainSeconds: 1) }
        for (server, expected) in [(compressing, true), (plain, false)] {
            let client = try ClientConnection(host: "127.0.0.1", port: server.port)
            defer { client.close() }
            let recorder = FlagRecorder()
            let call = client.makeCall(path: Echo.unary.path, kind: .unary, handlers: recorder.handlers)
            call.send(payload)
            call.closeSend()
            let (status, _) = try #require(recorder.recorder.finished.wait())
            #expect(status == .ok)
            #expect(recorder.recorder.messages.withLock { $0 } == [payload])
            #expect(recorder.flags.withLock { $0 } == [expected])
        }
    }

    @Test func serverStreamingMixesCompressedAndPlainMessages() throws {
        let log = RequestLog()
        let server = try makeServer(compressionRouter(log)) { $0.responseCompression = .gzip }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = FlagRecorder()
        let call = client.makeCall(
            path: Echo.expand.path, kind: .serverStreaming, compression: .deflate, handlers: recorder.handlers)
        call.send(payload)
        call.closeSend()
        let (status, _) = try #require(recorder.recorder.finished.wait())
        #expect(status == .ok)
        #expect(recorder.recorder.messages.withLock { $0 } == Array(repeating: payload, count: 4))
        #expect(recorder.flags.withLock { $0 } == [true, false, true, false])
        #expect(log.flags == [true])
    }

    @Test func bidirectionalStreamCompressesBothWays() throws {
        let log = RequestLog()
        let server = try makeServer(compressionRouter(log)) { $0.responseCompression = .gzip }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = FlagRecorder()
        let call = client.makeCall(
            path: Echo.update.path, kind: .bidirectionalStreaming, compression: .gzip, handlers: recorder.handlers)
        let messages: [[UInt8]] = [payload, [], [42], Array(payload.prefix(70_000))]
        for (index, message) in messages.enumerated() { call.send(message, compressed: index != 2) }
        call.closeSend()
        let (status, _) = try #require(recorder.recorder.finished.wait())
        #expect(status == .ok)
        #expect(recorder.recorder.messages.withLock { $0 } == messages)
        #expect(recorder.flags.withLock { $0 } == [true, false, true, false])
        #expect(log.messages == messages)
        #expect(log.flags == [true, true, false, true])
    }

    /// Compressed messages of 4 KiB or more inflate off the event loop; the stream's messages still reach the handler
    /// in order with their flags, around small compressed and plain ones, and the end of the request comes last.
    @Test func largeCompressedMessagesInflateOffTheLoopInOrder() throws {
        let log = RequestLog()
        let server = try makeServer(compressionRouter(log))
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<3).map { _ in (0..<20_000).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        let recorder = FlagRecorder()
        let call = client.makeCall(
            path: Echo.update.path, kind: .bidirectionalStreaming, compression: .gzip, handlers: recorder.handlers)
        let messages: [[UInt8]] = [[1], noise[0], [2, 2], noise[1], noise[2], [3], []]
        let compressed = [true, true, false, true, true, true, false]
        for (message, flag) in zip(messages, compressed) { call.send(message, compressed: flag) }
        call.closeSend()
        let (status, _) = try #require(recorder.recorder.finished.wait())
        #expect(status == .ok)
        #expect(log.messages == messages)
        #expect(log.flags == compressed)
        #expect(recorder.recorder.messages.withLock { $0 } == messages)
        #expect(server.offLoopInflations == 3)
    }

    @Test func aLargeCorruptCompressedMessageIsInternalAndDropsWhatFollows() throws {
        let log = RequestLog()
        let server = try makeServer(compressionRouter(log))
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = CallRecorder()
        let call = client.makeCall(
            path: Echo.update.path, kind: .bidirectionalStreaming, compression: .gzip, handlers: recorder.handlers)
        client.perform { $0.sendMessage(callID: call.callID, [0x1F, 0x8B, 0x08, 0] + [UInt8](repeating: 7, count: 8192), compressed: true) }
        call.send([9], compressed: false)
        call.closeSend()
        let (status, _) = try #require(recorder.finished.wait())
        #expect(status.code == .internal)
        #expect(log.messages.isEmpty)
        #expect(server.offLoopInflations == 1)
        #expect(client.unary(path: Echo.unary.path, request: [7], timeout: .seconds(30)).message == [7])
    }

    @Test func corruptCompressedRequestIsInternal() throws {
        let log = RequestLog()
        let server = try makeServer(compressionRouter(log))
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let recorder = CallRecorder()
        let call = client.makeCall(path: Echo.unary.path, kind: .unary, compression: .gzip, handlers: recorder.handlers)
        // Bytes that claim to be gzip (flag 1, grpc-encoding: gzip) but are not.
        client.perform { $0.sendMessage(callID: call.callID, [0x1F, 0x8B, 0x08, 0, 1, 2, 3], compressed: true) }
        call.closeSend()
        let (status, _) = try #require(recorder.finished.wait())
        #expect(status.code == .internal)
        #expect(status.message.contains("decompress"))
        #expect(log.messages.isEmpty)
        // The connection still serves.
        #expect(client.unary(path: Echo.unary.path, request: [7], timeout: .seconds(30)).message == [7])
    }

    @Test func requestZipBombHitsTheReceiveLimit() throws {
        let log = RequestLog()
        let server = try makeServer(compressionRouter(log)) { $0.maxReceiveMessageBytes = 1 << 20 }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        // 32 MiB of zeros: about 32 KiB on the wire, far over the 1 MiB limit once inflated.
        let bomb = [UInt8](repeating: 0, count: 32 << 20)
        let response = client.unary(path: Echo.unary.path, request: bomb, timeout: .seconds(60), compression: .gzip)
        #expect(response.status.code == .resourceExhausted)
        #expect(response.status.message.contains("1048576"))
        #expect(log.messages.isEmpty)
    }

    @Test func responseZipBombHitsTheClientLimit() throws {
        var router = Router<ServerMethodHandler>()
        router.register(
            Echo.unary, handler: .unary { call, _ in call.respond([UInt8](repeating: 0, count: 16 << 20)) })
        let server = try makeServer(router) { $0.responseCompression = .deflate }
        defer { server.shutdown(drainSeconds: 1) }
        let client = try ClientConnection(
            host: "127.0.0.1", port: server.port,
            configuration: ClientConnection.Configuration(maxReceiveMessageBytes: 1 << 20))
        defer { client.close() }
        let response = client.unary(path: Echo.unary.path, request: [], timeout: .seconds(60))
        #expect(response.status.code == .resourceExhausted)
        #expect(response.status.message.contains("1048576"))
    }
}

@Suite struct StreamCompressionStateTests {
    @Test func flagsComeOutInTheOrderTheyWentIn() {
        var state = StreamCompressionState()
        #expect(state.pop() == false)  // nothing queued
        let pattern = [false, false, true, false, true, true, false, false, false, true]
        for flag in pattern { state.push(flag) }
        #expect(pattern.map { _ in state.pop() } == pattern)
        #expect(state.pop() == false)
        // Interleaved pushes and pops, plain runs before and after compressed flags.
        var expected: [Bool] = []
        var got: [Bool] = []
        for step in 0..<200 {
            let flag = step % 7 == 3 || step % 11 == 5
            state.push(flag)
            expected.append(flag)
            if step % 3 == 0 { got.append(state.pop()) }
        }
        while got.count < expected.count { got.append(state.pop()) }
        #expect(got == expected)
    }
}
