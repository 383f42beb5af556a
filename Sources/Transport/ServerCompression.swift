// Sources/Transport/ServerCompression.swift: message compression on the server (W-17, W-18, W-37).
//
// Requests: the stream state machine advertises `identity, deflate, gzip` and rejects what it cannot accept before
// any message is decoded (an unknown `grpc-encoding`: UNIMPLEMENTED plus `grpc-accept-encoding`; a compressed flag
// without an encoding: INTERNAL). Here each compressed message is inflated, with the receive limit applied to the
// inflated size, before the handler sees it; corrupt data ends the RPC with INTERNAL, an oversize one with
// RESOURCE_EXHAUSTED. Responses: compressed when the server is configured with `responseCompression` and the
// client accepts that encoding, on the handler's thread (`ServerCall.send`), not on the loop.

internal import Dispatch
internal import EventLoop
internal import GRPCCompression
internal import RPCCore
internal import Synchronization

/// The compressed flags of request messages decoded but not yet handed to the observer, oldest first (messages
/// can wait while the handler has paused reading). Loop thread only, part of its `ServerStream`.
struct StreamCompressionState {
    // Pending flags, oldest first: `leadingPlain` uncompressed ones, then `rest[head...]`. Uncompressed messages
    // with nothing queued behind them only bump the count, so the usual stream (no compression) allocates nothing;
    // an array per RPC cost ~300 instructions (callgrind).
    private var leadingPlain = 0
    private var rest: [Bool] = []
    private var head = 0

    mutating func push(_ flag: Bool) {
        if !flag && head >= rest.count {
            leadingPlain += 1
        } else {
            rest.append(flag)
        }
    }

    mutating func pop() -> Bool {
        if leadingPlain > 0 {
            leadingPlain -= 1
            return false
        }
        guard head < rest.count else { return false }
        let flag = rest[head]
        head += 1
        if head == rest.count {
            rest.removeAll(keepingCapacity: true)
            head = 0
        }
        return flag
    }
}

/// One message's inflation: the bytes, or the status that ends the request.
enum InflationOutcome: Sendable {
    case inflated([UInt8])
    case failed(Status)
}

extension ServerConnection {
    /// The response encoding of a call: the configured one, if the client accepts it (W-18).
    func responseCompression(for head: RequestHead) -> CompressionAlgorithm? {
        guard let algorithm = server.configuration.responseCompression,
            head.acceptedEncodings.contains(algorithm.name)
        else { return nil }
        return algorithm
    }

    /// Hands one request message to the handler, first recording its compressed flag so that
    /// `ServerCall.requestMessageWasCompressed` describes the message being delivered. (Done here, not by wrapping
    /// the handler's observer in another closure: that was an allocation per RPC.)
    func deliver(_ message: [UInt8], to observer: RequestObserver, on stream: ServerStream) {
        let flag = stream.compression.pop()
        stream.call?.requestCompressedFlag.store(flag, ordering: .relaxed)
        observer.onMessage(message)
    }

    /// Compressed messages at least this large (compressed size) are inflated off the event loop: a few KiB of
    /// gzip can inflate to the receive limit (64 MiB by default, ~100 ms of zlib), which would stall every other call
    /// of the loop. Smaller ones inflate inline (microseconds).
    static let offLoopInflateThreshold = 4 << 10
    /// Where large compressed messages are inflated.
    static let inflationQueue = DispatchQueue(label: "tensorwire.inflation", attributes: .concurrent)

    /// Inflates the compressed messages of a `.deliver` with the request's `grpc-encoding`; a message that does not
    /// inflate ends the RPC (INTERNAL, or RESOURCE_EXHAUSTED past the receive limit). From the first large compressed
    /// message on, the messages (and the end of the request) wait in the stream's `inflationQueue` while it is
    /// inflated off the loop; the stream holds its input meanwhile, so its flow-control credit is withheld and order
    /// is kept.
    func decompress(_ action: ServerRequestAction, on stream: ServerStream) -> ServerRequestAction {
        guard case .deliver(var messages, let endOfRequest) = action else { return action }
        for message in messages { stream.compression.push(message.isCompressed) }
        if stream.inflating || !stream.inflationQueue.isEmpty {
            stream.inflationQueue.append(contentsOf: messages)
            if endOfRequest { stream.endPending = true }
            return .deliver([], endOfRequest: false)
        }
        for index in messages.indices where messages[index].isCompressed {
            if messages[index].bytes.count >= Self.offLoopInflateThreshold {
                stream.inflationQueue = Array(messages[index...])
                if endOfRequest { stream.endPending = true }
                // The messages before it go first (the inbox is ahead of the queue), then the queue is worked.
                stream.inbox.append(contentsOf: messages[..<index].lazy.map(\.bytes))
                continueInflation(stream)
                return .deliver([], endOfRequest: false)
            }
            switch inflate(messages[index].bytes, on: stream) {
            case .inflated(let bytes): messages[index].bytes = bytes
            case .failed(let status): return endRequest(stream, status)
            }
        }
        return .deliver(messages, endOfRequest: endOfRequest)
    }

