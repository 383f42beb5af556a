import Foundation
import ProtoWire
import Testing
import TensorwireProto

/// Golden tests: `Tests/TensorwireProtoTests/Fixtures` holds bytes written by Python's protobuf (the reference
/// encoder, `Tools/fixtures/generate_proto_fixtures.py`) with the field values they encode. Every fixture must
/// decode to exactly those values, and re-encode to the same bytes where the reference encoding is canonical.
struct GoldenFixtureTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static var fixtureNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".bin") }.map { String($0.dropLast(4)) }.sorted()
    }

    struct Fixture {
        let bytes: [UInt8]
        let message: String
        let canonical: Bool
        let fields: [String: Any]
    }

    static func load(_ name: String) throws -> Fixture {
        let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name + ".bin")))
        let json = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        return Fixture(
            bytes: bytes,
            message: try #require(object["message"] as? String),
            canonical: try #require(object["canonical"] as? Bool),
            fields: try #require(object["fields"] as? [String: Any])
        )
    }

    @Test func everyMessageTypeHasFixtures() {
        let types = Set(Self.fixtureNames.map { $0.split(separator: "-")[0] })
        #expect(
            types == [
                "PredictRequest", "PredictResponse", "ModelInfo", "ListModelsResponse", "HealthCheckRequest",
                "HealthCheckResponse",
            ])
    }

    @Test(arguments: fixtureNames)
    func fixtureDecodesToItsValuesAndReencodes(name: String) throws {
        let fixture = try Self.load(name)
        switch fixture.message {
        case "tensorwire.v1.PredictRequest":
            try check(TensorwireV1.PredictRequest.self, fixture, expected: predictRequest(fixture.fields))
        case "tensorwire.v1.PredictResponse":
            try check(TensorwireV1.PredictResponse.self, fixture, expected: predictResponse(fixture.fields))
        case "tensorwire.v1.ModelInfo":
            try check(TensorwireV1.ModelInfo.self, fixture, expected: modelInfo(fixture.fields))
        case "tensorwire.v1.ListModelsResponse":
            var expected = TensorwireV1.ListModelsResponse()
            expected.models = try list(fixture.fields["models"]).map { try modelInfo(dict($0)) }
            try check(TensorwireV1.ListModelsResponse.self, fixture, expected: expected)
        case "grpc.health.v1.HealthCheckRequest":
            let expected = GRPCHealthV1.HealthCheckRequest(service: try string(fixture.fields["service"]))
            try check(GRPCHealthV1.HealthCheckRequest.self, fixture, expected: expected)
        case "grpc.health.v1.HealthCheckResponse":
            let status = GRPCHealthV1.HealthCheckResponse.ServingStatus(rawValue: try int32(fixture.fields["status"]))
            try check(GRPCHealthV1.HealthCheckResponse.self, fixture, expected: .init(status: status))
        default:
            Issue.record("fixture \(name) has an unexpected message type \(fixture.message)")
        }
    }

    func check<M: ProtoMessage & Equatable>(_ type: M.Type, _ fixture: Fixture, expected: M) throws {
        let decoded = try M(serializedBytes: fixture.bytes)
        #expect(decoded == expected)
        if fixture.canonical {
            #expect(decoded.serializedBytes() == fixture.bytes)
        }
        #expect(decoded.encodedSize == decoded.serializedBytes().count)
        // Whatever the input form (unpacked, unknown fields), our canonical encoding decodes to the same value.
        #expect(try M(serializedBytes: decoded.serializedBytes()) == expected)
    }

    // MARK: JSON → expected message (field names as in the .proto file)

    func predictRequest(_ fields: [String: Any]) throws -> TensorwireV1.PredictRequest {
        var message = TensorwireV1.PredictRequest()
        message.model = try string(fields["model"])
        message.version = try string(fields["version"])
        message.inputs = try list(fields["inputs"]).map { try tensor(dict($0)) }
        message.outputs = try list(fields["outputs"]).map { try string($0) }
        message.id = try string(fields["id"])
        return message
    }

    func predictResponse(_ fields: [String: Any]) throws -> TensorwireV1.PredictResponse {
        var message = TensorwireV1.PredictResponse()
        message.model = try string(fields["model"])
        message.version = try string(fields["version"])
        message.outputs = try list(fields["outputs"]).map { try tensor(dict($0)) }
        message.id = try string(fields["id"])
        if let batch = fields["batch"] as? [String: Any] {
            var info = TensorwireV1.BatchInfo()
            info.batchSize = UInt32(try int64(batch["batch_size"]))
            info.queueUs = try uint64(batch["queue_us"])
            info.computeUs = try uint64(batch["compute_us"])
            info.batchRequests = UInt32(try int64(batch["batch_requests"]))
            message.batch = info
        }
        if let error = fields["error"] as? [String: Any] {
            message.error = TensorwireV1.PredictError(code: try int32(error["code"]), message: try string(error["message"]))
        }
        return message
    }

    func tensor(_ fields: [String: Any]) throws -> TensorwireV1.Tensor {
        var tensor = TensorwireV1.Tensor()
        tensor.name = try string(fields["name"])
        tensor.dtype = TensorwireV1.DataType(rawValue: try int32(fields["dtype"]))
        tensor.shape = TensorShape(try list(fields["shape"]).map { try int64($0) })
        tensor.floatData = try list(fields["float_data"]).map { try #require(Float(try string($0))) }
        tensor.doubleData = try list(fields["double_data"]).map { try #require(Double(try string($0))) }
        tensor.int32Data = try list(fields["int32_data"]).map { try int32($0) }
        tensor.int64Data = try list(fields["int64_data"]).map { try int64($0) }
        tensor.boolData = try list(fields["bool_data"]).map { try #require($0 as? Bool) }
        tensor.stringData = try list(fields["string_data"]).map { try string($0) }
        tensor.rawData = [UInt8](try #require(Data(base64Encoded: try string(fields["raw_data"]))))
        tensor.uint64Data = try list(fields["uint64_data"]).map { try uint64($0) }
        return tensor
    }

    func modelInfo(_ fields: [String: Any]) throws -> TensorwireV1.ModelInfo {
        var info = TensorwireV1.ModelInfo()
        info.name = try string(fields["name"])
        info.versions = try list(fields["versions"]).map { value in
            let entry = try dict(value)
            var version = TensorwireV1.ModelVersion()
            version.version = try string(entry["version"])
            version.state = TensorwireV1.ModelState(rawValue: try int32(entry["state"]))
            version.error = try string(entry["error"])
            version.sealed = try #require(entry["sealed"] as? Bool)
            version.sha256 = try string(entry["sha256"])
            return version
        }
        info.state = TensorwireV1.ModelState(rawValue: try int32(fields["state"]))
        info.error = try string(fields["error"])
        info.inputs = try list(fields["inputs"]).map { try tensorSpec(dict($0)) }
        info.outputs = try list(fields["outputs"]).map { try tensorSpec(dict($0)) }
        if let batching = fields["batching"] as? [String: Any] {
            var config = TensorwireV1.BatchingConfig()
            config.maxBatchSize = UInt32(try int64(batching["max_batch_size"]))
            config.maxQueueDelayUs = try uint64(batching["max_queue_delay_us"])
            config.preferredBatchSizes = try list(batching["preferred_batch_sizes"]).map { UInt32(try int64($0)) }
            config.maxQueueSize = UInt32(try int64(batching["max_queue_size"]))
            config.defaultTimeoutUs = try uint64(batching["default_timeout_us"])
            config.instances = UInt32(try int64(batching["instances"]))
            info.batching = config
        }
        info.defaultVersion = try string(fields["default_version"])
        info.platform = try string(fields["platform"])
        info.description = try string(fields["description"])
        return info
    }

    func tensorSpec(_ fields: [String: Any]) throws -> TensorwireV1.TensorSpec {
        var spec = TensorwireV1.TensorSpec()
        spec.name = try string(fields["name"])
        spec.dtype = TensorwireV1.DataType(rawValue: try int32(fields["dtype"]))
        spec.shape = try list(fields["shape"]).map { try int64($0) }
        spec.acceptedDtypes = try list(fields["accepted_dtypes"]).map { TensorwireV1.DataType(rawValue: try int32($0)) }
        return spec
    }

    // JSON scalars: 64-bit integers arrive as strings, 32-bit ones as numbers.
    func string(_ value: Any?) throws -> String { try #require(value as? String) }
    func list(_ value: Any?) throws -> [Any] { try #require(value as? [Any]) }
    func dict(_ value: Any?) throws -> [String: Any] { try #require(value as? [String: Any]) }
    func int64(_ value: Any?) throws -> Int64 {
        if let text = value as? String { return try #require(Int64(text)) }
        return try #require((value as? NSNumber)?.int64Value)
    }
    func uint64(_ value: Any?) throws -> UInt64 {
        if let text = value as? String { return try #require(UInt64(text)) }
        return try #require((value as? NSNumber)?.uint64Value)
    }
    func int32(_ value: Any?) throws -> Int32 { try #require(Int32(exactly: try int64(value))) }
}
