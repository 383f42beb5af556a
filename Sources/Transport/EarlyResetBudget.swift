// Sources/Transport/EarlyResetBudget.swift: the rapid-reset guard, counting only resets of unfinished requests.

internal import Clocks

/// How many streams a client may reset before it has finished sending their requests (the HTTP/2 "rapid reset"
/// pattern: HEADERS then RST_STREAM at once, which costs the server a handler start each), as a token bucket:
/// `burst` resets at once, then `perSecond` more each second. Resets of requests the client had finished sending
/// are not counted: a client whose deadlines expire cancels every such call (gRPC clients send RST_STREAM(CANCEL)
/// on a deadline), and counting those, as nghttp2's own limit does, ended the connections of honest clients with
/// tight deadlines (thousands of UNAVAILABLE a second). Sans-I/O: the caller passes the time.
struct EarlyResetBudget {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var last: MonotonicInstant?

    init(burst: Int, perSecond: Int) {
        self.burst = Double(max(1, burst))
        self.perSecond = Double(max(0, perSecond))
        self.tokens = self.burst
    }

    /// Counts one early reset at `now`; false once the budget is spent (the connection should be ended with
    /// GOAWAY ENHANCE_YOUR_CALM).
    mutating func spend(at now: MonotonicInstant) -> Bool {
        if let last {
            let seconds = Double(now.nanoseconds(since: last)) / 1e9
            if seconds > 0 { tokens = min(burst, tokens + seconds * perSecond) }
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
