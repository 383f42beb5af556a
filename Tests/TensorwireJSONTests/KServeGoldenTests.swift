// Tests/TensorwireJSONTests/KServeGoldenTests.swift: KServe v2 HTTP bodies against tritonclient.http.

import Foundation
import ProtoWire
import Testing
import TensorwireJSON
import TensorwireProto

/// The golden cases of Tools/fixtures/generate_json_fixtures.py in `Fixtures/kserve`: request bodies tritonclient.http
/// writes (and hand-written ones) with the message they mean or the error they earn; responses with the body Triton
/// writes for them, which the generator checked tritonclient.http reads back as tritonclient.grpc reads the message;
/// and the other routes' messages with their bodies.
@Suite struct KServeGoldenTests {
    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/kserve")

    static func names(prefix: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path(percentEncoded: false))) ?? []
        return files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appending(path: file)))
    }

    static func metadata(_ name: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes(name + ".json"))) as? [String: Any])
    }

    /// The body file without the newline the generator ends text files with.
    static func textBody(_ name: String) throws -> [UInt8] {
        var body = try bytes(name + ".body")
        if body.last == UInt8(ascii: "\n") { body.removeLast() }
        return body
    }

    @Test func testEveryKindOfCaseIsPresent() {
        #expect(Self.names(prefix: "request-").count >= 20)
        #expect(Self.names(prefix: "response-").count >= 8)
        #expect(Self.names(prefix: "repository-").count >= 4)
    }

    @Test(arguments: names(prefix: "request-"))
    func testRequestBody(_ name: String) throws {
        let meta = try Self.metadata(name)
        let body = try Self.bytes(name + ".body")
        let jsonLength = meta["json_length"] as? Int
        let modelName = try #require(meta["model_name"] as? String)
        let modelVersion = try #require(meta["model_version"] as? String)
        if let expectedError = meta["error"] as? String {
            do {
                _ = try KServeHTTP.decodeInferRequest(
                    body: body, jsonLength: jsonLength, modelName: modelName, modelVersion: modelVersion)
                Issue.record("\(name) was accepted")
            } catch {
                #expect(error.message == expectedError, "\(name)")
            }
            return
        }
        let decoded = try KServeHTTP.decodeInferRequest(
            body: body, jsonLength: jsonLength, modelName: modelName, modelVersion: modelVersion)
        let expected = try KServe.ModelInferRequest(serializedBytes: try Self.bytes(name + ".bin"))
        #expect(normalised(decoded) == normalised(expected), "\(name)")
        #expect(normalised(decoded).serializedBytes() == normalised(expected).serializedBytes(), "\(name)")
    }

    @Test(arguments: names(prefix: "response-"))
    func testResponseBody(_ name: String) throws {
        let meta = try Self.metadata(name)
        let response = try KServe.ModelInferResponse(serializedBytes: try Self.bytes(name + ".bin"))
        let choice = KServeOutputChoice(
            binaryByDefault: try #require(meta["binary_data_output"] as? Bool),
            binaryByName: try #require(meta["binary_data"] as? [String: Bool]))
        let body = try KServeHTTP.encodeInferResponse(response, outputs: choice)
        let expected = try Self.bytes(name + ".body")
        #expect(body.jsonLength == meta["json_length"] as? Int, "\(name)")
        #expect(
            body.bytes == expected,
            "\(name):\n ours   \(String(decoding: body.bytes.prefix(body.jsonLength ?? body.bytes.count), as: UTF8.self))\n triton \(String(decoding: expected.prefix(body.jsonLength ?? expected.count), as: UTF8.self))"
        )
    }

    @Test func testOtherRoutesWriteWhatTritonWrites() throws {
        func check(_ name: String, _ encode: ([UInt8]) throws -> [UInt8]) throws {
            let ours = try encode(try Self.bytes(name + ".bin"))
            let expected = try Self.textBody(name)
            #expect(ours == expected, "\(name):\n ours   \(String(decoding: ours, as: UTF8.self))\n triton \(String(decoding: expected, as: UTF8.self))")
        }
        try check("route-server-metadata") { KServeHTTP.encodeServerMetadata(try .init(serializedBytes: $0)) }
        try check("route-model-metadata") { KServeHTTP.encodeModelMetadata(try .init(serializedBytes: $0)) }
        try check("route-model-config") { KServeHTTP.encodeModelConfig(try .init(serializedBytes: $0)) }
        try check("route-model-config-minimal") { KServeHTTP.encodeModelConfig(try .init(serializedBytes: $0)) }
        try check("route-model-statistics") { KServeHTTP.encodeModelStatistics(try .init(serializedBytes: $0)) }
        try check("route-repository-index") { KServeHTTP.encodeRepositoryIndex(try .init(serializedBytes: $0)) }
    }

    @Test(arguments: names(prefix: "repository-"))
    func testRepositoryRequestBody(_ name: String) throws {
        let decoded = try KServeHTTP.decodeRepositoryModelRequest(body: try Self.bytes(name + ".body"), modelName: "digits")
        var expected = try KServe.RepositoryModelRequest(serializedBytes: try Self.bytes(name + ".bin"))
        var sorted = decoded
        sorted.parameters.sort { $0.key < $1.key }
        expected.parameters.sort { $0.key < $1.key }
        #expect(sorted == expected, "\(name)")
    }
}

/// Map entries in key order (the reference's deterministic order; ours keep the document's).
func normalised(_ request: KServe.ModelInferRequest) -> KServe.ModelInferRequest {
    var copy = request
    copy.parameters.sort { $0.key < $1.key }
    for index in copy.inputs.indices { copy.inputs[index].parameters.sort { $0.key < $1.key } }
    for index in copy.outputs.indices { copy.outputs[index].parameters.sort { $0.key < $1.key } }
    return copy
}
