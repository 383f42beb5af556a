// Tests/JSONWireTests/JSONNumberTests.swift: numbers to Double, Float (rounded once) and exact integers.

import Glibc
import JSONWire
import Testing

/// A fixed-seed xorshift64 generator.
struct XorShift {
    var state: UInt64

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// `value` with exactly `significantDigits` digits, correctly rounded by the C library (`%.Ne`).
func scientific(_ value: Double, significantDigits: Int) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaList([Int32(significantDigits - 1), value]) { arguments in
        buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, 64, "%.*e", arguments) }
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func readFloat(_ text: String, options: JSONNumberOptions = []) throws(JSONError) -> Float {
    try read(text) { r throws(JSONError) in try r.readFloat(options: options) }
}

func readDouble(_ text: String, options: JSONNumberOptions = []) throws(JSONError) -> Double {
    try read(text) { r throws(JSONError) in try r.readDouble(options: options) }
}

func readInt64(_ text: String, options: JSONNumberOptions = []) throws(JSONError) -> Int64 {
    try read(text) { r throws(JSONError) in try r.readInt64(options: options) }
}

func readUInt64(_ text: String, options: JSONNumberOptions = []) throws(JSONError) -> UInt64 {
    try read(text) { r throws(JSONError) in try r.readUInt64(options: options) }
}

@Suite struct JSONNumberTests {
    @Test func testDoublesAreCorrectlyRounded() throws {
        #expect(try readDouble("0.1") == 0.1)
        #expect(try readDouble("-0") .sign == .minus)
        #expect(try readDouble("1e22") == 1e22)
        #expect(try readDouble("1.5e25") == 1.5e25)
        #expect(try readDouble("2.2250738585072014e-308") == 2.2250738585072014e-308)
        #expect(try readDouble("4.9e-324") == Double.leastNonzeroMagnitude)
        #expect(try readDouble("1e-400") == 0)
        #expect(try readDouble("123456789012345678901234567890") == 123456789012345678901234567890.0)
        #expect(try readDouble("0.000000000000000000000000000001234") == 1.234e-30)
        #expect(throws: JSONError.self) { try readDouble("1e400") }
        #expect(throws: JSONError.self) { try readDouble("\"1.5\"") }
    }

