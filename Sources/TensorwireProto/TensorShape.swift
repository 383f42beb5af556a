/// The dimensions of a `TensorwireV1.Tensor` (its `shape`, `repeated int64` on the wire). It owns up to four
/// dimensions inline, so a decoded request's shape (most are `[batch, features]`) needs no allocation of its own;
/// a longer shape is held in an array.
///
/// Otherwise it behaves as an `[Int64]`: an array literal makes one, it is a random-access, mutable and
/// range-replaceable collection, and two shapes are equal when their dimensions are.
public struct TensorShape: Sendable, Hashable {
    /// How many dimensions are held inline.
    @usableFromInline static let inlineCapacity = 4

    // Canonical form, which the synthesised `==` and `hash(into:)` rely on: with `count` <= 4 the dimensions are
    // `d0`... in order, the unused ones 0, and `spilled` is empty; above 4, `d0`...`d3` are 0 and `spilled` holds
    // every dimension.
    @usableFromInline var storedCount: Int
    @usableFromInline var d0: Int64
    @usableFromInline var d1: Int64
    @usableFromInline var d2: Int64
    @usableFromInline var d3: Int64
    @usableFromInline var spilled: [Int64]

    /// A shape with no dimensions (a scalar).
    @inlinable
    public init() {
        storedCount = 0
        d0 = 0
        d1 = 0
        d2 = 0
        d3 = 0
        spilled = []
    }

    /// A shape with the dimensions of `dimensions`, in order.
    @inlinable
    public init<S: Sequence>(_ dimensions: S) where S.Element == Int64 {
        self.init()
        reserveCapacity(dimensions.underestimatedCount)
        for dimension in dimensions { append(dimension) }
    }

    /// Appends a dimension; the fifth moves all of them into an array.
    @inlinable
    public mutating func append(_ dimension: Int64) {
        switch count {
        case 0: d0 = dimension
        case 1: d1 = dimension
        case 2: d2 = dimension
        case 3: d3 = dimension
        case Self.inlineCapacity:
            // Into the capacity `reserveCapacity` set aside, if any.
            if spilled.capacity <= Self.inlineCapacity { spilled.reserveCapacity(2 * Self.inlineCapacity) }
            spilled.append(d0)
            spilled.append(d1)
            spilled.append(d2)
            spilled.append(d3)
            spilled.append(dimension)
            d0 = 0
            d1 = 0
            d2 = 0
            d3 = 0
        default:
            spilled.append(dimension)
        }
        storedCount += 1
    }

    /// Calls `body` with the dimensions as contiguous memory (a stack copy of the inline ones).
    @inlinable @inline(__always)
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Int64>) throws -> R) rethrows -> R {
        if count > Self.inlineCapacity {
            return try spilled.withUnsafeBufferPointer(body)
        }
        var dimensions = (d0, d1, d2, d3)
        let count = self.count
        // A homogeneous tuple is laid out as its elements in order, so it may be viewed as a buffer of them.
        return try withUnsafeMutablePointer(to: &dimensions) { tuple in
            try tuple.withMemoryRebound(to: Int64.self, capacity: Self.inlineCapacity) { start in
                try body(UnsafeBufferPointer(start: start, count: count))
            }
        }
    }
}

extension TensorShape: RandomAccessCollection, MutableCollection {
    public typealias Index = Int
    public typealias Indices = Range<Int>

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { storedCount }

    /// The number of dimensions.
    @inlinable public var count: Int { storedCount }

    @inlinable
    public subscript(position: Int) -> Int64 {
        get {
            precondition(position >= 0 && position < count, "TensorShape index out of range")
            if count > Self.inlineCapacity { return spilled[position] }
            switch position {
            case 0: return d0
            case 1: return d1
            case 2: return d2
            default: return d3
            }
        }
        set {
            precondition(position >= 0 && position < count, "TensorShape index out of range")
            if count > Self.inlineCapacity {
                spilled[position] = newValue
                return
            }
            switch position {
            case 0: d0 = newValue
            case 1: d1 = newValue
            case 2: d2 = newValue
            default: d3 = newValue
            }
        }
    }

    /// A slice; assigning one of another length replaces those dimensions, as on an array (`MutableCollection`'s
    /// own setter only takes slices of the same length).
    public subscript(bounds: Range<Int>) -> Slice<TensorShape> {
        get {
            precondition(bounds.lowerBound >= 0 && bounds.upperBound <= count, "TensorShape range out of bounds")
            return Slice(base: self, bounds: bounds)
        }
        set {
            replaceSubrange(bounds, with: newValue)
        }
    }

    @inlinable
    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<Int64>) throws -> R) rethrows -> R? {
        try withUnsafeBufferPointer(body)
    }
}

extension TensorShape: RangeReplaceableCollection {
    /// Rebuilds the shape through an array: shapes are short and edited rarely (`append` has its own fast path).
    public mutating func replaceSubrange<C: Collection>(_ subrange: Range<Int>, with newElements: C)
    where C.Element == Int64 {
        var dimensions = Array(self)
        dimensions.replaceSubrange(subrange, with: newElements)
        self = TensorShape(dimensions)
    }

    /// Reserves room for `n` dimensions: nothing up to four; above, the array they will spill into (an empty
    /// array's capacity plays no part in `==` or `hash(into:)`).
    @inlinable
    public mutating func reserveCapacity(_ n: Int) {
        if n > Self.inlineCapacity { spilled.reserveCapacity(n) }
    }
}

extension TensorShape: ExpressibleByArrayLiteral {
    @inlinable
    public init(arrayLiteral dimensions: Int64...) {
        self.init(dimensions)
    }
}

extension TensorShape: CustomStringConvertible {
    /// As an array prints: `[1, 64]`.
    public var description: String { Array(self).description }
}
