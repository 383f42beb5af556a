internal import Dispatch
internal import GRPCCompression
internal import Locks
internal import ProtoWire
internal import RPCCore
public import Transport

/// A failed interop assertion: which case, and what differed.
public struct InteropFailure: Error, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}

/// The gRPC interop client cases (interop-cases.md) on our `ClientConnection`, each as the case description
/// prescribes: the same procedure and assertions the official clients make, plus the compressed-flag checks the
/// Python client cannot make. Any thread but the connection's loop.
public struct InteropClient: Sendable {
    /// Every case, in the order they run.
    public static let allCases = [
        "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
        "custom_metadata", "status_code_and_message", "special_status_message", "unimplemented_method",
        "unimplemented_service", "cancel_after_begin", "cancel_after_first_response", "timeout_on_sleeping_server",
        "client_compressed_unary", "server_compressed_unary", "client_compressed_streaming",
        "server_compressed_streaming",
    ]

    let connection: ClientConnection

    public init(connection: ClientConnection) {
        self.connection = connection
    }

    /// Runs the case called `name`; throws an `InteropFailure` when an assertion fails.
    public func run(_ name: String) throws(InteropFailure) {
        switch name {
        case "empty_unary": try emptyUnary()
        case "large_unary": try largeUnary()
        case "client_streaming": try clientStreaming()
        case "server_streaming": try serverStreaming()
        case "ping_pong": try pingPong()
        case "empty_stream": try emptyStream()
        case "custom_metadata": try customMetadata()
        case "status_code_and_message": try statusCodeAndMessage(InteropClient.statusMessage)
        case "special_status_message": try specialStatusMessage()
        case "unimplemented_method": try unimplemented(InteropTestService.unimplementedCall)
        case "unimplemented_service": try unimplemented(InteropTestService.unimplementedServiceCall)
        case "cancel_after_begin": try cancelAfterBegin()
        case "cancel_after_first_response": try cancelAfterFirstResponse()
        case "timeout_on_sleeping_server": try timeoutOnSleepingServer()
        case "client_compressed_unary": try clientCompressedUnary()
        case "server_compressed_unary": try serverCompressedUnary()
        case "client_compressed_streaming": try clientCompressedStreaming()
        case "server_compressed_streaming": try serverCompressedStreaming()
        default: throw InteropFailure("unknown test case \(name)")
        }
    }

    static let statusMessage = "test status message"
    static let specialMessage = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
    static let requestSizes = [27182, 8, 1828, 45904]
    static let responseSizes = [31415, 9, 2653, 58979]

    // MARK: Cases

    func emptyUnary() throws(InteropFailure) {
        let result = try unary(InteropTestService.emptyCall, GRPCTesting.Empty())
        try expectOK(result)
        guard result.messages.count == 1, result.messages[0].bytes.isEmpty else {
            throw InteropFailure("expected one empty response, got \(result.messages.map(\.bytes.count))")
        }
    }

    func largeUnary() throws(InteropFailure) {
        let result = try unary(InteropTestService.unaryCall, Self.simpleRequest(expectCompressed: nil))
        try expectOK(result)
        try expectPayloadSize(result, 314_159)
    }

    func clientStreaming() throws(InteropFailure) {
        let call = start(InteropTestService.streamingInputCall)
        for size in Self.requestSizes {
            var request = GRPCTesting.StreamingInputCallRequest()
            request.payload = GRPCTesting.Payload(body: zeros(size))
            call.handle.send(request.serializedBytes())
        }
        call.handle.closeSend()
        let result = try call.wait()
        try expectOK(result)
        try expectAggregate(result, 74_922)
    }

    func serverStreaming() throws(InteropFailure) {
        var request = GRPCTesting.StreamingOutputCallRequest()
        request.responseParameters = Self.responseSizes.map { GRPCTesting.ResponseParameters(size: Int32($0)) }
        let call = start(InteropTestService.streamingOutputCall)
        call.handle.send(request.serializedBytes())
        call.handle.closeSend()
        let result = try call.wait()
        try expectOK(result)
        try expectStreamSizes(result, Self.responseSizes)
    }

    func pingPong() throws(InteropFailure) {
        let call = start(InteropTestService.fullDuplexCall)
        for (index, (responseSize, requestSize)) in zip(Self.responseSizes, Self.requestSizes).enumerated() {
            call.handle.send(Self.duplexRequest(responseSize: responseSize, payloadSize: requestSize).serializedBytes())
            // Each response must arrive before the next request goes out (and before the half-close).
            guard call.recorder.waitForMessages(index + 1) else {
                call.handle.cancel()
                throw InteropFailure("no response \(index + 1) before the half-close")
            }
        }
        call.handle.closeSend()
        let result = try call.wait()
        try expectOK(result)
        try expectStreamSizes(result, Self.responseSizes)
    }

