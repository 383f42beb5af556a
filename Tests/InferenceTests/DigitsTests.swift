import Foundation
import Inference
import Crypto
import Testing

@Suite struct DigitsTests {
    /// The built-in model agrees with onnxruntime on every row of the digits test split; prints its accuracy.
    @Test func testBuiltinDigitsMatchesOnnxruntimeOnTheTestSplit() throws {
        let model = try BuiltinModels.digits()
        #expect(model.name == "digits")
        #expect(BuiltinModels.digitsONNX == (try Fixtures.bytes("digits.onnx")))
        #expect(BuiltinModels.digitsSHA256 == Crypto.hex(Crypto.sha256(BuiltinModels.digitsONNX)))
        let record = try Fixtures.record("digits")
        let outputs = try model.makeContext(maxBatchSize: 64).run(record.inputs.map(\.tensor))
        Fixtures.expectClose(outputs[0], record.outputs[0].tensor, "label")
        Fixtures.expectClose(outputs[1], record.outputs[1].tensor, "probabilities")

        let labels = try JSONSerialization.jsonObject(with: Data(Fixtures.bytes("digits_labels.json")))
            as? [String: Any] ?? [:]
        let truth = (labels["truth"] as? [NSNumber] ?? []).map(\.int64Value)
        let predicted = try #require(outputs[0].int64s)
        #expect(truth.count == predicted.count)
        let correct = zip(truth, predicted).filter { $0 == $1 }.count
        let accuracy = Double(correct) / Double(max(truth.count, 1))
        print("digits: accuracy \(String(format: "%.4f", accuracy)) on \(truth.count) test rows "
            + "(onnxruntime: \(labels["onnxruntime_accuracy"] ?? "?"))")
        #expect(accuracy > 0.9)
    }
}
