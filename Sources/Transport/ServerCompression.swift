// Sources/Transport/ServerCompression.swift: message compression on the server (W-17, W-18, W-37).
//
// Requests: the stream state machine advertises `identity, deflate, gzip` and rejects what it cannot accept before
// any message is decoded (an unknown `grpc-encoding`: UNIMPLEMENTED plus `grpc-accept-encoding`; a compressed flag
// without an encoding: INTERNAL). Here each compressed message is inflated, with the receive limit applied to the
// inflated size, before the handler sees it; corrupt data ends the RPC with INTERNAL, an oversize one with
// RESOURCE_EXHAUSTED. Responses: compressed when the server is configured with `responseCompression` and the
// client accepts that encoding, on the handler's thread (`ServerCall.send`), not on the loop.

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

    /// Inflates the compressed messages of a `.deliver` with the request's `grpc-encoding`; a message that does not
    /// inflate ends the RPC (INTERNAL, or RESOURCE_EXHAUSTED past the receive limit).
    func decompress(_ action: ServerRequestAction, on stream: ServerStream) -> ServerRequestAction {
        guard case .deliver(var messages, let endOfRequest) = action, !messages.isEmpty else { return action }
        let limit = server.configuration.maxReceiveMessageBytes
        for index in messages.indices {
            stream.compression.push(messages[index].isCompressed)
            guard messages[index].isCompressed else { continue }
            // The machine has already rejected compressed messages with identity and unknown encodings.
            guard let encoding = stream.call?.head.encoding, let algorithm = CompressionAlgorithm(encoding: encoding)
            else {
                return endRequest(
                    stream, Status(code: .internal, message: "grpc: compressed flag set with identity or empty encoding"))
            }
            do throws(CompressionError) {
                messages[index].bytes = try MessageCompression.decompress(
                    messages[index].bytes, using: algorithm, limit: limit)
            } catch {
                return endRequest(stream, error.rpcError.status)
            }
        }
        return .deliver(messages, endOfRequest: endOfRequest)
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
