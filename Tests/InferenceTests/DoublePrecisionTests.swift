import Foundation
import Inference
import ProtoWire
import Testing

/// Graphs that compute in FP64 (skl2onnx exports with `DoubleTensorType`, and a hand-made graph of the other double
/// operators) against onnxruntime on committed fixtures (Fixtures/double, from Tools/interop/models/exports.py
/// --fixtures, kept fresh by Tools/check-fixtures). Both engines compute in double, so double outputs must agree to
/// 1e-9 relative (plus 1e-12 × the batch's largest magnitude, for sums that cancel), far inside float32's reach.
@Suite struct DoublePrecisionTests {
    static let fixtures = [
        "double/dbl_linear_regression", "double/dbl_scaler_linear_regression", "double/dbl_normalizer_minmax_ridge",
        "double/dbl_logistic_binary", "double/dbl_logistic_3", "double/dbl_mlp_regressor",
        "double/dbl_mlp_classifier", "double/dbl_random_forest_3", "double/dbl_ops", "double/dbl_sgd_log_loss_3",
        "double/dbl_kmeans", "double/dbl_gaussian_nb",
    ]

    /// |a − e| ≤ 1e-9·|e| + 1e-12·max|e| for doubles; float32 outputs (tree probabilities, a cast) by the issue's
    /// float rule; labels exactly.
    static func expectDoubleClose(_ actual: Tensor, _ expected: Tensor, _ what: String,
                                  sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .float64(let e) = expected.storage else {
            TreeEnsembleTests.expectClose(actual, expected, what, sourceLocation: sourceLocation)
            return
        }
        #expect(actual.shape == expected.shape, "\(what): shape", sourceLocation: sourceLocation)
        guard case .float64(let a) = actual.storage, a.count == e.count else {
            Issue.record("\(what): \(actual.dataType) \(actual.shape), expected float64", sourceLocation: sourceLocation)
            return
        }
        let largest = e.reduce(0) { Swift.max($0, $1.isFinite ? Swift.abs($1) : 0) }
        for i in e.indices {
            let close = a[i] == e[i] || (a[i].isNaN && e[i].isNaN)
                || Swift.abs(a[i] - e[i]) <= 1e-9 * Swift.abs(e[i]) + 1e-12 * largest
            #expect(close, "\(what)[\(i)]: \(a[i]), onnxruntime \(e[i])", sourceLocation: sourceLocation)
            if !close { return }
        }
    }

    @Test(arguments: fixtures)
    func testOutputsMatchOnnxruntimeInDouble(_ name: String) throws {
        let model = try Fixtures.model(name)
        let record = try Fixtures.record(name)
        #expect(model.signature.inputs.map(\.dataType) == [.float64])
        #expect(model.signature.outputs.map(\.name) == record.outputs.map(\.name))
        #expect(model.signature.outputs.map(\.dataType) == record.outputs.map(\.tensor.dataType))
        let outputs = try model.makeContext(maxBatchSize: 16).run(record.inputs.map(\.tensor))
        for (output, expected) in zip(outputs, record.outputs) {
            Self.expectDoubleClose(output, expected.tensor, "\(name).\(expected.name)")
        }
    }

    /// One row at a time (cblas_dgemv) gives what the whole batch gives (cblas_dgemm), to double precision.
    @Test(arguments: ["double/dbl_mlp_classifier", "double/dbl_scaler_linear_regression"])
    func testRowsAloneMatchTheBatch(_ name: String) throws {
        let model = try Fixtures.model(name)
        let record = try Fixtures.record(name)
        let input = try #require(record.inputs.first?.tensor)
        let values = try #require(input.doubles)
        let features = input.shape.dims[1]
        let context = model.makeContext(maxBatchSize: 16)
        let batch = try context.run([input])
        for row in 0..<input.shape.dims[0] {
            let single = Tensor(shape: [1, features], doubles: Array(values[(row * features)..<((row + 1) * features)]))
            for (alone, whole) in zip(try context.run([single]), batch) {
                let perRow = (whole.shape.elementCount ?? 0) / input.shape.dims[0]
                var dims = whole.shape.dims
                dims[0] = 1
                let slice: Tensor.Storage
                switch whole.storage {
                case .float64(let v): slice = .float64(Array(v[(row * perRow)..<((row + 1) * perRow)]))
                case .int64(let v): slice = .int64(Array(v[(row * perRow)..<((row + 1) * perRow)]))
                default: Issue.record("unexpected output type \(whole.dataType)"); return
                }
                Self.expectDoubleClose(alone, try #require(Tensor(shape: Shape(dims), storage: slice)),
                                       "\(name) row \(row)")
            }
        }
    }

