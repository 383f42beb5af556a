import Clocks
import RPCCore
import TensorwireClient
import Testing
import TestSupport
import Transport

/// The round-robin picker with reconnect backoff, and the picker and retry policy together against simulated
/// servers, all on a virtual clock with a seeded generator.
struct EndpointPickerTests {
    let start = MonotonicInstant(nanoseconds: 1_000_000_000)

    /// A picker whose every address has connected (the first round of picks opened them).
    func connectedPicker(_ count: Int, backoff: ReconnectBackoff = ReconnectBackoff()) -> EndpointPicker {
        var picker = EndpointPicker(count: count, backoff: backoff)
        for index in 0..<count {
            #expect(picker.pick(now: start) == .connect(index: index, generation: 1))
            picker.connected(index, generation: 1)
        }
        return picker
    }

    @Test func callsGoRoundRobinOverConnectedAddresses() {
        var picker = connectedPicker(3)
        let picks = (0..<9).map { _ in picker.pick(now: start) }
        #expect(picks == (0..<9).map { .use(index: $0 % 3, generation: 1) })
    }

    @Test func aFailedConnectIsSkippedUntilItsBackoffHasPassed() {
        let clock = ManualClock(start: start)
        var random = SplitMix64(seed: 1)
        var picker = connectedPicker(3)
        picker.connectFailed(1, generation: 1, now: clock.now(), random: &random)
        guard case .backingOff(let until) = picker.health[1] else {
            Issue.record("address 1 is not backing off: \(picker.health[1])")
            return
        }
        // 100 ms ± 20 %.
        #expect(until >= clock.now() + .milliseconds(80) && until <= clock.now() + .milliseconds(120))
        let during = (0..<6).map { _ in picker.pick(now: clock.now()) }
        #expect(during.allSatisfy { if case .use(let index, _) = $0 { index != 1 } else { false } })
        clock.advance(by: until - clock.now())
        // Its turn comes round again: a new connection, a new generation.
        var reconnected = false
        for _ in 0..<3 where picker.pick(now: clock.now()) == .connect(index: 1, generation: 2) { reconnected = true }
        #expect(reconnected)
    }

    @Test func backoffGrowsWithEachFailedConnectAndStartsAgainOnceConnected() {
        var random = SplitMix64(seed: 2)
        let backoff = ReconnectBackoff(initial: .milliseconds(100), multiplier: 1.6, jitter: 0.2, maximum: .seconds(2))
        var picker = EndpointPicker(count: 1, backoff: backoff)
        var now = start
        var waits: [Duration] = []
        for generation in 1...9 {
            #expect(picker.pick(now: now) == .connect(index: 0, generation: UInt64(generation)))
            picker.connectFailed(0, generation: UInt64(generation), now: now, random: &random)
            guard case .wait(let until) = picker.pick(now: now) else {
                Issue.record("no wait after failure \(generation)")
                return
            }
            waits.append(until - now)
            now = until
        }
        let expected: [Double] = [100, 160, 256, 409.6, 655.36, 1048.576, 1677.7216, 2000, 2000]
        for (wait, centre) in zip(waits, expected) {
            let milliseconds = Double(wait.components.seconds) * 1000 + Double(wait.components.attoseconds) / 1e15
            #expect(milliseconds >= centre * 0.8 - 0.001 && milliseconds <= centre * 1.2 + 0.001, "\(wait) vs \(centre) ms")
        }
        #expect(picker.pick(now: now) == .connect(index: 0, generation: 10))
        picker.connected(0, generation: 10)
        #expect(picker.failures == [0])
    }

    @Test func aConnectionThatWorkedAndEndedIsReopenedAtOnce() {
        var picker = connectedPicker(2)
        // GOAWAY or a close after the connection served: idle, so the next pick reconnects without waiting.
        picker.connectionEnded(0, generation: 1)
        #expect(picker.health[0] == .idle)
        #expect(picker.pick(now: start) == .connect(index: 0, generation: 2))
        #expect(picker.pick(now: start) == .use(index: 1, generation: 1))
    }

    @Test func reportsAboutAnOlderConnectionChangeNothing() {
        var random = SplitMix64(seed: 3)
        var picker = connectedPicker(1)
        picker.connectionEnded(0, generation: 1)
        #expect(picker.pick(now: start) == .connect(index: 0, generation: 2))
        // The first connection's late failures (each of its calls reports one) do not touch the second.
        for _ in 0..<8 { picker.connectFailed(0, generation: 1, now: start, random: &random) }
        #expect(picker.health == [.active])
        #expect(picker.failures == [0])
        // Nor does a second report about the same connection move the backoff further.
        picker.connectFailed(0, generation: 2, now: start, random: &random)
        picker.connectFailed(0, generation: 2, now: start, random: &random)
        #expect(picker.failures == [1])
    }

    @Test func everyAddressBackingOffMeansWaitingForTheEarliest() {
        var random = SplitMix64(seed: 4)
        var picker = connectedPicker(3)
        for index in 0..<3 { picker.connectFailed(index, generation: 1, now: start + .milliseconds(index * 50), random: &random) }
        let earliest = picker.health.compactMap { health -> MonotonicInstant? in
            if case .backingOff(let until) = health { return until }
            return nil
        }.min()
        #expect(picker.pick(now: start) == .wait(until: earliest ?? .max))
        #expect(EndpointPicker(count: 0).health.isEmpty)
    }

