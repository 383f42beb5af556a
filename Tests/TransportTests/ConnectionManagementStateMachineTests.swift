// Tests/TransportTests/ConnectionManagementStateMachineTests.swift: the connection-management machine, as a state ×
// event table and as scenarios, on a virtual clock (instants built from one origin; no test waits).

import Testing
@testable import Transport
import Clocks

private typealias Machine = ConnectionManagementStateMachine
private typealias Action = ConnectionManagementStateMachine.Action

/// The policy every test uses unless it says otherwise.
private let policy = Machine.Configuration(
    handshakeTimeout: .seconds(10), idleTimeout: .seconds(60), maxConnectionAge: .seconds(600),
    maxConnectionAgeGrace: .seconds(30), minPingInterval: .seconds(300), maxPingStrikes: 2, earlyResetBurst: 1,
    earlyResetsPerSecond: 0)

/// The virtual clock's origin: every instant is `t0 + offset`.
private let t0 = MonotonicInstant(nanoseconds: 1_000_000_000)

private func at(_ seconds: Double) -> MonotonicInstant { t0 + .milliseconds(Int((seconds * 1000).rounded())) }

private func notice(grace: Duration) -> Action {
    .sendShutdownNoticeAndPing(finalGoAwayAfter: Machine.finalGoAwayDelay, closeAfter: grace)
}

@Suite struct ConnectionManagementStateEventMatrixTests {
    enum State: String, CaseIterable, Sendable {
        /// Accepted; no preface/SETTINGS yet; no stream; idle timer armed.
        case handshaking
        /// Handshake complete, no stream, idle timer armed.
        case idle
        /// Handshake complete, one stream open.
        case busy
        /// `busy` after three quick PINGs: two strikes, the limit.
        case pingStruck
        /// `pingStruck` after one more: GOAWAY ENHANCE_YOUR_CALM sent, closing after the flush.
        case calmedDown
        /// `busy` asked to drain: shutdown notice and PING sent, the stream still open.
        case draining
        /// `draining` after the final GOAWAY, the stream still open.
        case finalGoAwaySent
        /// `finalGoAwaySent` after its last stream closed: closing after the flush.
        case drained
        /// `busy`, then the connection closed.
        case closed
    }

    enum Event: String, CaseIterable, Sendable {
        case handshakeCompleted, handshakeTimerFired, ping, drainPingAck, otherPingAck, streamOpened, streamClosed
        case twoEarlyResets, idleTimerFired, ageTimerFired, drainRequested, finalGoAwayTimerFired, graceTimerFired
        case eventsHandled
    }

    private static func machine(in state: State) -> Machine {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        if state == .handshaking { return machine }
        _ = machine.handshakeCompleted()
        if state == .idle { return machine }
        _ = machine.streamOpened()
        switch state {
        case .handshaking, .idle, .busy:
            break
        case .pingStruck, .calmedDown:
            for second in [0.0, 1, 2] { _ = machine.pingReceived(at: at(second)) }
            if state == .calmedDown { _ = machine.pingReceived(at: at(2.5)) }
        case .draining, .finalGoAwaySent, .drained:
            _ = machine.drainRequested(grace: .seconds(30))
            if state == .draining { break }
            _ = machine.finalGoAwayTimerFired()
            if state == .finalGoAwaySent { break }
            _ = machine.streamClosed(remaining: 0)
            _ = machine.eventsHandled()
        case .closed:
            machine.connectionClosed()
        }
        return machine
    }

    /// The event's actions, `.none` left out.
    private static func apply(_ event: Event, to machine: inout Machine) -> [Action] {
        let actions: [Action] =
            switch event {
            case .handshakeCompleted: [machine.handshakeCompleted()]
            case .handshakeTimerFired: [machine.handshakeTimerFired()]
            case .ping: [machine.pingReceived(at: at(3))]
            case .drainPingAck: [machine.pingAckReceived(opaque: Machine.drainPing)]
            case .otherPingAck: [machine.pingAckReceived(opaque: 42)]
            case .streamOpened: [machine.streamOpened()]
            case .streamClosed: [machine.streamClosed(remaining: max(0, machine.openStreams - 1))]
            case .twoEarlyResets:
                [machine.unfinishedRequestReset(at: at(3)), machine.unfinishedRequestReset(at: at(3))]
            case .idleTimerFired: [machine.idleTimerFired()]
            case .ageTimerFired: [machine.ageTimerFired()]
            case .drainRequested: [machine.drainRequested(grace: .seconds(5))]
            case .finalGoAwayTimerFired: [machine.finalGoAwayTimerFired()]
            case .graceTimerFired: [machine.graceTimerFired()]
            case .eventsHandled: [machine.eventsHandled()]
            }
        return actions.filter { $0 != .none }
    }

