// Sources/JSONWire/DecimalFormatting.swift: shortest round-trip decimals, spelled as Python's repr spells them.

internal import Glibc

/// Shortest round-trip decimal text for doubles and floats, spelled as Python's `repr` (and so `json.dumps`) spells a
/// float: fixed notation while the decimal point sits within 16 digits of the first digit and no more than three
/// zeros follow it (`0.0001`, `1234567890123456.0`, always with a fraction), exponent notation otherwise (`1e-05`,
/// `1.5e+16`, at least two exponent digits). Stateless.
///
/// The digits are the standard library's shortest round-trip digits (`description`). For a float, protobuf's Python
/// `json_format` picks digits its own way (`ToShortestFloat`: the first of `%.6g`, `%.7g`, `%.8g`, `%.9g` that reads
/// back as the same float): that is the same answer as the shortest digits for every normal float except where the
/// rounding interval is lopsided (powers of two) or the float lies exactly halfway between two candidates, and it
/// differs for subnormals (at least six digits). Those floats, when their shortest form has seven digits or more (or
/// they are subnormal), are printed by that procedure itself with `snprintf`, so float fields print byte for byte as
/// Python prints them.
enum DecimalFormatting {
    /// Significant digits (as an integer, no trailing zeros), how many, and where the decimal point goes: the value
    /// is 0.DIGITS × 10^pointPosition.
    struct Digits {
        var value: UInt64
        var count: Int
        var pointPosition: Int
    }

    static func append(_ value: Double, to bytes: inout [UInt8]) {
        if value == 0 {
            bytes.append(contentsOf: value.sign == .minus ? minusZero : zero)
            return
        }
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        render(digits(of: value.magnitude.description), to: &bytes)
    }

    static func append(_ value: Float, to bytes: inout [UInt8]) {
        if value == 0 {
            bytes.append(contentsOf: value.sign == .minus ? minusZero : zero)
            return
        }
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var shortest = digits(of: value.magnitude.description)
        if value.isSubnormal || (shortest.count >= 7 && mayDifferFromPython(value.magnitude)) {
            shortest = pythonShortestFloatDigits(value.magnitude) ?? shortest
        }
        render(shortest, to: &bytes)
    }

    private static let zero: [UInt8] = Array("0.0".utf8)
    private static let minusZero: [UInt8] = Array("-0.0".utf8)

    /// Reads the digits and decimal point out of the standard library's text for a positive finite value
    /// (`123.5`, `0.0001`, `1.2345e-05`, `1e+16`).
    static func digits(of text: String) -> Digits {
        var value: UInt64 = 0
        var count = 0
        var integerDigits = 0
        var leadingFractionZeros = 0
        var inFraction = false
        var exponent = 0
        var exponentNegative = false
        var inExponent = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = UInt64(byte - UInt8(ascii: "0"))
                if inExponent {
                    exponent = exponent * 10 + Int(digit)
                } else if count == 0, digit == 0 {
                    if inFraction { leadingFractionZeros += 1 }
                } else {
                    // At most 17 significant digits: the value stays below 10^17.
                    value = value * 10 + digit
                    count += 1
                    if !inFraction { integerDigits += 1 }
                }
            case UInt8(ascii: "."):
                inFraction = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                inExponent = true
            case UInt8(ascii: "-"):
                exponentNegative = inExponent
            default:
                break
            }
        }
        while count > 1, value % 10 == 0 {
            value /= 10
            count -= 1
        }
        let pointPosition = integerDigits - leadingFractionZeros + (exponentNegative ? -exponent : exponent)
        return Digits(value: value, count: count, pointPosition: pointPosition)
    }

    /// Python's layout (`float_repr_style = 'short'`, `repr`).
    static func render(_ digits: Digits, to bytes: inout [UInt8]) {
        let point = digits.pointPosition
        let start = bytes.count
        appendDigits(digits.value, count: digits.count, to: &bytes)
        if point <= -4 || point > 16 {
            if digits.count > 1 { bytes.insert(UInt8(ascii: "."), at: start + 1) }
            let exponent = point - 1
            bytes.append(UInt8(ascii: "e"))
            bytes.append(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            if exponent.magnitude < 10 { bytes.append(UInt8(ascii: "0")) }
            appendDigits(UInt64(exponent.magnitude), count: nil, to: &bytes)
        } else if point <= 0 {
            bytes.insert(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: ".")] + [UInt8](repeating: UInt8(ascii: "0"), count: -point), at: start)
        } else if point >= digits.count {
            bytes.append(contentsOf: [UInt8](repeating: UInt8(ascii: "0"), count: point - digits.count))
            bytes.append(contentsOf: [UInt8(ascii: "."), UInt8(ascii: "0")])
        } else {
            bytes.insert(UInt8(ascii: "."), at: start + point)
        }
    }

    /// The decimal digits of `value` (exactly `count` of them when given).
    private static func appendDigits(_ value: UInt64, count: Int?, to bytes: inout [UInt8]) {
        let start = bytes.count
        var rest = value
        var written = 0
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
            written += 1
        } while rest > 0 || written < (count ?? 0)
        bytes[start...].reverse()
    }

    /// True for the normal floats whose shortest digits may not be the ones `ToShortestFloat` picks: powers of two
    /// (the interval of decimals that round to them is wider above than below), and floats whose exact decimal
    /// expansion has at most ten significant digits (one of them can sit exactly halfway between two candidates of
    /// seven to nine digits). A float m × 2^e with m odd has an exact expansion of the digits of m × 5^-e when e < 0;
    /// for e ≥ 0 it is an integer, whose last digit cannot be a halfway 5 at seven digits or more.
    static func mayDifferFromPython(_ value: Float) -> Bool {
        if value.significandBitPattern == 0 { return true }
        var significand = UInt64(value.significandBitPattern) | (1 << 23)
        var exponent = Int(value.exponent) - 23
        while significand & 1 == 0 {
            significand >>= 1
            exponent += 1
        }
        guard exponent < 0, -exponent <= 14 else { return false }
        var expansion = significand
        for _ in 0..<(-exponent) { expansion *= 5 }
        return expansion < 10_000_000_000
    }

    /// Protobuf's `ToShortestFloat`: the first precision from 6 to 9 whose correctly rounded `%.Ng` text reads back
    /// as `value`.
    static func pythonShortestFloatDigits(_ value: Float) -> Digits? {
        for precision in 6...9 {
            let text = formatted(Double(value), significantDigits: precision)
            if let parsed = Double(text), Float(parsed) == value {
                return digits(of: text)
            }
        }
        return nil
    }

    /// `%.{p-1}e` of `value`: exactly `p` significant digits, correctly rounded by the C library.
    private static func formatted(_ value: Double, significantDigits: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 48)
        let length = withVaList([Int32(significantDigits - 1), value]) { arguments in
            buffer.withUnsafeMutableBufferPointer { pointer in
                vsnprintf(pointer.baseAddress, pointer.count, "%.*e", arguments)
            }
        }
        let used = buffer.prefix(max(0, min(Int(length), buffer.count - 1)))
        return String(decoding: used.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
