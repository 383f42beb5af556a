// Tests/TensorwireProtoTests/DecodeBudgetTests.swift: no request may cost more than a small constant times its wire
// size to decode (issue 25, finding 1: `1a 00` repeated made a ~136-byte Tensor per 2 wire bytes, ~70x).

import ProtoWire
import Testing
import TensorwireProto

@Suite struct DecodeBudgetTests {
    /// `count` empty entries of length-delimited field `field`: two wire bytes each.
    static func emptyEntries(field: Int, count: Int) -> [UInt8] {
        Array(repeating: [UInt8((field << 3) | 2), 0], count: count).flatMap { $0 }
    }

    func expectBudgetError(_ body: () throws -> Void) {
        do {
            try body()
            Issue.record("decoded past the budget")
        } catch let error as WireDecodingError {
            guard case .decodedSizeExceedsBudget(let wireBytes, let budget) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(budget == DecodingLimits.default.decodeBudget(wireBytes: wireBytes))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func thousandsOfEmptyPredictInputsAreRefused() {
        let bytes = Self.emptyEntries(field: 3, count: 20_000)  // PredictRequest.inputs
        #expect(MemoryLayout<TensorwireV1.Tensor>.stride > 16)  // more than 8x per two wire bytes
        expectBudgetError { _ = try TensorwireV1.PredictRequest(serializedBytes: bytes) }
    }

    @Test func thousandsOfEmptyModelInferInputsAndParametersAreRefused() {
        expectBudgetError { _ = try KServe.ModelInferRequest(serializedBytes: Self.emptyEntries(field: 5, count: 20_000)) }
        expectBudgetError { _ = try KServe.ModelInferRequest(serializedBytes: Self.emptyEntries(field: 4, count: 20_000)) }
    }

    @Test func nestedElementsShareTheBudget() throws {
        // ModelInferRequest.inputs[0].parameters: 20,000 empty parameter entries inside one input. The nested
        // reader's spending counts against the whole message.
        let inner = Self.emptyEntries(field: 4, count: 20_000)
        var length: [UInt8] = []
        var value = inner.count
        while value >= 0x80 {
            length.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        length.append(UInt8(value))
        expectBudgetError { _ = try KServe.ModelInferRequest(serializedBytes: [0x2A] + length + inner) }
        // A few are fine.
        #expect((try? TensorwireV1.PredictRequest(serializedBytes: Self.emptyEntries(field: 3, count: 4)))?.inputs.count == 4)
    }

    @Test func honestMessagesFitTheBudget() throws {
        // A typical request: one tensor of 64 floats.
        var tensor = TensorwireV1.Tensor()
        tensor.name = "X"
        tensor.shape = [1, 64]
        tensor.floatData = (0..<64).map(Float.init)
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        request.inputs = [tensor]
        #expect(try TensorwireV1.PredictRequest(serializedBytes: request.serializedBytes()) == request)

        // The densest honest varint field: 100,000 one-byte int64 values, exactly 8x.
        var dense = TensorwireV1.Tensor()
        dense.int64Data = Array(repeating: 1, count: 100_000)
        #expect(try TensorwireV1.Tensor(serializedBytes: dense.serializedBytes()).int64Data.count == 100_000)

        // Many real inputs (each with a name and a value) stay well inside.
        var many = TensorwireV1.PredictRequest()
        many.inputs = (0..<2000).map { index in
            var input = TensorwireV1.Tensor()
            input.name = "input_\(index)"
            input.shape = [1, 1]
            input.floatData = [1]
            return input
        }
        #expect(try TensorwireV1.PredictRequest(serializedBytes: many.serializedBytes()).inputs.count == 2000)
    }

    @Test func theBudgetSaturatesInsteadOfOverflowing() {
        let limits = DecodingLimits(decodedBytesPerWireByte: Int.max)
        #expect(limits.decodeBudget(wireBytes: 1 << 40) == Int.max)
        #expect(DecodingLimits.default.decodeBudget(wireBytes: 100) == 100 * 8 + 4096)
    }
}