    private static let calmPings = Action.sendGoAwayAndCloseWhenFlushed(.tooManyPings)
    private static let calmResets = Action.sendGoAwayAndCloseWhenFlushed(.tooManyResets)
    private static let graceOver = Action.close(.drainGraceOver)
    private static let armIdle = Action.armIdleTimer(after: .seconds(60))

    // Columns: handshakeCompleted, handshakeTimerFired, ping, drainPingAck, otherPingAck, streamOpened,
    // streamClosed, twoEarlyResets, idleTimerFired, ageTimerFired, drainRequested, finalGoAwayTimerFired,
    // graceTimerFired, eventsHandled. Some cells are events that cannot happen in that state (the final GOAWAY timer
    // is only armed by a drain): they show what the machine would do, and that it does not trap.
    private static let expected: [State: [[Action]]] = [
        .handshaking: [
            [.cancelHandshakeTimer], [.close(.handshakeTimedOut)], [], [.sendFinalGoAway(thenCloseWhenFlushed: true)],
            [], [.cancelIdleTimer], [], [calmResets], [notice(grace: .seconds(1))], [notice(grace: .seconds(30))],
            [notice(grace: .seconds(5))], [.sendFinalGoAway(thenCloseWhenFlushed: true)], [graceOver], [],
        ],
        .idle: [
            [], [], [], [.sendFinalGoAway(thenCloseWhenFlushed: true)], [], [.cancelIdleTimer], [], [calmResets],
            [notice(grace: .seconds(1))], [notice(grace: .seconds(30))], [notice(grace: .seconds(5))],
            [.sendFinalGoAway(thenCloseWhenFlushed: true)], [graceOver], [],
        ],
        .busy: [
            [], [], [], [.sendFinalGoAway(thenCloseWhenFlushed: false)], [], [], [armIdle], [calmResets], [],
            [notice(grace: .seconds(30))], [notice(grace: .seconds(5))],
            [.sendFinalGoAway(thenCloseWhenFlushed: false)], [graceOver], [],
        ],
        .pingStruck: [
            [], [], [calmPings], [.sendFinalGoAway(thenCloseWhenFlushed: false)], [], [], [armIdle], [calmResets], [],
            [notice(grace: .seconds(30))], [notice(grace: .seconds(5))],
            [.sendFinalGoAway(thenCloseWhenFlushed: false)], [graceOver], [],
        ],
        // Closing already: no second GOAWAY for resets; a further quick PING repeats too_many_pings (they come in
        // one read; the rest of the input is discarded once closing). Drains still start: the flush decides.
        .calmedDown: [
            [], [], [calmPings], [.sendFinalGoAway(thenCloseWhenFlushed: false)], [], [], [armIdle], [], [],
            [notice(grace: .seconds(30))], [notice(grace: .seconds(5))],
            [.sendFinalGoAway(thenCloseWhenFlushed: false)], [graceOver], [],
        ],
        // The grace period ending before the final GOAWAY went out sends it, then closes once it is written.
        .draining: [
            [], [], [], [.sendFinalGoAway(thenCloseWhenFlushed: false)], [], [], [armIdle], [calmResets], [], [], [],
            [.sendFinalGoAway(thenCloseWhenFlushed: false)], [.sendFinalGoAway(thenCloseWhenFlushed: true)], [],
        ],
        .finalGoAwaySent: [
            [], [], [], [], [], [], [armIdle], [calmResets], [], [], [], [], [graceOver], [],
        ],
        .drained: [
            [], [], [], [], [], [.cancelIdleTimer], [], [], [], [], [], [], [graceOver], [],
        ],
        .closed: [
            [], [], [], [], [], [], [], [], [], [], [], [], [], [],
        ],
    ]

