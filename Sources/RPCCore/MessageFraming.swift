// Sources/RPCCore/MessageFraming.swift: the 5-byte gRPC message prefix, both directions (W-30…W-35).

/// One length-prefixed message as received: its bytes and whether the sender set the compressed flag. Decompression
/// happens elsewhere; RPCCore only carries the flag.
public struct ReceivedMessage: Sendable, Hashable {
    /// The message bytes, without the 5-byte prefix.
    public var bytes: [UInt8]
    /// The prefix's compressed flag was 1: `bytes` are compressed with the stream's `grpc-encoding` (W-17, W-37).
    public var isCompressed: Bool

    public init(bytes: [UInt8], isCompressed: Bool = false) {
        self.bytes = bytes
        self.isCompressed = isCompressed
    }
}

/// Writes gRPC messages with their 5-byte prefix (W-30): byte 0 is the compressed flag, bytes 1–4 the message length
/// as a big-endian `UInt32`. Stateless.
public enum MessageFramer {
    /// Bytes in the prefix.
    public static let prefixLength = 5

    /// The largest length the 32-bit prefix can describe.
    public static let maxMessageLength = Int(UInt32.max)

    /// The prefix for a message of `length` bytes. A transport that writes the prefix and the message separately
    /// (to avoid copying a large tensor) uses this.
    public static func prefix(length: Int, compressed: Bool = false) throws(RPCError) -> [UInt8] {
        let length = try prefixLengthField(length)
        return [
            compressed ? 1 : 0,
            UInt8(truncatingIfNeeded: length >> 24),
            UInt8(truncatingIfNeeded: length >> 16),
            UInt8(truncatingIfNeeded: length >> 8),
            UInt8(truncatingIfNeeded: length),
        ]
    }

    /// The prefix for a message of `length` bytes packed big-endian in the low 40 bits (the flag byte at bits
    /// 32–39, the length below it), for a transport that writes it from a value instead of an array.
    public static func packedPrefix(length: Int, compressed: Bool = false) throws(RPCError) -> UInt64 {
        let length = try prefixLengthField(length)
        return (compressed ? 1 << 32 : 0) | UInt64(length)
    }

    /// Appends the prefix and the message to `output`.
    public static func append(
        _ message: some Collection<UInt8>, compressed: Bool = false, to output: inout [UInt8]
    ) throws(RPCError) {
        // The prefix bytes go straight into `output`: a separate 5-byte array was an allocation per message.
        let length = try prefixLengthField(message.count)
        output.reserveCapacity(output.count + prefixLength + message.count)
        output.append(compressed ? 1 : 0)
        output.append(UInt8(truncatingIfNeeded: length >> 24))
        output.append(UInt8(truncatingIfNeeded: length >> 16))
        output.append(UInt8(truncatingIfNeeded: length >> 8))
        output.append(UInt8(truncatingIfNeeded: length))
        output.append(contentsOf: message)
    }

    /// `length` as the prefix's 32-bit field, or RESOURCE_EXHAUSTED past what it can carry.
    private static func prefixLengthField(_ length: Int) throws(RPCError) -> UInt32 {
        guard length >= 0, length <= maxMessageLength else {
            throw RPCError(
                code: .resourceExhausted,
                message: "grpc: message too large to send (\(length) bytes; the gRPC prefix allows \(maxMessageLength))"
            )
        }
        return UInt32(length)
    }

    /// The prefix followed by the message, in one new buffer.
    public static func frame(_ message: some Collection<UInt8>, compressed: Bool = false) throws(RPCError) -> [UInt8] {
        var output: [UInt8] = []
        try append(message, compressed: compressed, to: &output)
        return output
    }
}

