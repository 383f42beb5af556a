// Sources/GRPCCompression/MessageCompression.swift: gRPC message compression (gzip, deflate) on the system zlib.
// Sans-I/O: bytes in, bytes out; the only importer of CZlib.

internal import CZlib
public import RPCCore

/// A gRPC message encoding other than `identity` (W-17, W-18). The raw value is the `grpc-encoding` token.
///
/// `gzip` is RFC 1952 (gzip header and CRC-32 trailer); `deflate` is what gRPC calls deflate, the RFC 1950 zlib
/// format (a 2-byte header and an Adler-32 trailer around the deflate data), not raw RFC 1951 deflate.
public enum CompressionAlgorithm: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case gzip
    case deflate

    /// The algorithm named by a `grpc-encoding` token (case-sensitive, as gRPC sends them), or nil.
    public init?(encoding: String) {
        self.init(rawValue: encoding)
    }

    /// The `grpc-encoding` token.
    public var name: String { rawValue }

    public var description: String { rawValue }

    /// The encodings this module decodes, in the order they are advertised after `identity` in
    /// `grpc-accept-encoding` (`identity, deflate, gzip`, the order grpc-core uses).
    public static let advertised: [CompressionAlgorithm] = [.deflate, .gzip]

    /// zlib's `windowBits`: 15 (a 32 KiB window) for the zlib format, plus 16 for the gzip wrapper.
    var windowBits: Int32 { self == .gzip ? 15 + 16 : 15 }
}

/// Why a message could not be compressed or decompressed.
public enum CompressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The decompressed message would exceed `limit` bytes (the receive limit). Decompression stops as soon as the
    /// output passes the limit, so a zip bomb costs at most `limit + 1` bytes of memory.
    case messageTooLarge(limit: Int)
    /// The input is not a valid, complete stream of the algorithm (bad header, bad checksum, truncated, or bytes
    /// after the end of the stream).
    case corrupt(CompressionAlgorithm, reason: String)
    /// zlib failed for a reason other than the input (out of memory, a version mismatch).
    case zlibFailure(code: Int, operation: String)

    public var description: String {
        switch self {
        case .messageTooLarge(let limit):
            "grpc: decompressed message larger than max (more than \(limit) bytes)"
        case .corrupt(let algorithm, let reason):
            "grpc: failed to decompress the message (\(algorithm)): \(reason)"
        case .zlibFailure(let code, let operation):
            "grpc: zlib \(operation) failed with code \(code)"
        }
    }

    /// The status a receiver ends the RPC with: RESOURCE_EXHAUSTED naming the limit for an oversize message
    /// (W-33, applied to the decompressed size), INTERNAL for corrupt input (W-17) and zlib failures.
    public var rpcError: RPCError {
        switch self {
        case .messageTooLarge(let limit):
            RPCError(
                code: .resourceExhausted,
                message: "grpc: received message after decompression larger than max (more than \(limit) bytes); "
                    + "the server's limit is raised with \(DeframingError.serverLimitFlag)")
        case .corrupt, .zlibFailure:
            RPCError(code: .internal, message: description)
        }
    }
}

/// Compresses and decompresses single gRPC messages. Each message is a complete, independent stream: no context
/// carries over between messages (W-37). Stateless; every call owns its own zlib stream, so any thread may call it.
public enum MessageCompression {
    /// zlib's default level (6): gzip's usual speed/size balance.
    public static let defaultLevel = -1

    /// zlib takes lengths as 32-bit `uInt`; inputs and outputs are fed in pieces no larger than this.
    static let maxPiece = 1 << 30

