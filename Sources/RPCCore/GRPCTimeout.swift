// Sources/RPCCore/GRPCTimeout.swift: the `grpc-timeout` header (W-16).

/// A relative RPC timeout as carried by `grpc-timeout`: a non-negative count of nanoseconds, clamped to `Int64.max`.
/// It owns only that number; it is not a deadline. The transport turns it into one by adding it to the instant the
/// request HEADERS arrived, read from its own clock (RPCCore never reads a clock).
public struct GRPCTimeout: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds, `0...Int64.max`.
    public let nanoseconds: Int64

    /// A timeout of `nanoseconds`; negative values become zero.
    public init(nanoseconds: Int64) {
        self.nanoseconds = max(0, nanoseconds)
    }

    /// A timeout equal to `duration`, clamped to `0...Int64.max` nanoseconds.
    public init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) {
            nanoseconds = 0
            return
        }
        let (wholeNanos, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let fraction = attoseconds / 1_000_000_000
        if overflow {
            nanoseconds = .max
        } else {
            let (sum, sumOverflow) = wholeNanos.addingReportingOverflow(fraction)
            nanoseconds = sumOverflow ? .max : sum
        }
    }

    /// The timeout as a `Duration`.
    public var duration: Duration { .nanoseconds(nanoseconds) }

    public static func < (lhs: GRPCTimeout, rhs: GRPCTimeout) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public var description: String { "\(nanoseconds)ns" }

    /// The largest value the header can carry in one unit: 8 digits.
    static let maxDigitsValue: Int64 = 99_999_999

    /// Units in header order, finest first, with their size in nanoseconds.
    static let units: [(unit: UInt8, nanoseconds: Int64)] = [
        (UInt8(ascii: "n"), 1),
        (UInt8(ascii: "u"), 1_000),
        (UInt8(ascii: "m"), 1_000_000),
        (UInt8(ascii: "S"), 1_000_000_000),
        (UInt8(ascii: "M"), 60_000_000_000),
        (UInt8(ascii: "H"), 3_600_000_000_000),
    ]
}

// MARK: - Parsing

extension GRPCTimeout {
    /// Parses a `grpc-timeout` value: 1–8 ASCII digits followed by one of `H M S m u n` (W-16). The product is
    /// clamped to `Int64.max` nanoseconds, as grpc-go clamps. Anything else throws `GRPCTimeoutError`, which the
    /// server answers with HTTP 400 and INTERNAL `malformed grpc-timeout: …`.
    public init(headerValue: String) throws(GRPCTimeoutError) {
        let bytes = Array(headerValue.utf8)
        guard bytes.count >= 2 else { throw .init(value: headerValue, reason: "too short") }
        guard bytes.count <= 9 else { throw .init(value: headerValue, reason: "more than 8 digits") }
        guard let unitByte = bytes.last,
            let unit = Self.units.first(where: { $0.unit == unitByte })
        else { throw .init(value: headerValue, reason: "unknown unit") }
        var amount: Int64 = 0
        for byte in bytes.dropLast() {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw .init(value: headerValue, reason: "not a decimal number")
            }
            amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))  // ≤ 8 digits: cannot overflow
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: unit.nanoseconds)
        self.init(nanoseconds: overflow ? .max : product)
    }

    /// The header value for this timeout: the finest unit whose count fits in 8 digits, rounding up so the peer
    /// never sees a shorter timeout than ours (grpc-go `encodeTimeout`). Zero encodes as `0n`.
    public var headerValue: String {
        for (unit, size) in Self.units {
            let (quotient, remainder) = nanoseconds.quotientAndRemainder(dividingBy: size)
            let rounded = remainder == 0 ? quotient : quotient + 1
            if rounded <= Self.maxDigitsValue {
                return String(rounded) + String(decoding: [unit], as: UTF8.self)
            }
        }
        // Int64.max ns is about 2.56 million hours: always fits in 8 digits of hours.
        return "\(Self.maxDigitsValue)H"
    }
}

/// A `grpc-timeout` value that does not follow W-16. Owns the received value and a short reason; the transport
/// answers it with HTTP 400 and INTERNAL (grpc-go).
public struct GRPCTimeoutError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The header value as received.
    public var value: String
    /// What is wrong with it.
    public var reason: String

    public var description: String { "malformed grpc-timeout: \"\(value)\" (\(reason))" }

    /// The error the server ends the RPC with.
    public var rpcError: RPCError { RPCError(code: .internal, message: description) }
}
