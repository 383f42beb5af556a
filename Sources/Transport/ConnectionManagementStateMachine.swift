// Sources/Transport/ConnectionManagementStateMachine.swift: the life of one server connection (handshake, keepalive
// policing, idleness, age, graceful shutdown) as a value that takes the time as a parameter and returns actions.

internal import Clocks

/// The connection-level state of one server HTTP/2 connection, apart from its streams: whether the client has
/// finished the handshake, how it pings, whether it is idle, how it is being shut down. It performs no I/O and reads
/// no clock: each thing `ServerConnection` observes (a frame, a timer firing, a stream opening or closing, a request
/// to drain) is a `mutating func`, given the time where the decision depends on it, that returns what the
/// connection must do: arm or cancel a timer, put a GOAWAY or PING on the wire, close now or once the output is
/// written. The connection keeps the I/O (the `HTTP2Session`, the socket, the loop's timers and their ids) and
/// applies the actions; the machine keeps every flag that decides them. A value owned by its `ServerConnection` and
/// touched only on that connection's loop thread, as `RPCStreamStateMachine` is for a stream.
///
/// ## The state product
///
/// Four mostly independent parts, each a small state, and the counters that police the peer:
///
/// | part        | states                                           | moved by                                       |
/// |-------------|--------------------------------------------------|------------------------------------------------|
/// | `handshake` | `waiting` → `complete`                           | the first SETTINGS (`handshakeCompleted`)      |
/// | `drain`     | `notDraining` → `noticeSent` → `finalGoAwaySent` | a drain request (server shutdown, idle or age  |
/// |             |                                                  | timer), then the PING ACK or the delay's timer |
/// | `closing`   | no → yes (close once the output is written)      | GOAWAY ENHANCE_YOUR_CALM, a drained connection |
/// |             |                                                  | or `closeScheduled`                            |
/// | `isClosed`  | no → yes (terminal)                              | `connectionClosed`                             |
///
/// plus the open-stream count (`streamOpened`, `streamClosed(remaining:)`), whether the idle timer is armed, the
/// ping strikes with the time of the last PING, and the early-reset budget. The parts are a product, not a line:
/// a connection can be asked to drain before its handshake completes (the idle and age timers and a server
/// shutdown do not wait for it), a draining connection can exceed its ping or reset budget, and the final GOAWAY
/// timer may fire after the connection decided to close once flushed (the socket was slow to take the output).
/// `drain` skips `noticeSent` in one case: a PING ACK carrying the drain payload sends the final GOAWAY whatever
/// the state (only a peer that forged it could send it unasked, and it only asks to be let go).
///
/// ## Events, actions and why each is so
///
/// - **Handshake** (`connectionStarted`, `handshakeCompleted`, `handshakeTimerFired`): a connection that has not sent
///   the preface and its first SETTINGS within `handshakeTimeout` is closed at once, without GOAWAY: it never spoke
///   HTTP/2, and nothing was sent to it (`HTTP2Connection` holds the output until the preface is classified).
/// - **Ping policing** (`pingReceived(at:)`, `framesSent`, W-72): a PING sooner than `minPingInterval` after the
///   previous one is a strike; strikes reset whenever we send HEADERS or DATA (a client pinging a busy connection is
///   keeping it alive, not abusing it); past `maxPingStrikes` the connection gets GOAWAY ENHANCE_YOUR_CALM
///   "too_many_pings" and is closed once that is written. Every PING past the limit repeats the GOAWAY, as before
///   the machine existed (they arrive in one read; the rest of the peer's input is discarded once closing).
/// - **Early resets** (`unfinishedRequestReset(at:)`): the rapid-reset guard (`EarlyResetBudget`); once spent,
///   GOAWAY ENHANCE_YOUR_CALM "too_many_resets" and close after the flush, unless already closing.
/// - **Idleness** (`streamOpened`, `streamClosed(remaining:)`, `idleTimerFired`, W-64): the idle timer runs while
///   the connection has no stream, from the start and from each moment the last stream closes; it is cancelled
///   when a stream opens. When it fires with no stream, the connection drains with a one-second grace.
/// - **Age** (`ageTimerFired`): `maxConnectionAge` after the start, the connection drains with
///   `maxConnectionAgeGrace`, so that L4 load balancers see connections move.
/// - **Graceful shutdown** (`drainRequested(grace:)`, `pingAckReceived(opaque:)`, `finalGoAwayTimerFired`,
///   `shutdownNoticeFailed`, `graceTimerFired`, W-60): the double GOAWAY. First the shutdown notice (GOAWAY with
///   the last stream id 2³¹−1) and a PING carrying `drainPing`; the final GOAWAY, naming the last stream actually
///   processed, goes out on that PING's ACK (a round trip later: any stream the client opened before it saw the
///   notice has arrived) or after `finalGoAwayDelay`, whichever comes first. Streams then have the grace period to
///   finish; the connection closes once the final GOAWAY has gone and no stream remains (`eventsHandled`, checked
///   after each batch of frames) or when the grace period ends, whichever comes first. A grace period that ends
///   before the final GOAWAY went out sends it and closes only once it is written, so a connection never closes
///   without the final GOAWAY. Asking again to drain does nothing: the first grace period stands.
/// - **Closing** (`closeScheduled`, `connectionClosed`): the connection may decide by itself to close after the
///   flush (a protocol error nghttp2 answered with GOAWAY, an HTTP/1.1 request); it says so, so that no second
///   GOAWAY is queued. Once closed, every event is a no-op: timers that were already due, late ACKs.
///
/// Who owns what: the machine owns every decision and the flags behind them; `ServerConnection` owns the timers'
/// ids (it cancels them all on close), the session it writes frames with, the counters it reports
/// (`handshakeTimeouts`, `earlyResetEndings`) and the stream map whose size it passes in.
/// `Tests/TransportTests/ConnectionManagementStateMachineTests.swift` holds the state × event table.
struct ConnectionManagementStateMachine {
    /// The policy, from `GRPCServer.Configuration`.
    struct Configuration {
        var handshakeTimeout: Duration?
        var idleTimeout: Duration?
        var maxConnectionAge: Duration?
        var maxConnectionAgeGrace: Duration
        var minPingInterval: Duration
        var maxPingStrikes: Int
        var earlyResetBurst: Int
        var earlyResetsPerSecond: Int
    }