    /// `bytes` compressed with `algorithm` at zlib `level` (0…9, or -1 for the default).
    public static func compress(
        _ bytes: [UInt8], using algorithm: CompressionAlgorithm, level: Int = defaultLevel
    ) throws(CompressionError) -> [UInt8] {
        var stream = z_stream()
        let level = Int32(clamping: level < -1 || level > 9 ? -1 : level)
        let initCode = tw_deflate_init(&stream, level, algorithm.windowBits)
        guard initCode == Z_OK else { throw .zlibFailure(code: Int(initCode), operation: "deflateInit2") }
        defer { deflateEnd(&stream) }

        // deflateBound is exact enough that one Z_FINISH pass never runs out of room; the loop below copes anyway.
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))))
        var produced = 0
        var failure: CompressionError?
        bytes.withUnsafeBufferPointer { input in
            var consumed = 0
            while true {
                let piece = min(input.count - consumed, maxPiece)
                let last = consumed + piece == input.count
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0 + consumed })
                stream.avail_in = uInt(piece)
                var code: Int32 = Z_OK
                repeat {
                    if produced == output.count {
                        output.append(contentsOf: repeatElement(0, count: max(4096, output.count / 2)))
                    }
                    let room = min(output.count - produced, maxPiece)
                    code = output.withUnsafeMutableBufferPointer { out in
                        stream.next_out = out.baseAddress.map { $0 + produced }
                        stream.avail_out = uInt(room)
                        let code = deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH)
                        produced += room - Int(stream.avail_out)
                        return code
                    }
                    if code == Z_STREAM_ERROR {
                        failure = .zlibFailure(code: Int(code), operation: "deflate")
                        return
                    }
                } while last ? code != Z_STREAM_END : stream.avail_in > 0
                consumed += piece
                if last { return }
            }
        }
        if let failure { throw failure }
        output.removeSubrange(produced...)
        return output
    }

    /// `bytes` decompressed with `algorithm`, or a throw: `messageTooLarge` as soon as the output would pass
    /// `limit` bytes (a message of exactly `limit` bytes passes), `corrupt` for anything that is not one complete
    /// stream.
    public static func decompress(
        _ bytes: [UInt8], using algorithm: CompressionAlgorithm, limit: Int
    ) throws(CompressionError) -> [UInt8] {
        let limit = max(0, limit)
        var stream = z_stream()
        let initCode = tw_inflate_init(&stream, algorithm.windowBits)
        guard initCode == Z_OK else { throw .zlibFailure(code: Int(initCode), operation: "inflateInit2") }
        defer { inflateEnd(&stream) }

        // Room for one byte past the limit, so that reaching it is how an oversize message is noticed.
        let cap = limit == Int.max ? limit : limit + 1
        // Start near a typical ratio and grow geometrically; never beyond the cap.
        let (guess, overflow) = bytes.count.multipliedReportingOverflow(by: 4)
        var output = [UInt8](repeating: 0, count: min(cap, max(overflow ? cap : guess, 1024)))
        var produced = 0
        var failure: CompressionError?
        bytes.withUnsafeBufferPointer { input in
            var consumed = 0
            while true {
                if stream.avail_in == 0 && consumed < input.count {
                    let piece = min(input.count - consumed, maxPiece)
                    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0 + consumed })
                    stream.avail_in = uInt(piece)
                    consumed += piece
                }
                if produced == output.count {
                    guard output.count < cap else {
                        failure = .messageTooLarge(limit: limit)
                        return
                    }
                    let doubled = output.count.multipliedReportingOverflow(by: 2)
                    let target = doubled.overflow ? cap : min(doubled.partialValue, cap)
                    output.append(contentsOf: repeatElement(0, count: target - output.count))
                }
                let room = min(output.count - produced, maxPiece)
                let availableBefore = Int(stream.avail_in)
                let code = output.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress.map { $0 + produced }
                    stream.avail_out = uInt(room)
                    let code = inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return code
                }
                switch code {
                case Z_STREAM_END:
                    if produced > limit {
                        failure = .messageTooLarge(limit: limit)
                    } else if stream.avail_in > 0 || consumed < input.count {
                        failure = .corrupt(algorithm, reason: "bytes after the end of the compressed stream")
                    }
                    return
                case Z_OK:
                    if produced > limit {
                        failure = .messageTooLarge(limit: limit)
                        return
                    }
                case Z_BUF_ERROR:
                    // No progress was possible: either the output is full (grow it above) or the input ran out.
                    if produced > limit {
                        failure = .messageTooLarge(limit: limit)
                        return
                    }
                    if stream.avail_in == 0 && consumed == input.count && Int(stream.avail_out) > 0 {
                        failure = .corrupt(algorithm, reason: "truncated stream")
                        return
                    }
                    if availableBefore == Int(stream.avail_in) && stream.avail_out > 0 {
                        // zlib made no progress with input and room both available; never loop on it.
                        failure = .corrupt(algorithm, reason: "inflate made no progress")
                        return
                    }
                case Z_DATA_ERROR, Z_NEED_DICT:
                    let reason = stream.msg.map { String(cString: $0) } ?? "invalid data"
                    failure = .corrupt(algorithm, reason: code == Z_NEED_DICT ? "preset dictionary required" : reason)
                    return
                default:
                    failure = .zlibFailure(code: Int(code), operation: "inflate")
                    return
                }
                if stream.avail_in == 0 && consumed == input.count && stream.avail_out > 0 {
                    // inflate consumed everything and still had room without reaching the end: truncated.
                    failure = .corrupt(algorithm, reason: "truncated stream")
                    return
                }
            }
        }
        if let failure { throw failure }
        output.removeSubrange(produced...)
        return output
    }
}
