import Batching
import Inference
import RPCCore
import Synchronization
import Testing
import TensorwireProto

@testable import Server
import TestSupport

@Suite(.serialized, .tags(.live))
struct PredictServiceLiveTests {
    static let catalog = ModelCatalog(repository: ModelRepository.builtin())
    let service = PredictService(catalog: PredictServiceLiveTests.catalog)

    var digitsInput: TensorSignature {
        get throws { try #require(try service.catalog.resolve(model: "digits", version: "").1.model.signature.inputs.first) }
    }

    func run(_ request: TensorwireV1.PredictRequest) -> Result<TensorwireV1.PredictResponse, RPCError>? {
        let box = Promise<Result<TensorwireV1.PredictResponse, RPCError>>()
        service.predict(request, deadline: nil, cancellation: CancellationToken()) { box.fulfill($0) }
        return box.wait()
    }

    func request(rows: Int, name: String? = nil, configure: (inout TensorwireV1.Tensor) -> Void = { _ in }) throws
        -> TensorwireV1.PredictRequest
    {
        let input = try digitsInput
        var tensor = TensorwireV1.Tensor(name: name ?? input.name, shape: [Int64(rows), 64],
                                         floatData: (0..<(rows * 64)).map { Float($0 % 17) })
        configure(&tensor)
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        request.id = "r1"
        request.inputs = [tensor]
        return request
    }

    @Test func predictOnTheBuiltInModelReturnsEveryOutputWithBatchFacts() throws {
        let result = try #require(run(try request(rows: 3)))
        let response = try result.get()
        #expect(response.model == "digits")
        #expect(response.version == "1")
        #expect(response.id == "r1")
        #expect(response.outputs.count == service.catalog.versionsByModel["digits"]?.first?.entry.model?.signature.outputs.count)
        for output in response.outputs { #expect(output.shape.first == 3) }
        #expect((response.batch?.batchSize ?? 0) >= 3)
    }

    @Test func rawDataFloat64AndUnnamedInputsGiveTheSameAnswerAsFloatData() throws {
        let reference = try #require(run(try request(rows: 2))).get().outputs
        let values = (0..<128).map { Float($0 % 17) }
        let raw = try #require(run(try request(rows: 2) {
            $0.floatData = []
            $0.dtype = .float32
            $0.rawData = values.withUnsafeBytes { [UInt8]($0) }
        })).get().outputs
        let doubles = try #require(run(try request(rows: 2, name: "") {
            $0.floatData = []
            $0.doubleData = values.map { Double($0) }
        })).get().outputs
        #expect(raw == reference)
        #expect(doubles == reference)
    }

    @Test func outputFilterKeepsOnlyTheNamedOutputs() throws {
        var req = try request(rows: 1)
        let first = try #require(service.catalog.versionsByModel["digits"]?.first?.entry.model?.signature.outputs.first)
        req.outputs = [first.name]
        let response = try #require(run(req)).get()
        #expect(response.outputs.map(\.name) == [first.name])
    }

    func expectError(_ request: TensorwireV1.PredictRequest, _ code: Status.Code, containing text: String) {
        guard case .failure(let error)? = run(request) else {
            Issue.record("expected \(code), got a response")
            return
        }
        #expect(error.code == code)
        #expect(error.message.contains(text), "message: \(error.message)")
    }

    @Test func badRequestsGetPreciseStatuses() throws {
        var unknown = try request(rows: 1)
        unknown.model = "nope"
        expectError(unknown, .notFound, containing: "unknown model \"nope\"")
        var badVersion = try request(rows: 1)
        badVersion.version = "7"
        expectError(badVersion, .notFound, containing: "no version \"7\"")
        expectError(try request(rows: 1) { $0.shape = [1, 63] }, .invalidArgument, containing: "expected shape [-1, 64], got [1, 63]")
        expectError(try request(rows: 1) { $0.floatData.removeLast() }, .invalidArgument, containing: "needs 64 elements, got 63")
        expectError(try request(rows: 1, name: "pixels"), .invalidArgument, containing: "has no input \"pixels\"")
        expectError(try request(rows: 1) { $0.floatData = [] }, .invalidArgument, containing: "carries no data")
        expectError(try request(rows: 1) { $0.dtype = .float32; $0.floatData = []; $0.rawData = [1, 2, 3] },
                    .invalidArgument, containing: "raw_data holds 3 bytes")
        expectError(try request(rows: 1) { $0.dtype = .string }, .invalidArgument, containing: "dtype DATA_TYPE_STRING is not accepted")
        var badOutput = try request(rows: 1)
        badOutput.outputs = ["nope"]
        expectError(badOutput, .invalidArgument, containing: "has no output \"nope\"")
        var missing = try request(rows: 1)
        missing.inputs = []
        expectError(missing, .invalidArgument, containing: "is missing")
    }

    @Test func getModelDescribesTheSignatureAndBatching() throws {
        let info = try service.getModel({ var r = TensorwireV1.GetModelRequest(); r.model = "digits"; return r }())
        #expect(info.state == .ready)
        #expect(info.defaultVersion == "1")
        #expect(info.inputs.first?.shape == [-1, 64])
        #expect(info.inputs.first?.acceptedDtypes.contains(.float64) == true)
        #expect((info.batching?.maxBatchSize ?? 0) > 1)
        #expect(service.listModels().models.map(\.name) == ["digits"])
        #expect(throws: RPCError.self) { try service.getModel(TensorwireV1.GetModelRequest()) }
    }

    @Test func halfPrecisionConversionHandlesNormalsSubnormalsAndSpecials() {
        #expect(TensorConversion.halfToFloat(0x3C00) == 1)
        #expect(TensorConversion.halfToFloat(0xC000) == -2)
        #expect(TensorConversion.halfToFloat(0x0001) == Float(sign: .plus, exponent: -24, significand: 1))
        #expect(TensorConversion.halfToFloat(0x7C00) == .infinity)
        #expect(TensorConversion.halfToFloat(0x7E00).isNaN)
    }
}
