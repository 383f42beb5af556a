// Tests/JSONWireTests/JSONReaderTests.swift: the strict reader's structure, strings and errors.

import JSONWire
import Testing

/// Reads `text` as one value with `body`, then checks nothing but whitespace follows.
func read<T>(_ text: String, maxDepth: Int = 64, _ body: (inout JSONReader) throws(JSONError) -> T) throws(JSONError) -> T {
    var reader = JSONReader(Array(text.utf8), maxDepth: maxDepth)
    let value = try body(&reader)
    try reader.finish()
    return value
}

/// The error `JSONReader.validate` gives for `text`, or nil when it is valid.
func validationError(_ text: String, maxDepth: Int = 64) -> JSONError? {
    do {
        try JSONReader.validate(Array(text.utf8), maxDepth: maxDepth)
        return nil
    } catch {
        return error
    }
}

@Suite struct JSONReaderTests {
    @Test(arguments: [
        "{}", "[]", "0", "-0", "1.5e-3", "\"\"", "true", "false", "null", " \t\r\n[1, 2 , {\"a\" : [ ] }] \n",
        #"{"a":{"b":{"c":[1,[2,[3]]]}},"d":"e\u00e9\ud83d\ude00"}"#, "[1E5,1e+5,1e-5,0.0,-0.5]",
    ])
    func testValidDocumentsValidate(_ text: String) {
        #expect(validationError(text) == nil, "\(text)")
    }

