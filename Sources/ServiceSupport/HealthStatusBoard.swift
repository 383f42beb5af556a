internal import Locks
public import TensorwireProto

/// The state behind `grpc.health.v1.Health` (health-reflection.md section 1), sans-I/O: it owns the serving status
/// of each registered service name (`""` is the server as a whole) and the Watch subscriptions. Any thread: a
/// `Lock` guards the table.
///
/// * `check` answers Check: an unregistered name is `UnknownService` (the handler ends the call with NOT_FOUND).
/// * `watch` answers Watch: the current status at once (`SERVICE_UNKNOWN` for an unregistered name; the stream
///   stays open), then one call per *change*, never a repeat. The handler cancels the token when the stream ends.
/// * `shutdown` (draining) marks everything NOT_SERVING (watchers of unregistered names hear NOT_SERVING too), so
///   watchers hear it before their connections close and can end their streams, and ignores later `set` calls, so a model finishing its load cannot flip the server back to SERVING.
///
/// `onChange` runs on the thread that called `watch`, `set`, `setAll` or `shutdown`, outside the table's lock but
/// serialised with other deliveries, so each watcher sees its statuses in order. It must be quick (hop to the
/// connection's loop) and may call `cancel`, but not `watch`, `set`, `setAll` or `shutdown` (those would wait on
/// the delivery in progress).
public final class HealthStatusBoard: Sendable {
    public typealias ServingStatus = GRPCHealthV1.HealthCheckResponse.ServingStatus

    /// Check of a name that was never registered.
    public struct UnknownService: Error, Equatable {
        public let service: String
        public init(service: String) { self.service = service }
    }

    /// Identifies one Watch subscription, for `cancel`.
    public struct WatchToken: Hashable, Sendable {
        let id: UInt64
    }

    struct Watcher {
        let service: String
        var lastSent: ServingStatus
        let onChange: @Sendable (ServingStatus) -> Void
    }

    struct State {
        var statuses: [String: ServingStatus]
        var watchers: [UInt64: Watcher] = [:]
        var nextID: UInt64 = 0
        var shutDown = false

        /// What a watcher of `service` is told: its status, SERVICE_UNKNOWN for an unregistered name, and
        /// NOT_SERVING for every name once the server drains (so every Watch stream learns it and can end).
        func currentStatus(of service: String) -> ServingStatus {
            shutDown ? .notServing : (statuses[service] ?? .serviceUnknown)
        }
    }

    typealias Delivery = (onChange: @Sendable (ServingStatus) -> Void, status: ServingStatus)

    private let state: Lock<State>
    /// Held while callbacks run, so that two updates reach each watcher in the order they were made.
    private let delivering = Lock(())

    /// A board with `statuses` registered. By default only the server as a whole (`""`), NOT_SERVING until the
    /// server says it is ready.
    public init(_ statuses: [String: ServingStatus] = ["": .notServing]) {
        state = Lock(State(statuses: statuses))
    }

    /// Check: the status of `service`, or `UnknownService` for an unregistered name.
    public func check(_ service: String) -> Result<ServingStatus, UnknownService> {
        state.withLock { state in
            state.statuses[service].map { .success($0) } ?? .failure(UnknownService(service: service))
        }
    }

    /// True once `shutdown` was called: Watch handlers end their streams after delivering NOT_SERVING.
    public var isShutDown: Bool {
        state.withLock { $0.shutDown }
    }

    /// Every registered name and its status (for the optional List method and for logs).
    public var statuses: [String: ServingStatus] {
        state.withLock { $0.statuses }
    }

    /// Watch: calls `onChange` now with the current status (`SERVICE_UNKNOWN` if unregistered), then on every
    /// change until `cancel(token)`.
    public func watch(_ service: String, onChange: @escaping @Sendable (ServingStatus) -> Void) -> WatchToken {
        delivering.withLock { _ in
            let (token, current) = state.withLock { state in
                let current = state.currentStatus(of: service)
                let id = state.nextID
                state.nextID &+= 1
                state.watchers[id] = Watcher(service: service, lastSent: current, onChange: onChange)
                return (WatchToken(id: id), current)
            }
            onChange(current)
            return token
        }
    }

    /// Ends a Watch subscription; no call reaches its `onChange` once this returns (unless from a delivery already
    /// under way on another thread). Cancelling twice is harmless.
    public func cancel(_ token: WatchToken) {
        _ = state.withLock { $0.watchers.removeValue(forKey: token.id) }
    }

    /// Registers `service` or changes its status, and tells its watchers if the status changed. Ignored after
    /// `shutdown`.
    public func set(_ service: String, _ status: ServingStatus) {
        update { state in
            guard !state.shutDown else { return false }
            state.statuses[service] = status
            return true
        }
    }

    /// Sets every registered service to `status`. Ignored after `shutdown`.
    public func setAll(_ status: ServingStatus) {
        update { state in
            guard !state.shutDown else { return false }
            for name in state.statuses.keys { state.statuses[name] = status }
            return true
        }
    }

    /// Draining: every registered service becomes NOT_SERVING and later `set`/`setAll` calls are ignored.
    public func shutdown() {
        update { state in
            for name in state.statuses.keys { state.statuses[name] = .notServing }
            state.shutDown = true
            return true
        }
    }

    /// Applies `change` under the lock, then calls the watchers whose service's status now differs from the last
    /// status they were sent.
    private func update(_ change: (inout State) -> Bool) {
        delivering.withLock { _ in
            let deliveries: [Delivery] = state.withLock { state in
                guard change(&state) else { return [] }
                var deliveries: [Delivery] = []
                for (id, watcher) in state.watchers {
                    let current = state.currentStatus(of: watcher.service)
                    guard current != watcher.lastSent else { continue }
                    state.watchers[id]?.lastSent = current
                    deliveries.append((watcher.onChange, current))
                }
                return deliveries
            }
            for delivery in deliveries { delivery.onChange(delivery.status) }
        }
    }
}
