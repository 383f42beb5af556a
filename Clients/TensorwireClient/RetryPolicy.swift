// Clients/TensorwireClient/RetryPolicy.swift: whether a failed call is sent again, and after how long (sans-I/O).
public import Clocks
public import RPCCore
public import Transport

/// gRPC's retry policy (gRFC A6, the service config's `retryPolicy`): how many attempts a call may make, the
/// exponential backoff between them, and which status codes are worth another attempt. A plain value; the decision
/// itself is `RetryState.next(after:now:random:)` (docs/client.md, "Retries").
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first one included; 1 turns retries off.
    public var maxAttempts: Int
    /// The ceiling of the first retry's random delay.
    public var initialBackoff: Duration
    /// No retry's delay ceiling grows past this.
    public var maxBackoff: Duration
    /// The factor by which the ceiling grows from one retry to the next.
    public var backoffMultiplier: Double
    /// A failure with one of these codes may be retried (UNAVAILABLE by default).
    public var retryableStatusCodes: Set<Status.Code>

    public init(
        maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(1),
        backoffMultiplier: Double = 2, retryableStatusCodes: Set<Status.Code> = [.unavailable]
    ) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.backoffMultiplier = backoffMultiplier
        self.retryableStatusCodes = retryableStatusCodes
    }

    /// One attempt, no retries (a request that never reached the server is still sent again once, see
    /// `RetryState`).
    public static let disabled = RetryPolicy(maxAttempts: 1)

    /// The ceiling of the `retry`-th retry's delay (from 1): min(initialBackoff × backoffMultiplier^(retry−1),
    /// maxBackoff). The delay itself is drawn uniformly from [0, ceiling) (A6's "full jitter").
    public func backoffCeiling(retry: Int) -> Duration {
        let initial = Double(initialBackoff.nanosecondsClamped)
        let maximum = Double(maxBackoff.nanosecondsClamped)
        var ceiling = initial
        var step = 1
        while step < retry, ceiling < maximum {
            ceiling *= max(backoffMultiplier, 1)
            step += 1
        }
        return .nanoseconds(Int64(min(ceiling, maximum).rounded(.down)))
    }
}

/// One failed attempt as the retry decision sees it.
public struct AttemptFailure: Sendable, Equatable {
    public var code: Status.Code
    /// Set when the request is known not to have reached the server's application.
    public var unprocessed: UnprocessedReason?

    public init(code: Status.Code, unprocessed: UnprocessedReason? = nil) {
        self.code = code
        self.unprocessed = unprocessed
    }
}

/// What to do after a failed attempt.
public enum RetryDecision: Sendable, Equatable {
    /// Send the call again after `delay`. `transparent`: a request that never reached the server's application,
    /// sent again without using up one of the policy's attempts.
    case retry(after: Duration, transparent: Bool)
    /// Report the failure to the caller.
    case giveUp
}

/// The retry state of one call: attempts made, the backoff step, and the decision after each failure. Sans-I/O: the
/// time and the random source are passed in, so tests drive it with a virtual clock and a seeded generator. A
/// value; one per call, owned by whoever runs the call.
///
/// The rules (gRFC A6, with gRPC's wait-for-ready; A6's server pushback, `grpc-retry-pushback-ms`, is not read:
/// Tensorwire's server never sends it):
/// 1. A passed deadline ends the call.
/// 2. A request that never reached the server's application (`unprocessed`) is sent again once at once, without
///    counting as an attempt ("transparent retry"). With `waitForReady`, one that was never sent keeps being sent
///    again (the channel waits for a server), bounded only by the deadline, with a backoff from the second time on.
/// 3. Otherwise the failure is retried when its code is retryable, the call is idempotent or was not processed,
///    and fewer than `maxAttempts` attempts were made; the delay is drawn from [0, ceiling) with the ceiling
///    growing by `backoffMultiplier` per retry up to `maxBackoff`.
/// 4. A retry whose delay would reach the deadline is not made: the call ends with the failure it has.
public struct RetryState: Sendable {
    public let policy: RetryPolicy
    /// The call may run twice without harm (inference is; docs/client.md). Non-idempotent calls are retried only
    /// when the request provably never reached the server's application.
    public let idempotent: Bool
    public let waitForReady: Bool
    /// The call's deadline over all attempts; nil for none.
    public let deadline: MonotonicInstant?
    /// Attempts started that count against `policy.maxAttempts` (the first included).
    public private(set) var attempts = 1
    /// Every retry decided, transparent ones included.
    public private(set) var retries = 0
    /// The transparent retries among `retries`.
    public private(set) var transparentRetries = 0
    /// The policy retries so far (the exponent of the backoff).
    private var backoffStep = 0
    private var usedFreeRetry = false

    public init(policy: RetryPolicy, idempotent: Bool, waitForReady: Bool = false, deadline: MonotonicInstant?) {
        self.policy = policy
        self.idempotent = idempotent
        self.waitForReady = waitForReady
        self.deadline = deadline
    }

    /// The decision after a failed attempt that ended at `now`.
    public mutating func next(
        after failure: AttemptFailure, now: MonotonicInstant, random: inout some RandomNumberGenerator
    ) -> RetryDecision {
        if let deadline, now >= deadline { return .giveUp }
        if let reason = failure.unprocessed {
            if !usedFreeRetry {
                usedFreeRetry = true
                return transparent(after: .zero)
            }
            if waitForReady, reason == .notSent {
                // Bounded by the deadline alone; the backoff keeps a refusing server from being hammered.
                let ceiling = policy.backoffCeiling(retry: transparentRetries)
                let delay = Self.uniform(below: ceiling, random: &random)
                guard fits(delay, now: now) else { return .giveUp }
                return transparent(after: delay)
            }
        }
        guard policy.retryableStatusCodes.contains(failure.code), idempotent || failure.unprocessed != nil,
              attempts < policy.maxAttempts
        else { return .giveUp }
        backoffStep += 1
        let delay = Self.uniform(below: policy.backoffCeiling(retry: backoffStep), random: &random)
        guard fits(delay, now: now) else { return .giveUp }
        attempts += 1
        retries += 1
        return .retry(after: delay, transparent: false)
    }

    private mutating func transparent(after delay: Duration) -> RetryDecision {
        retries += 1
        transparentRetries += 1
        return .retry(after: delay, transparent: true)
    }

    /// A retry after `delay` still starts before the deadline.
    private func fits(_ delay: Duration, now: MonotonicInstant) -> Bool {
        guard let deadline else { return true }
        return now + delay < deadline
    }

    /// A duration drawn uniformly from [0, ceiling); zero for a zero ceiling.
    static func uniform(below ceiling: Duration, random: inout some RandomNumberGenerator) -> Duration {
        let nanoseconds = ceiling.nanosecondsClamped
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0..<nanoseconds, using: &random))
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to 0...Int64.max (negative durations count as zero).
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (sum, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return carry ? .max : max(0, sum)
    }
}
