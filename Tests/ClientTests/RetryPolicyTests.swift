import Clocks
import RPCCore
import TensorwireClient
import Testing
import TestSupport
import Transport

/// The retry decision (`RetryState`) on a virtual clock with a seeded generator: gRPC's A6 rules, transparent
/// retries, idempotency, the deadline and wait-for-ready.
struct RetryPolicyTests {
    let start = MonotonicInstant(nanoseconds: 1_000_000_000)
    static let unavailable = AttemptFailure(code: .unavailable)

    @Test func backoffCeilingGrowsByTheMultiplierUpToTheMaximum() {
        let policy = RetryPolicy(initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), backoffMultiplier: 2)
        let ceilings = (1...6).map { policy.backoffCeiling(retry: $0) }
        #expect(ceilings == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        let flat = RetryPolicy(initialBackoff: .milliseconds(50), maxBackoff: .seconds(1), backoffMultiplier: 1)
        #expect(flat.backoffCeiling(retry: 9) == .milliseconds(50))
    }

    @Test func unavailableIsRetriedUntilMaxAttemptsWithJitteredGrowingDelays() {
        let policy = RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), backoffMultiplier: 2)
        var random = SplitMix64(seed: 7)
        var state = RetryState(policy: policy, idempotent: true, deadline: nil)
        var delays: [Duration] = []
        while case .retry(let delay, let transparent) = state.next(after: Self.unavailable, now: start, random: &random) {
            #expect(!transparent)
            delays.append(delay)
        }
        #expect(delays.count == 4)
        #expect(state.attempts == 5)
        #expect(state.retries == 4)
        for (index, delay) in delays.enumerated() {
            #expect(delay >= .zero && delay < policy.backoffCeiling(retry: index + 1), "retry \(index + 1): \(delay)")
        }
    }

    @Test func delaysAreSpreadOverTheWholeRangeBelowTheCeiling() {
        // Full jitter (A6: random(0, ceiling)): over many seeded draws both ends of the range are reached.
        var random = SplitMix64(seed: 42)
        let ceiling = Duration.milliseconds(100)
        let draws = (0..<400).map { _ -> Duration in
            var state = RetryState(policy: RetryPolicy(initialBackoff: ceiling), idempotent: true, deadline: nil)
            guard case .retry(let delay, _) = state.next(after: Self.unavailable, now: start, random: &random) else { return .seconds(9) }
            return delay
        }
        #expect(draws.allSatisfy { $0 >= .zero && $0 < ceiling })
        #expect(draws.contains { $0 < .milliseconds(10) })
        #expect(draws.contains { $0 > .milliseconds(90) })
        // The same seed draws the same delays: a failure replays.
        var again = SplitMix64(seed: 42)
        var state = RetryState(policy: RetryPolicy(initialBackoff: ceiling), idempotent: true, deadline: nil)
        #expect(state.next(after: Self.unavailable, now: start, random: &again) == .retry(after: draws[0], transparent: false))
    }

    @Test func codesOutsideTheRetryableSetAreNotRetried() {
        var random = SplitMix64(seed: 1)
        for code in [Status.Code.invalidArgument, .notFound, .deadlineExceeded, .internal, .resourceExhausted] {
            var state = RetryState(policy: RetryPolicy(), idempotent: true, deadline: nil)
            #expect(state.next(after: AttemptFailure(code: code), now: start, random: &random) == .giveUp, "\(code)")
        }
        var wider = RetryState(
            policy: RetryPolicy(retryableStatusCodes: [.unavailable, .resourceExhausted]), idempotent: true, deadline: nil)
        guard case .retry = wider.next(after: AttemptFailure(code: .resourceExhausted), now: start, random: &random) else {
            Issue.record("RESOURCE_EXHAUSTED in the set was not retried")
            return
        }
    }

    @Test func maxAttemptsOfOneTurnsRetriesOff() {
        var random = SplitMix64(seed: 1)
        var state = RetryState(policy: .disabled, idempotent: true, deadline: nil)
        #expect(state.next(after: Self.unavailable, now: start, random: &random) == .giveUp)
    }

    @Test func aNonIdempotentCallIsRetriedOnlyWhenTheServerNeverSawIt() {
        var random = SplitMix64(seed: 3)
        var maybeProcessed = RetryState(policy: RetryPolicy(), idempotent: false, deadline: nil)
        #expect(maybeProcessed.next(after: Self.unavailable, now: start, random: &random) == .giveUp)

        for reason in [UnprocessedReason.notSent, .refused] {
            var state = RetryState(policy: RetryPolicy(maxAttempts: 3), idempotent: false, deadline: nil)
            let failure = AttemptFailure(code: .unavailable, unprocessed: reason)
            // The first is transparent: at once, and no attempt is used up.
            #expect(state.next(after: failure, now: start, random: &random) == .retry(after: .zero, transparent: true))
            #expect(state.attempts == 1)
            // Then the policy: two more attempts, each counted.
            guard case .retry(_, false) = state.next(after: failure, now: start, random: &random) else {
                Issue.record("\(reason): second retry")
                return
            }
            guard case .retry(_, false) = state.next(after: failure, now: start, random: &random) else {
                Issue.record("\(reason): third retry")
                return
            }
            #expect(state.attempts == 3)
            #expect(state.next(after: failure, now: start, random: &random) == .giveUp)
            #expect(state.retries == 3)
            #expect(state.transparentRetries == 1)
        }
    }

    @Test func theDeadlineBoundsEveryRetry() {
        var random = SplitMix64(seed: 5)
        let clock = ManualClock(start: start)
        let deadline = clock.now() + .milliseconds(150)
        // The first retry's delay is below 100 ms: it fits before the deadline. 1 ms before the deadline, the second
        // retry's delay (drawn below 200 ms; above 1 ms with this seed) would reach it, so it is not made.
        var state = RetryState(policy: RetryPolicy(maxAttempts: 50), idempotent: true, deadline: deadline)
        guard case .retry = state.next(after: Self.unavailable, now: clock.now(), random: &random) else {
            Issue.record("the first retry did not fit")
            return
        }
        clock.advance(by: .milliseconds(149))
        #expect(state.next(after: Self.unavailable, now: clock.now(), random: &random) == .giveUp)
        // Random delays never reach past the deadline; once it has passed nothing is retried, not even transparently.
        var jittered = RetryState(policy: RetryPolicy(maxAttempts: 50, initialBackoff: .seconds(1), maxBackoff: .seconds(1)),
                                  idempotent: true, deadline: deadline)
        var now = start
        while case .retry(let delay, _) = jittered.next(after: Self.unavailable, now: now, random: &random) {
            now = now + delay
            #expect(now < deadline)
        }
        var late = RetryState(policy: RetryPolicy(), idempotent: true, deadline: deadline)
        let notSent = AttemptFailure(code: .unavailable, unprocessed: .notSent)
        #expect(late.next(after: notSent, now: deadline, random: &random) == .giveUp)
    }

    @Test func waitForReadyKeepsSendingAnUnsentRequestUntilTheDeadline() {
        var random = SplitMix64(seed: 11)
        let policy = RetryPolicy(maxAttempts: 2, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(400))
        let deadline = start + .seconds(5)
        var state = RetryState(policy: policy, idempotent: false, waitForReady: true, deadline: deadline)
        let notSent = AttemptFailure(code: .unavailable, unprocessed: .notSent)
        var now = start
        var count = 0
        while case .retry(let delay, let transparent) = state.next(after: notSent, now: now, random: &random) {
            #expect(transparent)
            #expect(delay < .milliseconds(400))
            now = now + delay
            count += 1
        }
        // Far more than maxAttempts, none of them counted, and it stopped only because the deadline came.
        #expect(count > 20)
        #expect(state.attempts == 1)
        #expect(now < deadline)
        // A refused request is transparent once only, as without wait-for-ready.
        var refused = RetryState(policy: policy, idempotent: false, waitForReady: true, deadline: deadline)
        let failure = AttemptFailure(code: .unavailable, unprocessed: .refused)
        #expect(refused.next(after: failure, now: start, random: &random) == .retry(after: .zero, transparent: true))
        guard case .retry(_, false) = refused.next(after: failure, now: start, random: &random) else {
            Issue.record("the second refusal was not a policy retry")
            return
        }
    }
}