    func emptyStream() throws(InteropFailure) {
        let call = start(InteropTestService.fullDuplexCall)
        call.handle.closeSend()
        let result = try call.wait()
        try expectOK(result)
        guard result.messages.isEmpty else { throw InteropFailure("expected no responses, got \(result.messages.count)") }
    }

    func customMetadata() throws(InteropFailure) {
        var metadata = Metadata()
        let trailing: [UInt8] = [0xAB, 0xAB, 0xAB]
        do throws(MetadataError) {
            try metadata.addString("test_initial_metadata_value", forKey: InteropTestService.echoInitialKey)
            try metadata.addBinary(trailing, forKey: InteropTestService.echoTrailingKey)
        } catch {
            throw InteropFailure("cannot build metadata: \(error)")
        }
        var request = GRPCTesting.SimpleRequest()
        request.responseSize = 1
        request.payload = GRPCTesting.Payload(body: [0])
        let unaryResult = try unary(InteropTestService.unaryCall, request, metadata: metadata)
        let duplex = start(InteropTestService.fullDuplexCall, metadata: metadata)
        duplex.handle.send(Self.duplexRequest(responseSize: 1, payloadSize: 1).serializedBytes())
        duplex.handle.closeSend()
        let duplexResult = try duplex.wait()
        for (name, result) in [("UnaryCall", unaryResult), ("FullDuplexCall", duplexResult)] {
            try expectOK(result)
            guard result.headers.strings(forKey: InteropTestService.echoInitialKey) == ["test_initial_metadata_value"]
            else { throw InteropFailure("\(name): initial metadata not echoed: \(result.headers)") }
            guard result.trailers.binaryValues(forKey: InteropTestService.echoTrailingKey) == [trailing] else {
                throw InteropFailure("\(name): trailing metadata not echoed: \(result.trailers)")
            }
        }
    }

    func statusCodeAndMessage(_ message: String) throws(InteropFailure) {
        var request = GRPCTesting.SimpleRequest()
        request.responseStatus = GRPCTesting.EchoStatus(code: 2, message: message)
        let unaryResult = try unary(InteropTestService.unaryCall, request)
        try expectStatus(unaryResult, .unknown, message: message)

        var duplexRequest = GRPCTesting.StreamingOutputCallRequest()
        duplexRequest.responseStatus = GRPCTesting.EchoStatus(code: 2, message: message)
        let duplex = start(InteropTestService.fullDuplexCall)
        duplex.handle.send(duplexRequest.serializedBytes())
        duplex.handle.closeSend()
        try expectStatus(try duplex.wait(), .unknown, message: message)
    }

    func specialStatusMessage() throws(InteropFailure) {
        var request = GRPCTesting.SimpleRequest()
        request.responseStatus = GRPCTesting.EchoStatus(code: 2, message: Self.specialMessage)
        try expectStatus(try unary(InteropTestService.unaryCall, request), .unknown, message: Self.specialMessage)
    }

    func unimplemented(_ method: MethodDescriptor) throws(InteropFailure) {
        let result = try unary(method, GRPCTesting.Empty())
        try expectStatus(result, .unimplemented, message: nil)
    }

    func cancelAfterBegin() throws(InteropFailure) {
        let call = start(InteropTestService.streamingInputCall)
        call.handle.cancel()
        try expectStatus(try call.wait(), .cancelled, message: nil)
    }

    func cancelAfterFirstResponse() throws(InteropFailure) {
        let call = start(InteropTestService.fullDuplexCall)
        call.handle.send(Self.duplexRequest(responseSize: 31415, payloadSize: 27182).serializedBytes())
        guard call.recorder.waitForMessages(1) else {
            call.handle.cancel()
            throw InteropFailure("no first response")
        }
        call.handle.cancel()
        try expectStatus(try call.wait(), .cancelled, message: nil)
    }

    func timeoutOnSleepingServer() throws(InteropFailure) {
        let call = start(InteropTestService.fullDuplexCall, timeout: .milliseconds(1))
        var request = GRPCTesting.StreamingOutputCallRequest()
        request.payload = GRPCTesting.Payload(body: zeros(27182))
        call.handle.send(request.serializedBytes())
        try expectStatus(try call.wait(), .deadlineExceeded, message: nil)
    }

