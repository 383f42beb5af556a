// Sources/JSONWire/JSONReader+Numbers.swift: JSON numbers (RFC 8259 §6) to Double, Float and exact integers.

/// What a number read accepts besides a plain JSON number.
public struct JSONNumberOptions: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// A number inside a string (`"1.5"`, `"-7"`): proto3 JSON accepts both forms. The string must hold exactly a
    /// JSON number, with no whitespace.
    public static let quoted = JSONNumberOptions(rawValue: 1)
    /// The strings `"NaN"`, `"Infinity"` and `"-Infinity"` for floating-point values (proto3 JSON's spelling;
    /// JSON itself has no literal for them).
    public static let nonFiniteStrings = JSONNumberOptions(rawValue: 2)
}

/// A number read without a declared type (a Triton parameter, say): an integer when the text has no fraction or
/// exponent and fits 64 bits, otherwise a double.
public enum JSONNumberValue: Equatable, Sendable {
    case int64(Int64)
    /// A non-negative integer above `Int64.max`.
    case uint64(UInt64)
    case double(Double)
}

/// A number token as scanned: where it is, its sign, and its first 19 significant digits with the decimal
/// exponent that applies to them.
struct ScannedNumber {
    var start: Int
    var end: Int
    var negative: Bool
    /// The first 19 significant digits (fewer when the number has fewer).
    var significand: UInt64
    /// The value is `significand × 10^exponent` unless `truncated`; clamped far beyond any double's range.
    var exponent: Int
    /// A non-zero digit after the 19th significant one was dropped, so the value is not exactly
    /// `significand × 10^exponent`.
    var truncated: Bool
    /// No fraction and no exponent in the text.
    var isIntegerLiteral: Bool
}

/// Powers of ten exactly representable as doubles (10^22 < 2^53 · 2^22 with 5^22 < 2^53).
private let exactDoublePowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
    1e20, 1e21, 1e22,
]

/// Powers of ten exactly representable as floats (5^10 < 2^24).
private let exactFloatPowersOfTen: [Float] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]

/// 10^0 … 10^19 as integers.
private let integerPowersOfTen: [UInt64] = (0...19).reduce(into: []) { powers, exponent in
    powers.append(exponent == 0 ? 1 : powers[exponent - 1] * 10)
}

extension JSONReader {
    // MARK: Scanning

