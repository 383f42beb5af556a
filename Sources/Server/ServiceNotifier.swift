// Sources/Server/ServiceNotifier.swift: systemd's notify protocol (Type=notify), spoken without libsystemd:
// newline-separated KEY=VALUE datagrams to the unix socket named by NOTIFY_SOCKET.

internal import Dispatch
internal import Glibc
internal import Synchronization

/// Where and how often to notify the service manager: NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID as systemd
/// sets them. Parsed from the environment the composition root hands over (no module reads it).
public struct ServiceNotifySettings: Sendable, Equatable {
    /// The socket: an absolute path, or `@name` for a name in the abstract namespace.
    public var socket: String
    /// How often to send WATCHDOG=1: half of WATCHDOG_USEC, when it is set and meant for this process.
    public var watchdogInterval: Duration?

    public init(socket: String, watchdogInterval: Duration?) {
        self.socket = socket
        self.watchdogInterval = watchdogInterval
    }

    /// The settings in `environment` for process `pid`; nil without NOTIFY_SOCKET (not started by a manager that
    /// listens). A WATCHDOG_PID naming another process, or a WATCHDOG_USEC that is not a positive integer, turns
    /// the watchdog off.
    public init?(environment: [String: String], pid: Int32) {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        self.socket = socket
        var interval: Duration?
        if let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0,
           environment["WATCHDOG_PID"].map({ Int32($0) == pid }) ?? true {
            interval = .microseconds(microseconds / 2)
        }
        self.watchdogInterval = interval
    }
}

/// The datagrams of the protocol (sd_notify(3)): lines of `KEY=VALUE`. Pure.
enum ServiceNotifyMessage {
    /// Start-up is complete: the listeners accept and the start-up models are ready.
    static func ready(status: String, pid: Int32) -> String {
        "READY=1\nSTATUS=\(oneLine(status))\nMAINPID=\(pid)\n"
    }

    /// The stop has begun (SIGTERM): draining.
    static func stopping(status: String) -> String {
        "STOPPING=1\nSTATUS=\(oneLine(status))\n"
    }

    /// The watchdog keep-alive.
    static let watchdog = "WATCHDOG=1\n"

    /// A status line for `systemctl status`; a line break would start a new assignment, so it becomes a space.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }

    /// The bytes of `sockaddr_un.sun_path` for `socket` and the address length to pass to `sendto`: a path is
    /// NUL-terminated, `@name` becomes a leading NUL and the name (abstract namespace, no terminator). nil for
    /// anything else (a relative path, a name too long for `sun_path`).
    static func address(_ socket: String) -> (path: [UInt8], length: Int)? {
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        let header = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        var bytes = Array(socket.utf8)
        if bytes.first == UInt8(ascii: "@") {
            bytes[0] = 0
            guard bytes.count >= 2, bytes.count <= capacity else { return nil }
            return (bytes, header + bytes.count)
        }
        guard bytes.first == UInt8(ascii: "/"), bytes.count < capacity, !bytes.contains(0) else { return nil }
        bytes.append(0)
        return (bytes, header + bytes.count)
    }
}

/// Sends notifications to the service manager and, when asked, the watchdog keep-alive from its own timer. Sends
/// never block (a datagram socket, MSG_DONTWAIT) and failures are ignored, as sd_notify's callers do: the service
/// must run the same without a manager. Any thread.
public final class ServiceNotifier: Sendable {
    public let settings: ServiceNotifySettings
    private let fd: Int32
    private let address: (path: [UInt8], length: Int)
    private let closed = Atomic<Bool>(false)

    /// Opens the socket; nil when the address is not one we can reach (relative path, `vsock:`) or socket() fails.
    public init?(settings: ServiceNotifySettings) {
        guard let address = ServiceNotifyMessage.address(settings.socket) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.settings = settings
        self.fd = fd
        self.address = address
    }

    /// Sends one datagram; false when it could not be sent.
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard !closed.load(ordering: .acquiring) else { return false }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            for (index, byte) in address.path.enumerated() where index < raw.count { raw[index] = byte }
        }
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { body in
                    sendto(fd, body.baseAddress, body.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), socketAddress,
                           socklen_t(address.length))
                }
            }
        }
        return sent == bytes.count
    }

    /// Sends READY=1 (with a status line and our pid).
    public func ready(status: String) {
        send(ServiceNotifyMessage.ready(status: status, pid: getpid()))
    }

    /// Sends STOPPING=1. The watchdog keeps going through the drain (the process is still alive and working).
    public func stopping(status: String) {
        send(ServiceNotifyMessage.stopping(status: status))
    }

    /// Sends WATCHDOG=1 every `settings.watchdogInterval` (nothing when unset) while `healthy()` says so, the first
    /// at once, until `close`. `healthy` runs on the watchdog's own queue.
    public func startWatchdog(healthy: @escaping @Sendable () -> Bool = { true }) {
        guard let interval = settings.watchdogInterval else { return }
        let nanoseconds = Int(clamping: max(interval.nanosecondsClamped, 1_000_000))
        let queue = DispatchQueue(label: "tw-watchdog")
        @Sendable func beat() {
            guard !closed.load(ordering: .acquiring) else { return }
            if healthy() { send(ServiceNotifyMessage.watchdog) }
            queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: beat)
        }
        queue.async(execute: beat)
    }

    /// Stops the watchdog and any later send. Idempotent. The socket closes when the notifier is released (a send
    /// on another thread must not race a reused descriptor).
    public func close() {
        closed.store(true, ordering: .releasing)
    }

    deinit {
        _ = Glibc.close(fd)
    }
}
