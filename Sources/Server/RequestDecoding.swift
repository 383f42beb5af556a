internal import Dispatch
public import ProtoWire
public import RPCCore

/// Decodes the services' request messages: small ones at once on the calling (loop) thread, large ones on a worker
/// queue, so that one client's multi-megabyte request (or a slow decode) does not stall the other calls of its event
/// loop; and turns a decode failure into a precise status.
public enum RequestDecoding {
    /// Messages of at least this many bytes are decoded off the event loop (decoding runs at a few GB/s, so this is
    /// tens of microseconds of loop time at most).
    public static let offLoopThreshold = 64 << 10
    /// Where large requests are decoded.
    static let queue = DispatchQueue(label: "tensorwire.request-decoding", attributes: .concurrent)

    /// The status for a message that did not decode: RESOURCE_EXHAUSTED for one that would take more memory than
    /// its size allows (`DecodingLimits`), INVALID_ARGUMENT for invalid UTF-8 or values, else `otherwise` (INTERNAL
    /// for unary calls, as gRPC libraries answer an unparseable request).
    public static func error(_ error: any Error, decoding type: String, otherwise: Status.Code = .internal) -> RPCError {
        let code: Status.Code
        switch error as? WireDecodingError {
        case .decodedSizeExceedsBudget(let wireBytes, let budget)?:
            return RPCError(
                code: .resourceExhausted,
                message: "the \(type) of \(wireBytes) bytes would take more than \(budget) bytes decoded "
                    + "(\(DecodingLimits.default.decodedBytesPerWireByte)x its size plus "
                    + "\(DecodingLimits.default.decodedBytesAllowance) bytes): too many empty repeated elements")
        case .invalidUTF8?, .invalidValue?:
            code = .invalidArgument
        default:
            code = otherwise
        }
        return RPCError(code: code, message: "cannot decode the request as \(type): \(error)")
    }

    /// Decodes `bytes` as `M` and hands the result to `body`: on this thread below `offLoopThreshold`, else on the
    /// decoding queue (then `body` runs there).
    public static func decode<M: ProtoMessage>(
        _ type: M.Type, _ bytes: [UInt8], otherwise: Status.Code = .internal,
        then body: @escaping @Sendable (Result<M, RPCError>) -> Void
    ) {
        let work: @Sendable () -> Void = {
            do {
                body(.success(try M(serializedBytes: bytes)))
            } catch {
                body(.failure(Self.error(error, decoding: "\(M.self)", otherwise: otherwise)))
            }
        }
        if bytes.count >= offLoopThreshold {
            queue.async(execute: work)
        } else {
            work()
        }
    }
}