/// An incremental reader of length-prefixed gRPC messages: it owns the bytes of at most one incomplete message and
/// the position inside its prefix. Feed it DATA payloads cut anywhere (W-31); it returns every completed message.
///
/// The declared length is checked against `maxMessageBytes` as soon as the prefix is complete, before any body byte
/// is buffered (W-33), so a hostile prefix of 4 GiB costs nothing. After an error the deframer stays failed and
/// rethrows the same error. One deframer serves one stream direction; it is a value, touched by one thread at a time.
public struct MessageDeframer: Sendable {
    /// The default receive limit: 64 MiB. gRPC libraries default to 4 MiB (W-33); model tensors need more.
    public static let defaultMaxMessageBytes = 67_108_864

    /// The largest accepted message length, prefix excluded; a message of exactly this size passes.
    public let maxMessageBytes: Int

    private enum Phase: Sendable {
        /// Reading the prefix; `filled` of its 5 bytes are in `prefix`.
        case prefix(filled: Int)
        /// Reading a body of `length` bytes into `body`.
        case body(compressed: Bool, length: Int)
        case failed(DeframingError)
    }

    private var phase: Phase = .prefix(filled: 0)
    /// The prefix bytes read so far, big-endian in the low 40 bits (an inline value: a 5-byte array was an
    /// allocation per stream and a uniqueness check per byte).
    private var prefixBits: UInt64 = 0
    private var body: [UInt8] = []

    public init(maxMessageBytes: Int = MessageDeframer.defaultMaxMessageBytes) {
        self.maxMessageBytes = max(0, maxMessageBytes)
    }

    /// Bytes of the incomplete message held now (its prefix bytes, plus the 5-byte prefix and the body bytes so far
    /// once the prefix is complete); 0 between messages and after a failure. Transports charge it against their
    /// buffered-request budgets (issue 25, point 2).
    public var bufferedByteCount: Int {
        switch phase {
        case .prefix(let filled): filled
        case .body: MessageFramer.prefixLength + body.count
        case .failed: 0
        }
    }

    /// True when some bytes of a message (prefix or body) are buffered.
    public var hasPartialMessage: Bool {
        switch phase {
        case .prefix(let filled): filled > 0
        case .body: true
        case .failed: false
        }
    }

