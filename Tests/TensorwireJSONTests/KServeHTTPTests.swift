// Tests/TensorwireJSONTests/KServeHTTPTests.swift: KServe v2 HTTP bodies: choices, refusals, limits.

import JSONWire
import Testing
import TensorwireJSON
import TensorwireProto

func decodeRequest(_ text: String, jsonLength: Int? = nil, binary: [UInt8] = []) throws(KServeHTTPError) -> KServe.ModelInferRequest {
    try KServeHTTP.decodeInferRequest(body: Array(text.utf8) + binary, jsonLength: jsonLength, modelName: "m", modelVersion: "")
}

func decodeError(_ text: String) -> String? {
    do {
        _ = try decodeRequest(text)
        return nil
    } catch {
        return error.message
    }
}

func output(_ name: String, _ datatype: String, _ shape: [Int64], raw: [UInt8]) -> (KServe.ModelInferResponse.InferOutputTensor, [UInt8]) {
    var tensor = KServe.ModelInferResponse.InferOutputTensor()
    tensor.name = name
    tensor.datatype = datatype
    tensor.shape = shape
    return (tensor, raw)
}

func response(_ outputs: [(KServe.ModelInferResponse.InferOutputTensor, [UInt8])]) -> KServe.ModelInferResponse {
    var response = KServe.ModelInferResponse()
    response.modelName = "m"
    response.modelVersion = "1"
    response.outputs = outputs.map(\.0)
    response.rawOutputContents = outputs.map(\.1)
    return response
}

func encoded(_ response: KServe.ModelInferResponse, binary: Bool = false) throws(KServeHTTPError) -> String {
    let body = try KServeHTTP.encodeInferResponse(response, outputs: KServeOutputChoice(binaryByDefault: binary))
    return String(decoding: body.bytes.prefix(body.jsonLength ?? body.bytes.count), as: UTF8.self)
}

