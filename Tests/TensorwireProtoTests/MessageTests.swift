import ProtoWire
import Testing
import TensorwireProto
import DecoderFuzzing
import TestSupport

struct MessageTests {
    @Test func rawDataWithFloatDataBothSurviveARoundTrip() throws {
        var tensor = TensorwireV1.Tensor(name: "x", dtype: .float32, shape: [1, 2], floatData: [1, 2])
        tensor.rawData = [0, 0, 128, 63, 0, 0, 0, 64]
        var request = TensorwireV1.PredictRequest()
        request.inputs = [tensor]
        let decoded = try TensorwireV1.PredictRequest(serializedBytes: request.serializedBytes())
        #expect(decoded == request)
    }

    @Test func absentOptionalMessagesStayAbsentAndEmptyOnesArePresent() throws {
        var response = TensorwireV1.PredictResponse()
        #expect(try TensorwireV1.PredictResponse(serializedBytes: response.serializedBytes()).batch == nil)
        response.batch = TensorwireV1.BatchInfo()
        #expect(response.serializedBytes() == [0x2A, 0x00])
        #expect(try TensorwireV1.PredictResponse(serializedBytes: response.serializedBytes()).batch != nil)
    }

    @Test func repeatedSingularMessageFieldsMerge() throws {
        // batch { batch_size: 4 } followed by batch { queue_us: 9 } merges into one BatchInfo.
        let bytes: [UInt8] = [0x2A, 0x02, 0x08, 0x04, 0x2A, 0x02, 0x10, 0x09]
        let response = try TensorwireV1.PredictResponse(serializedBytes: bytes)
        #expect(response.batch?.batchSize == 4)
        #expect(response.batch?.queueUs == 9)
    }

    @Test func unknownEnumValuesAreKept() throws {
        let bytes: [UInt8] = [0x10, 0x63]  // dtype = 99
        let tensor = try TensorwireV1.Tensor(serializedBytes: bytes)
        #expect(tensor.dtype.rawValue == 99)
        #expect(tensor.dtype.description == "99")
        #expect(tensor.serializedBytes() == bytes)
    }

    @Test func hostileLengthInsideANestedTensorFailsWithoutAllocating() {
        // inputs { raw_data: <length 2^31> } with only a few bytes present.
        let bytes: [UInt8] = [0x1A, 0x07, 0x52, 0x80, 0x80, 0x80, 0x80, 0x08, 0x00]
        #expect(throws: WireDecodingError.lengthExceedsInput(length: 1 << 31, remaining: 1)) {
            try TensorwireV1.PredictRequest(serializedBytes: bytes)
        }
    }

    @Test func aFailedInputLeavesEarlierInputsAndNoPartialOne() throws {
        // A merge that fails in its second tensor (invalid UTF-8 in its name, after its shape) keeps the input the
        // request had and the first tensor, and appends nothing of the failed one.
        let first = TensorwireV1.Tensor(name: "a", dtype: .float32, shape: [1, 2], floatData: [1, 2])
        let firstBytes = first.serializedBytes()
        let broken: [UInt8] = [0x1A, 0x01, 0x05] + [0x0A, 0x02, 0xC3, 0x28]  // shape [5], name: invalid UTF-8
        let bytes = [0x1A, UInt8(firstBytes.count)] + firstBytes + [0x1A, UInt8(broken.count)] + broken
        var request = TensorwireV1.PredictRequest()
        request.inputs = [TensorwireV1.Tensor(name: "kept", shape: [3])]
        #expect(throws: WireDecodingError.invalidUTF8(field: 1)) {
            try request.merge(serializedBytes: bytes)
        }
        #expect(request.inputs == [TensorwireV1.Tensor(name: "kept", shape: [3]), first])
    }

    @Test func invalidUTF8InModelNameIsADecodeError() {
        let bytes: [UInt8] = [0x0A, 0x02, 0xC3, 0x28]
        #expect(throws: WireDecodingError.invalidUTF8(field: 1)) {
            try TensorwireV1.PredictRequest(serializedBytes: bytes)
        }
    }

    @Test func randomRequestsRoundTrip() throws {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let request = makeRandomRequest(&generator)
            let bytes = request.serializedBytes()
            #expect(bytes.count == request.encodedSize)
            let decoded = try TensorwireV1.PredictRequest(serializedBytes: bytes)
            #expect(decoded.serializedBytes() == bytes)
        }
    }

    @Test func fuzzEntryPointSurvivesMutatedRequests() {
        var generator = SplitMix64(seed: 11)
        let seed = makeRandomRequest(&generator).serializedBytes()
        for _ in 0..<5_000 {
            var bytes = seed
            for _ in 0..<Int(generator.next() % 4 + 1) where !bytes.isEmpty {
                bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
            }
            if generator.next() % 3 == 0 { bytes.removeLast(Int(generator.next() % UInt64(bytes.count + 1))) }
            _ = bytes.withUnsafeBytes { DecoderFuzzing.decodeAll($0) }
        }
    }

    func makeRandomRequest(_ generator: inout SplitMix64) -> TensorwireV1.PredictRequest {
        var request = TensorwireV1.PredictRequest()
        request.model = "model-\(generator.next() % 100)"
        request.id = generator.next() % 2 == 0 ? "" : "ïd-\(generator.next())"
        for index in 0..<Int(generator.next() % 3) {
            var tensor = TensorwireV1.Tensor()
            tensor.name = "t\(index)"
            tensor.dtype = TensorwireV1.DataType(rawValue: Int32(generator.next() % 14))
            let count = Int(generator.next() % 20)
            // 0-7 dimensions, so shapes held inline and spilled ones both round-trip; signed values of every width.
            tensor.shape = TensorShape(
                (0..<Int(generator.next() % 8)).map { _ in Int64(bitPattern: generator.next()) >> (generator.next() % 64) }
            )
            tensor.floatData = (0..<count).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: generator.next())) }
            tensor.int64Data = (0..<Int(generator.next() % 4)).map { _ in Int64(bitPattern: generator.next()) }
            tensor.int32Data = (0..<Int(generator.next() % 4)).map { _ in Int32(truncatingIfNeeded: generator.next()) }
            tensor.boolData = (0..<Int(generator.next() % 4)).map { _ in generator.next() % 2 == 0 }
            tensor.stringData = (0..<Int(generator.next() % 3)).map { _ in "s\(generator.next() % 1000)☺" }
            tensor.rawData = (0..<Int(generator.next() % 9)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            request.inputs.append(tensor)
        }
        request.outputs = generator.next() % 2 == 0 ? [] : ["a", "b"]
        return request
    }
}
