internal import Glibc

/// A failed system call: which operation, and the `errno` it left.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call that failed, e.g. `"epoll_ctl"` or `"connect 127.0.0.1:50051"`.
    public let operation: String
    /// The `errno` value.
    public let code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var description: String {
        let reason = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        return "\(operation): \(reason)"
    }
}