    @Test func loadSpreadsEvenlyOverTheHealthyAddresses() {
        var random = SplitMix64(seed: 5)
        var picker = connectedPicker(3)
        picker.connectFailed(2, generation: 1, now: start, random: &random)
        var counts = [0, 0, 0]
        for _ in 0..<3000 {
            if case .use(let index, _) = picker.pick(now: start) { counts[index] += 1 }
        }
        #expect(counts == [1500, 1500, 0])
    }

    /// Simulated servers, each down during some window of virtual time: a call routed to a down server fails to
    /// connect (unsent) if its connection is new, or fails after being sent (UNAVAILABLE, maybe processed).
    struct Simulation {
        var picker: EndpointPicker
        var connectionUp: [Bool]
        let downUntil: [MonotonicInstant]

        /// Runs one call to its end; returns whether it succeeded, the attempts and retries it made, and when.
        mutating func call(
            policy: RetryPolicy, waitForReady: Bool, deadline: MonotonicInstant?, clock: ManualClock,
            random: inout SplitMix64
        ) -> (ok: Bool, state: RetryState) {
            var state = RetryState(policy: policy, idempotent: true, waitForReady: waitForReady, deadline: deadline)
            while true {
                let now = clock.now()
                var failure: AttemptFailure
                switch picker.pick(now: now) {
                case .use(let index, let generation), .connect(let index, let generation):
                    if now >= downUntil[index] {
                        picker.connected(index, generation: generation)
                        connectionUp[index] = true
                        return (true, state)
                    }
                    if connectionUp[index] {
                        // The server died under an established connection: the call was sent and failed.
                        connectionUp[index] = false
                        picker.connectionEnded(index, generation: generation)
                        failure = AttemptFailure(code: .unavailable)
                    } else {
                        picker.connectFailed(index, generation: generation, now: now, random: &random)
                        failure = AttemptFailure(code: .unavailable, unprocessed: .notSent)
                    }
                case .wait(let until):
                    if waitForReady {
                        let target = min(until, deadline ?? .max)
                        clock.advance(by: target - now)
                        if let deadline, clock.now() >= deadline { return (false, state) }
                        continue
                    }
                    failure = AttemptFailure(code: .unavailable, unprocessed: .notSent)
                }
                switch state.next(after: failure, now: clock.now(), random: &random) {
                case .retry(let delay, _): clock.advance(by: delay)
                case .giveUp: return (false, state)
                }
            }
        }
    }

    @Test func aRestartedServerIsReachedAgainWithinTheDeadlineWhenWaitingForReady() {
        for seed in UInt64(1)...50 {
            var random = SplitMix64(seed: seed)
            let clock = ManualClock(start: start)
            // Up, then killed at once and back 1.5 s later.
            var simulation = Simulation(
                picker: connectedPicker(1), connectionUp: [true], downUntil: [start + .milliseconds(1500)])
            let deadline = start + .seconds(10)
            let result = simulation.call(
                policy: RetryPolicy(), waitForReady: true, deadline: deadline, clock: clock, random: &random)
            #expect(result.ok, "seed \(seed)")
            #expect(clock.now() >= start + .milliseconds(1500), "seed \(seed)")
            // Found within one maximal reconnect backoff (2 s + 20 %) of the restart.
            #expect(clock.now() <= start + .milliseconds(1500 + 2400), "seed \(seed): \(clock.now())")
            #expect(result.state.attempts <= 2, "seed \(seed): the wait used no policy attempts beyond the first retry")
        }
    }

    @Test func withoutWaitForReadyALongOutageFailsFastOnceTheAttemptsAreSpent() {
        var random = SplitMix64(seed: 8)
        let clock = ManualClock(start: start)
        var simulation = Simulation(picker: connectedPicker(1), connectionUp: [true], downUntil: [start + .seconds(60)])
        let result = simulation.call(policy: RetryPolicy(), waitForReady: false, deadline: nil, clock: clock, random: &random)
        #expect(!result.ok)
        #expect(result.state.attempts == 5)
        // Four jittered backoffs below 100, 200, 400 and 800 ms: well within 1.5 s.
        #expect(clock.now() < start + .milliseconds(1500))
    }

    @Test func oneServerOfThreeDownCostsNoFailedCalls() {
        var random = SplitMix64(seed: 13)
        let clock = ManualClock(start: start)
        var simulation = Simulation(
            picker: connectedPicker(3), connectionUp: [true, true, true],
            downUntil: [start, start + .seconds(3600), start])
        var failed = 0
        var retries = 0
        for _ in 0..<300 {
            let result = simulation.call(policy: RetryPolicy(), waitForReady: false, deadline: nil, clock: clock, random: &random)
            if !result.ok { failed += 1 }
            retries += result.state.retries
            clock.advance(by: .milliseconds(10))
        }
        #expect(failed == 0)
        // Retries happen only when the dead server's turn comes: once at the kill, then once per reconnect backoff.
        #expect(retries > 0 && retries < 30, "\(retries) retries")
    }
}
