// Sources/RPCCore/Status.swift: the outcome of an RPC (code + message) and the error type for non-OK outcomes.

public import HTTPTypes

/// The outcome of one RPC: a gRPC status code and a human-readable message.
///
/// A `Status` owns nothing but its two values; it is a plain value, safe to pass between threads. Every RPC ends with
/// exactly one `Status`, OK included (W-40: `grpc-status` is present in trailers even for OK).
public struct Status: Sendable, Hashable, CustomStringConvertible {
    /// The status code.
    public var code: Code
    /// The message; UTF-8 text, percent-encoded only on the wire (W-45).
    public var message: String

    public init(code: Code, message: String = "") {
        self.code = code
        self.message = message
    }

    /// The successful outcome with an empty message.
    public static let ok = Status(code: .ok)

    /// True when the code is `.ok`.
    public var isOK: Bool { code == .ok }

    public var description: String {
        message.isEmpty ? "\(code)" : "\(code): \(message)"
    }
}

extension Status {
    /// The 17 gRPC status codes (grpc `doc/statuscodes.md`); the raw value is the number sent in `grpc-status`.
    public enum Code: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case ok = 0
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case alreadyExists = 6
        case permissionDenied = 7
        case resourceExhausted = 8
        case failedPrecondition = 9
        case aborted = 10
        case outOfRange = 11
        case unimplemented = 12
        case `internal` = 13
        case unavailable = 14
        case dataLoss = 15
        case unauthenticated = 16

        /// The code for a number received from a peer; numbers outside 0...16 become `.unknown` rather than failing.
        public init(wireValue: Int) {
            self = Code(rawValue: wireValue) ?? .unknown
        }

        /// The upper-snake-case name used by gRPC documentation and tools (`RESOURCE_EXHAUSTED`).
        public var name: String {
            switch self {
            case .ok: "OK"
            case .cancelled: "CANCELLED"
            case .unknown: "UNKNOWN"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .deadlineExceeded: "DEADLINE_EXCEEDED"
            case .notFound: "NOT_FOUND"
            case .alreadyExists: "ALREADY_EXISTS"
            case .permissionDenied: "PERMISSION_DENIED"
            case .resourceExhausted: "RESOURCE_EXHAUSTED"
            case .failedPrecondition: "FAILED_PRECONDITION"
            case .aborted: "ABORTED"
            case .outOfRange: "OUT_OF_RANGE"
            case .unimplemented: "UNIMPLEMENTED"
            case .internal: "INTERNAL"
            case .unavailable: "UNAVAILABLE"
            case .dataLoss: "DATA_LOSS"
            case .unauthenticated: "UNAUTHENTICATED"
            }
        }

        public var description: String { "\(name) (\(rawValue))" }

        /// The code a client reports when a response has no `grpc-status` (W-54, grpc
        /// `doc/http-grpc-status-mapping.md`). Servers must not use this table to choose their own HTTP status.
        public init(httpStatus: Int) {
            switch httpStatus {
            case 400: self = .internal
            case 401: self = .unauthenticated
            case 403: self = .permissionDenied
            case 404: self = .unimplemented
            case 429, 502, 503, 504: self = .unavailable
            default: self = .unknown
            }
        }

        /// The code a client reports for an RST_STREAM error code (W-50). STREAM_CLOSED and codes outside the table
        /// have no mapping; like grpc-go, they are reported as `.unknown`.
        public init(resetCode: HTTP2ErrorCode) {
            switch resetCode {
            case .noError, .protocolError, .internalError, .flowControlError, .settingsTimeout, .frameSizeError,
                .compressionError, .connectError:
                self = .internal
            case .refusedStream: self = .unavailable
            case .cancel: self = .cancelled
            case .enhanceYourCalm: self = .resourceExhausted
            case .inadequateSecurity: self = .permissionDenied
            default: self = .unknown
            }
        }
    }
}

extension Status {
    /// The status in a received `grpc-status` value (W-44) with an already percent-decoded `message`. A value that
    /// is not a plain decimal becomes INTERNAL `malformed grpc-status`; a number outside 0...16 becomes UNKNOWN
    /// (grpc-go passes it through, grpcio says INTERNAL; neither crashes).
    public init(grpcStatus value: String, message: String) {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= 10, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else {
            self.init(code: .internal, message: "malformed grpc-status: \"\(value)\"")
            return
        }
        var number = 0
        for byte in utf8 {
            number = number * 10 + Int(byte - UInt8(ascii: "0"))  // ≤ 10 digits: cannot overflow Int64
        }
        guard let code = Code(rawValue: number) else {
            let detail = message.isEmpty ? "" : ": \(message)"
            self.init(code: .unknown, message: "unrecognised grpc-status \(number)\(detail)")
            return
        }
        self.init(code: code, message: message)
    }
}

/// A non-OK outcome as a Swift error: the code, a message, optional metadata for the trailers and the underlying
/// error that caused it, if any. Handlers throw it; the stream state machine throws it for its own bugs.
///
/// An `RPCError` is never OK: constructing one with `.ok` records `.unknown`, so a thrown error can never end an RPC
/// as a success. Any other error is turned into an `RPCError` with `init(wrapping:)`, which maps it to `.unknown`.
public struct RPCError: Error, Sendable, CustomStringConvertible {
    /// The status code; never `.ok`.
    public private(set) var code: Status.Code
    /// A human-readable message, sent as `grpc-message`.
    public var message: String
    /// Custom metadata to send in the trailers.
    public var metadata: Metadata
    /// The error that caused this one, for logs; never sent to the peer.
    public var cause: (any Error & Sendable)?

    public init(
        code: Status.Code, message: String, metadata: Metadata = Metadata(), cause: (any Error & Sendable)? = nil
    ) {
        self.code = code == .ok ? .unknown : code
        self.message = message
        self.metadata = metadata
        self.cause = cause
    }

    /// The error for a non-OK status.
    public init(status: Status, metadata: Metadata = Metadata()) {
        self.init(code: status.code, message: status.message, metadata: metadata)
    }

    /// Any error as an `RPCError`: an `RPCError` is returned as is, anything else becomes `.unknown` with the error
    /// kept as the cause (grpc-swift: unexpected errors are UNKNOWN, never a crash).
    public init(wrapping error: any Error) {
        if let rpcError = error as? RPCError {
            self = rpcError
        } else {
            self.init(
                code: .unknown,
                message: "unexpected error: \(String(describing: error))",
                cause: SendableDescription(error))
        }
    }

    /// The status this error ends an RPC with.
    public var status: Status { Status(code: code, message: message) }

    public var description: String {
        var text = "RPCError(\(code.name)): \(message)"
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}

/// The description of a non-`Sendable` error, kept as an `RPCError` cause.
struct SendableDescription: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ error: any Error) { description = String(describing: error) }
}
