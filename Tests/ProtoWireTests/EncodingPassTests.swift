import ProtoWire
import Testing
import TestSupport

/// The write pass of `serializedBytes()` takes embedded message sizes from its size pass and visits repeated
/// messages through unretained copies; these tests hold it to the bytes of a plain writer that measures every
/// embedded message itself, and to balanced reference counts.
@Suite struct EncodingPassTests {
    /// The bytes of a writer given no sizes from a size pass (`encode(into:)`), the way every message was written
    /// before sizes were kept.
    static func plainEncoding(_ message: some ProtoMessage) -> [UInt8] {
        let size = message.encodedSize
        var bytes = [UInt8](repeating: 0, count: size)
        let written = bytes.withUnsafeMutableBytes { message.encode(into: $0) }
        #expect(written == size)
        return bytes
    }

    @Test func moreEmbeddedMessagesThanTheSizePassKeepsEncodeAlike() throws {
        // 300 repeated messages of sizes around the one- and two-byte length prefix boundary, many more than the
        // sizes kept on the stack, so that the write pass both reads kept sizes and measures the rest.
        var message = AllTypes()
        for index in 0..<300 {
            let text = String(repeating: "é", count: index % 90)
            message.rNested.append(Nested(a: Int32(index) - 150, b: text, c: Array(0..<Int32(index % 7))))
        }
        let bytes = message.serializedBytes()
        #expect(bytes == Self.plainEncoding(message))
        #expect(try AllTypes(serializedBytes: bytes) == message)
    }

    @Test func deepChainsBeyondTheKeptSizesEncodeAlike() throws {
        for depth in [1, 2, 31, 32, 33, 99] {
            let chain = Recursive.chain(depth: depth)
            let bytes = chain.serializedBytes()
            #expect(bytes.count == chain.encodedSize, "depth \(depth)")
            #expect(bytes == Self.plainEncoding(chain), "depth \(depth)")
            #expect(try Recursive(serializedBytes: bytes) == chain, "depth \(depth)")
        }
    }

    @Test func randomMessagesEncodeAlikeWithAndWithoutKeptSizes() {
        var random = SplitMix64(seed: 0x5123)
        for index in 0..<300 {
            let message = AllTypes.random(using: &random)
            #expect(message.serializedBytes() == Self.plainEncoding(message), "message \(index)")
        }
    }

    @Test func encodingRepeatedMessagesLeavesTheirReferencesBalanced() throws {
        var holders = HolderList()
        holders.items = (0..<8).map { Holder(label: Label("item \($0) with a label longer than a small string")) }
        let expected = holders.serializedBytes()
        for _ in 0..<1000 {
            #expect(holders.serializedBytes() == expected)
        }
        // A retain left over from encoding would make the labels shared; a release too many would have freed them.
        for index in holders.items.indices {
            #expect(isKnownUniquelyReferenced(&holders.items[index].label))
        }
        #expect(try HolderList(serializedBytes: expected).items.map(\.label.text) == holders.items.map(\.label.text))
    }
}

/// A reference-counted field, so that a test can see whether encoding kept its count balanced.
final class Label: Sendable {
    let text: String

    init(_ text: String) {
        self.text = text
    }
}

/// A message whose one field lives in a class instance.
struct Holder: ProtoMessage {
    var label = Label("")

    init() {}

    init(label: Label) {
        self.label = label
    }

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: label = Label(try reader.readString())
        default: try reader.skipField()
        }
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitString(label.text, field: 1)
    }
}

/// `repeated Holder items = 1`.
struct HolderList: ProtoMessage {
    var items: [Holder] = []

    init() {}

    mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
        switch field {
        case 1: try reader.appendMessage(to: &items)
        default: try reader.skipField()
        }
    }

    func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
        visitor.visitRepeatedMessages(items, field: 1)
    }
}
