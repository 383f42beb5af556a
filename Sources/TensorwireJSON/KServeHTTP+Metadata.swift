// Sources/TensorwireJSON/KServeHTTP+Metadata.swift: the other KServe v2 / Triton HTTP bodies: metadata, model
// configuration, statistics, the repository routes and errors.

internal import Base64Codec
internal import JSONWire
public import TensorwireProto

extension KServeHTTP {
    /// `GET /v2`: `{"name", "version", "extensions": [...]}`.
    public static func encodeServerMetadata(_ metadata: KServe.ServerMetadataResponse) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("name", metadata.name)
        writer.member("version", metadata.version)
        writer.member("extensions", strings: metadata.extensions)
        writer.endObject()
        return writer.bytes
    }

    /// `GET /v2/models/{m}[/versions/{v}]`: `{"name", "versions", "platform", "inputs", "outputs"}`, each tensor
    /// `{"name", "datatype", "shape"}` with shapes as numbers (-1 for the batch and dynamic dimensions).
    public static func encodeModelMetadata(_ metadata: KServe.ModelMetadataResponse) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("name", metadata.name)
        writer.member("versions", strings: metadata.versions)
        writer.member("platform", metadata.platform)
        for (key, tensors) in [("inputs", metadata.inputs), ("outputs", metadata.outputs)] {
            writer.key(key)
            writer.beginArray()
            for tensor in tensors {
                writer.beginObject()
                writer.member("name", tensor.name)
                writer.member("datatype", tensor.datatype)
                writer.member("shape", int64s: tensor.shape)
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
        return writer.bytes
    }

    /// `GET /v2/models/{m}[/versions/{v}]/config`: the configuration object itself, as Triton writes it (its
    /// `ModelConfigToJson`): protobuf's JSON with the proto field names, every field without presence written even
    /// at its default (so perf_analyzer finds `max_batch_size`, `is_shape_tensor`, `optional`…), messages only when
    /// set, enums by name (`"TYPE_FP32"`), and the 64-bit integers Triton turns back into numbers (`dims`,
    /// `reshape.shape`, `version_policy.specific.versions`, the dynamic batching delays and priorities) as numbers.
    /// Fields in declaration order.
    public static func encodeModelConfig(_ config: KServe.ModelConfig) -> [UInt8] {
        var writer = JSONWriter()
        config.writeTritonJSON(to: &writer)
        return writer.bytes
    }

    /// `GET /v2/models[/{m}[/versions/{v}]]/stats`: `{"model_stats": [...]}` as Triton writes it: every count and
    /// duration a number, each duration `{"count", "ns"}`, and the empty `response_stats` and `memory_usage` this
    /// server never fills.
    public static func encodeModelStatistics(_ statistics: KServe.ModelStatisticsResponse) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("model_stats")
        writer.beginArray()
        for model in statistics.modelStats {
            let stats = model.inferenceStats
            writer.beginObject()
            writer.member("name", model.name)
            writer.member("version", model.version)
            writer.member("last_inference", uint64: model.lastInference)
            writer.member("inference_count", uint64: model.inferenceCount)
            writer.member("execution_count", uint64: model.executionCount)
            writer.member("inference_stats") { writer in
                writer.durations([
                    ("success", stats.success), ("fail", stats.fail), ("queue", stats.queue),
                    ("compute_input", stats.computeInput), ("compute_infer", stats.computeInfer),
                    ("compute_output", stats.computeOutput), ("cache_hit", stats.cacheHit),
                    ("cache_miss", stats.cacheMiss),
                ])
            }
            writer.member("response_stats") { _ in }
            writer.key("batch_stats")
            writer.beginArray()
            for batch in model.batchStats {
                writer.beginObject()
                writer.member("batch_size", uint64: batch.batchSize)
                writer.durations([
                    ("compute_input", batch.computeInput), ("compute_infer", batch.computeInfer),
                    ("compute_output", batch.computeOutput),
                ])
                writer.endObject()
            }
            writer.endArray()
            writer.member("memory_usage", strings: [])
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }

    /// `POST /v2/repository/index`: a JSON array of `{"name", "version", "state", "reason"}`, `version` and `reason`
    /// left out when empty, as Triton writes it.
    public static func encodeRepositoryIndex(_ index: KServe.RepositoryIndexResponse) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginArray()
        for model in index.models {
            writer.beginObject()
            writer.member("name", model.name)
            if !model.version.isEmpty { writer.member("version", model.version) }
            writer.member("state", model.state)
            if !model.reason.isEmpty { writer.member("reason", model.reason) }
            writer.endObject()
        }
        writer.endArray()
        return writer.bytes
    }

    /// The body of a failed request: `{"error": message}`, what tritonclient.http reads for the exception's text.
    public static func encodeError(_ message: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("error", message)
        writer.endObject()
        return writer.bytes
    }

    /// `POST /v2/repository/index`'s body: empty (tritonclient sends nothing) or `{"ready": true|false}`. Other
    /// members are ignored.
    public static func decodeRepositoryIndexRequest(body: [UInt8]) throws(KServeHTTPError) -> KServe.RepositoryIndexRequest {
        var request = KServe.RepositoryIndexRequest()
        guard body.contains(where: { !isWhitespace($0) }) else { return request }
        try readBodyObject(body) { reader, key throws(JSONError) in
            guard key == "ready" else { return }
            guard try reader.peekKind() == .bool else { throw reader.error("'ready' must be true or false") }
            request.ready = try reader.readBool()
        }
        return request
    }

    /// `POST /v2/repository/models/{m}/load|unload`'s body: empty, or `{"parameters": {...}}`. Parameters keep their
    /// JSON type (bool, integer, string); a `file:…` parameter (tritonclient's override files) is base64 and is
    /// decoded to bytes. `modelName` comes from the URL.
    public static func decodeRepositoryModelRequest(
        body: [UInt8], modelName: String
    ) throws(KServeHTTPError) -> KServe.RepositoryModelRequest {
        var request = KServe.RepositoryModelRequest()
        request.modelName = modelName
        guard body.contains(where: { !isWhitespace($0) }) else { return request }
        try readBodyObject(body) { reader, key throws(JSONError) in
            guard key == "parameters" else { return }
            var names = MemberNames()
            try reader.readObject { reader, name throws(JSONError) in
                try names.insert(name, reader, in: "the parameters")
                var entry = KServe.RepositoryParameterEntry()
                entry.key = name
                entry.value.choice = try repositoryParameter(&reader, name: name)
                request.parameters.append(entry)
            }
        }
        return request
    }

    private static func repositoryParameter(
        _ reader: inout JSONReader, name: String
    ) throws(JSONError) -> KServe.ModelRepositoryParameter.Choice {
        switch try reader.peekKind() {
        case .bool:
            return .bool(try reader.readBool())
        case .number:
            return .int64(try reader.readInt64())
        case .string:
            let start = reader.offset
            let text = try reader.readString()
            guard name.hasPrefix("file:") else { return .string(text) }
            guard let bytes = Base64.decode(text) else { throw reader.error("parameter '\(name)' is not base64", at: start) }
            return .bytes(bytes)
        case .object, .array, .null:
            throw reader.error("parameter '\(name)' must be a bool, an integer or a string")
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}

extension JSONWriter {
    /// `{"count", "ns"}` members, one per duration.
    mutating func durations(_ durations: [(String, KServe.StatisticDuration)]) {
        for (name, duration) in durations {
            member(name) { writer in
                writer.member("count", uint64: duration.count)
                writer.member("ns", uint64: duration.ns)
            }
        }
    }
}

// MARK: - Model configuration, Triton's JSON

// Always-printed fields: every field without presence (scalars, strings, enums, repeated) is written even at its
// default; message fields only when set. Names are the proto field names; order is the declaration order of
// Proto/inference/model_config.proto.

private let dataTypeNames = [
    "TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64", "TYPE_INT8", "TYPE_INT16",
    "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32", "TYPE_FP64", "TYPE_STRING", "TYPE_BF16",
]

extension JSONWriter {
    mutating func member(_ name: String, enumValue value: Int32, _ names: [String]) {
        key(name)
        protoEnumValue(value, names)
    }

    mutating func member(_ name: String, reshape: KServe.ModelTensorReshape?) {
        guard let reshape else { return }
        member(name) { writer in writer.member("shape", int64s: reshape.shape) }
    }
}

extension KServe.ModelConfig {
    func writeTritonJSON(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("name", name)
        writer.member("platform", platform)
        if let versionPolicy {
            writer.member("version_policy") { writer in
                switch versionPolicy.choice {
                case .latest(let latest):
                    writer.member("latest") { writer in writer.member("num_versions", uint64: UInt64(latest.numVersions)) }
                case .all:
                    writer.member("all") { _ in }
                case .specific(let specific):
                    writer.member("specific") { writer in writer.member("versions", int64s: specific.versions) }
                case nil:
                    break
                }
            }
        }
        writer.member("max_batch_size", int64: Int64(maxBatchSize))
        writer.key("input")
        writer.beginArray()
        for tensor in input {
            writer.beginObject()
            writer.member("name", tensor.name)
            writer.member("data_type", enumValue: tensor.dataType.rawValue, dataTypeNames)
            writer.member("format", enumValue: tensor.format, ["FORMAT_NONE", "FORMAT_NHWC", "FORMAT_NCHW"])
            writer.member("dims", int64s: tensor.dims)
            writer.member("reshape", reshape: tensor.reshape)
            writer.member("is_shape_tensor", tensor.isShapeTensor)
            writer.member("allow_ragged_batch", tensor.allowRaggedBatch)
            writer.member("optional", tensor.optional)
            writer.member("is_non_linear_format_io", tensor.isNonLinearFormatIO)
            writer.endObject()
        }
        writer.endArray()
        writer.key("output")
        writer.beginArray()
        for tensor in output {
            writer.beginObject()
            writer.member("name", tensor.name)
            writer.member("data_type", enumValue: tensor.dataType.rawValue, dataTypeNames)
            writer.member("dims", int64s: tensor.dims)
            writer.member("label_filename", tensor.labelFilename)
            writer.member("reshape", reshape: tensor.reshape)
            writer.member("is_shape_tensor", tensor.isShapeTensor)
            writer.member("is_non_linear_format_io", tensor.isNonLinearFormatIO)
            writer.endObject()
        }
        writer.endArray()
        writer.key("instance_group")
        writer.beginArray()
        for group in instanceGroup {
            writer.beginObject()
            writer.member("name", group.name)
            writer.member("count", int64: Int64(group.count))
            writer.member("kind", enumValue: group.kind.rawValue, ["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"])
            writer.endObject()
        }
        writer.endArray()
        if let batching = dynamicBatching {
            writer.member("dynamic_batching") { writer in
                writer.member("preferred_batch_size", int64s: batching.preferredBatchSize.map(Int64.init))
                writer.member("max_queue_delay_microseconds", uint64: batching.maxQueueDelayMicroseconds)
                writer.member("preserve_ordering", batching.preserveOrdering)
                writer.member("priority_levels", uint64: batching.priorityLevels)
                writer.member("default_priority_level", uint64: batching.defaultPriorityLevel)
                if let policy = batching.defaultQueuePolicy {
                    writer.member("default_queue_policy") { writer in
                        writer.member("timeout_action", enumValue: policy.timeoutAction, ["REJECT", "DELAY"])
                        writer.member("default_timeout_microseconds", uint64: policy.defaultTimeoutMicroseconds)
                        writer.member("allow_timeout_override", policy.allowTimeoutOverride)
                        writer.member("max_queue_size", uint64: UInt64(policy.maxQueueSize))
                    }
                }
            }
        }
        writer.member("backend", backend)
        if let policy = modelTransactionPolicy {
            writer.member("model_transaction_policy") { writer in writer.member("decoupled", policy.decoupled) }
        }
        if let cache = responseCache {
            writer.member("response_cache") { writer in writer.member("enable", cache.enable) }
        }
        writer.member("runtime", runtime)
        writer.endObject()
    }
}