    enum Handshake: Hashable {
        /// Accepted; the client's preface and first SETTINGS have not arrived.
        case waiting
        case complete
    }

    enum Drain: Hashable {
        case notDraining
        /// The shutdown notice and the drain PING went out; the final GOAWAY waits for the ACK or the delay.
        case noticeSent
        /// The final GOAWAY went out (`noticeSent` false only for an unasked ACK).
        case finalGoAwaySent(noticeSent: Bool)
    }

    /// Why the connection sends GOAWAY ENHANCE_YOUR_CALM and closes once it is written.
    enum Misbehaviour: Hashable {
        case tooManyPings
        case tooManyResets

        /// The GOAWAY's debug data.
        var debugData: String {
            switch self {
            case .tooManyPings: "too_many_pings"
            case .tooManyResets: "too_many_resets"
            }
        }
    }

    /// Why the connection closes at once (no GOAWAY).
    enum CloseReason: Hashable {
        case handshakeTimedOut
        case drainGraceOver

        var description: String {
            switch self {
            case .handshakeTimedOut: "no HTTP/2 preface and SETTINGS within the handshake timeout"
            case .drainGraceOver: "drain grace period over"
            }
        }
    }

    enum Action: Hashable {
        case none
        case armHandshakeTimer(after: Duration)
        case cancelHandshakeTimer
        case armIdleTimer(after: Duration)
        case cancelIdleTimer
        case armAgeTimer(after: Duration)
        /// Send the shutdown notice and a PING carrying `drainPing` (on failure, report `shutdownNoticeFailed`);
        /// arm a timer that reports `finalGoAwayTimerFired` after `finalGoAwayAfter` and one that reports
        /// `graceTimerFired` after `closeAfter`.
        case sendShutdownNoticeAndPing(finalGoAwayAfter: Duration, closeAfter: Duration)
        /// Send the final GOAWAY (NO_ERROR, the last stream processed); with `thenCloseWhenFlushed`, no stream remains:
        /// close once the output is written.
        case sendFinalGoAway(thenCloseWhenFlushed: Bool)
        /// Send GOAWAY ENHANCE_YOUR_CALM with the reason as debug data; close once it is written.
        case sendGoAwayAndCloseWhenFlushed(Misbehaviour)
        /// Drained: close once the output is written.
        case closeWhenFlushed
        /// Close now.
        case close(CloseReason)
    }