    /// Consumes `bytes`, appending each completed message to `messages` in order. On a throw, the messages completed
    /// before the bad prefix are already in `messages`.
    public mutating func receive(
        _ bytes: UnsafeRawBufferPointer, into messages: inout [ReceivedMessage]
    ) throws(DeframingError) {
        if case .failed(let error) = phase { throw error }
        var index = 0
        let count = bytes.count
        while index < count {
            switch phase {
            case .failed(let error):
                throw error
            case .prefix(let filled):
                let take = min(MessageFramer.prefixLength - filled, count - index)
                var bits = filled == 0 ? 0 : prefixBits
                for offset in 0..<take { bits = bits << 8 | UInt64(bytes[index + offset]) }
                prefixBits = bits
                index += take
                guard filled + take == MessageFramer.prefixLength else {
                    phase = .prefix(filled: filled + take)
                    continue
                }
                try completePrefix(into: &messages)
            case .body(let compressed, let length):
                let take = min(length - body.count, count - index)
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])
                index += take
                if body.isEmpty && take == length {
                    // The whole message is in this chunk: copy it once, straight into the message.
                    messages.append(ReceivedMessage(bytes: Array(chunk), isCompressed: compressed))
                    phase = .prefix(filled: 0)
                    continue
                }
                if body.capacity < body.count + take {
                    body.reserveCapacity(min(length, max(body.capacity * 2, body.count + take)))
                }
                body.append(contentsOf: chunk.assumingMemoryBound(to: UInt8.self))
                if body.count == length {
                    messages.append(ReceivedMessage(bytes: body, isCompressed: compressed))
                    body = []
                    phase = .prefix(filled: 0)
                }
            }
        }
    }

    /// Consumes `bytes` and returns the messages they completed.
    public mutating func receive(_ bytes: some Collection<UInt8>) throws(DeframingError) -> [ReceivedMessage] {
        var messages: [ReceivedMessage] = []
        var failure: DeframingError?
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            do throws(DeframingError) {
                try receive(UnsafeRawBufferPointer(buffer), into: &messages)
            } catch {
                failure = error
            }
        }
        if done == nil {
            Array(bytes).withUnsafeBytes { buffer in
                do throws(DeframingError) {
                    try receive(buffer, into: &messages)
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
        return messages
    }

    /// Declares the end of the stream (END_STREAM). Throws `truncatedMessage` when part of a message is buffered
    /// (W-35); the deframer is then failed.
    public mutating func finish() throws(DeframingError) {
        switch phase {
        case .failed(let error):
            throw error
        case .prefix(0):
            return
        case .prefix(let filled):
            let error = DeframingError.truncatedMessage(receivedBytes: filled, expectedBytes: nil)
            phase = .failed(error)
            throw error
        case .body(_, let length):
            let error = DeframingError.truncatedMessage(
                receivedBytes: MessageFramer.prefixLength + body.count,
                expectedBytes: MessageFramer.prefixLength + length
            )
            body = []
            phase = .failed(error)
            throw error
        }
    }

    private mutating func completePrefix(into messages: inout [ReceivedMessage]) throws(DeframingError) {
        let flag = UInt8(truncatingIfNeeded: prefixBits >> 32)
        guard flag <= 1 else { return try fail(.invalidCompressionFlag(flag)) }
        let length = Int(UInt32(truncatingIfNeeded: prefixBits))
        guard length <= maxMessageBytes else {
            return try fail(.messageTooLarge(length: length, limit: maxMessageBytes))
        }
        if length == 0 {
            messages.append(ReceivedMessage(bytes: [], isCompressed: flag == 1))
            phase = .prefix(filled: 0)
        } else {
            phase = .body(compressed: flag == 1, length: length)
        }
    }

    private mutating func fail(_ error: DeframingError) throws(DeframingError) {
        phase = .failed(error)
        body = []
        throw error
    }
}

/// Why a received message stream is malformed. Owns the numbers for the message; `rpcError` is the status the
/// server ends the RPC with.
public enum DeframingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The prefix declared `length` bytes, more than `limit` (W-33).
    case messageTooLarge(length: Int, limit: Int)
    /// The compressed flag was neither 0 nor 1 (W-32).
    case invalidCompressionFlag(UInt8)
    /// The stream ended inside a message (W-35); `expectedBytes` is nil when the prefix itself was cut.
    case truncatedMessage(receivedBytes: Int, expectedBytes: Int?)

    /// The server flag that raises the receive limit, named in RESOURCE_EXHAUSTED messages.
    public static let serverLimitFlag = "--max-receive-message-bytes"

    public var description: String {
        switch self {
        case .messageTooLarge(let length, let limit):
            "grpc: received message larger than max (\(length) vs. \(limit))"
        case .invalidCompressionFlag(let flag):
            "grpc: received unexpected payload format (compressed flag \(flag))"
        case .truncatedMessage(let received, let expected?):
            "grpc: stream ended inside a message (\(received) of \(expected) bytes, prefix included)"
        case .truncatedMessage(let received, nil):
            "grpc: stream ended inside a message prefix (\(received) of 5 bytes)"
        }
    }

    /// The error a server ends the RPC with: RESOURCE_EXHAUSTED naming the limit and the flag that raises it for a
    /// message over the limit, INTERNAL for the others (W-32, W-33, W-35).
    public var rpcError: RPCError {
        switch self {
        case .messageTooLarge(let length, let limit):
            RPCError(
                code: .resourceExhausted,
                message: "grpc: received message larger than max (\(length) vs. \(limit) bytes); "
                    + "the server's limit is raised with \(Self.serverLimitFlag)"
            )
        case .invalidCompressionFlag, .truncatedMessage:
            RPCError(code: .internal, message: description)
        }
    }
}
