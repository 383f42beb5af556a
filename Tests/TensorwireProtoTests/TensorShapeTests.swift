import ProtoWire
import Testing
@testable import TensorwireProto

/// `TensorShape` holds up to four dimensions inline and spills longer shapes into an array; these tests hold it to
/// `[Int64]`'s behaviour across that boundary, and its wire form to protobuf's packed and unpacked encodings.
struct TensorShapeTests {
    /// Every length around the inline capacity, with negative and large dimensions.
    static let lengths = Array(0...9)

    static func dimensions(_ count: Int) -> [Int64] {
        (0..<count).map { index in index % 3 == 2 ? -Int64(index) : Int64(index) * 300 + 1 }
    }

    @Test(arguments: lengths)
    func behavesAsTheArrayOfItsDimensions(count: Int) {
        let expected = Self.dimensions(count)
        let shape = TensorShape(expected)
        #expect(shape.count == count)
        #expect(Array(shape) == expected)
        #expect(shape.indices == expected.indices)
        for index in expected.indices { #expect(shape[index] == expected[index]) }
        #expect(shape.description == expected.description)
        #expect(shape.withUnsafeBufferPointer { Array($0) } == expected)
        #expect(shape.isEmpty == expected.isEmpty)
    }

    /// The representation `==` and `hashValue` rely on: inline with unused slots zero and nothing spilled up to
    /// four dimensions, all spilled and the slots zero above.
    static func isCanonical(_ shape: TensorShape) -> Bool {
        let slots = [shape.d0, shape.d1, shape.d2, shape.d3]
        if shape.count > TensorShape.inlineCapacity {
            return slots == [0, 0, 0, 0] && shape.spilled.count == shape.count
        }
        return shape.spilled.isEmpty && slots[shape.count...].allSatisfy { $0 == 0 }
    }

    /// The edits `everyEditKeepsTheCanonicalForm` makes, each applied the same way to a shape and to an array.
    enum Edit: CaseIterable {
        case append, appendContents, insertFirst, insertLast, removeAllKeepingCapacity, reserve, reserveThenAppend
        case popLast, removeFirst, removeLast, shorterSlice, longerSlice, sliceRemoveAll, sort, reverse, setLast

        var needsAnElement: Bool {
            switch self {
            case .popLast, .removeFirst, .removeLast, .shorterSlice, .longerSlice, .sliceRemoveAll, .sort, .reverse,
                 .setLast: true
            default: false
            }
        }

        func apply<C: RangeReplaceableCollection & MutableCollection & RandomAccessCollection>(to values: inout C)
        where C.Element == Int64, C.Index == Int, C.SubSequence: RangeReplaceableCollection {
            switch self {
            case .append: values.append(9)
            case .appendContents: values.append(contentsOf: [1, 2, 3, 4, 5])
            case .insertFirst: values.insert(7, at: 0)
            case .insertLast: values.insert(7, at: values.endIndex)
            case .removeAllKeepingCapacity: values.removeAll(keepingCapacity: true)
            case .reserve: values.reserveCapacity(64)
            case .reserveThenAppend:
                values.reserveCapacity(64)
                values.append(contentsOf: [1, 2, 3, 4, 5])
            case .popLast: _ = values.popLast()
            case .removeFirst: values.removeFirst()
            case .removeLast: values.remove(at: values.endIndex - 1)
            case .shorterSlice: values[0..<1] = C()[...]
            case .longerSlice: values[0..<1] = C([4, 5, 6, 7, 8, 9])[...]
            case .sliceRemoveAll: values[0..<1].removeAll()
            case .sort: values.sort()
            case .reverse: values.reverse()
            case .setLast: values[values.endIndex - 1] = -5
            }
        }
    }

    /// Every way of editing a shape keeps it canonical and equal to the shape of its dimensions.
    @Test(arguments: lengths)
    func everyEditKeepsTheCanonicalForm(count: Int) {
        let dimensions = Self.dimensions(count)
        for edit in Edit.allCases where count > 0 || !edit.needsAnElement {
            var shape = TensorShape(dimensions)
            var expected = dimensions
            edit.apply(to: &shape)
            edit.apply(to: &expected)
            #expect(Array(shape) == expected, "\(edit) of \(dimensions)")
            #expect(Self.isCanonical(shape), "\(edit) of \(dimensions)")
            #expect(shape == TensorShape(expected), "\(edit) of \(dimensions)")
            #expect(shape.hashValue == TensorShape(expected).hashValue, "\(edit) of \(dimensions)")
        }
    }

    @Test(arguments: lengths)
    func equalShapesAreEqualAndHashAlikeHoweverTheyWereBuilt(count: Int) {
        let expected = Self.dimensions(count)
        let direct = TensorShape(expected)
        var appended = TensorShape()
        for dimension in expected { appended.append(dimension) }
        // Through a spilled shape and back: ten dimensions, then the extra ones removed.
        var shrunk = TensorShape(expected + Array(repeating: 7, count: 10 - count))
        shrunk.removeLast(10 - count)
        var edited = TensorShape(Array(repeating: 0, count: count))
        for index in expected.indices { edited[index] = expected[index] }
        for shape in [appended, shrunk, edited] {
            #expect(shape == direct)
            #expect(shape.hashValue == direct.hashValue)
        }
        #expect(direct != TensorShape(expected + [1]))
        if count > 0 {
            var changed = direct
            changed[count - 1] &+= 1
            #expect(changed != direct)
        }
    }

    @Test func rangeReplacingAcrossTheInlineCapacityKeepsOrder() {
        var shape: TensorShape = [1, 2, 3]
        shape.insert(0, at: 0)
        #expect(Array(shape) == [0, 1, 2, 3])
        shape.append(contentsOf: [4, 5])
        #expect(Array(shape) == [0, 1, 2, 3, 4, 5])
        shape.removeFirst(3)
        #expect(Array(shape) == [3, 4, 5])
        #expect(shape == [3, 4, 5])
        shape.removeAll()
        #expect(shape == TensorShape())
    }

    /// Packed encoding of `values` as field 3 (`Tensor.shape`), written out here independently of the codec.
    static func packedField(_ values: [Int64]) -> [UInt8] {
        let content = values.flatMap { varint(UInt64(bitPattern: $0)) }
        return content.isEmpty ? [] : [0x1A] + varint(UInt64(content.count)) + content
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var bits = value
        var bytes: [UInt8] = []
        while bits >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: bits) | 0x80)
            bits >>= 7
        }
        bytes.append(UInt8(bits))
        return bytes
    }

    @Test(arguments: lengths)
    func encodesAsAPackedInt64FieldAndDecodesBack(count: Int) throws {
        let expected = Self.dimensions(count)
        var tensor = TensorwireV1.Tensor()
        tensor.shape = TensorShape(expected)
        let bytes = tensor.serializedBytes()
        #expect(bytes == Self.packedField(expected))
        #expect(try TensorwireV1.Tensor(serializedBytes: bytes).shape == tensor.shape)
        // Unpacked elements, and several runs of either, append in order.
        let unpacked = expected.flatMap { [0x18] + Self.packedField([$0]).dropFirst(2) }
        #expect(try Array(TensorwireV1.Tensor(serializedBytes: unpacked).shape) == expected)
        let mixed = Self.packedField(expected) + unpacked + Self.packedField([5])
        #expect(try Array(TensorwireV1.Tensor(serializedBytes: mixed).shape) == expected + expected + [5])
    }

    @Test func aLongPackedShapeDecodesWhole() throws {
        // 300 dimensions, negative ones among them: a run of more than 127 bytes (a two-byte length prefix).
        let expected: [Int64] = (0..<300).map { (index: Int) -> Int64 in
            index % 7 == 0 ? -Int64(index) : Int64(index) * 1000
        }
        let bytes = Self.packedField(expected)
        #expect(bytes.count > 300)
        let tensor = try TensorwireV1.Tensor(serializedBytes: bytes)
        #expect(Array(tensor.shape) == expected)
        #expect(Self.isCanonical(tensor.shape))
        #expect(tensor.serializedBytes() == bytes)
    }

    @Test func aRunEndingInsideAVarintIsTruncatedWhateverItsLength() {
        // Ten continuation bytes (an overlong varint if it went on) at the end of the run: truncated, as for an
        // [Int64] field, not overlongVarint.
        let run: [UInt8] = [0x01] + Array(repeating: 0x80, count: 10)
        let bytes: [UInt8] = [0x1A, UInt8(run.count)] + run + [0x01]
        #expect(throws: WireDecodingError.truncated) { try TensorwireV1.Tensor(serializedBytes: bytes) }
    }

    @Test func aVarintRunningPastItsPackedRunIsTruncated() {
        // shape: a packed run of one byte that continues a varint, then a byte that would complete it.
        let bytes: [UInt8] = [0x1A, 0x01, 0x80, 0x01]
        #expect(throws: WireDecodingError.truncated) { try TensorwireV1.Tensor(serializedBytes: bytes) }
    }

    @Test func aShapeWithTheWrongWireTypeIsRejected() {
        let bytes: [UInt8] = [0x1D, 0x00, 0x00, 0x00, 0x00]  // field 3 as fixed32
        #expect(throws: WireDecodingError.wireTypeMismatch(field: 3, expected: .lengthDelimited, got: .fixed32)) {
            try TensorwireV1.Tensor(serializedBytes: bytes)
        }
    }
}