    @Test(arguments: State.allCases, Event.allCases)
    func eventInState(state: State, event: Event) throws {
        var machine = Self.machine(in: state)
        let before = machine
        let actions = Self.apply(event, to: &machine)
        let index = try #require(Event.allCases.firstIndex(of: event))
        #expect(actions == Self.expected[state]?[index], "\(event) in \(state)")
        // What every action implies about the state after it.
        for action in actions {
            switch action {
            case .sendShutdownNoticeAndPing:
                #expect(machine.isDraining && !before.isDraining)
            case .sendFinalGoAway(let close):
                #expect(machine.finalGoAwaySent && !before.finalGoAwaySent)
                if close { #expect(machine.closing && !before.closing) }
            case .sendGoAwayAndCloseWhenFlushed, .closeWhenFlushed:
                #expect(machine.closing)
            case .armIdleTimer:
                #expect(machine.idleTimerArmed && machine.openStreams == 0)
            case .cancelIdleTimer:
                #expect(!machine.idleTimerArmed)
            default:
                break
            }
        }
        // Closed is terminal; one-way flags stay set.
        #expect(machine.isClosed == before.isClosed)
        if before.closing { #expect(machine.closing) }
        if before.isDraining { #expect(machine.isDraining) }
        if before.handshake == .complete { #expect(machine.handshake == .complete) }
    }

    @Test func namedStatesHaveTheirParts() {
        typealias Parts = (Machine.Handshake, Machine.Drain, closing: Bool, closed: Bool, streams: Int, idle: Bool)
        let parts: [State: Parts] = [
            .handshaking: (.waiting, .notDraining, false, false, 0, true),
            .idle: (.complete, .notDraining, false, false, 0, true),
            .busy: (.complete, .notDraining, false, false, 1, false),
            .pingStruck: (.complete, .notDraining, false, false, 1, false),
            .calmedDown: (.complete, .notDraining, true, false, 1, false),
            .draining: (.complete, .noticeSent, false, false, 1, false),
            .finalGoAwaySent: (.complete, .finalGoAwaySent(noticeSent: true), false, false, 1, false),
            .drained: (.complete, .finalGoAwaySent(noticeSent: true), true, false, 0, true),
            .closed: (.complete, .notDraining, false, true, 1, false),
        ]
        for state in State.allCases {
            let machine = Self.machine(in: state)
            guard let expected = parts[state] else {
                Issue.record("no parts for \(state)")
                continue
            }
            #expect(machine.handshake == expected.0, "\(state)")
            #expect(machine.drain == expected.1, "\(state)")
            #expect(machine.closing == expected.closing, "\(state)")
            #expect(machine.isClosed == expected.closed, "\(state)")
            #expect(machine.openStreams == expected.streams, "\(state)")
            #expect(machine.idleTimerArmed == expected.idle, "\(state)")
        }
        #expect(Self.machine(in: .pingStruck).pingStrikes == 2)
    }
}

@Suite struct ConnectionManagementScenarioTests {
    @Test func startArmsTheConfiguredTimersOnly() {
        var machine = Machine(configuration: policy)
        #expect(
            machine.connectionStarted() == [
                .armIdleTimer(after: .seconds(60)), .armHandshakeTimer(after: .seconds(10)),
                .armAgeTimer(after: .seconds(600)),
            ])
        var bare = policy
        bare.handshakeTimeout = nil
        bare.idleTimeout = nil
        bare.maxConnectionAge = nil
        var quiet = Machine(configuration: bare)
        #expect(quiet.connectionStarted() == [])
        // No handshake timer to cancel; no idle timer to arm or cancel.
        #expect(quiet.handshakeCompleted() == .none)
        #expect(quiet.streamOpened() == .none)
        #expect(quiet.streamClosed(remaining: 0) == .none)
        #expect(quiet.handshake == .complete)
    }

    @Test func onlyTheFirstSettingsCompletesTheHandshake() {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        #expect(machine.handshakeCompleted() == .cancelHandshakeTimer)
        #expect(machine.handshakeCompleted() == .none)
        #expect(machine.handshakeTimerFired() == .none)
    }

    @Test func pingsAtTheMinimumIntervalAreNeverStrikes() {
        var machine = Machine(configuration: policy)
        for minutes in 0..<20 {
            #expect(machine.pingReceived(at: at(Double(minutes) * 300)) == .none)
        }
        #expect(machine.pingStrikes == 0)
    }

    @Test func theStrikeAfterTheLimitGetsGoAwayAndEveryOneAfterIt() {
        var machine = Machine(configuration: policy)
        #expect(machine.pingReceived(at: at(0)) == .none)  // the first PING: nothing to compare with
        #expect(machine.pingReceived(at: at(1)) == .none)  // strike 1
        #expect(machine.pingReceived(at: at(2)) == .none)  // strike 2 (the limit)
        #expect(machine.pingReceived(at: at(3)) == .sendGoAwayAndCloseWhenFlushed(.tooManyPings))
        #expect(machine.closing)
        #expect(machine.pingReceived(at: at(4)) == .sendGoAwayAndCloseWhenFlushed(.tooManyPings))
    }

    @Test func sendingHeadersOrDataForgivesTheStrikes() {
        var machine = Machine(configuration: policy)
        for second in 0..<3 { _ = machine.pingReceived(at: at(Double(second))) }
        #expect(machine.pingStrikes == 2)
        machine.framesSent()
        #expect(machine.pingStrikes == 0)
        // The interval is still measured from the last PING.
        #expect(machine.pingReceived(at: at(3)) == .none)
        #expect(machine.pingReceived(at: at(4)) == .none)
        #expect(machine.pingReceived(at: at(5)) == .sendGoAwayAndCloseWhenFlushed(.tooManyPings))
    }

    @Test func aSlowPingDoesNotStrikeButMovesTheInterval() {
        var machine = Machine(configuration: policy)
        _ = machine.pingReceived(at: at(0))
        #expect(machine.pingReceived(at: at(299.999)) == .none)
        #expect(machine.pingStrikes == 1)
        #expect(machine.pingReceived(at: at(599.999)) == .none)  // exactly the interval after the last one
        #expect(machine.pingStrikes == 1)
        #expect(machine.lastPingReceived == at(599.999))
    }

    @Test func theDoubleGoAwayThenTheLastStreamClosesTheConnection() {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        _ = machine.handshakeCompleted()
        #expect(machine.streamOpened() == .cancelIdleTimer)
        #expect(machine.streamOpened() == .none)
        #expect(machine.drainRequested(grace: .seconds(30)) == notice(grace: .seconds(30)))
        // A second request (the age timer, a server shutdown) keeps the first grace period.
        #expect(machine.drainRequested(grace: .seconds(1)) == .none)
        #expect(machine.ageTimerFired() == .none)
        #expect(machine.pingAckReceived(opaque: 7) == .none)
        #expect(machine.pingAckReceived(opaque: Machine.drainPing) == .sendFinalGoAway(thenCloseWhenFlushed: false))
        // The delay's timer comes after the ACK: the final GOAWAY is not repeated.
        #expect(machine.finalGoAwayTimerFired() == .none)
        #expect(machine.eventsHandled() == .none)
        #expect(machine.streamClosed(remaining: 1) == .none)
        #expect(machine.eventsHandled() == .none)
        #expect(machine.streamClosed(remaining: 0) == .armIdleTimer(after: .seconds(60)))
        #expect(machine.eventsHandled() == .closeWhenFlushed)
        #expect(machine.eventsHandled() == .none)
        // The idle timer re-armed while draining finds the connection draining already.
        #expect(machine.idleTimerFired() == .none)
        machine.connectionClosed()
        #expect(machine.graceTimerFired() == .none)
    }

    @Test func theFinalGoAwayWithoutAnAckAndTheGracePeriodEndingFirst() {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        _ = machine.streamOpened()
        #expect(machine.ageTimerFired() == notice(grace: .seconds(30)))
        #expect(machine.finalGoAwayTimerFired() == .sendFinalGoAway(thenCloseWhenFlushed: false))
        #expect(machine.pingAckReceived(opaque: Machine.drainPing) == .none)
        #expect(machine.graceTimerFired() == .close(.drainGraceOver))
    }

    @Test func aFailedShutdownNoticeSendsTheFinalGoAwayAtOnce() {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        #expect(machine.idleTimerFired() == notice(grace: Machine.idleDrainGrace))
        #expect(machine.shutdownNoticeFailed() == .sendFinalGoAway(thenCloseWhenFlushed: true))
        #expect(machine.finalGoAwayTimerFired() == .none)
        #expect(machine.eventsHandled() == .none)
    }

    @Test func theIdleTimerRunsOnlyWhileNoStreamIsOpen() {
        var machine = Machine(configuration: policy)
        #expect(machine.connectionStarted().first == .armIdleTimer(after: .seconds(60)))
        #expect(machine.streamOpened() == .cancelIdleTimer)
        #expect(machine.streamClosed(remaining: 0) == .armIdleTimer(after: .seconds(60)))
        #expect(machine.streamClosed(remaining: 0) == .none)  // armed already
        #expect(machine.streamOpened() == .cancelIdleTimer)
        // A timer that fired as a stream opened (both due in one loop iteration) finds the stream.
        #expect(machine.idleTimerFired() == .none)
        #expect(machine.streamClosed(remaining: 0) == .armIdleTimer(after: .seconds(60)))
        #expect(machine.idleTimerFired() == notice(grace: .seconds(1)))
        #expect(!machine.idleTimerArmed)
    }

    @Test func earlyResetsRefillWithTimeAndEndTheConnectionOnce() {
        var configuration = policy
        configuration.earlyResetBurst = 2
        configuration.earlyResetsPerSecond = 1
        var machine = Machine(configuration: configuration)
        #expect(machine.unfinishedRequestReset(at: at(0)) == .none)
        #expect(machine.unfinishedRequestReset(at: at(0)) == .none)
        #expect(machine.unfinishedRequestReset(at: at(1)) == .none)  // one refilled
        #expect(machine.unfinishedRequestReset(at: at(1)) == .sendGoAwayAndCloseWhenFlushed(.tooManyResets))
        #expect(machine.unfinishedRequestReset(at: at(1)) == .none)  // closing already
    }

    @Test func aCloseTheConnectionDecidedQueuesNoSecondGoAway() {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        machine.closeScheduled()
        _ = machine.unfinishedRequestReset(at: at(0))
        #expect(machine.unfinishedRequestReset(at: at(0)) == .none)
        // Draining still sends its frames (the flush may not have happened yet); the drained close is not repeated.
        #expect(machine.drainRequested(grace: .seconds(5)) == notice(grace: .seconds(5)))
        #expect(machine.finalGoAwayTimerFired() == .sendFinalGoAway(thenCloseWhenFlushed: false))
        #expect(machine.eventsHandled() == .none)
    }

    @Test func anUnaskedDrainAckSendsTheFinalGoAwayAndALaterDrainOnlyTheNotice() {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        _ = machine.streamOpened()
        #expect(machine.pingAckReceived(opaque: Machine.drainPing) == .sendFinalGoAway(thenCloseWhenFlushed: false))
        #expect(machine.drain == .finalGoAwaySent(noticeSent: false))
        #expect(!machine.isDraining)
        #expect(machine.drainRequested(grace: .seconds(5)) == notice(grace: .seconds(5)))
        #expect(machine.drain == .finalGoAwaySent(noticeSent: true))
        #expect(machine.finalGoAwayTimerFired() == .none)
    }

    @Test func theHandshakeTimerClosesOnlyAWaitingOpenConnection() {
        var machine = Machine(configuration: policy)
        _ = machine.connectionStarted()
        #expect(machine.handshakeTimerFired() == .close(.handshakeTimedOut))
        machine.connectionClosed()
        #expect(machine.handshakeTimerFired() == .none)
        #expect(machine.handshakeCompleted() == .none)
    }
}

/// The SIGTERM drain as a timeline on a virtual clock: a `ManualClock` moves, and the timers the machine asked for
/// fire in time order, as `ServerConnection`'s loop would fire them (issue 21).
@Suite struct ConnectionDrainTimelineTests {
    /// The machine plus the timers it armed (what fires, and when), driven by a manual clock.
    fileprivate struct Harness {
        enum Timer: Hashable { case finalGoAway, grace }
        var machine = Machine(configuration: policy)
        let clock = ManualClock(start: t0)
        var timers: [(due: MonotonicInstant, timer: Timer)] = []
        /// Every action with the virtual time it happened at, in seconds since t0.
        var log: [(seconds: Double, action: Action)] = []

        mutating func record(_ action: Action) {
            guard action != .none else { return }
            log.append((Double(clock.now().nanoseconds(since: t0)) / 1e9, action))
            if case .sendShutdownNoticeAndPing(let finalAfter, let closeAfter) = action {
                timers.append((clock.now() + finalAfter, .finalGoAway))
                timers.append((clock.now() + closeAfter, .grace))
            }
        }

        /// Moves the clock to `seconds`, firing the timers due on the way in order.
        mutating func advance(to seconds: Double) {
            let target = at(seconds)
            while let next = timers.enumerated().filter({ $0.element.due <= target }).min(by: { $0.element.due < $1.element.due }) {
                timers.remove(at: next.offset)
                clock.advance(by: .nanoseconds(Int64(next.element.due.nanoseconds(since: clock.now()))))
                record(next.element.timer == .finalGoAway ? machine.finalGoAwayTimerFired() : machine.graceTimerFired())
            }
            clock.advance(by: .nanoseconds(Int64(target.nanoseconds(since: clock.now()))))
        }
    }

    private func busy(streams: Int) -> Harness {
        var harness = Harness()
        _ = harness.machine.connectionStarted()
        _ = harness.machine.handshakeCompleted()
        for _ in 0..<streams { _ = harness.machine.streamOpened() }
        return harness
    }

    @Test func theAckSendsTheFinalGoAwayAndTheLastStreamClosesAfterTheFlush() {
        var harness = busy(streams: 2)
        harness.record(harness.machine.drainRequested(grace: .seconds(10)))
        harness.advance(to: 0.002)
        harness.record(harness.machine.pingAckReceived(opaque: Machine.drainPing))
        harness.advance(to: 0.5)
        harness.record(harness.machine.streamClosed(remaining: 1))
        harness.record(harness.machine.eventsHandled())
        harness.advance(to: 0.8)
        _ = harness.machine.streamClosed(remaining: 0)
        harness.record(harness.machine.eventsHandled())
        // Closed once flushed: the delay's and the grace period's timers find nothing left to do.
        harness.machine.connectionClosed()
        harness.advance(to: 20)
        #expect(harness.log.map(\.seconds) == [0, 0.002, 0.8])
        #expect(harness.log.map(\.action) == [
            notice(grace: .seconds(10)), .sendFinalGoAway(thenCloseWhenFlushed: false), .closeWhenFlushed,
        ])
    }

    @Test func withoutAnAckTheDelaySendsTheFinalGoAwayAndTheGraceClosesWhatIsLeft() {
        var harness = busy(streams: 1)
        harness.record(harness.machine.drainRequested(grace: .seconds(10)))
        harness.advance(to: 12)
        #expect(harness.log.map(\.seconds) == [0, 1, 10])
        #expect(harness.log.map(\.action) == [
            notice(grace: .seconds(10)), .sendFinalGoAway(thenCloseWhenFlushed: false), .close(.drainGraceOver),
        ])
    }

    @Test func aGraceShorterThanTheDelaySendsTheFinalGoAwayBeforeClosing() {
        var harness = busy(streams: 1)
        harness.record(harness.machine.drainRequested(grace: .milliseconds(300)))
        harness.advance(to: 5)
        #expect(harness.log.map(\.seconds) == [0, 0.3])
        #expect(harness.log.map(\.action) == [
            notice(grace: .milliseconds(300)), .sendFinalGoAway(thenCloseWhenFlushed: true),
        ])
        #expect(harness.machine.closing && harness.machine.finalGoAwaySent)
    }
}
