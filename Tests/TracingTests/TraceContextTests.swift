// Tests/TracingTests/TraceContextTests.swift: traceparent parsing against the W3C spec's examples and its test
// suite's cases (w3c/trace-context test/test.py), formatting, child spans and id generation.

import TestSupport
import Testing
import Tracing

/// Returns the numbers it was given, in order, then SplitMix64's: lets a test hand the generator zeros.
struct ScriptedGenerator: RandomNumberGenerator {
    var script: [UInt64]
    var rest = SplitMix64(seed: 1)

    mutating func next() -> UInt64 {
        script.isEmpty ? rest.next() : script.removeFirst()
    }
}

@Suite struct TraceContextTests {
    static let traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let spanHex = "00f067aa0ba902b7"

    /// Valid values: the value, then the trace id, span id and flags it reads as.
    @Test(arguments: [
        // The spec's two examples.
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", traceHex, spanHex, UInt8(0x01)),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", traceHex, spanHex, 0x00),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", 0x01),
        // Reserved flag bits of version 00 are read as sent (cleared only when we send our own span).
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", traceHex, spanHex, 0xFF),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", traceHex, spanHex, 0x09),
        // Ids that are zero but for one bit are valid.
        ("00-00000000000000000000000000000001-0000000000000001-01", "00000000000000000000000000000001", "0000000000000001", 0x01),
        ("00-80000000000000000000000000000000-8000000000000000-00", "80000000000000000000000000000000", "8000000000000000", 0x00),
        ("00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01", "ffffffffffffffffffffffffffffffff", "ffffffffffffffff", 0x01),
        // Future versions: parsed by the 00 rules, extra parts after a dash allowed, only `sampled` kept.
        ("cc-12345678901234567890123456789012-1234567890123456-01", "12345678901234567890123456789012", "1234567890123456", 0x01),
        ("cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
         "12345678901234567890123456789012", "1234567890123456", 0x01),
        ("01-12345678901234567890123456789012-1234567890123456-ff-", "12345678901234567890123456789012", "1234567890123456", 0x01),
        ("fe-12345678901234567890123456789012-1234567890123456-02", "12345678901234567890123456789012", "1234567890123456", 0x00),
        // HTTP's optional whitespace around the value (the test suite's OWS cases).
        (" 00-12345678901234567890123456789012-1234567890123456-01", "12345678901234567890123456789012", "1234567890123456", 0x01),
        ("\t00-12345678901234567890123456789012-1234567890123456-01", "12345678901234567890123456789012", "1234567890123456", 0x01),
        ("00-12345678901234567890123456789012-1234567890123456-01 ", "12345678901234567890123456789012", "1234567890123456", 0x01),
        ("\t 00-12345678901234567890123456789012-1234567890123456-01 \t", "12345678901234567890123456789012", "1234567890123456", 0x01),
    ])
    func validValuesParse(value: String, trace: String, span: String, flags: UInt8) throws {
        let context = try #require(TraceContext(traceparent: value))
        #expect(context.traceID.hex == trace)
        #expect(context.spanID.hex == span)
        #expect(context.flags.rawValue == flags)
    }

    /// Invalid values, each a new trace for the receiver.
    @Test(arguments: [
        "",
        "00",
        // Version: ff is forbidden; two lowercase hex digits followed by a dash, nothing else.
        "ff-12345678901234567890123456789012-1234567890123456-01",
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "0A-12345678901234567890123456789012-1234567890123456-01",
        "00_12345678901234567890123456789012-1234567890123456-01",
        // Version 00 has exactly four parts.
        "00-12345678901234567890123456789012-1234567890123456-01.",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "00-12345678901234567890123456789012-1234567890123456-01-",
        // A future version still needs a dash right after the flags, and the 00 length.
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        "cc-12345678901234567890123456789012-1234567890123456-1",
        "cc-12345678901234567890123456789012-1234567890123456",
        // Trace id: all zeros, wrong characters, upper case, wrong length.
        "00-00000000000000000000000000000000-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473G-00f067aa0ba902b7-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        // Parent id: all zeros, wrong characters, upper case, wrong length.
        "00-12345678901234567890123456789012-0000000000000000-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        // Flags: wrong characters, upper case, wrong length.
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-0F",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
        // Delimiters other than `-`, whitespace inside, non-ASCII.
        "00_12345678901234567890123456789012_1234567890123456_01",
        "00-12345678901234567890123456789012 1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01\n",
        "00-1234567890123456789012345678901é-1234567890123456-01",
        " \t ",
    ])
    func invalidValuesAreRejected(value: String) {
        #expect(TraceContext(traceparent: value) == nil)
    }

    @Test func formattingWritesVersion00Lowercase() throws {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let context = try #require(TraceContext(traceparent: value))
        #expect(context.traceparent == value)
        #expect(context.description == value)
        // A future version is answered in version 00, without its extra parts.
        let future = try #require(TraceContext(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-x"))
        #expect(future.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let built = TraceContext(
            traceID: try #require(TraceID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)),
            spanID: try #require(SpanID(0xA)), flags: TraceFlags(rawValue: 0x1F)
        )
        #expect(built.traceparent == "00-0123456789abcdeffedcba9876543210-000000000000000a-1f")
        #expect(TraceContext(traceparent: built.traceparent) == built)
    }

    @Test func childSpanKeepsTheTraceAndSampledAndClearsReservedFlags() throws {
        let received = try #require(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"))
        let ours = try #require(SpanID(hex: "b9c7c989f97918e1"))
        let child = received.childSpan(newSpanID: ours)
        #expect(child.traceID == received.traceID)
        #expect(child.spanID == ours)
        #expect(child.flags == .sampled)
        #expect(child.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-b9c7c989f97918e1-01")
        let unsampled = try #require(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
        #expect(unsampled.childSpan(newSpanID: ours).traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-b9c7c989f97918e1-00")
    }

    @Test func exactlyOneFieldIsRequired() {
        let a = "00-12345678901234567890123456789011-1234567890123456-01"
        let b = "00-12345678901234567890123456789012-1234567890123456-01"
        #expect(TraceContext(traceparentFields: [a])?.traceID.hex == "12345678901234567890123456789011")
        #expect(TraceContext(traceparentFields: [a, b]) == nil)
        #expect(TraceContext(traceparentFields: [a, a]) == nil)
        #expect(TraceContext(traceparentFields: [String]()) == nil)
        #expect(TraceContext(traceparentFields: ["garbage"]) == nil)
    }

    @Test func idsRejectZeroAndNonLowercaseHex() {
        #expect(TraceID(high: 0, low: 0) == nil)
        #expect(TraceID(high: 0, low: 1) != nil && TraceID(high: 1, low: 0) != nil)
        #expect(SpanID(0) == nil)
        #expect(TraceID(hex: "00000000000000000000000000000000") == nil)
        #expect(TraceID(hex: "4BF92F3577B34DA6A3CE929D0E0E4736") == nil)
        #expect(TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e473") == nil)
        #expect(TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e4736")?.hex == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(SpanID(hex: "0000000000000000") == nil)
        #expect(SpanID(hex: "00F067AA0BA902B7") == nil)
        #expect(SpanID(hex: "00f067aa0ba902b7")?.value == 0x00F0_67AA_0BA9_02B7)
    }

    @Test func idsGiveTheirBytesInWireOrder() throws {
        let trace = try #require(TraceID(hex: "000102030405060708090a0b0c0d0e0f"))
        #expect(trace.bytes == Array(0...15))
        #expect(try #require(SpanID(hex: "0102030405060708")).bytes == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test func generatedIdsAreNeverZero() {
        var zeros = ScriptedGenerator(script: [0, 0, 0, 42])
        #expect(SpanID.random(using: &zeros).value == 42)
        var traceZeros = ScriptedGenerator(script: [0, 0, 0, 0, 0, 7])
        let trace = TraceID.random(using: &traceZeros)
        #expect(trace.high == 0 && trace.low == 7)
    }

    @Test func generatedIdsFollowTheGenerator() {
        var first = SplitMix64(seed: 2026)
        var second = SplitMix64(seed: 2026)
        let spans = (0..<1000).map { _ in SpanID.random(using: &first) }
        #expect(spans == (0..<1000).map { _ in SpanID.random(using: &second) })
        #expect(Set(spans).count == spans.count)
        for span in spans.prefix(20) {
            #expect(span.hex.count == 16 && SpanID(hex: span.hex) == span)
        }
    }

    @Test func aNewTraceIsValidAndUnsampled() {
        var generator = SplitMix64(seed: 7)
        let context = TraceContext.newTrace(using: &generator)
        #expect(context.flags == [])
        #expect(TraceContext(traceparent: context.traceparent) == context)
        #expect(TraceContext.newTrace(using: &generator).traceID != context.traceID)
    }
}
