import ProtoWire
import Testing
import TensorwireProto

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
        var content: [UInt8] = []
        for value in values {
            var bits = UInt64(bitPattern: value)
            while bits >= 0x80 {
                content.append(UInt8(truncatingIfNeeded: bits) | 0x80)
                bits >>= 7
            }
            content.append(UInt8(bits))
        }
        return content.isEmpty ? [] : [0x1A, UInt8(content.count)] + content
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

    @Test func aVarintRunningPastItsPackedRunIsTruncated() {
        // shape: a packed run of one byte that continues a varint, then a byte that would complete it.
        let bytes: [UInt8] = [0x1A, 0x01, 0x80, 0x01]
        #expect(throws: WireDecodingError.truncated) { try TensorwireV1.Tensor(serializedBytes: bytes) }
    }

    @Test func aShapeWithTheWrongWireTypeIsRejected() {
        let bytes: [UInt8] = [0x1D, 0x00, 0x00, 0x00, 0x00]  // field 3 as fixed32
        #expect(throws: WireDecodingError.self) { try TensorwireV1.Tensor(serializedBytes: bytes) }
    }
}