    /// The opaque data of the drain PING ("tw_drain").
    static let drainPing: UInt64 = 0x7477_5f64_7261_696e
    /// How long the final GOAWAY waits for the drain PING's ACK.
    static let finalGoAwayDelay: Duration = .seconds(1)
    /// The grace period of a connection drained for idleness (it has no stream; this covers a racing one).
    static let idleDrainGrace: Duration = .seconds(1)

    let configuration: Configuration
    private(set) var handshake = Handshake.waiting
    private(set) var drain = Drain.notDraining
    /// Closing once the output is written (whoever decided it).
    private(set) var closing = false
    private(set) var isClosed = false
    /// Open streams, as last reported.
    private(set) var openStreams = 0
    private(set) var idleTimerArmed = false
    private(set) var pingStrikes = 0
    private(set) var lastPingReceived: MonotonicInstant?
    private var earlyResets: EarlyResetBudget

    init(configuration: Configuration) {
        self.configuration = configuration
        earlyResets = EarlyResetBudget(
            burst: configuration.earlyResetBurst, perSecond: configuration.earlyResetsPerSecond)
    }

    /// The shutdown notice went out (`noticeSent` or later).
    var isDraining: Bool {
        switch drain {
        case .notDraining: false
        case .noticeSent: true
        case .finalGoAwaySent(let noticeSent): noticeSent
        }
    }

    var finalGoAwaySent: Bool {
        if case .finalGoAwaySent = drain { true } else { false }
    }

    // MARK: Handshake

    /// The connection is registered with its loop: the timers to arm (idle, handshake, age; each if configured).
    mutating func connectionStarted() -> [Action] {
        var actions: [Action] = []
        let idle = armIdleTimerIfIdle()
        if idle != .none { actions.append(idle) }
        if let timeout = configuration.handshakeTimeout { actions.append(.armHandshakeTimer(after: timeout)) }
        if let age = configuration.maxConnectionAge { actions.append(.armAgeTimer(after: age)) }
        return actions
    }

    /// The client's first SETTINGS frame arrived (nghttp2 checked the preface before it).
    mutating func handshakeCompleted() -> Action {
        guard handshake == .waiting, !isClosed else { return .none }
        handshake = .complete
        return configuration.handshakeTimeout == nil ? .none : .cancelHandshakeTimer
    }

    mutating func handshakeTimerFired() -> Action {
        guard !isClosed, handshake == .waiting else { return .none }
        return .close(.handshakeTimedOut)
    }

    // MARK: Ping policing (W-72)

    /// A PING (not an ACK) arrived at `now`.
    mutating func pingReceived(at now: MonotonicInstant) -> Action {
        guard !isClosed else { return .none }
        defer { lastPingReceived = now }
        guard let last = lastPingReceived, now - last < configuration.minPingInterval else { return .none }
        pingStrikes += 1
        guard pingStrikes > configuration.maxPingStrikes else { return .none }
        closing = true
        return .sendGoAwayAndCloseWhenFlushed(.tooManyPings)
    }

    /// HEADERS or DATA went out: the client's pings are keeping a busy connection alive.
    @inline(__always)
    mutating func framesSent() {
        pingStrikes = 0
    }

