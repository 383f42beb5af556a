import ProtoWire
import TestSupport

/// Edge-favouring values for the codec's randomized tests, drawn from the shared seeded generator.
extension SplitMix64 {
    mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &self) < probability
    }

    mutating func bytes(count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    /// An integer biased towards the edges of its type: 0, ±1, the extremes, and values of every bit length.
    mutating func integer<T: FixedWidthInteger>(_ type: T.Type = T.self) -> T {
        switch UInt8.random(in: 0..<8, using: &self) {
        case 0: return [T.zero, 1, T.max, T.min].randomElement(using: &self) ?? 0
        case 1: return T.isSigned ? T.zero &- 1 : T.max
        case 2, 3:
            let bits = Int.random(in: 0..<T.bitWidth, using: &self)
            return T.random(in: T.min...T.max, using: &self) >> bits
        default: return T.random(in: T.min...T.max, using: &self)
        }
    }

    /// A finite float, sometimes a signed zero, a subnormal or an extreme; never NaN (NaN != NaN in `==`).
    mutating func float() -> Float {
        switch UInt8.random(in: 0..<6, using: &self) {
        case 0: return [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
            .randomElement(using: &self) ?? 0
        case 1: return Float(bitPattern: UInt32.random(in: 1..<0x0080_0000, using: &self))
        default: return Float.random(in: -1e6...1e6, using: &self)
        }
    }

    mutating func double() -> Double {
        switch UInt8.random(in: 0..<6, using: &self) {
        case 0: return [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
            .randomElement(using: &self) ?? 0
        case 1: return Double(bitPattern: UInt64.random(in: 1..<0x0010_0000_0000_0000, using: &self))
        default: return Double.random(in: -1e12...1e12, using: &self)
        }
    }

    private static let alphabet: [Character] = ["a", "z", "0", " ", "é", "ß", "日", "🎉", "👩‍👩‍👧", "\u{0}", "\n", "\u{10FFFF}"]

    mutating func string() -> String {
        String((0..<Int.random(in: 0...10, using: &self)).compactMap { _ in Self.alphabet.randomElement(using: &self) })
    }

    mutating func array<T>(maxCount: Int, _ element: (inout SplitMix64) -> T) -> [T] {
        (0..<Int.random(in: 0...maxCount, using: &self)).map { _ in element(&self) }
    }
}

extension Nested {
    static func random(using random: inout SplitMix64) -> Nested {
        Nested(
            a: random.chance(0.6) ? random.integer() : 0,
            b: random.chance(0.6) ? random.string() : "",
            c: random.array(maxCount: 4) { $0.integer() }
        )
    }
}

extension AllTypes {
    /// A message with a random subset of fields set, edge values favoured. No NaN, so `==` is meaningful.
    static func random(using random: inout SplitMix64) -> AllTypes {
        var message = AllTypes()
        let set = { (random: inout SplitMix64) in random.chance(0.6) }
        if set(&random) { message.fInt32 = random.integer() }
        if set(&random) { message.fInt64 = random.integer() }
        if set(&random) { message.fUInt32 = random.integer() }
        if set(&random) { message.fUInt64 = random.integer() }
        if set(&random) { message.fSInt32 = random.integer() }
        if set(&random) { message.fSInt64 = random.integer() }
        if set(&random) { message.fFixed32 = random.integer() }
        if set(&random) { message.fFixed64 = random.integer() }
        if set(&random) { message.fSFixed32 = random.integer() }
        if set(&random) { message.fSFixed64 = random.integer() }
        if set(&random) { message.fFloat = random.float() }
        if set(&random) { message.fDouble = random.double() }
        if set(&random) { message.fBool = random.chance(0.5) }
        if set(&random) { message.fString = random.string() }
        if set(&random) { message.fBytes = random.bytes(count: Int.random(in: 0...300, using: &random)) }
        if set(&random) { message.fEnum = random.integer() }

        message.rInt32 = random.array(maxCount: 5) { $0.integer() }
        message.rInt64 = random.array(maxCount: 5) { $0.integer() }
        message.rUInt32 = random.array(maxCount: 5) { $0.integer() }
        message.rUInt64 = random.array(maxCount: 5) { $0.integer() }
        message.rSInt32 = random.array(maxCount: 5) { $0.integer() }
        message.rSInt64 = random.array(maxCount: 5) { $0.integer() }
        message.rFixed32 = random.array(maxCount: 5) { $0.integer() }
        message.rFixed64 = random.array(maxCount: 5) { $0.integer() }
        message.rSFixed32 = random.array(maxCount: 5) { $0.integer() }
        message.rSFixed64 = random.array(maxCount: 5) { $0.integer() }
        message.rFloat = random.array(maxCount: random.chance(0.05) ? 5000 : 5) { $0.float() }
        message.rDouble = random.array(maxCount: 5) { $0.double() }
        message.rBool = random.array(maxCount: 5) { $0.chance(0.5) }
        message.rString = random.array(maxCount: 3) { $0.string() }
        message.rBytes = random.array(maxCount: 3) { $0.bytes(count: Int.random(in: 0...5, using: &$0)) }
        message.rEnum = random.array(maxCount: 5) { $0.integer() }

        message.uInt32 = random.array(maxCount: 3) { $0.integer() }
        message.uInt64 = random.array(maxCount: 3) { $0.integer() }
        message.uUInt32 = random.array(maxCount: 3) { $0.integer() }
        message.uUInt64 = random.array(maxCount: 3) { $0.integer() }
        message.uSInt32 = random.array(maxCount: 3) { $0.integer() }
        message.uSInt64 = random.array(maxCount: 3) { $0.integer() }
        message.uFixed32 = random.array(maxCount: 3) { $0.integer() }
        message.uFixed64 = random.array(maxCount: 3) { $0.integer() }
        message.uSFixed32 = random.array(maxCount: 3) { $0.integer() }
        message.uSFixed64 = random.array(maxCount: 3) { $0.integer() }
        message.uFloat = random.array(maxCount: 3) { $0.float() }
        message.uDouble = random.array(maxCount: 3) { $0.double() }
        message.uBool = random.array(maxCount: 3) { $0.chance(0.5) }
        message.uEnum = random.array(maxCount: 3) { $0.integer() }

        if set(&random) { message.nested = .random(using: &random) }
        message.rNested = random.array(maxCount: 3) { .random(using: &$0) }
        for _ in 0..<Int.random(in: 0...3, using: &random) {
            message.mapStringInt32[random.string()] = random.integer()
        }
        for _ in 0..<Int.random(in: 0...3, using: &random) {
            message.mapInt32Nested[random.integer()] = .random(using: &random)
        }
        switch UInt8.random(in: 0..<4, using: &random) {
        case 1: message.choice = .string(random.string())
        case 2: message.choice = .int64(random.integer())
        case 3: message.choice = .nested(.random(using: &random))
        default: break
        }
        if set(&random) { message.optInt32 = random.integer() }
        if random.chance(0.2) { message.fMaxField = random.integer() }
        return message
    }
}
