import Batching
import Inference
import RPCCore
import Testing
import TensorwireProto

@testable import Server
import TestSupport

/// Data sent in a typed field other than the one `dtype` (native) or `datatype` (KServe) selects: the refusal names
/// the field that holds the data and the one the type reads, and says how to fix it, instead of counting the empty
/// field's zero elements against the shape ("shape needs 64 elements, got 0"). On the built-in digits model (input X,
/// FLOAT32 [-1, 64]).
@Suite(.serialized, .tags(.live))
struct TypedFieldErrorLiveTests {
    let predict = PredictService(catalog: PredictServiceLiveTests.catalog)
    let kserve = KServeService(catalog: PredictServiceLiveTests.catalog)

    /// The INVALID_ARGUMENT message of a Predict of one digits row configured by `configure` (empty when it succeeds).
    func predictError(_ configure: (inout TensorwireV1.Tensor) -> Void) -> String {
        var tensor = TensorwireV1.Tensor(name: "X", shape: [1, 64])
        configure(&tensor)
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        request.inputs = [tensor]
        let box = Promise<Result<TensorwireV1.PredictResponse, RPCError>>()
        predict.predict(request, deadline: nil, cancellation: CancellationToken()) { box.fulfill($0) }
        guard case .failure(let error)? = box.wait() else { return "" }
        #expect(error.code == .invalidArgument, "\(error)")
        return error.message
    }

    /// The INVALID_ARGUMENT message of a ModelInfer of one digits row in `contents` of `datatype` (empty on success).
    func inferError(datatype: String = "FP32", _ configure: (inout KServe.InferTensorContents) -> Void) -> String {
        var input = KServe.ModelInferRequest.InferInputTensor(name: "X", datatype: datatype, shape: [1, 64])
        var contents = KServe.InferTensorContents()
        configure(&contents)
        input.contents = contents
        var request = KServe.ModelInferRequest()
        request.modelName = "digits"
        request.inputs = [input]
        let box = Promise<Result<(KServe.ModelInferResponse, TensorwireV1.BatchInfo?), RPCError>>()
        kserve.infer(request, deadline: nil, cancellation: CancellationToken()) { box.fulfill($0) }
        guard case .failure(let error)? = box.wait() else { return "" }
        #expect(error.code == .invalidArgument, "\(error)")
        return error.message
    }

    static let row = (0..<64).map { $0 % 16 }