    /// A double graph keeps digits float32 cannot hold: 1 + 2^-40 survives Add and MatMul.
    @Test func testDoubleKeepsWhatFloatWouldRound() throws {
        var one = ONNXTensor()
        one.name = "w"
        one.dims = [1, 1]
        one.dataType = ONNXTensor.ElementType.double
        one.doubleData = [1]
        let model = try Model(onnx: ModelBuilder.model(
            nodes: [ModelBuilder.node("MatMul", ["x", "w"], ["y"])],
            inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 1)],
                                            elementType: ONNXTensor.ElementType.double)],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 1)],
                                             elementType: ONNXTensor.ElementType.double)],
            initializers: [one]), name: "double")
        let x: [Double] = [1 + 0x1p-40, -3e300, 3 * Double.leastNonzeroMagnitude]
        let y = try model.makeContext(maxBatchSize: 4).run([Tensor(shape: [3, 1], doubles: x)])
        #expect(y.first?.doubles == x)
    }

    /// OneHotEncoder on double categories truncates them to int64 first, as onnxruntime does (3.7 is category 3).
    @Test func testOneHotEncoderTruncatesDoubleCategories() throws {
        var categories = ONNXAttribute()
        categories.name = "cats_int64s"
        categories.type = ONNXAttribute.Kind.ints
        categories.ints = [1, 3, 5]
        var model = ModelBuilder.model(
            nodes: [ModelBuilder.node("OneHotEncoder", ["x"], ["y"], domain: "ai.onnx.ml", attributes: [categories])],
            inputs: [ModelBuilder.valueInfo("x", [ModelBuilder.batch, ONNXDimension(value: 2)],
                                            elementType: ONNXTensor.ElementType.double)],
            outputs: [ModelBuilder.valueInfo("y", [ModelBuilder.batch, ONNXDimension(value: 2), ONNXDimension(value: 3)])])
        model.opsetImports.append(ONNXOperatorSetID(domain: "ai.onnx.ml", version: 3))
        let y = try Model(onnx: model, name: "onehot").makeContext(maxBatchSize: 4)
            .run([Tensor(shape: [3, 2], doubles: [1, 3.7, 5.2, -1, 2, 5])])
        #expect(y.first?.floats == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    }

    /// 3^(2^63 − 1) mod 2^64: odd numbers' powers repeat every 2^62 there, so 3^(2^63) = 1 and the answer is the
    /// inverse of 3 (3 × 0xAAAA…AB = 2^65 + 1).
    static let inverseOfThree = Int64(bitPattern: 0xAAAA_AAAA_AAAA_AAAB)

    /// Pow on int64 squares its way through any exponent (a huge one from a request used to loop that many times),
    /// wraps on overflow, and gives the integer part of the real result for a negative exponent.
    @Test func testInt64PowIsBoundedAndExact() throws {
        let dims = [ModelBuilder.batch, ONNXDimension(value: 1)]
        let model = try Model(onnx: ModelBuilder.model(
            nodes: [ModelBuilder.node("Pow", ["x", "e"], ["y"])],
            inputs: [ModelBuilder.valueInfo("x", dims, elementType: ONNXTensor.ElementType.int64),
                     ModelBuilder.valueInfo("e", dims, elementType: ONNXTensor.ElementType.int64)],
            outputs: [ModelBuilder.valueInfo("y", dims, elementType: ONNXTensor.ElementType.int64)]), name: "pow")
        let cases: [(Int64, Int64, Int64)] = [
            (3, 5, 243), (2, 62, 1 << 62), (-2, 3, -8), (7, 0, 1), (0, 0, 1), (0, 9, 0), (2, 64, 0),
            (3, 39, 4_052_555_153_018_976_267), (-1, .max, -1), (1, .max, 1), (0, .max, 0), (2, .max, 0),
            (-1, .max - 1, 1), (3, .max, Self.inverseOfThree), (2, -1, 0), (1, -5, 1), (-1, -3, -1), (-1, -4, 1),
            (0, -1, 0), (5, .min, 0),
        ]
        let x = Tensor(shape: [cases.count, 1], int64s: cases.map(\.0))
        let e = Tensor(shape: [cases.count, 1], int64s: cases.map(\.1))
        let y = try model.makeContext(maxBatchSize: cases.count).run([x, e])
        #expect(y.first?.int64s == cases.map(\.2))
    }
}
