// ai.onnx.ml LabelEncoder compiled at load: a lookup from each key to its position in the value list, and the
// values (with the default after them) laid out in the output's element type. Semantics in docs/engine.md
// ("LabelEncoder").

/// A validated, immutable key → value mapping; shared by every execution context of a model.
final class LabelTable: Sendable {
    /// How an input element finds its position (0..<count, or `count` for the default).
    enum Keys: Sendable {
        /// int64 keys.
        case int64([Int64: Int32])
        /// float keys: equal values match (0 and −0 alike); a NaN key matches every NaN (`nan`).
        case float([Float: Int32], nan: Int32?)
        /// A string input: its buffer holds indices into its label table, each resolved here at load.
        case tableIndex([Int32])
    }

    /// The output elements by position, the default last.
    enum Values: Sendable {
        case int64([Int64])
        case float([Float])
        /// String outputs hold the position itself: the output's label table is the values and the default.
        case tableIndex
    }

    let keys: Keys
    let values: Values
    /// The position of the default (the number of values).
    let defaultPosition: Int32

    init(keys: Keys, values: Values, defaultPosition: Int32) {
        self.keys = keys
        self.values = values
        self.defaultPosition = defaultPosition
    }

    /// Maps `count` elements of `input` into `output` (8-byte elements, or floats for float values).
    func run(input: UnsafeRawPointer, output: UnsafeMutableRawPointer, count: Int) {
        for i in 0..<count {
            let position = self.position(input, i)
            switch values {
            case .int64(let table): output.assumingMemoryBound(to: Int64.self)[i] = table[Int(position)]
            case .float(let table): output.assumingMemoryBound(to: Float.self)[i] = table[Int(position)]
            case .tableIndex: output.assumingMemoryBound(to: Int64.self)[i] = Int64(position)
            }
        }
    }

    @inline(__always)
    private func position(_ input: UnsafeRawPointer, _ i: Int) -> Int32 {
        switch keys {
        case .int64(let map):
            return map[input.assumingMemoryBound(to: Int64.self)[i]] ?? defaultPosition
        case .float(let map, let nan):
            let value = input.assumingMemoryBound(to: Float.self)[i]
            if value.isNaN { return nan ?? defaultPosition }
            return map[value] ?? defaultPosition
        case .tableIndex(let positions):
            // The plan wrote these indices itself, from the same table; anything else reads as the default.
            let index = input.assumingMemoryBound(to: Int64.self)[i]
            return index >= 0 && index < Int64(positions.count) ? positions[Int(index)] : defaultPosition
        }
    }
}