    @inline(__always)
    static func digit(_ byte: UInt8) -> UInt64? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? UInt64(byte - UInt8(ascii: "0")) : nil
    }

    /// Scans the number at the current position (after whitespace), checking the RFC 8259 grammar.
    mutating func scanNumber() throws(JSONError) -> ScannedNumber {
        skipWhitespace()
        let start = index
        let outcome = bytes.withUnsafeBufferPointer { Self.scanNumber(in: $0, at: start) }
        switch outcome {
        case .number(let number):
            index = number.end
            return number
        case .unexpected(let at):
            index = at
            guard at < bytes.count else { throw error("unexpected end of input (expected a number)") }
            throw unexpectedCharacter(bytes[at], expecting: "a number")
        case .malformed(let reason):
            throw error(reason, at: start)
        }
    }

    /// What scanning a number found.
    enum ScanOutcome {
        case number(ScannedNumber)
        /// No digit where one must start the number (at this offset, possibly the end).
        case unexpected(at: Int)
        /// A number that breaks the grammar, and how.
        case malformed(String)
    }

    /// The scan itself, over the document's bytes (every index checked against `count` before it is read), so the
    /// loop over digits runs without the array's per-access overhead.
    static func scanNumber(in bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> ScanOutcome {
        let count = bytes.count
        var cursor = start
        var negative = false
        if cursor < count, bytes[cursor] == UInt8(ascii: "-") {
            negative = true
            cursor += 1
        }
        guard cursor < count, let first = digit(bytes[cursor]) else { return .unexpected(at: cursor) }
        var significand = first
        var digits = first == 0 ? 0 : 1
        var exponent = 0
        var truncated = false
        cursor += 1
        if first == 0 {
            if cursor < count, digit(bytes[cursor]) != nil { return .malformed("leading zeros are not allowed in a number") }
        } else {
            // The first 19 significant digits go into the significand; later ones only scale it (or are lost).
            while cursor < count, digits < 19, let next = digit(bytes[cursor]) {
                significand = significand * 10 + next
                digits += 1
                cursor += 1
            }
            let dropped = cursor
            while cursor < count, let next = digit(bytes[cursor]) {
                truncated = truncated || next != 0
                cursor += 1
            }
            exponent = cursor - dropped
        }
        var isIntegerLiteral = true
        if cursor < count, bytes[cursor] == UInt8(ascii: ".") {
            isIntegerLiteral = false
            cursor += 1
            let fractionStart = cursor
            // Each fraction digit taken into the significand moves the exponent down one; leading zeros (0.001)
            // are taken too but do not count as significant digits.
            while cursor < count, digits < 19, let next = digit(bytes[cursor]) {
                significand = significand * 10 + next
                digits += significand == 0 ? 0 : 1
                cursor += 1
            }
            exponent -= cursor - fractionStart
            while cursor < count, let next = digit(bytes[cursor]) {
                truncated = truncated || next != 0
                cursor += 1
            }
            guard cursor > fractionStart else { return .malformed("bad number (digits must follow '.')") }
        }
        if cursor < count, bytes[cursor] == UInt8(ascii: "e") || bytes[cursor] == UInt8(ascii: "E") {
            isIntegerLiteral = false
            cursor += 1
            var exponentNegative = false
            if cursor < count, bytes[cursor] == UInt8(ascii: "+") || bytes[cursor] == UInt8(ascii: "-") {
                exponentNegative = bytes[cursor] == UInt8(ascii: "-")
                cursor += 1
            }
            let exponentStart = cursor
            var value = 0
            while cursor < count, let next = digit(bytes[cursor]) {
                // Clamped: 10^±1000000 is far outside every type's range, and the clamp keeps the sum from overflowing.
                if value < 1_000_000 { value = value * 10 + Int(next) }
                cursor += 1
            }
            guard cursor > exponentStart else { return .malformed("bad number (exponent without digits)") }
            exponent += exponentNegative ? -value : value
        }
        return .number(
            ScannedNumber(
                start: start, end: cursor, negative: negative, significand: significand, exponent: exponent,
                truncated: truncated, isIntegerLiteral: isIntegerLiteral))
    }

    /// The number's text for messages, shortened when long.
    func text(of number: ScannedNumber) -> String {
        let end = min(number.end, number.start + 32)
        return String(decoding: bytes[number.start..<end], as: UTF8.self) + (end < number.end ? "…" : "")
    }

    // MARK: Conversions

    /// The double nearest to the number (infinite beyond the double range).
    func double(_ number: ScannedNumber) -> Double {
        // strtod through the standard library when the fast path cannot decide: correctly rounded for any length
        // and exponent.
        Self.fastDouble(number) ?? Double(String(decoding: bytes[number.start..<number.end], as: UTF8.self)) ?? .nan
    }

    /// The float nearest to the number's exact decimal value (infinite beyond the float range), without rounding
    /// twice.
    func float(_ number: ScannedNumber) -> Float {
        // strtof through the standard library when the fast path cannot decide: decimal straight to float.
        Self.fastFloat(number) ?? Float(String(decoding: bytes[number.start..<number.end], as: UTF8.self)) ?? .nan
    }

    /// The double nearest to the number when Clinger's fast path applies (an exact significand times an exact power
    /// of ten: one correctly rounded operation), else nil.
    static func fastDouble(_ number: ScannedNumber) -> Double? {
        if number.significand == 0 { return number.negative ? -0.0 : 0.0 }
        guard !number.truncated, number.significand <= 1 << 53 else { return nil }
        let exponent = number.exponent
        var magnitude: Double?
        if exponent >= 0, exponent <= 22 {
            magnitude = Double(number.significand) * exactDoublePowersOfTen[exponent]
        } else if exponent < 0, exponent >= -22 {
            magnitude = Double(number.significand) / exactDoublePowersOfTen[-exponent]
        } else if exponent > 22, exponent <= 22 + 19 {
            // 1.5e25 and the like: move the surplus power into the significand while it stays exact.
            let (scaled, overflow) = number.significand.multipliedReportingOverflow(by: integerPowersOfTen[exponent - 22])
            if !overflow, scaled <= 1 << 53 { magnitude = Double(scaled) * 1e22 }
        }
        guard let magnitude else { return nil }
        return number.negative ? -magnitude : magnitude
    }

    /// The float nearest to the number's decimal value when a fast path can decide it, else nil.
    static func fastFloat(_ number: ScannedNumber) -> Float? {
        if number.significand == 0 { return number.negative ? -0.0 : 0.0 }
        guard !number.truncated else { return nil }
        let exponent = number.exponent
        // Clinger's fast path in single precision: both operands exact, one rounding.
        if number.significand <= 1 << 24, exponent >= -10, exponent <= 10 {
            let magnitude = exponent >= 0
                ? Float(number.significand) * exactFloatPowersOfTen[exponent]
                : Float(number.significand) / exactFloatPowersOfTen[-exponent]
            return number.negative ? -magnitude : magnitude
        }
        // Through the double fast path. Rounding the decimal v to the double d and then d to a float gives the float
        // nearest v unless d is exactly a float rounding boundary (the midpoint of two adjacent floats): every such
        // midpoint has at most 25 significant bits, so it is itself a double, and rounding is monotonic, so v and d
        // lie on the same side of every midpoint other than d itself. Only d == midpoint is ambiguous (v may lie on
        // either side): nil, and the caller asks strtof.
        guard number.significand <= 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        let wide = exponent >= 0
            ? Double(number.significand) * exactDoublePowersOfTen[exponent]
            : Double(number.significand) / exactDoublePowersOfTen[-exponent]
        let narrow = Float(wide)
        guard narrow.isFinite else { return nil }
        let other = Double(narrow) < wide ? narrow.nextUp : narrow.nextDown
        guard Double(narrow) == wide || (Double(narrow) + Double(other)) * 0.5 != wide else { return nil }
        return number.negative ? -narrow : narrow
    }

    /// Reads a run of plain numbers separated by commas (`1.5, -2, 3e-4`), converting each with `convert` (nil:
    /// not decidable fast) and appending it, all in one pass over the bytes; stops before anything else: a string,
    /// a list, a number `convert` cannot decide or finds out of range, the closing bracket. Returns whether it read
    /// at least one number; when it did, the reader is just after the last number read.
    mutating func appendNumberRun<T>(into values: inout [T], _ convert: (ScannedNumber) -> T?) -> Bool {
        let start = index
        var stop = start
        bytes.withUnsafeBufferPointer { buffer in
            var cursor = start
            while true {
                guard case .number(let number) = Self.scanNumber(in: buffer, at: cursor), let value = convert(number)
                else { return }
                values.append(value)
                stop = number.end
                // Past the comma and whitespace to the next element, which must start a number for the run to go on.
                cursor = number.end
                while cursor < buffer.count, Self.isWhitespace(buffer[cursor]) { cursor += 1 }
                guard cursor < buffer.count, buffer[cursor] == UInt8(ascii: ",") else { return }
                cursor += 1
                while cursor < buffer.count, Self.isWhitespace(buffer[cursor]) { cursor += 1 }
            }
        }
        index = stop
        return stop != start
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// The number as an exact integer: its sign and magnitude, or nil when it is not a whole number. `1e2`, `1.0`
    /// and `-0` are whole numbers; a magnitude above 2^64 - 1 is an error.
    func integer(_ number: ScannedNumber) throws(JSONError) -> (negative: Bool, magnitude: UInt64)? {
        if number.isIntegerLiteral, !number.truncated, number.exponent == 0 {
            return (number.negative, number.significand)
        }
        // The general case works on the text: all mantissa digits, of which `keep` form the integer part once the
        // exponent is applied; the rest must be zeros.
        var mantissaDigits = 0
        var fractionDigits = 0
        var exponent = 0
        var cursor = number.negative ? number.start + 1 : number.start
        var inFraction = false
        while cursor < number.end {
            let byte = bytes[cursor]
            if Self.digit(byte) != nil {
                mantissaDigits += 1
                if inFraction { fractionDigits += 1 }
            } else if byte == UInt8(ascii: ".") {
                inFraction = true
            } else {
                break
            }
            cursor += 1
        }
        if cursor < number.end {
            // The exponent, already validated; clamped as in scanNumber.
            cursor += 1
            var exponentNegative = false
            if bytes[cursor] == UInt8(ascii: "+") || bytes[cursor] == UInt8(ascii: "-") {
                exponentNegative = bytes[cursor] == UInt8(ascii: "-")
                cursor += 1
            }
            while cursor < number.end, let digit = Self.digit(bytes[cursor]) {
                if exponent < 1_000_000 { exponent = exponent * 10 + Int(digit) }
                cursor += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        let keep = mantissaDigits - fractionDigits + exponent
        var magnitude: UInt64 = 0
        var seen = 0
        cursor = number.negative ? number.start + 1 : number.start
        while seen < mantissaDigits {
            guard let digit = Self.digit(bytes[cursor]) else {
                cursor += 1
                continue
            }
            if seen < keep {
                let (shifted, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, carry) = shifted.addingReportingOverflow(digit)
                guard !overflow, !carry else { throw error("\(text(of: number)) is too large", at: number.start) }
                magnitude = sum
            } else if digit != 0 {
                return nil
            }
            seen += 1
            cursor += 1
        }
        if magnitude != 0, keep > mantissaDigits {
            guard keep - mantissaDigits <= 19 else { throw error("\(text(of: number)) is too large", at: number.start) }
            let (scaled, overflow) = magnitude.multipliedReportingOverflow(by: integerPowersOfTen[keep - mantissaDigits])
            guard !overflow else { throw error("\(text(of: number)) is too large", at: number.start) }
            magnitude = scaled
        }
        return (number.negative, magnitude)
    }

    // MARK: Quoted and special forms

    /// At a string when `options` allow one: scans a quoted number in place (the string must hold exactly a JSON
    /// number), or reads a non-finite name. Returns the number, or the non-finite value, or throws.
    private mutating func quotedNumber(
        _ options: JSONNumberOptions, what: String
    ) throws(JSONError) -> (number: ScannedNumber?, special: Double?) {
        let quote = index
        if options.contains(.quoted), quote + 1 < bytes.count,
           bytes[quote + 1] == UInt8(ascii: "-") || Self.digit(bytes[quote + 1]) != nil
        {
            index = quote + 1
            if let number = try? scanNumber(), index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                index += 1
                return (number, nil)
            }
            index = quote
        }
        let text = try readString()
        if options.contains(.nonFiniteStrings) {
            switch text {
            case "NaN": return (nil, .nan)
            case "Infinity": return (nil, .infinity)
            case "-Infinity": return (nil, -.infinity)
            default: break
            }
        }
        throw error("expected \(what), got a string", at: quote)
    }

    /// Scans the next number, or a quoted form `options` allow; `special` is set for a non-finite name.
    private mutating func nextNumber(
        _ options: JSONNumberOptions, what: String
    ) throws(JSONError) -> (number: ScannedNumber?, special: Double?) {
        let byte = try nextByte(expecting: what)
        if byte == UInt8(ascii: "\""), !options.isEmpty { return try quotedNumber(options, what: what) }
        guard byte == UInt8(ascii: "-") || Self.digit(byte) != nil else { throw unexpectedCharacter(byte, expecting: what) }
        return (try scanNumber(), nil)
    }

    // MARK: Typed reads

    /// Reads a number as the nearest double; a finite number beyond the double range is an error.
    public mutating func readDouble(options: JSONNumberOptions = []) throws(JSONError) -> Double {
        let (number, special) = try nextNumber(options, what: "a number")
        guard let number else { return special ?? .nan }
        let value = double(number)
        guard value.isFinite else { throw error("\(text(of: number)) is out of range for a double", at: number.start) }
        return value
    }

    /// Reads a number as the float nearest to its decimal value (rounded once, never through a double); a number
    /// whose nearest float is infinite is an error.
    public mutating func readFloat(options: JSONNumberOptions = []) throws(JSONError) -> Float {
        let (number, special) = try nextNumber(options, what: "a number")
        guard let number else { return Float(special ?? .nan) }
        let value = float(number)
        guard value.isFinite else { throw error("\(text(of: number)) is out of range for a float", at: number.start) }
        return value
    }

    /// Reads a whole number that fits `Int64` exactly (`1e2` and `1.0` are whole; `1.5` and `2^63` are errors).
    public mutating func readInt64(options: JSONNumberOptions = []) throws(JSONError) -> Int64 {
        let (number, _) = try nextNumber(options.subtracting(.nonFiniteStrings), what: "an integer")
        guard let number else { throw error("expected an integer") }
        guard let (negative, magnitude) = try integer(number) else {
            throw error("\(text(of: number)) is not an integer", at: number.start)
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else {
                throw error("\(text(of: number)) is out of range for int64", at: number.start)
            }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else {
            throw error("\(text(of: number)) is out of range for int64", at: number.start)
        }
        return Int64(magnitude)
    }

    /// Reads a whole number that fits `UInt64` exactly (`-0` is 0; any other negative number is an error).
    public mutating func readUInt64(options: JSONNumberOptions = []) throws(JSONError) -> UInt64 {
        let (number, _) = try nextNumber(options.subtracting(.nonFiniteStrings), what: "an integer")
        guard let number else { throw error("expected an integer") }
        guard let (negative, magnitude) = try integer(number) else {
            throw error("\(text(of: number)) is not an integer", at: number.start)
        }
        guard !negative || magnitude == 0 else {
            throw error("\(text(of: number)) is negative (expected an unsigned integer)", at: number.start)
        }
        return magnitude
    }

    /// Reads a number of no declared type: an integer literal that fits 64 bits as `.int64` (or `.uint64` above
    /// `Int64.max`), anything else as `.double`.
    public mutating func readNumberValue() throws(JSONError) -> JSONNumberValue {
        let number = try scanNumber()
        if number.isIntegerLiteral, let (negative, magnitude) = try? integer(number) {
            if !negative, magnitude > UInt64(Int64.max) { return .uint64(magnitude) }
            if magnitude <= UInt64(Int64.max) { return .int64(negative ? -Int64(magnitude) : Int64(magnitude)) }
            if magnitude == UInt64(Int64.max) + 1 { return .int64(.min) }
        }
        let value = double(number)
        guard value.isFinite else { throw error("\(text(of: number)) is out of range for a double", at: number.start) }
        return .double(value)
    }

    // MARK: Arrays of numbers (tensors)

    /// Reads an array of numbers into `values` as floats (each rounded once from its decimal value). With
    /// `flattening`, nested arrays are read in row-major order as one run of numbers (a KServe `data` field);
    /// otherwise an element that is an array is an error. Memory grows with the elements read, never with a
    /// count from the input.
    public mutating func readFloats(
        into values: inout [Float], options: JSONNumberOptions = [], flattening: Bool = false
    ) throws(JSONError) {
        try readArrayLeaves(flattening: flattening) { reader throws(JSONError) in
            // Runs of plain numbers in one tight loop; anything else (a string, a number for strtof, an error to
            // report) one element at a time.
            let fast = reader.appendNumberRun(into: &values) { number in
                Self.fastFloat(number).flatMap { $0.isFinite ? $0 : nil }
            }
            if !fast { values.append(try reader.readFloat(options: options)) }
        }
    }

    /// Reads an array of numbers into `values` as doubles (see `readFloats`).
    public mutating func readDoubles(
        into values: inout [Double], options: JSONNumberOptions = [], flattening: Bool = false
    ) throws(JSONError) {
        try readArrayLeaves(flattening: flattening) { reader throws(JSONError) in
            let fast = reader.appendNumberRun(into: &values) { number in
                Self.fastDouble(number).flatMap { $0.isFinite ? $0 : nil }
            }
            if !fast { values.append(try reader.readDouble(options: options)) }
        }
    }

    /// Calls `element` for every leaf of an array (nested arrays descended into, row-major, when `flattening`), in
    /// order; `element` reads the leaf (a number, a string, a bool). A `null` leaf is an error, as in proto3 JSON's
    /// repeated fields; so is a nested array when not `flattening`.
    public mutating func readArrayLeaves(
        flattening: Bool, _ element: (inout JSONReader) throws(JSONError) -> Void
    ) throws(JSONError) {
        try beginArray()
        if try endOfArray() { return }
        // How many arrays are open inside the outermost one (flattening only).
        var nested = 0
        while true {
            let byte = try nextByte(expecting: "a value")
            if byte == UInt8(ascii: "[") {
                guard flattening else { throw error("a list is not allowed as an element here") }
                try enterContainer()
                if try !endOfArray() {
                    nested += 1
                    continue
                }
            } else if byte == UInt8(ascii: "n") {
                throw error("null is not allowed as an element of a list")
            } else {
                try element(&self)
            }
            while true {
                if try separator(closing: UInt8(ascii: "]"), in: "a list") { break }
                depth -= 1
                if nested == 0 { return }
                nested -= 1
            }
        }
    }
}