    @Test func float32DtypeWithTheValuesInInt64DataNamesBothFields() {
        let message = predictError { $0.dtype = .float32; $0.int64Data = Self.row.map { Int64($0) } }
        #expect(message.contains("the data is in int64_data (64 values) while dtype says FLOAT32, which reads float_data (empty)"),
                "\(message)")
        #expect(message.contains("set dtype to INT64 (or leave it unset) to send them as int64_data, or send them in float_data"),
                "\(message)")
        #expect(!message.contains("got 0"), "\(message)")
        // As the message says: with dtype INT64 (or unset) the same values are served.
        #expect(predictError { $0.dtype = .int64; $0.int64Data = Self.row.map { Int64($0) } } == "")
        #expect(predictError { $0.int64Data = Self.row.map { Int64($0) } } == "")
    }

    @Test func otherDtypesAndFieldsAreNamedToo() {
        let int64 = predictError { $0.dtype = .int64; $0.floatData = Self.row.map { Float($0) } }
        #expect(int64.contains("the data is in float_data (64 values) while dtype says INT64, which reads int64_data"), "\(int64)")
        #expect(int64.contains("set dtype to FLOAT32"), "\(int64)")
        let uint8 = predictError { $0.dtype = .uint8; $0.uint64Data = Self.row.map { UInt64($0) } }
        #expect(uint8.contains("uint64_data (64 values) while dtype says UINT8, which reads int32_data"), "\(uint8)")
        // Two fields hold data: both are named, and the field dtype reads is the fix.
        let two = predictError { $0.dtype = .float32; $0.doubleData = Self.row.map { Double($0) }; $0.int32Data = Self.row.map { Int32($0) } }
        #expect(two.contains("the data is in double_data (64 values) and int32_data (64 values) while dtype says FLOAT32"), "\(two)")
        #expect(two.contains("send the values in float_data only"), "\(two)")
        // A field whose type the input does not take: only moving the values is suggested.
        let strings = predictError { $0.dtype = .float32; $0.stringData = Self.row.map { String($0) } }
        #expect(strings.contains("the data is in string_data (64 values) while dtype says FLOAT32"), "\(strings)")
        #expect(strings.contains("send them in float_data (the input is FLOAT32)"), "\(strings)")
        #expect(!strings.contains("set dtype"), "\(strings)")
        // No data anywhere, and a dtype that travels only in raw_data.
        let empty = predictError { $0.dtype = .float32 }
        #expect(empty.contains("carries no data: dtype FLOAT32 reads float_data (or raw_data), and both are empty"), "\(empty)")
        let half = predictError { $0.dtype = .float16; $0.floatData = Self.row.map { Float($0) } }
        #expect(half.contains("dtype FLOAT16 has no typed field; send its elements in raw_data (little-endian, 2 bytes each)"), "\(half)")
        // Unchanged: a short typed field is still counted against the shape.
        #expect(predictError { $0.dtype = .float32; $0.floatData = [1, 2] }.contains("shape needs 64 elements, got 2"))
    }

    @Test func kserveFP32WithTheValuesInInt64ContentsNamesBothFields() {
        let message = inferError { $0.int64Contents = Self.row.map { Int64($0) } }
        #expect(message.contains("unexpected explicit tensor data for input tensor 'X' for model 'digits'"), "\(message)")
        #expect(message.contains("the data is in int64_contents (64 values) while datatype says FP32, which reads fp32_contents (empty)"),
                "\(message)")
        #expect(message.contains("set datatype INT64 to send them as int64_contents, or send them in fp32_contents"), "\(message)")
        // As the message says: datatype INT64 with the same contents is served.
        #expect(inferError(datatype: "INT64") { $0.int64Contents = Self.row.map { Int64($0) } } == "")
    }

    @Test func kserveStrayFieldsBesidesEmptyAndUnacceptedContentsAreExplained() {
        let both = inferError { $0.fp32Contents = Self.row.map { Float($0) }; $0.uintContents = Self.row.map { UInt32($0) } }
        #expect(both.contains("uint_contents (64 values) is set besides fp32_contents; datatype FP32 reads fp32_contents only"),
                "\(both)")
        let bytes = inferError { $0.bytesContents = Self.row.map { Array(String($0).utf8) } }
        #expect(bytes.contains("the data is in bytes_contents (64 values) while datatype says FP32"), "\(bytes)")
        #expect(bytes.contains("send them in fp32_contents"), "\(bytes)")
        #expect(!bytes.contains("set datatype BYTES"), "\(bytes)")
        let empty = inferError { _ in }
        #expect(empty.contains("input 'X' for model 'digits' carries no data: datatype FP32 reads fp32_contents, which is empty, and shape [1, 64] needs 64 values"),
                "\(empty)")
    }
}

/// The per-request acceptance checks give the same answers as the lists GetModel and the error messages show.
@Suite struct AcceptedTypesTests {
    @Test func acceptanceMatchesTheListedTypes() {
        for type in [DataType.float32, .float64, .int64, .string] {
            for raw: Int32 in 0...20 {
                let wire = TensorwireV1.DataType(rawValue: raw)
                #expect(TensorConversion.accepts(wire, for: type)
                            == TensorConversion.acceptedWireTypes(for: type).contains(wire), "\(type) \(wire)")
            }
            for datatype in KServeTensors.datatypes {
                #expect(KServeTensors.accepts(datatype, for: type)
                            == KServeTensors.acceptedNames(for: type).contains(datatype.name), "\(type) \(datatype.name)")
            }
        }
    }
}