@Suite struct KServeHTTPTests {
    @Test func testOutputChoiceFollowsPerOutputThenRequestParameters() throws {
        let request = try decodeRequest(
            #"{"inputs": [], "parameters": {"binary_data_output": true}, "outputs": [{"name": "a", "parameters": {"binary_data": false}}, {"name": "b"}]}"#)
        let choice = KServeOutputChoice(request: request)
        #expect(!choice.isBinary("a"))
        #expect(choice.isBinary("b"))
        #expect(choice.isBinary("unnamed"))
        #expect(!KServeOutputChoice(request: try decodeRequest(#"{"inputs": []}"#)).isBinary("a"))
    }

    @Test func testRequestRefusals() {
        #expect(decodeError(#"{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [1]}]}"#)?
            .contains("unexpected character '1' (expected a string)") == true)
        #expect(decodeError(#"{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]}]}"#)?
            .contains("expected true or false") == true)
        #expect(decodeError(#"{"inputs": [{"name": "x", "name": "y"}]}"#)?.contains("an input has 'name' more than once") == true)
        #expect(decodeError(#"{"inputs": [], "inputs": []}"#)?.contains("the request has 'inputs' more than once") == true)
        #expect(decodeError(#"{"inputs": [{"shape": [1], "datatype": "INT8", "data": [1]}]}"#)?.contains("an input has no 'name'") == true)
        #expect(decodeError(#"{"inputs": [{"name": "x", "datatype": "INT8", "data": [1]}]}"#)?.contains("input 'x' has no 'shape'") == true)
        #expect(decodeError(#"{"inputs": [], "outputs": [{"parameters": {}}]}"#)?.contains("an output has no 'name'") == true)
        #expect(decodeError(#"{"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]}"#) != nil)
        #expect(decodeError(#"{"inputs": [], "parameters": {"p": [1]}}"#)?.contains("parameter 'p' must be a bool, a number or a string") == true)
        #expect(decodeError(#"{"inputs": [{"name": "x", "shape": [4611686018427387904, 4], "datatype": "INT8", "data": []}]}"#)?
            .contains("has too many elements") == true)
        #expect(decodeError(#"{"inputs": [{"name": "x", "shape": [1], "datatype": "UINT8", "data": [-1]}]}"#)?
            .contains("is negative") == true)
        #expect(decodeError("[]")?.contains("the body must be a JSON object") == true)
        #expect(decodeError("")?.contains("unexpected end of input") == true)
    }

    /// A huge stated shape costs nothing: data is read as it comes and its count compared at the end.
    @Test func testAShapeIsNeverAllocated() {
        let error = decodeError(#"{"inputs": [{"name": "x", "shape": [1000000000000], "datatype": "FP32", "data": [1, 2]}]}"#)
        #expect(error?.contains("'data' holds 2 elements but the shape [1000000000000] needs 1000000000000") == true)
    }

    @Test func testNestingDeeperThanTheLimitIsRefused() {
        let deep = String(repeating: "[", count: 70) + "1" + String(repeating: "]", count: 70)
        let error = decodeError(#"{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": "# + deep + "}]}")
        #expect(error?.contains("nested deeper than 64 levels") == true)
    }

    @Test func testParametersKeepTheirJSONTypes() throws {
        let request = try decodeRequest(
            #"{"inputs": [], "parameters": {"b": true, "i": -3, "u": 18446744073709551615, "d": 0.5, "e": 1e3, "s": "x"}}"#)
        let values = request.parameters.map { "\($0.key)=\(String(describing: $0.value.choice))" }
        #expect(values == [
            "b=Optional(TensorwireProto.KServe.InferParameter.Choice.bool(true))",
            "i=Optional(TensorwireProto.KServe.InferParameter.Choice.int64(-3))",
            "u=Optional(TensorwireProto.KServe.InferParameter.Choice.uint64(18446744073709551615))",
            "d=Optional(TensorwireProto.KServe.InferParameter.Choice.double(0.5))",
            "e=Optional(TensorwireProto.KServe.InferParameter.Choice.double(1000.0))",
            "s=Optional(TensorwireProto.KServe.InferParameter.Choice.string(\"x\"))",
        ])
    }

    @Test func testJSONFloatDataIsRoundedOnceAndKeptBitForBit() throws {
        var random = XorShift(state: 99)
        let values = (0..<2000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next()) & 0xFF7F_FFFF) }
        var writer = JSONWriter()
        writer.beginArray()
        for value in values { writer.float(value) }
        writer.endArray()
        let text = #"{"inputs": [{"name": "x", "shape": [2000], "datatype": "FP32", "data": "#
            + String(decoding: writer.bytes, as: UTF8.self) + "}]}"
        let request = try decodeRequest(text)
        let back = request.rawInputContents[0].withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        #expect(back == values.map(\.bitPattern))
    }

    @Test func testResponseRefusalsNameTheOutput() throws {
        let half = response([output("h", "FP16", [1], raw: [0, 0x3C])])
        #expect(throws: KServeHTTPError("output 'h' is FP16, which JSON cannot carry; ask for it with \"binary_data\": true")) {
            try encoded(half)
        }
        #expect(try encoded(half, binary: true) == #"{"model_name":"m","model_version":"1","outputs":[{"name":"h","datatype":"FP16","shape":[1],"parameters":{"binary_data_size":2}}]}"#)
        let latin1 = response([output("s", "BYTES", [1], raw: [1, 0, 0, 0, 0xE9])])
        #expect(throws: KServeHTTPError.self) { try encoded(latin1) }
        #expect(throws: Never.self) { try encoded(latin1, binary: true) }
        let short = response([output("f", "FP32", [2], raw: [0, 0, 0x80, 0x3F])])
        #expect(throws: KServeHTTPError("output 'f' has 4 bytes of data but its shape of 2 FP32 elements needs 8")) {
            try encoded(short)
        }
        #expect(throws: KServeHTTPError.self) { try encoded(short, binary: true) }
        let bytesShort = response([output("s", "BYTES", [2], raw: [1, 0, 0, 0, 0x61])])
        #expect(throws: KServeHTTPError("output 's' has 1 BYTES elements but its shape needs 2")) { try encoded(bytesShort) }
        let negative = response([output("n", "INT8", [-1], raw: [])])
        #expect(throws: KServeHTTPError("output 'n' has an invalid shape [-1]")) { try encoded(negative) }
    }

    @Test func testRepositoryIndexRequests() throws {
        #expect(try KServeHTTP.decodeRepositoryIndexRequest(body: []).ready == false)
        #expect(try KServeHTTP.decodeRepositoryIndexRequest(body: Array(" \n".utf8)).ready == false)
        #expect(try KServeHTTP.decodeRepositoryIndexRequest(body: Array(#"{"ready": true, "x": 1}"#.utf8)).ready == true)
        #expect(throws: KServeHTTPError("request body at line 1, column 11: 'ready' must be true or false")) {
            try KServeHTTP.decodeRepositoryIndexRequest(body: Array(#"{"ready": "yes"}"#.utf8))
        }
        #expect(throws: KServeHTTPError.self) {
            try KServeHTTP.decodeRepositoryModelRequest(body: Array(#"{"parameters": {"file:m.onnx": "@@"}}"#.utf8), modelName: "m")
        }
        #expect(throws: KServeHTTPError.self) {
            try KServeHTTP.decodeRepositoryModelRequest(body: Array(#"{"parameters": {"config": null}}"#.utf8), modelName: "m")
        }
    }

    @Test func testErrorBodyEscapesTheMessage() {
        #expect(String(decoding: KServeHTTP.encodeError("input \"x\": bad\n"), as: UTF8.self) == #"{"error":"input \"x\": bad\n"}"#)
    }
}
