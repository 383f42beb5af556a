// Tests/RPCCoreTests/GRPCTimeoutTests.swift: the grpc-timeout codec (W-16).

import RPCCore
import Testing
import TestSupport

@Suite struct GRPCTimeoutTests {
    @Test(arguments: [
        ("1H", Int64(3_600_000_000_000)), ("2M", 120_000_000_000), ("3S", 3_000_000_000), ("4m", 4_000_000),
        ("5u", 5_000), ("6n", 6), ("0n", 0), ("00000001S", 1_000_000_000), ("4997448u", 4_997_448_000),
        ("99999999n", 99_999_999),
    ])
    func parsesEveryUnit(header: String, nanoseconds: Int64) throws {
        #expect(try GRPCTimeout(headerValue: header).nanoseconds == nanoseconds)
    }

    @Test func clampsOverflowToInt64Max() throws {
        #expect(try GRPCTimeout(headerValue: "99999999H").nanoseconds == .max)
        #expect(try GRPCTimeout(headerValue: "99999999M").nanoseconds == 5_999_999_940_000_000_000)
        #expect(try GRPCTimeout(headerValue: "2562048H").nanoseconds == .max)
        #expect(try GRPCTimeout(headerValue: "99999999S").nanoseconds == 99_999_999_000_000_000)
    }

    @Test(arguments: ["", "1", "S", "123456789S", "1x", "1s", "1.5S", "-1S", " 1S", "1S ", "+1S", "１S"])
    func rejectsMalformedValuesWithAnErrorMappedToInternal(_ header: String) {
        do {
            _ = try GRPCTimeout(headerValue: header)
            Issue.record("accepted \"\(header)\"")
        } catch {
            #expect(error.value == header)
            #expect(error.rpcError.code == .internal)
            #expect(error.rpcError.message.hasPrefix("malformed grpc-timeout: "))
        }
    }

    @Test(arguments: [
        (Int64(0), "0n"), (5, "5n"), (99_999_999, "99999999n"), (100_000_000, "100000u"), (100_000_001, "100001u"),
        (5_000_000_000, "5000000u"), (3_600_000_000_000, "3600000m"), (Int64.max, "2562048H"),
    ])
    func encodesWithTheFinestUnitThatFitsEightDigitsRoundingUp(nanoseconds: Int64, header: String) {
        #expect(GRPCTimeout(nanoseconds: nanoseconds).headerValue == header)
    }

    @Test func encodedValueNeverShortensTheTimeout() throws {
        var rng = SplitMix64(seed: 16)
        for _ in 0..<2_000 {
            let timeout = GRPCTimeout(
                nanoseconds: Int64.random(in: 0...Int64.max, using: &rng) >> Int.random(in: 0...62, using: &rng))
            let header = timeout.headerValue
            #expect(header.utf8.count <= 9)
            let parsed = try GRPCTimeout(headerValue: header)
            #expect(parsed >= timeout)
        }
    }

    @Test func convertsToAndFromDuration() {
        #expect(GRPCTimeout(.milliseconds(1500)).nanoseconds == 1_500_000_000)
        #expect(GRPCTimeout(.seconds(-3)).nanoseconds == 0)
        #expect(GRPCTimeout(.seconds(Int64.max)).nanoseconds == .max)
        #expect(GRPCTimeout(nanoseconds: 42).duration == .nanoseconds(42))
        #expect(GRPCTimeout(nanoseconds: -5).nanoseconds == 0)
    }
}