    func clientCompressedUnary() throws(InteropFailure) {
        // Probe: an uncompressed request that expects compression must fail with INVALID_ARGUMENT.
        let probe = try unary(InteropTestService.unaryCall, Self.simpleRequest(expectCompressed: true))
        try expectStatus(probe, .invalidArgument, message: nil)
        let compressed = try unary(
            InteropTestService.unaryCall, Self.simpleRequest(expectCompressed: true), compression: .gzip)
        try expectOK(compressed)
        try expectPayloadSize(compressed, 314_159)
        let plain = try unary(InteropTestService.unaryCall, Self.simpleRequest(expectCompressed: false))
        try expectOK(plain)
        try expectPayloadSize(plain, 314_159)
    }

    func serverCompressedUnary() throws(InteropFailure) {
        for compressed in [true, false] {
            var request = Self.simpleRequest(expectCompressed: nil)
            request.responseCompressed = GRPCTesting.BoolValue(compressed)
            let result = try unary(InteropTestService.unaryCall, request)
            try expectOK(result)
            try expectPayloadSize(result, 314_159)
            guard result.messages.first?.compressed == compressed else {
                throw InteropFailure("response_compressed=\(compressed) but the message flag was not \(compressed ? 1 : 0)")
            }
        }
    }

    func clientCompressedStreaming() throws(InteropFailure) {
        let probe = start(InteropTestService.streamingInputCall)
        probe.handle.send(Self.inputRequest(size: 27182, expectCompressed: true).serializedBytes())
        probe.handle.closeSend()
        try expectStatus(try probe.wait(), .invalidArgument, message: nil)

        let call = start(InteropTestService.streamingInputCall, compression: .gzip)
        call.handle.send(Self.inputRequest(size: 27182, expectCompressed: true).serializedBytes(), compressed: true)
        call.handle.send(Self.inputRequest(size: 45904, expectCompressed: false).serializedBytes(), compressed: false)
        call.handle.closeSend()
        let result = try call.wait()
        try expectOK(result)
        try expectAggregate(result, 73_086)
    }

    func serverCompressedStreaming() throws(InteropFailure) {
        var request = GRPCTesting.StreamingOutputCallRequest()
        request.responseParameters = [
            GRPCTesting.ResponseParameters(size: 31415, compressed: true),
            GRPCTesting.ResponseParameters(size: 92653, compressed: false),
        ]
        let call = start(InteropTestService.streamingOutputCall)
        call.handle.send(request.serializedBytes())
        call.handle.closeSend()
        let result = try call.wait()
        try expectOK(result)
        try expectStreamSizes(result, [31415, 92653])
        guard result.messages.map(\.compressed) == [true, false] else {
            throw InteropFailure("message flags \(result.messages.map(\.compressed)), expected [true, false]")
        }
    }

    // MARK: Requests

    static func simpleRequest(expectCompressed: Bool?) -> GRPCTesting.SimpleRequest {
        var request = GRPCTesting.SimpleRequest()
        request.responseSize = 314_159
        request.payload = GRPCTesting.Payload(body: [UInt8](repeating: 0, count: 271_828))
        request.expectCompressed = expectCompressed.map(GRPCTesting.BoolValue.init)
        return request
    }

    static func duplexRequest(responseSize: Int, payloadSize: Int) -> GRPCTesting.StreamingOutputCallRequest {
        var request = GRPCTesting.StreamingOutputCallRequest()
        request.responseParameters = [GRPCTesting.ResponseParameters(size: Int32(responseSize))]
        request.payload = GRPCTesting.Payload(body: [UInt8](repeating: 0, count: payloadSize))
        return request
    }

    static func inputRequest(size: Int, expectCompressed: Bool) -> GRPCTesting.StreamingInputCallRequest {
        var request = GRPCTesting.StreamingInputCallRequest()
        request.payload = GRPCTesting.Payload(body: [UInt8](repeating: 0, count: size))
        request.expectCompressed = GRPCTesting.BoolValue(expectCompressed)
        return request
    }

    // MARK: Calls

    func unary(
        _ method: MethodDescriptor, _ request: some ProtoMessage, metadata: Metadata = Metadata(),
        compression: CompressionAlgorithm? = nil
    ) throws(InteropFailure) -> CallResult {
        let call = start(method, metadata: metadata, compression: compression)
        call.handle.send(request.serializedBytes())
        call.handle.closeSend()
        return try call.wait()
    }

