// Clients/TensorwireClient/EndpointPicker.swift: round-robin over server addresses with reconnect backoff (sans-I/O).
public import Clocks

/// gRPC's connection backoff (its "Connection Backoff Protocol", docs/client.md): after the n-th failed connect in
/// a row, the next try waits min(initial × multiplier^(n−1), maximum), spread by ±jitter. A plain value.
public struct ReconnectBackoff: Sendable, Equatable {
    public var initial: Duration
    public var multiplier: Double
    /// The spread, a fraction of the delay (0.2: ±20 %).
    public var jitter: Double
    public var maximum: Duration

    /// Shorter than gRPC's defaults (1 s, 1.6, 0.2, 120 s): a model server's clients sit next to it, and a restart
    /// should be noticed within a second or two.
    public init(
        initial: Duration = .milliseconds(100), multiplier: Double = 1.6, jitter: Double = 0.2,
        maximum: Duration = .seconds(2)
    ) {
        self.initial = initial
        self.multiplier = multiplier
        self.jitter = jitter
        self.maximum = maximum
    }

    /// The wait before the next connect after `failures` (≥ 1) failed connects in a row.
    public func delay(afterFailures failures: Int, random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = RetryPolicy(
            initialBackoff: initial, maxBackoff: maximum, backoffMultiplier: multiplier
        ).backoffCeiling(retry: max(1, failures))
        let base = Double(ceiling.nanosecondsClamped)
        let spread = min(max(jitter, 0), 1)
        let factor = spread == 0 ? 1 : Double.random(in: (1 - spread)...(1 + spread), using: &random)
        return .nanoseconds(Int64((base * factor).rounded(.down)))
    }
}

/// Chooses the server for each call among N addresses: round robin over the usable ones, skipping an address whose
/// connect failed until its reconnect backoff has passed, and reconnecting at once to one whose connection served
/// and then ended (GOAWAY, a closed connection), as gRPC's `round_robin` does with its subchannels. Sans-I/O: the
/// caller opens connections when told (`connect`), reports what happened to them, and passes the time and random
/// source. A value; the channel keeps it on its loop thread.
///
/// Each address has a health (`idle`: no connection, connect at the next pick; `active`: a connection that is
/// connecting or works; `backingOff`: the last connect failed, wait until then) and a generation that grows with
/// every connection made to it, so a late report about an older connection changes nothing.
public struct EndpointPicker: Sendable {
    /// One address's state.
    public enum Health: Sendable, Equatable {
        case idle
        case active
        case backingOff(until: MonotonicInstant)
    }

    /// The picker's answer.
    public enum Pick: Sendable, Equatable {
        /// Send on the address's current connection.
        case use(index: Int, generation: UInt64)
        /// Open a new connection to the address (the old one, if any, is done), then send on it.
        case connect(index: Int, generation: UInt64)
        /// Every address is backing off: nothing to send on before `until` (gRPC's TRANSIENT_FAILURE). A
        /// wait-for-ready call waits; any other fails at once.
        case wait(until: MonotonicInstant)
    }

    public private(set) var health: [Health]
    /// Failed connects in a row, per address (the backoff exponent).
    public private(set) var failures: [Int]
    public private(set) var generations: [UInt64]
    public let backoff: ReconnectBackoff
    private var cursor = 0

    public init(count: Int, backoff: ReconnectBackoff = ReconnectBackoff()) {
        health = Array(repeating: .idle, count: max(0, count))
        failures = Array(repeating: 0, count: max(0, count))
        generations = Array(repeating: 0, count: max(0, count))
        self.backoff = backoff
    }

    /// The next address in round-robin order that can take a call now: an active one, or one to (re)connect (idle,
    /// or its backoff over); else how long until one can.
    public mutating func pick(now: MonotonicInstant) -> Pick {
        let count = health.count
        var earliest = MonotonicInstant.max
        for offset in 0..<count {
            let index = (cursor + offset) % count
            switch health[index] {
            case .active:
                cursor = (index + 1) % count
                return .use(index: index, generation: generations[index])
            case .idle:
                return startConnect(index)
            case .backingOff(let until) where until <= now:
                return startConnect(index)
            case .backingOff(let until):
                earliest = min(earliest, until)
            }
        }
        return .wait(until: earliest)
    }

    private mutating func startConnect(_ index: Int) -> Pick {
        generations[index] &+= 1  // wraps after 2^64 connections: never in practice
        health[index] = .active
        cursor = (index + 1) % health.count
        return .connect(index: index, generation: generations[index])
    }

    /// The connection of this generation works (the server's SETTINGS arrived, or a call got an answer): the
    /// failure count starts again.
    public mutating func connected(_ index: Int, generation: UInt64) {
        guard isCurrent(index, generation) else { return }
        failures[index] = 0
    }

    /// The connection of this generation failed before it ever worked (connect refused, unreachable, closed before
    /// the server's SETTINGS): back off before the next connect to this address.
    public mutating func connectFailed(
        _ index: Int, generation: UInt64, now: MonotonicInstant, random: inout some RandomNumberGenerator
    ) {
        guard isCurrent(index, generation), health[index] == .active else { return }
        failures[index] += 1
        health[index] = .backingOff(until: now + backoff.delay(afterFailures: failures[index], random: &random))
    }

    /// The connection of this generation worked and has ended or is ending (GOAWAY, closed by either side): connect
    /// again at the next pick, without a backoff.
    public mutating func connectionEnded(_ index: Int, generation: UInt64) {
        guard isCurrent(index, generation), health[index] == .active else { return }
        health[index] = .idle
    }

    private func isCurrent(_ index: Int, _ generation: UInt64) -> Bool {
        health.indices.contains(index) && generations[index] == generation
    }
}