    @Test(arguments: [
        ("", "unexpected end of input (expected a value)"),
        ("[1,]", "trailing comma before ']' (JSON allows none)"),
        (#"{"a":1,}"#, "trailing comma before '}' (JSON allows none)"),
        ("[01]", "leading zeros are not allowed in a number"),
        ("[-01]", "leading zeros are not allowed in a number"),
        ("[1.]", "bad number (digits must follow '.')"),
        ("[.5]", "unexpected character '.' (expected a value)"),
        ("[1e]", "bad number (exponent without digits)"),
        ("[+1]", "unexpected character '+' (expected a value)"),
        ("[NaN]", "unexpected character 'N' (expected a value)"),
        ("[Infinity]", "unexpected character 'I' (expected a value)"),
        ("[-Infinity]", "unexpected character 'I' (expected a number)"),
        ("// comment\n[]", "unexpected character '/' (expected a value)"),
        ("['a']", "unexpected character ''' (expected a value)"),
        ("[tru]", "expected true"),
        ("[nul]", "expected null"),
        ("{a:1}", "expected a \"key\""),
        (#"{"a" 1}"#, "expected ':' after the key"),
        (#"{"a":1 "b":2}"#, "expected ',' or '}' in an object"),
        ("[1 2]", "expected ',' or ']' in a list"),
        ("[1", "unexpected end of input inside a list"),
        (#"{"a":1"#, "unexpected end of input inside an object"),
        ("{", "unexpected end of input inside an object"),
        ("\"abc", "unterminated string"),
        ("\"a\tb\"", "control character in a string (escape it)"),
        (#""\x""#, "bad escape in a string"),
        (#""\u12G4""#, "bad \\u escape in a string"),
        (#""\ud83d""#, "lone surrogate in a \\u escape"),
        (#""\ude00""#, "lone surrogate in a \\u escape"),
        (#""\ud83d\u0041""#, "lone surrogate in a \\u escape"),
        ("[] []", "unexpected text after the JSON value"),
        ("1 2", "unexpected text after the JSON value"),
    ])
    func testInvalidDocumentsAreRefusedWithAReason(_ text: String, _ reason: String) {
        let error = validationError(text)
        #expect(error?.reason == reason, "\(text): \(String(describing: error))")
    }

    @Test func testErrorsCarryOffsetLineAndColumnCountingCharacters() throws {
        let error = try #require(validationError("{\"a\": 1,\n  \"é\": [1,]}"))
        #expect(error.line == 2)
        // Column 11 is the ']' after the trailing comma: the é before it is two bytes but one column.
        #expect(error.column == 11)
        #expect(error.offset == 20)
        #expect(error.description == "line 2, column 11: trailing comma before ']' (JSON allows none)")
    }

    @Test func testInvalidUTF8InAStringIsRefused() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22]] {
            var reader = JSONReader(bytes)
            #expect(throws: JSONError.self) { try reader.readString() }
            #expect(throws: JSONError.self) { try JSONReader.validate(bytes) }
        }
    }

    @Test func testStringsDecodeEscapesAndSurrogatePairs() throws {
        #expect(try read(#""plain""#) { r throws(JSONError) in try r.readString() } == "plain")
        #expect(try read(#""a\"b\\c\/d\b\f\n\r\t""#) { r throws(JSONError) in try r.readString() } == "a\"b\\c/d\u{8}\u{C}\n\r\t")
        #expect(try read(#""\u00e9\u65e5\ud83d\ude00""#) { r throws(JSONError) in try r.readString() } == "é日😀")
        #expect(try read("\"日本 😀\"") { r throws(JSONError) in try r.readString() } == "日本 😀")
        #expect(try read(#""\u0000""#) { r throws(JSONError) in try r.readString() } == "\u{0}")
    }

    @Test func testDepthLimitCountsNestedContainers() {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(validationError(ok) == nil)
        #expect(validationError(deep)?.reason == "nested deeper than 64 levels")
        #expect(validationError("[[[]]]", maxDepth: 2)?.reason == "nested deeper than 2 levels")
        // A hostile document a million levels deep fails at level 65, without recursion.
        let hostile = String(repeating: "[{\"a\":", count: 500_000)
        #expect(validationError(hostile)?.reason == "nested deeper than 64 levels")
        var reader = JSONReader(Array(deep.utf8))
        #expect(throws: JSONError.self) {
            try reader.readArray { r throws(JSONError) in try r.skipValue() }
        }
    }

    @Test func testReadObjectVisitsMembersInOrderAndSkipsUnreadValues() throws {
        var seen: [String] = []
        var numbers: [Int64] = []
        try read(#"{"a": 1, "skip": {"x": [1, {"y": null}]}, "b": 2, "a": 3}"#) { r throws(JSONError) in
            try r.readObject { r, key throws(JSONError) in
                seen.append(key)
                if key != "skip" { numbers.append(try r.readInt64()) }
            }
        }
        // Duplicate names are legal JSON: the reader reports both; callers that must refuse them do.
        #expect(seen == ["a", "skip", "b", "a"])
        #expect(numbers == [1, 2, 3])
    }

    @Test func testReadArrayAndPeekKind() throws {
        var kinds: [JSONKind] = []
        try read(#"[{}, [], "s", 1, true, false, null]"#) { r throws(JSONError) in
            try r.readArray { r throws(JSONError) in kinds.append(try r.peekKind()) }
        }
        #expect(kinds == [.object, .array, .string, .number, .bool, .bool, .null])
        var reader = JSONReader(Array("  ".utf8))
        #expect(throws: JSONError.self) { try reader.peekKind() }
        reader = JSONReader(Array("x".utf8))
        #expect(throws: JSONError.self) { try reader.peekKind() }
    }

    @Test func testReadNullIfPresentOnlyConsumesNull() throws {
        var reader = JSONReader(Array("[null, 5]".utf8))
        var values: [Int64?] = []
        try reader.readArray { r throws(JSONError) in
            values.append(try r.readNullIfPresent() ? nil : try r.readInt64())
        }
        #expect(values == [nil, 5])
    }

    @Test func testTypeMismatchesNameWhatWasExpected() {
        var reader = JSONReader(Array("[1]".utf8))
        #expect(throws: JSONError.self) { try reader.readObject { _, _ throws(JSONError) in } }
        reader = JSONReader(Array("5".utf8))
        do {
            _ = try reader.readString()
            Issue.record("a number read as a string")
        } catch {
            #expect(error.reason == "unexpected character '5' (expected a string)")
        }
        reader = JSONReader(Array("\"5\"".utf8))
        #expect(throws: JSONError.self) { try reader.readBool() }
    }

    @Test func testReaderAtAnOffsetReadsALaterValue() throws {
        let bytes = Array(#"{"data": [1, 2], "type": "x"}"#.utf8)
        var reader = JSONReader(bytes, at: 9)
        var values: [Double] = []
        try reader.readDoubles(into: &values)
        #expect(values == [1, 2])
    }
}