    /// Against the C library's strtof and strtod (through the standard library's initialisers), which round once:
    /// random decimals of 1 to 19 digits, random doubles printed short, and — the case double rounding gets wrong —
    /// decimals within a few digits of the exact midpoint between two adjacent floats.
    @Test func testFloatsAreRoundedOnceFromTheDecimal() throws {
        var random = XorShift(state: 0x1234_5678_9ABC_DEF1)
        for round in 0..<60_000 {
            let text: String
            switch round % 3 {
            case 0:
                let float = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()) & 0x7F7F_FFFF)
                let midpoint = (Double(float) + Double(float.nextUp)) / 2
                text = scientific(midpoint, significantDigits: 9 + Int(random.next() % 17))
            case 1:
                let digits = (0...(random.next() % 19)).map { _ in String(random.next() % 9 + 1) }.joined()
                text = digits + "e" + String(Int(random.next() % 90) - 45)
            default:
                let double = Double(bitPattern: random.next() & 0x7FEF_FFFF_FFFF_FFFF)
                text = scientific(double, significantDigits: 1 + Int(random.next() % 17))
            }
            let expectedFloat = try #require(Float(text))
            let expectedDouble = try #require(Double(text))
            if expectedFloat.isFinite {
                #expect(try readFloat(text).bitPattern == expectedFloat.bitPattern, "\(text)")
            } else {
                #expect(throws: JSONError.self, "\(text)") { try readFloat(text) }
            }
            if expectedDouble.isFinite {
                #expect(try readDouble(text).bitPattern == expectedDouble.bitPattern, "\(text)")
            }
        }
    }

    /// 0.500000029802322387695312500000001 is just above the midpoint between 0.5 and its successor: rounding it
    /// to a double first lands exactly on the midpoint, and a second rounding to even would give 0.5.
    @Test func testADecimalJustAboveAFloatMidpointRoundsUp() throws {
        #expect(try readFloat("0.500000029802322387695312500000001") == Float(0.5).nextUp)
        #expect(try readFloat("0.5000000298023223876953125") == 0.5)
        #expect(try readFloat("3.4028235e38") == .greatestFiniteMagnitude)
        #expect(try readFloat("1e-45") == .leastNonzeroMagnitude)
        #expect(try readFloat("-1.1754943e-38") == -.leastNormalMagnitude)
        #expect(throws: JSONError.self) { try readFloat("3.5e38") }
    }

    @Test func testQuotedAndNonFiniteFormsOnlyWhenAllowed() throws {
        #expect(try readFloat(#""1.5""#, options: .quoted) == 1.5)
        #expect(try readFloat(#""NaN""#, options: .nonFiniteStrings).isNaN)
        #expect(try readDouble(#""-Infinity""#, options: .nonFiniteStrings) == -.infinity)
        #expect(try readDouble(#""Infinity""#, options: [.quoted, .nonFiniteStrings]) == .infinity)
        #expect(throws: JSONError.self) { try readFloat(#""NaN""#, options: .quoted) }
        #expect(throws: JSONError.self) { try readFloat(#""1.5""#, options: .nonFiniteStrings) }
        #expect(throws: JSONError.self) { try readFloat(#"" 1.5""#, options: .quoted) }
        #expect(throws: JSONError.self) { try readFloat(#""1.5 ""#, options: .quoted) }
        #expect(throws: JSONError.self) { try readFloat(#""nan""#, options: .nonFiniteStrings) }
        #expect(throws: JSONError.self) { try readInt64(#""NaN""#, options: [.quoted, .nonFiniteStrings]) }
    }

    @Test func testIntegersAreExactAndRangeChecked() throws {
        #expect(try readInt64("9223372036854775807") == .max)
        #expect(try readInt64("-9223372036854775808") == .min)
        #expect(try readUInt64("18446744073709551615") == .max)
        #expect(try readInt64("1e2") == 100)
        #expect(try readInt64("1.0") == 1)
        #expect(try readInt64("-0") == 0)
        #expect(try readUInt64("-0") == 0)
        #expect(try readInt64("12.50e1") == 125)
        #expect(try readInt64("1500e-2") == 15)
        #expect(try readInt64("0e999999999") == 0)
        #expect(try readInt64("922337203685477580.7e1") == .max)
        #expect(try readInt64(#""-42""#, options: .quoted) == -42)
        #expect(try readUInt64(#""18446744073709551615""#, options: .quoted) == .max)
        for bad in [
            "9223372036854775808", "-9223372036854775809", "1.5", "1e-1", "1e20", "1e999999999", "\"1\"",
            "184467440737095516150",
        ] {
            #expect(throws: JSONError.self, "\(bad)") { try readInt64(bad) }
        }
        for bad in ["18446744073709551616", "-1", "0.5"] {
            #expect(throws: JSONError.self, "\(bad)") { try readUInt64(bad) }
        }
        do {
            _ = try readInt64("1.25")
            Issue.record("1.25 read as an integer")
        } catch {
            #expect(error.reason == "1.25 is not an integer")
        }
    }

    @Test func testNumbersOfNoDeclaredTypeKeepIntegersExact() throws {
        func value(_ text: String) throws(JSONError) -> JSONNumberValue {
            try read(text) { r throws(JSONError) in try r.readNumberValue() }
        }
        #expect(try value("7") == .int64(7))
        #expect(try value("-9223372036854775808") == .int64(.min))
        #expect(try value("18446744073709551615") == .uint64(.max))
        #expect(try value("1.0") == .double(1))
        #expect(try value("1e2") == .double(100))
        #expect(try value("18446744073709551616") == .double(18446744073709551616))
    }

    @Test func testNumberRunsFlattenNestedArraysInRowMajorOrder() throws {
        var values: [Float] = []
        try read("[[1, 2, [3]], [], [[4.5]]]") { r throws(JSONError) in try r.readFloats(into: &values, flattening: true) }
        #expect(values == [1, 2, 3, 4.5])
        var flat: [Float] = []
        #expect(throws: JSONError.self) {
            try read("[[1]]") { r throws(JSONError) in try r.readFloats(into: &flat) }
        }
        #expect(throws: JSONError.self) {
            try read("[1, null]") { r throws(JSONError) in try r.readFloats(into: &flat) }
        }
        var integers: [Int64] = []
        try read(#"[1, "2", -3]"#) { r throws(JSONError) in
            try r.readArrayLeaves(flattening: false) { r throws(JSONError) in integers.append(try r.readInt64(options: .quoted)) }
        }
        #expect(integers == [1, 2, -3])
        var unsigned: [UInt64] = []
        #expect(throws: JSONError.self) {
            try read("[1, -3]") { r throws(JSONError) in
                try r.readArrayLeaves(flattening: false) { r throws(JSONError) in unsigned.append(try r.readUInt64()) }
            }
        }
        var doubles: [Double] = []
        try read(#"[1, "NaN", 2.5]"#) { r throws(JSONError) in try r.readDoubles(into: &doubles, options: .nonFiniteStrings) }
        #expect(doubles.count == 3 && doubles[1].isNaN && doubles[2] == 2.5)
        // Depth applies inside a run too.
        var deep: [Float] = []
        #expect(throws: JSONError.self) {
            try read(String(repeating: "[", count: 70) + String(repeating: "]", count: 70)) { r throws(JSONError) in
                try r.readFloats(into: &deep, flattening: true)
            }
        }
    }
}