    /// The request's message encoding; the machine has already rejected compressed messages with identity and
    /// unknown encodings, so a miss here ends the request.
    private func requestAlgorithm(_ stream: ServerStream) -> CompressionAlgorithm? {
        stream.call?.head.encoding.flatMap(CompressionAlgorithm.init(encoding:))
    }

    private static let noEncodingStatus = Status(
        code: .internal, message: "grpc: compressed flag set with identity or empty encoding")

    /// Inflates one message with `algorithm`, bounded by `limit` (any thread).
    private static func inflate(_ bytes: [UInt8], using algorithm: CompressionAlgorithm, limit: Int) -> InflationOutcome {
        do throws(CompressionError) {
            return .inflated(try MessageCompression.decompress(bytes, using: algorithm, limit: limit))
        } catch {
            return .failed(error.rpcError.status)
        }
    }

    /// Inflates one message with the request's encoding, bounded by the receive limit.
    private func inflate(_ bytes: [UInt8], on stream: ServerStream) -> InflationOutcome {
        guard let algorithm = requestAlgorithm(stream) else { return .failed(Self.noEncodingStatus) }
        return Self.inflate(bytes, using: algorithm, limit: server.configuration.maxReceiveMessageBytes)
    }

    /// Moves the stream's `inflationQueue` into its inbox in order, inflating small messages inline, until a large
    /// compressed one goes to the inflation queue (its completion continues here) or the queue is empty; then
    /// delivers what the inbox holds.
    func continueInflation(_ stream: ServerStream) {
        while !stream.inflating, !stream.inflationQueue.isEmpty {
            let message = stream.inflationQueue.removeFirst()
            guard message.isCompressed else {
                stream.inbox.append(message.bytes)
                continue
            }
            if message.bytes.count < Self.offLoopInflateThreshold {
                switch inflate(message.bytes, on: stream) {
                case .inflated(let bytes): stream.inbox.append(bytes)
                case .failed(let status): return failInflation(stream, status)
                }
                continue
            }
            guard let algorithm = requestAlgorithm(stream) else { return failInflation(stream, Self.noEncodingStatus) }
            stream.inflating = true
            server.offLoopInflations.wrappingAdd(1, ordering: .relaxed)
            let (context, connectionID, streamID) = (boundContext, id, stream.id)
            let limit = server.configuration.maxReceiveMessageBytes
            let compressed = message.bytes
            Self.inflationQueue.async {
                let result = Self.inflate(compressed, using: algorithm, limit: limit)
                context.loop.execute {
                    guard let connection = context.value.connections[connectionID] as? ServerConnection else { return }
                    connection.finishInflation(streamID: streamID, result)
                }
            }
        }
        deliverInbox(stream)
    }

    /// Loop thread: a message inflated off the loop is back.
    private func finishInflation(streamID: Int32, _ result: InflationOutcome) {
        guard let stream = existingStream(streamID), stream.inflating else { return }
        stream.inflating = false
        switch result {
        case .inflated(let bytes):
            stream.inbox.append(bytes)
            continueInflation(stream)
        case .failed(let status):
            failInflation(stream, status)
        }
        markDirty()
    }

    /// A message that did not inflate ends the request; whatever waited behind it is dropped.
    private func failInflation(_ stream: ServerStream, _ status: Status) {
        stream.inflationQueue = []
        stream.inflating = false
        stream.endPending = false
        apply(endRequest(stream, status), to: stream)
    }

    private func endRequest(_ stream: ServerStream, _ status: Status) -> ServerRequestAction {
        guard case .send(let end)? = try? stream.machine.sendStatus(status) else { return .drop }
        return .reject(end)
    }
}

extension ServerCall {
    /// Whether the request message being delivered arrived compressed (its prefix flag was 1, W-17). Read it in the
    /// message callback (a unary or server-streaming body, `RequestObserver.onMessage`); the interop
    /// `expect_compressed` check needs it.
    public var requestMessageWasCompressed: Bool { requestCompressedFlag.load(ordering: .relaxed) }

    /// The bytes to put in the message and its flag: compressed when asked and negotiated. A zlib failure (out of
    /// memory) sends the message uncompressed, which is always allowed.
    func compressedResponse(_ message: [UInt8], compressed: Bool) -> ([UInt8], Bool) {
        guard compressed, let algorithm = responseCompression,
            let bytes = try? MessageCompression.compress(message, using: algorithm)
        else { return (message, false) }
        return (bytes, true)
    }
}