    func start(
        _ method: MethodDescriptor, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        compression: CompressionAlgorithm? = nil
    ) -> StartedCall {
        let recorder = CallRecording()
        let handle = connection.makeCall(
            path: method.path, kind: method.kind, metadata: metadata, timeout: timeout ?? .seconds(60),
            compression: compression, handlers: recorder.handlers)
        return StartedCall(handle: handle, recorder: recorder)
    }

    // MARK: Assertions

    func expectOK(_ result: CallResult) throws(InteropFailure) {
        guard result.status.isOK else { throw InteropFailure("expected OK, got \(result.status)") }
    }

    func expectStatus(_ result: CallResult, _ code: Status.Code, message: String?) throws(InteropFailure) {
        guard result.status.code == code else { throw InteropFailure("expected \(code), got \(result.status)") }
        if let message, result.status.message != message {
            throw InteropFailure("expected message \(message.debugDescription), got \(result.status.message.debugDescription)")
        }
    }

    func expectPayloadSize(_ result: CallResult, _ size: Int) throws(InteropFailure) {
        guard result.messages.count == 1,
            let response = try? GRPCTesting.SimpleResponse(serializedBytes: result.messages[0].bytes)
        else { throw InteropFailure("expected one SimpleResponse, got \(result.messages.count) messages") }
        guard response.payload?.body.count == size else {
            throw InteropFailure("payload of \(response.payload?.body.count ?? 0) bytes, expected \(size)")
        }
    }

    func expectAggregate(_ result: CallResult, _ size: Int32) throws(InteropFailure) {
        guard result.messages.count == 1,
            let response = try? GRPCTesting.StreamingInputCallResponse(serializedBytes: result.messages[0].bytes)
        else { throw InteropFailure("expected one StreamingInputCallResponse") }
        guard response.aggregatedPayloadSize == size else {
            throw InteropFailure("aggregated_payload_size \(response.aggregatedPayloadSize), expected \(size)")
        }
    }

    func expectStreamSizes(_ result: CallResult, _ sizes: [Int]) throws(InteropFailure) {
        let received = result.messages.map { message in
            (try? GRPCTesting.StreamingOutputCallResponse(serializedBytes: message.bytes))?.payload?.body.count ?? -1
        }
        guard received == sizes else { throw InteropFailure("response sizes \(received), expected \(sizes)") }
    }

    func zeros(_ count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }
}

/// What one call produced.
struct CallResult: Sendable {
    var headers = Metadata()
    var messages: [(bytes: [UInt8], compressed: Bool)] = []
    var status = Status(code: .unknown, message: "not finished")
    var trailers = Metadata()
    var finished = false
}

/// A call in progress and its recording.
struct StartedCall: Sendable {
    let handle: ClientCall
    let recorder: CallRecording

    /// The finished call; a call that does not finish within a minute (its own deadline is at most that) fails.
    func wait() throws(InteropFailure) -> CallResult {
        guard recorder.done.wait(timeout: .now() + 90) == .success else {
            handle.cancel()
            throw InteropFailure("the call did not finish")
        }
        return recorder.result.withLock { $0 }
    }
}

/// Records a call's callbacks (they run on the connection's loop thread). Any thread.
final class CallRecording: Sendable {
    let result = Lock(CallResult())
    let done = DispatchSemaphore(value: 0)
    private let nextFlag = Lock(false)
    private let messageArrived = DispatchSemaphore(value: 0)

    var handlers: ClientCallHandlers {
        ClientCallHandlers(
            onHeaders: { headers in self.result.withLock { $0.headers = headers } },
            onMessage: { bytes in
                let compressed = self.nextFlag.withLock { $0 }
                self.result.withLock { $0.messages.append((bytes, compressed)) }
                self.messageArrived.signal()
            },
            onFinish: { status, trailers in
                self.result.withLock { result in
                    result.status = status
                    result.trailers = trailers
                    result.finished = true
                }
                self.done.signal()
                self.messageArrived.signal()
            },
            onCompressedFlag: { flag in self.nextFlag.withLock { $0 = flag } })
    }

    /// Waits until `count` messages have arrived (false if the call ended first or 60 s passed).
    func waitForMessages(_ count: Int) -> Bool {
        let deadline = DispatchTime.now() + 60
        while true {
            if result.withLock({ $0.messages.count }) >= count { return true }
            if messageArrived.wait(timeout: deadline) == .timedOut { return false }
            let (finished, received) = result.withLock { ($0.finished, $0.messages.count) }
            if finished && received < count { return false }
        }
    }
}
