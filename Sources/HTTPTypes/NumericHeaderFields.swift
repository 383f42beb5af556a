// Sources/HTTPTypes/NumericHeaderFields.swift: header fields whose values are numbers, carried as numbers.

/// The names of a `NumericHeaderFields`, chosen once (a server's per-response counters) and shared by every response
/// that carries them: at most `NumericHeaderFields.capacity`, each a lowercase HTTP/2 field name, with its names'
/// bytes kept contiguous for the HTTP/2 layer to point at. Immutable.
public final class NumericHeaderNames: Sendable, Hashable {
    /// The names, in wire order.
    public let names: [String]
    /// Per name: false for a value that differs on nearly every response (a timing), which HPACK then never indexes
    /// (`HeaderField.isIndexable`).
    public let indexable: [Bool]
    /// Where each name starts in `fixedBytes`: name `i` is `fixedBytes[offsets[i] ..< offsets[i + 1]]`.
    public let offsets: [Int]
    /// Every name's UTF-8, back to back, at an address fixed for the object's life (allocated in `init`, freed in
    /// `deinit`), which the HTTP/2 layer hands nghttp2 to read later without a copy (an array's storage may only be
    /// pointed at inside `withUnsafeBufferPointer`). `nonisolated(unsafe)`: written only by `init`; afterwards any
    /// thread only reads it.
    nonisolated(unsafe) public let fixedBytes: UnsafePointer<UInt8>

    /// Nil when there are more than `NumericHeaderFields.capacity` names, or a name is empty or has a byte outside
    /// lowercase `[0-9a-z_.-]` (the characters a gRPC metadata key may use).
    public init?(_ fields: [(name: String, isIndexable: Bool)]) {
        guard fields.count <= NumericHeaderFields.capacity else { return nil }
        var bytes: [UInt8] = []
        var offsets = [0]
        for field in fields {
            let utf8 = Array(field.name.utf8)
            guard !utf8.isEmpty, utf8.allSatisfy(HeaderField.isLowercaseKeyByte) else { return nil }
            bytes += utf8
            offsets.append(bytes.count)
        }
        names = fields.map(\.name)
        indexable = fields.map(\.isIndexable)
        self.offsets = offsets
        let fixed = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
        fixed.initialize(repeating: 0, count: max(1, bytes.count))
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { fixed.update(from: base, count: source.count) }
        }
        fixedBytes = UnsafePointer(fixed)
    }

    deinit {
        UnsafeMutablePointer(mutating: fixedBytes).deallocate()
    }

    public var count: Int { names.count }

    public static func == (lhs: NumericHeaderNames, rhs: NumericHeaderNames) -> Bool {
        lhs === rhs || (lhs.names == rhs.names && lhs.indexable == rhs.indexable)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(names)
        hasher.combine(indexable)
    }
}

/// Header fields whose values are unsigned decimal numbers, under names fixed in advance: the numbers travel as
/// numbers and are spelt out only when the HTTP/2 layer lays the header block out, so a response carrying them makes
/// no string, metadata entry or array per field (docs/performance.md, "Batch facts as numbers"). A value type of
/// fixed size: up to `capacity` values, stored inline.
public struct NumericHeaderFields: Sendable, Hashable {
    /// The most fields one value carries.
    public static let capacity = 4
    /// The longest decimal a value spells (`UInt64.max` has 20 digits).
    public static let maxDigits = 20

    public let names: NumericHeaderNames
    private var value0: UInt64
    private var value1: UInt64
    private var value2: UInt64
    private var value3: UInt64

    /// The values in the order of `names`; values past `names.count` are ignored.
    public init(_ names: NumericHeaderNames, _ value0: UInt64, _ value1: UInt64 = 0, _ value2: UInt64 = 0,
                _ value3: UInt64 = 0) {
        self.names = names
        self.value0 = value0
        self.value1 = value1
        self.value2 = value2
        self.value3 = value3
    }

    public var count: Int { names.count }

    /// The value of field `index` (0 ..< count).
    public func value(at index: Int) -> UInt64 {
        switch index {
        case 0: value0
        case 1: value1
        case 2: value2
        default: value3
        }
    }

    /// The same fields as `HeaderField`s (for a header list that is built as strings anyway).
    public var headerFields: [HeaderField] {
        (0..<count).map { index in
            HeaderField(names.names[index], String(value(at: index)), isIndexable: names.indexable[index])
        }
    }

    /// Writes `value(at: index)` in decimal at `destination` (room for `maxDigits` bytes); returns the digit count.
    public func writeDecimal(at index: Int, to destination: UnsafeMutablePointer<UInt8>) -> Int {
        let value = value(at: index)
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits &+= 1
        }
        var remaining = value
        var position = digits
        repeat {
            position &-= 1
            destination[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
            remaining /= 10
        } while position > 0
        return digits
    }
}
