// Tests/RPCCoreTests/MetadataTests.swift: Metadata (W-20, W-21).

import RPCCore
import Testing
import HTTPTypes
import TestSupport

@Suite struct MetadataTests {
    @Test func keepsInsertionOrderAndRepeatedKeysAndLowercasesKeys() throws {
        var metadata = Metadata()
        try metadata.addString("1", forKey: "X-Trace")
        try metadata.addString("a", forKey: "other")
        try metadata.addString("2", forKey: "x-trace")
        try metadata.addBinary([0, 1, 2], forKey: "blob-bin")
        #expect(metadata.map(\.key) == ["x-trace", "other", "x-trace", "blob-bin"])
        #expect(metadata.strings(forKey: "X-TRACE") == ["1", "2"])
        #expect(metadata.binaryValues(forKey: "blob-bin") == [[0, 1, 2]])
        #expect(metadata.first(forKey: "other") == .string("a"))
        metadata.removeAll(forKey: "x-trace")
        #expect(metadata.count == 2)
    }

    @Test(arguments: ["", "a b", "a/b", "ключ", "a:b", "tab\t", ":path"])
    func rejectsKeysOutsideTheGRPCKeyAlphabet(_ key: String) {
        var metadata = Metadata()
        #expect(throws: MetadataError.invalidKey(key.lowercased())) { try metadata.addString("v", forKey: key) }
    }

    @Test(arguments: ["grpc-status", "grpc-custom", "content-type", "te", "user-agent", "connection", "host"])
    func rejectsReservedKeys(_ key: String) {
        var metadata = Metadata()
        #expect(throws: MetadataError.reservedKey(key)) { try metadata.addString("v", forKey: key) }
    }

    @Test func acceptsTheWholeKeyAlphabet() throws {
        var metadata = Metadata()
        try metadata.addString("v", forKey: "0123456789abcdefghijklmnopqrstuvwxyz_.-")
        #expect(metadata.count == 1)
    }

    @Test func binaryValuesNeedBinKeysAndTextValuesNeedOtherKeys() {
        var metadata = Metadata()
        #expect(throws: MetadataError.binaryKeyNeedsBytes("x-bin")) { try metadata.addString("v", forKey: "x-bin") }
        #expect(throws: MetadataError.bytesNeedBinaryKey("x")) { try metadata.addBinary([1], forKey: "x") }
    }

    @Test func rejectsTextValuesOutsidePrintableASCII() {
        var metadata = Metadata()
        #expect(throws: MetadataError.invalidValue(key: "k")) { try metadata.addString("a\nb", forKey: "k") }
        #expect(throws: MetadataError.invalidValue(key: "k")) { try metadata.addString("caf\u{E9}", forKey: "k") }
    }

    @Test func headerFieldsEncodeBinaryValuesUnpadded() throws {
        var metadata = Metadata()
        try metadata.addString("hello", forKey: "x-text")
        try metadata.addBinary([0xFF], forKey: "x-bin")
        try metadata.addBinary(Array("fooba".utf8), forKey: "y-bin")
        #expect(
            metadata.headerFields == [
                HeaderField("x-text", "hello"), HeaderField("x-bin", "/w"), HeaderField("y-bin", "Zm9vYmE"),
            ])
    }

    @Test func parsingDecodesPaddedAndUnpaddedBinaryValues() throws {
        let metadata = try Metadata(headerFields: [
            HeaderField("a-bin", "Zm9vYmE="), HeaderField("b-bin", "Zm9vYmE"), HeaderField("c-bin", ""),
        ])
        #expect(metadata.binaryValues(forKey: "a-bin") == [Array("fooba".utf8)])
        #expect(metadata.binaryValues(forKey: "b-bin") == [Array("fooba".utf8)])
        #expect(metadata.binaryValues(forKey: "c-bin") == [[]])
    }

    @Test func parsingSplitsJoinedBinaryValuesOnCommaBeforeDecoding() throws {
        let metadata = try Metadata(headerFields: [HeaderField("x-bin", "Zm9vYmE=,Zg, AAE")])
        #expect(metadata.binaryValues(forKey: "x-bin") == [Array("fooba".utf8), Array("f".utf8), [0, 1]])
    }

    @Test func parsingKeepsJoinedTextValuesAsReceived() throws {
        let metadata = try Metadata(headerFields: [HeaderField("x", "a, b"), HeaderField("x", "c\u{80}")])
        #expect(metadata.strings(forKey: "x") == ["a, b", "c\u{80}"])
    }

    @Test func parsingRejectsUndecodableBinaryValues() {
        #expect(throws: MetadataError.malformedBinaryValue(key: "x-bin")) {
            try Metadata(headerFields: [HeaderField("x-bin", "not base64!")])
        }
    }

    @Test func parsingSkipsPseudoHeadersReservedNamesAndInvalidKeys() throws {
        let metadata = try Metadata(headerFields: [
            HeaderField(":path", "/a/b"), HeaderField(":authority", "h"),
            HeaderField("content-type", "application/grpc"),
            HeaderField("te", "trailers"), HeaderField("grpc-timeout", "1S"), HeaderField("grpc-encoding", "gzip"),
            HeaderField("grpc-status-details-bin", "!!"), HeaderField("user-agent", "x"), HeaderField("we!rd", "1"),
            HeaderField("custom", "kept"),
        ])
        #expect(metadata.map(\.key) == ["custom"])
    }

    @Test func metadataRoundTripsThroughHeaderFields() throws {
        var metadata = Metadata()
        try metadata.addString("v1", forKey: "k")
        try metadata.addBinary([0, 255, 7, 8], forKey: "k-bin")
        try metadata.addString("v2", forKey: "k")
        #expect(try Metadata(headerFields: metadata.headerFields) == metadata)
    }
}
