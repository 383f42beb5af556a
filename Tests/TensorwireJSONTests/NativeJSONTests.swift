// Tests/TensorwireJSONTests/NativeJSONTests.swift: proto3 JSON errors, round trips and limits.

import JSONWire
import ProtoWire
import Testing
import TensorwireJSON
import TensorwireProto

func decodeError<M: ProtoJSONMessage>(_ type: M.Type, _ text: String, maxDepth: Int = 64) -> JSONError? {
    do {
        _ = try M(jsonUTF8: Array(text.utf8), maxDepth: maxDepth)
        return nil
    } catch {
        return error
    }
}

/// A fixed-seed xorshift64 generator.
struct XorShift {
    var state: UInt64

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func string() -> String {
        let pieces = ["a", "é", "日", "😀", "\"", "\\", "\n", "\u{0}", "x y", "/"]
        return (0..<(next() % 5)).map { _ in pieces[Int(next() % UInt64(pieces.count))] }.joined()
    }
}

@Suite struct NativeJSONTests {
    @Test func testUnknownAndDuplicateFieldsAreNamed() throws {
        let unknown = try #require(decodeError(TensorwireV1.PredictRequest.self, #"{"model": "m", "modle": "x"}"#))
        #expect(unknown.reason == "PredictRequest has no field named 'modle'")
        #expect(unknown.column == 16)
        let nested = try #require(decodeError(TensorwireV1.PredictRequest.self, #"{"inputs": [{"nmae": "x"}]}"#))
        #expect(nested.reason == "inputs: Tensor has no field named 'nmae'")
        let twice = try #require(decodeError(TensorwireV1.Tensor.self, #"{"rawData": "", "raw_data": ""}"#))
        #expect(twice.reason == "Tensor has the field 'raw_data' more than once")
    }

    @Test func testValueErrorsNameTheirField() throws {
        let range = try #require(decodeError(TensorwireV1.PredictRequest.self, #"{"inputs": [{"floatData": [1, 1e39]}]}"#))
        #expect(range.reason == "inputs: floatData: 1e39 is out of range for a float")
        let enumName = try #require(decodeError(TensorwireV1.ModelInfo.self, #"{"state": "READY"}"#))
        #expect(enumName.reason == "state: 'READY' is not a value of the enum")
        let narrow = try #require(decodeError(TensorwireV1.BatchInfo.self, #"{"batchSize": 4294967296}"#))
        #expect(narrow.reason == "batchSize: 4294967296 is out of range for uint32")
        let object = try #require(decodeError(TensorwireV1.PredictRequest.self, "[]"))
        #expect(object.reason == "expected an object (PredictRequest)")
    }

    @Test func testDepthLimitApplies() {
        let text = #"{"inputs": [{"name": "x"}]}"#
        #expect(decodeError(TensorwireV1.PredictRequest.self, text, maxDepth: 3) == nil)
        #expect(decodeError(TensorwireV1.PredictRequest.self, text, maxDepth: 2)?.reason == "inputs: nested deeper than 2 levels")
    }

    @Test func testNullLeavesTheDefault() throws {
        let response = try TensorwireV1.PredictResponse(jsonUTF8: Array(#"{"batch": null, "outputs": null, "id": "x"}"#.utf8))
        #expect(response.batch == nil && response.outputs.isEmpty && response.id == "x")
    }

    /// Random messages (every field, random values, strings with escapes) survive JSON and back.
    @Test func testRandomMessagesRoundTrip() throws {
        var random = XorShift(state: 0xDEAD_BEEF)
        for _ in 0..<300 {
            var request = TensorwireV1.PredictRequest()
            request.model = random.string()
            request.id = random.string()
            request.outputs = (0..<(random.next() % 3)).map { _ in random.string() }
            for _ in 0..<(random.next() % 3) {
                var tensor = TensorwireV1.Tensor()
                tensor.name = random.string()
                tensor.dtype = .init(rawValue: Int32(random.next() % 16))
                tensor.shape = TensorShape((0..<(random.next() % 6)).map { _ in Int64(bitPattern: random.next()) })
                tensor.floatData = (0..<(random.next() % 9)).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }
                tensor.doubleData = (0..<(random.next() % 5)).map { _ in Double(bitPattern: random.next()) }
                tensor.int32Data = (0..<(random.next() % 5)).map { _ in Int32(truncatingIfNeeded: random.next()) }
                tensor.int64Data = (0..<(random.next() % 5)).map { _ in Int64(bitPattern: random.next()) }
                tensor.uint64Data = (0..<(random.next() % 5)).map { _ in random.next() }
                tensor.boolData = (0..<(random.next() % 5)).map { _ in random.next() % 2 == 0 }
                tensor.stringData = (0..<(random.next() % 4)).map { _ in random.string() }
                tensor.rawData = (0..<(random.next() % 9)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                request.inputs.append(tensor)
            }
            let json = request.jsonUTF8()
            let back = try TensorwireV1.PredictRequest(jsonUTF8: json)
            // Canonical protobuf bytes compare NaN payloads too: a NaN's payload is not kept through JSON, so
            // compare the NaN-normalised messages.
            #expect(back.serializedBytes() == normalisingNaN(request).serializedBytes(), "\(String(decoding: json, as: UTF8.self))")
            var writer = JSONWriter()
            back.writeJSON(to: &writer)
            #expect(writer.bytes == json)
        }
    }

    func normalisingNaN(_ request: TensorwireV1.PredictRequest) -> TensorwireV1.PredictRequest {
        var copy = request
        for index in copy.inputs.indices {
            copy.inputs[index].floatData = copy.inputs[index].floatData.map { $0.isNaN ? .nan : $0 }
            copy.inputs[index].doubleData = copy.inputs[index].doubleData.map { $0.isNaN ? .nan : $0 }
        }
        return copy
    }
}
