// Clients/TensorwireCLI/CLIError.swift: every way a tensorwire command fails, and its exit code.
public import RPCCore

/// A failed command: the message for stderr and the distinct exit code documented in `tensorwire --help`.
public enum CLIError: Error, Sendable, CustomStringConvertible {
    /// Bad arguments (exit 2).
    case usage(String)
    /// Unreadable or malformed input: JSON, .npy, a file (exit 3).
    case input(String)
    /// The server answered with a non-OK status (exit 1, or 4/5/6 for UNAVAILABLE, NOT_FOUND, DEADLINE_EXCEEDED).
    case rpc(RPCError)
    /// The server cannot be reached: the host does not resolve, nothing listens, the connection failed (exit 4).
    case unreachable(String)
    /// `health`: the service is not SERVING; predict/stream/bench: the model is not READY (exit 7).
    case notServing(String)
    /// `stream`/`bench`: some requests failed (exit 8).
    case someFailed(String)

    /// The exit codes, as `--help` lists them.
    public enum ExitCode {
        public static let success: Int32 = 0
        public static let serverError: Int32 = 1
        public static let usage: Int32 = 2
        public static let input: Int32 = 3
        public static let unavailable: Int32 = 4
        public static let notFound: Int32 = 5
        public static let deadlineExceeded: Int32 = 6
        public static let notServing: Int32 = 7
        public static let someFailed: Int32 = 8
    }

    public var exitCode: Int32 {
        switch self {
        case .usage: ExitCode.usage
        case .input: ExitCode.input
        case .rpc(let error):
            switch error.code {
            case .unavailable: ExitCode.unavailable
            case .notFound: ExitCode.notFound
            case .deadlineExceeded: ExitCode.deadlineExceeded
            default: ExitCode.serverError
            }
        case .unreachable: ExitCode.unavailable
        case .notServing: ExitCode.notServing
        case .someFailed: ExitCode.someFailed
        }
    }

    public var description: String {
        switch self {
        case .usage(let text): text
        case .input(let text): text
        case .rpc(let error): "\(error.code.name): \(error.message)"
        case .unreachable(let text): text
        case .notServing(let text): text
        case .someFailed(let text): text
        }
    }
}
