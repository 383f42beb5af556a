// Tests/TensorwireJSONTests/NativeGoldenTests.swift: proto3 JSON of tensorwire.v1 against Python's json_format.

import Foundation
import JSONWire
import ProtoWire
import Testing
import TensorwireJSON
import TensorwireProto

/// The golden cases of Tools/fixtures/generate_json_fixtures.py in `Fixtures/native`: `X-case.json` beside
/// `X-case.bin` is a message and json_format's MessageToJson of it (compact), checked both ways; `X-case.parse.*`
/// is hand-written JSON Python's Parse accepts and what it parses to; `X-case.reject.json` must be refused.
@Suite struct NativeGoldenTests {
    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/native")

    static let caseNames: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path(percentEncoded: false))) ?? []
        return files.filter { $0.hasSuffix(".json") && $0 != "notes.json" }.map { String($0.dropLast(5)) }.sorted()
    }()

    static let messageTypes: [String: any (ProtoJSONMessage & ProtoMessage).Type] = [
        "PredictRequest": TensorwireV1.PredictRequest.self,
        "PredictResponse": TensorwireV1.PredictResponse.self,
        "Tensor": TensorwireV1.Tensor.self,
        "BatchInfo": TensorwireV1.BatchInfo.self,
        "BatchingConfig": TensorwireV1.BatchingConfig.self,
        "ModelInfo": TensorwireV1.ModelInfo.self,
        "ListModelsRequest": TensorwireV1.ListModelsRequest.self,
        "ListModelsResponse": TensorwireV1.ListModelsResponse.self,
        "GetModelRequest": TensorwireV1.GetModelRequest.self,
    ]

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appending(path: file)))
    }

    @Test func testEveryKindOfCaseIsPresent() {
        #expect(Self.caseNames.count > 40)
        #expect(Self.caseNames.contains { $0.hasSuffix(".parse") })
        #expect(Self.caseNames.contains { $0.hasSuffix(".reject") })
        let types = Set(Self.caseNames.map { String($0.split(separator: "-")[0]) })
        #expect(types == Set(Self.messageTypes.keys))
    }

    @Test(arguments: caseNames)
    func testCaseAgainstPython(_ name: String) throws {
        let typeName = String(name.split(separator: "-")[0])
        let type = try #require(Self.messageTypes[typeName], "no message type for \(name)")
        try check(type, name)
    }

    func check<M: ProtoJSONMessage & ProtoMessage>(_ type: M.Type, _ name: String) throws {
        var json = try Self.bytes(name + ".json")
        if json.last == UInt8(ascii: "\n") { json.removeLast() }
        if name.hasSuffix(".reject") {
            #expect(throws: JSONError.self, "\(name) was accepted") { try M(jsonUTF8: json) }
            return
        }
        let expected = try M(serializedBytes: try Self.bytes(name + ".bin"))
        // Decoding: the same message as Python's (compared as canonical protobuf bytes, so NaN equals NaN).
        let decoded = try M(jsonUTF8: json)
        #expect(decoded.serializedBytes() == expected.serializedBytes(), "\(name): decoded differently")
        if !name.hasSuffix(".parse") {
            // Encoding: byte for byte what json_format.MessageToJson writes (compacted, UTF-8 unescaped).
            let encoded = expected.jsonUTF8()
            #expect(
                encoded == json,
                "\(name):\n ours   \(String(decoding: encoded, as: UTF8.self))\n python \(String(decoding: json, as: UTF8.self))")
        }
    }
}