    // MARK: Streams and idleness

    mutating func streamOpened() -> Action {
        openStreams += 1
        guard idleTimerArmed else { return .none }
        idleTimerArmed = false
        return .cancelIdleTimer
    }

    /// A stream closed; `remaining` streams are still open.
    mutating func streamClosed(remaining: Int) -> Action {
        openStreams = remaining
        return armIdleTimerIfIdle()
    }

    /// The client reset a stream at `now` before finishing its request, while the response was still owed (the
    /// rapid-reset pattern; the caller decides what counts).
    mutating func unfinishedRequestReset(at now: MonotonicInstant) -> Action {
        guard !isClosed, !earlyResets.spend(at: now), !closing else { return .none }
        closing = true
        return .sendGoAwayAndCloseWhenFlushed(.tooManyResets)
    }

    mutating func idleTimerFired() -> Action {
        idleTimerArmed = false
        guard openStreams == 0 else { return .none }
        return drainRequested(grace: Self.idleDrainGrace)
    }

    private mutating func armIdleTimerIfIdle() -> Action {
        guard openStreams == 0, let idle = configuration.idleTimeout, !idleTimerArmed, !isClosed else { return .none }
        idleTimerArmed = true
        return .armIdleTimer(after: idle)
    }

    // MARK: Graceful shutdown (W-60)

    mutating func ageTimerFired() -> Action {
        drainRequested(grace: configuration.maxConnectionAgeGrace)
    }

    /// Drain: the shutdown notice now, the final GOAWAY a round trip later, the close after `grace` at the latest.
    mutating func drainRequested(grace: Duration) -> Action {
        guard !isDraining, !isClosed else { return .none }
        drain = finalGoAwaySent ? .finalGoAwaySent(noticeSent: true) : .noticeSent
        return .sendShutdownNoticeAndPing(finalGoAwayAfter: Self.finalGoAwayDelay, closeAfter: grace)
    }

    /// A PING ACK arrived: `drainPing`'s sends the final GOAWAY.
    mutating func pingAckReceived(opaque: UInt64) -> Action {
        guard opaque == Self.drainPing else { return .none }
        return sendFinalGoAway()
    }

    mutating func finalGoAwayTimerFired() -> Action { sendFinalGoAway() }

    /// The shutdown notice or its PING could not be queued: the final GOAWAY at once.
    mutating func shutdownNoticeFailed() -> Action { sendFinalGoAway() }

    /// The grace period is over. A connection whose final GOAWAY has not gone out yet (a grace shorter than the
    /// final GOAWAY's delay, `--drain-seconds` below 1) sends it now and closes once it is written, so the client
    /// learns which streams were processed; otherwise it closes at once.
    mutating func graceTimerFired() -> Action {
        guard !isClosed else { return .none }
        guard isDraining, !finalGoAwaySent else { return .close(.drainGraceOver) }
        drain = .finalGoAwaySent(noticeSent: true)
        closing = true
        return .sendFinalGoAway(thenCloseWhenFlushed: true)
    }

    private mutating func sendFinalGoAway() -> Action {
        guard !finalGoAwaySent, !isClosed else { return .none }
        drain = .finalGoAwaySent(noticeSent: isDraining)
        return .sendFinalGoAway(thenCloseWhenFlushed: closeIfDrained())
    }

    /// After each batch of frames: a drained connection (final GOAWAY sent, no stream left) closes after the flush.
    mutating func eventsHandled() -> Action {
        closeIfDrained() ? .closeWhenFlushed : .none
    }

    private mutating func closeIfDrained() -> Bool {
        guard finalGoAwaySent, openStreams == 0, !closing, !isClosed else { return false }
        closing = true
        return true
    }

    // MARK: Closing

    /// The connection decided by itself to close once its output is written.
    mutating func closeScheduled() {
        closing = true
    }

    /// The connection is closed (it cancels its timers).
    mutating func connectionClosed() {
        isClosed = true
        idleTimerArmed = false
    }
}
