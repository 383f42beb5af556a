// Tests/JSONWireTests/JSONWriterTests.swift: compact output, escaping, and numbers spelled as Python spells them.

import Foundation
import JSONWire
import Testing

func written(_ body: (inout JSONWriter) -> Void) -> String {
    var writer = JSONWriter()
    body(&writer)
    return String(decoding: writer.bytes, as: UTF8.self)
}

@Suite struct JSONWriterTests {
    @Test func testCommasAndNesting() {
        let text = written { w in
            w.beginObject()
            w.key("a")
            w.int64(-1)
            w.key("b")
            w.beginArray()
            w.uint64(.max)
            w.bool(true)
            w.null()
            w.beginObject()
            w.endObject()
            w.beginArray()
            w.endArray()
            w.endArray()
            w.key("c")
            w.string("x")
            w.endObject()
        }
        #expect(text == #"{"a":-1,"b":[18446744073709551615,true,null,{},[]],"c":"x"}"#)
        #expect(written { $0.int64(.min) } == "-9223372036854775808")
    }

    @Test func testStringsEscapeOnlyQuotesBackslashesAndControlCharacters() {
        let text = written { $0.string("q\"b\\s/n\nr\rt\tb\u{8}f\u{C}z\u{0}u\u{1F}é😀\u{7F}\u{2028}") }
        #expect(text == #""q\"b\\s/n\nr\rt\tb\bf\fz\u0000u\u001fé😀\#u{7F}\#u{2028}""#)
    }

    @Test func testNonFiniteNumbersBecomeNull() {
        #expect(written { w in
            w.beginArray()
            w.double(.nan)
            w.float(.infinity)
            w.double(-.infinity)
            w.endArray()
        } == "[null,null,null]")
    }

    @Test(arguments: [
        (0.1, "0.1"), (1, "1.0"), (-0.0, "-0.0"), (0, "0.0"), (100, "100.0"), (1e16, "1e+16"),
        (1234567890123456, "1234567890123456.0"), (0.0001, "0.0001"), (0.00001, "1e-05"), (1.5e-7, "1.5e-07"),
        (Double.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (123.456, "123.456"),
    ])
    func testDoublesAreShortestInPythonsSpelling(_ value: Double, _ expected: String) {
        #expect(written { $0.double(value) } == expected)
    }

    /// Every float and double of Tools/fixtures/generate_json_fixtures.py's sample (powers of two, subnormals, few
    /// significant bits, extremes, random), spelled exactly as Python's json_format and json.dumps spell them.
    @Test func testNumbersMatchPythonByteForByte() throws {
        let url = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/python-numbers.json")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: [[Any]]])
        let floats = try #require(document["floats"])
        let doubles = try #require(document["doubles"])
        #expect(floats.count > 1000 && doubles.count > 500)
        for pair in floats {
            let bits = try #require((pair[0] as? NSNumber)?.uint32Value)
            let expected = try #require(pair[1] as? String)
            let value = Float(bitPattern: bits)
            #expect(written { $0.float(value) } == expected, "float bits \(bits)")
            var reader = JSONReader(Array(expected.utf8))
            #expect(try reader.readFloat().bitPattern == value.bitPattern, "float bits \(bits)")
        }
        for pair in doubles {
            let bitsText = try #require(pair[0] as? String)
            let bits = try #require(UInt64(bitsText))
            let expected = try #require(pair[1] as? String)
            let value = Double(bitPattern: bits)
            #expect(written { $0.double(value) } == expected, "double bits \(bits)")
            var reader = JSONReader(Array(expected.utf8))
            #expect(try reader.readDouble().bitPattern == value.bitPattern, "double bits \(bits)")
        }
    }

    @Test func testWrittenDocumentsReadBack() throws {
        var random = XorShift(state: 77)
        let floats = (0..<5000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next()) & 0xFF7F_FFFF) }
        var writer = JSONWriter()
        writer.beginArray()
        for value in floats { writer.float(value) }
        writer.endArray()
        var reader = JSONReader(writer.bytes)
        var back: [Float] = []
        try reader.readFloats(into: &back)
        try reader.finish()
        #expect(back.map(\.bitPattern) == floats.map(\.bitPattern))
    }
}
