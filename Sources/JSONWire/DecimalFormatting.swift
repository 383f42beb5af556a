// Sources/JSONWire/DecimalFormatting.swift: shortest round-trip decimals, spelled as Python's repr spells them.

internal import Glibc

/// Shortest round-trip decimal text for doubles and floats, spelled as Python's `repr` (and so `json.dumps`) spells a
/// float: fixed notation while the decimal point sits within 16 digits of the first digit and no more than three
/// zeros follow it (`0.0001`, `1234567890123456.0`, always with a fraction), exponent notation otherwise (`1e-05`,
/// `1.5e+16`, at least two exponent digits). Stateless.
///
/// A double's digits are the standard library's shortest round-trip digits (`description`), which are Python's.
/// A float's digits are chosen as protobuf's Python `json_format` chooses them (`ToShortestFloat`): the first
/// precision p from 6 to 9 whose correctly rounded p-digit decimal, read as a double and then narrowed to a float,
/// gives the float back. That is the shortest form for most floats, but not for subnormals (six digits at least)
/// nor for some powers of two and floats exactly halfway between two candidates; following the procedure itself
/// makes every float print as Python prints it. Each p-digit candidate is computed in double precision (a scaling
/// by powers of ten, three roundings at most, far below the 1e-5 margin kept from a rounding tie); a candidate
/// within that margin of a tie is formatted by the C library instead (`%.*e`, exact).
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
        var text = value.magnitude.description
        render(text.withUTF8 { digits(of: $0) }, negative: value < 0, to: &bytes)
    }

    static func append(_ value: Float, to bytes: inout [UInt8]) {
        if value == 0 {
            bytes.append(contentsOf: value.sign == .minus ? minusZero : zero)
            return
        }
        render(pythonFloatDigits(value.magnitude), negative: value < 0, to: &bytes)
    }

    private static let zero: [UInt8] = Array("0.0".utf8)
    private static let minusZero: [UInt8] = Array("-0.0".utf8)

    /// Powers of ten exactly representable as doubles (inline storage: no lazy global on the hot path).
    private static let powersOfTen: InlineArray<23, Double> = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ]

    /// `value × 10^exponent` in correctly rounded steps of at most 10^22 (three for any float's scale).
    private static func scaled(_ value: Double, byPowerOfTen exponent: Int) -> Double {
        var result = value
        var rest = exponent
        while rest > 22 {
            result *= 1e22
            rest -= 22
        }
        while rest < -22 {
            result /= 1e22
            rest += 22
        }
        return rest >= 0 ? result * powersOfTen[rest] : result / powersOfTen[-rest]
    }

    /// protobuf's `ToShortestFloat` for a positive finite float (see the type's comment).
    static func pythonFloatDigits(_ value: Float) -> Digits {
        let wide = Double(value)
        // The decimal exponent of the leading digit, from the binary one; corrected below.
        var leading = Int((Double(value.exponent) * 0.30102999566398120).rounded(.down))
        for precision in 6...9 {
            var candidate: Double
            var attempts = 0
            repeat {
                candidate = scaled(wide, byPowerOfTen: precision - 1 - leading)
                attempts += 1
                if candidate >= powersOfTen[precision] {
                    leading += 1
                } else if candidate < powersOfTen[precision - 1] {
                    leading -= 1
                } else {
                    break
                }
            } while attempts < 4
            let fraction = candidate - candidate.rounded(.down)
            guard abs(fraction - 0.5) > 1e-5, attempts < 4 else { return exactPythonFloatDigits(value) }
            var significand = UInt64(candidate.rounded(.toNearestOrEven))
            var exponent = leading - precision + 1
            if significand == UInt64(powersOfTen[precision]) {
                // 9999999.6 rounds to 10000000: the same p digits, one decade up.
                significand /= 10
                exponent += 1
            }
            if readsBack(significand, exponent, as: value) {
                return Digits(stripping: significand, pointPosition: exponent + precision)
            }
        }
        return exactPythonFloatDigits(value)
    }

    /// Python's test: the decimal `significand × 10^exponent` read as a double (correctly rounded), then narrowed to a
    /// float, is `value`.
    private static func readsBack(_ significand: UInt64, _ exponent: Int, as value: Float) -> Bool {
        let wide: Double
        if exponent >= 0, exponent <= 22 {
            wide = Double(significand) * powersOfTen[exponent]
        } else if exponent < 0, -exponent <= 22 {
            wide = Double(significand) / powersOfTen[-exponent]
        } else {
            wide = Double("\(significand)e\(exponent)") ?? .nan
        }
        return Float(wide) == value
    }

    /// The same procedure with the C library's exact `%.*e` formatting, for the rare candidate near a tie.
    static func exactPythonFloatDigits(_ value: Float) -> Digits {
        var text = ""
        for precision in 6...9 {
            text = formatted(Double(value), significantDigits: precision)
            if let parsed = Double(text), Float(parsed) == value { break }
        }
        return text.withUTF8 { digits(of: $0) }
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

    /// Reads the digits and decimal point out of a positive finite value's text (`123.5`, `0.0001`, `1.2345e-05`,
    /// `1e+16`).
    static func digits(of text: UnsafeBufferPointer<UInt8>) -> Digits {
        var value: UInt64 = 0
        var count = 0
        var integerDigits = 0
        var leadingFractionZeros = 0
        var inFraction = false
        var exponent = 0
        var exponentNegative = false
        var inExponent = false
        for byte in text {
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
        let pointPosition = integerDigits - leadingFractionZeros + (exponentNegative ? -exponent : exponent)
        return Digits(stripping: value, pointPosition: pointPosition)
    }

    /// Python's layout (`float_repr_style = 'short'`, `repr`), built on the stack and appended at once.
    static func render(_ digits: Digits, negative: Bool, to bytes: inout [UInt8]) {
        var text = NumberText()
        if negative { text.append(UInt8(ascii: "-")) }
        let point = digits.pointPosition
        let count = digits.count
        if point <= -4 || point > 16 {
            let rest = count - 1
            text.appendDigits(digits.value / powersOfTenInteger[rest], count: 1)
            if rest > 0 {
                text.append(UInt8(ascii: "."))
                text.appendDigits(digits.value % powersOfTenInteger[rest], count: rest)
            }
            let exponent = point - 1
            text.append(UInt8(ascii: "e"))
            text.append(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            text.appendDigits(UInt64(exponent.magnitude), count: exponent.magnitude < 100 ? 2 : 3)
        } else if point <= 0 {
            text.append(UInt8(ascii: "0"))
            text.append(UInt8(ascii: "."))
            for _ in 0..<(-point) { text.append(UInt8(ascii: "0")) }
            text.appendDigits(digits.value, count: count)
        } else if point >= count {
            text.appendDigits(digits.value, count: count)
            for _ in 0..<(point - count) { text.append(UInt8(ascii: "0")) }
            text.append(UInt8(ascii: "."))
            text.append(UInt8(ascii: "0"))
        } else {
            let fraction = count - point
            text.appendDigits(digits.value / powersOfTenInteger[fraction], count: point)
            text.append(UInt8(ascii: "."))
            text.appendDigits(digits.value % powersOfTenInteger[fraction], count: fraction)
        }
        text.write(to: &bytes)
    }

    /// The decimal digits of `value`.
    static func appendDigits(_ value: UInt64, to bytes: inout [UInt8]) {
        var text = NumberText()
        text.appendDigits(value, count: decimalDigitCount(value))
        text.write(to: &bytes)
    }

    /// 10^0 … 10^19 (inline storage: no lazy global on the hot path).
    static let powersOfTenInteger: InlineArray<20, UInt64> = [
        1, 10, 100, 1000, 10000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000,
        100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
        10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000, 10_000_000_000_000_000_000,
    ]

    static func decimalDigitCount(_ value: UInt64) -> Int {
        var count = 1
        while count < 20, value >= powersOfTenInteger[count] { count += 1 }
        return count
    }
}

/// Up to 48 bytes of a number's text, on the stack, appended to a document in one copy.
struct NumberText {
    private var storage = InlineArray<48, UInt8>(repeating: 0)
    private var count = 0

    mutating func append(_ byte: UInt8) {
        storage[count] = byte
        count += 1
    }

    /// `value`'s last `digits` decimal digits, zero-padded on the left.
    mutating func appendDigits(_ value: UInt64, count digits: Int) {
        var rest = value
        var index = count + digits - 1
        while index >= count {
            storage[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            index -= 1
        }
        count += digits
    }

    func write(to bytes: inout [UInt8]) {
        storage.span.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<count])) }
    }
}

extension DecimalFormatting.Digits {
    /// `value` without its trailing zeros.
    init(stripping value: UInt64, pointPosition: Int) {
        var value = value
        while value >= 10, value % 10 == 0 { value /= 10 }
        self.init(value: value, count: DecimalFormatting.decimalDigitCount(value), pointPosition: pointPosition)
    }
}
