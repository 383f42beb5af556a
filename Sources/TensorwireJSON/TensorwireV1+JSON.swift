// Sources/TensorwireJSON/TensorwireV1+JSON.swift: proto3 JSON of the tensorwire.v1 messages the REST routes carry.

public import JSONWire
public import TensorwireProto

// Each message lists its fields in number order, as `decodeField` and `traverse` do: JSON name, proto name, number.
// Reading accepts either name; writing uses the JSON name and leaves out default values (ProtoJSON.swift).

private typealias DataType = TensorwireV1.DataType
private typealias ModelState = TensorwireV1.ModelState

extension TensorwireV1.Tensor: ProtoJSONMessage {
    public static var protoJSONName: String { "Tensor" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "name":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in self.name = try r.readString() }
        case "dtype":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in
                dtype = DataType(rawValue: try r.readProtoEnum(DataType.names))
            }
        case "shape":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoNumbers { r throws(JSONError) in shape.append(try r.readProtoInt64()) }
            }
        case "floatData", "float_data":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in
                try r.readFloats(into: &floatData, options: [.quoted, .nonFiniteStrings])
            }
        case "doubleData", "double_data":
            try fields.read(5, name, &reader, in: message) { r throws(JSONError) in
                try r.readDoubles(into: &doubleData, options: [.quoted, .nonFiniteStrings])
            }
        case "int32Data", "int32_data":
            try fields.read(6, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoNumbers { r throws(JSONError) in int32Data.append(try r.readProtoInt32()) }
            }
        case "int64Data", "int64_data":
            try fields.read(7, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoNumbers { r throws(JSONError) in int64Data.append(try r.readProtoInt64()) }
            }
        case "boolData", "bool_data":
            try fields.read(8, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in boolData.append(try r.readBool()) }
            }
        case "stringData", "string_data":
            try fields.read(9, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in stringData.append(try r.readString()) }
            }
        case "rawData", "raw_data":
            try fields.read(10, name, &reader, in: message) { r throws(JSONError) in rawData = try r.readProtoBytes() }
        case "uint64Data", "uint64_data":
            try fields.read(11, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoNumbers { r throws(JSONError) in uint64Data.append(try r.readProtoUInt64()) }
            }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoString("name", name)
        writer.protoEnum("dtype", dtype.rawValue, DataType.names)
        writer.protoRepeated("shape", shape) { w, value in w.string(String(value)) }
        writer.protoRepeated("floatData", floatData) { w, value in w.protoFloatValue(value) }
        writer.protoRepeated("doubleData", doubleData) { w, value in w.protoDoubleValue(value) }
        writer.protoRepeated("int32Data", int32Data) { w, value in w.int64(Int64(value)) }
        writer.protoRepeated("int64Data", int64Data) { w, value in w.string(String(value)) }
        writer.protoRepeated("boolData", boolData) { w, value in w.bool(value) }
        writer.protoRepeated("stringData", stringData) { w, value in w.string(value) }
        writer.protoBytes("rawData", rawData)
        writer.protoRepeated("uint64Data", uint64Data) { w, value in w.string(String(value)) }
    }
}

extension TensorwireV1.PredictRequest: ProtoJSONMessage {
    public static var protoJSONName: String { "PredictRequest" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "model":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in model = try r.readString() }
        case "version":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in version = try r.readString() }
        case "inputs":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in inputs.append(try .init(jsonObjectFrom: &r)) }
            }
        case "outputs":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in outputs.append(try r.readString()) }
            }
        case "id":
            try fields.read(5, name, &reader, in: message) { r throws(JSONError) in id = try r.readString() }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoString("model", model)
        writer.protoString("version", version)
        writer.protoRepeated("inputs", inputs) { w, value in value.writeJSON(to: &w) }
        writer.protoRepeated("outputs", outputs) { w, value in w.string(value) }
        writer.protoString("id", id)
    }
}

extension TensorwireV1.BatchInfo: ProtoJSONMessage {
    public static var protoJSONName: String { "BatchInfo" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "batchSize", "batch_size":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in batchSize = try r.readProtoUInt32() }
        case "queueUs", "queue_us":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in queueUs = try r.readProtoUInt64() }
        case "computeUs", "compute_us":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in computeUs = try r.readProtoUInt64() }
        case "batchRequests", "batch_requests":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in
                batchRequests = try r.readProtoUInt32()
            }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoUInt32("batchSize", batchSize)
        writer.protoUInt64("queueUs", queueUs)
        writer.protoUInt64("computeUs", computeUs)
        writer.protoUInt32("batchRequests", batchRequests)
    }
}

extension TensorwireV1.PredictError: ProtoJSONMessage {
    public static var protoJSONName: String { "PredictError" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "code":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in code = try r.readProtoInt32() }
        case "message":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in self.message = try r.readString() }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoInt32("code", code)
        writer.protoString("message", message)
    }
}

extension TensorwireV1.PredictResponse: ProtoJSONMessage {
    public static var protoJSONName: String { "PredictResponse" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "model":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in model = try r.readString() }
        case "version":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in version = try r.readString() }
        case "outputs":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in outputs.append(try .init(jsonObjectFrom: &r)) }
            }
        case "id":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in id = try r.readString() }
        case "batch":
            try fields.read(5, name, &reader, in: message) { r throws(JSONError) in
                batch = try TensorwireV1.BatchInfo(jsonObjectFrom: &r)
            }
        case "error":
            try fields.read(6, name, &reader, in: message) { r throws(JSONError) in
                error = try TensorwireV1.PredictError(jsonObjectFrom: &r)
            }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoString("model", model)
        writer.protoString("version", version)
        writer.protoRepeated("outputs", outputs) { w, value in value.writeJSON(to: &w) }
        writer.protoString("id", id)
        writer.protoMessage("batch", batch)
        writer.protoMessage("error", error)
    }
}

extension TensorwireV1.ListModelsRequest: ProtoJSONMessage {
    public static var protoJSONName: String { "ListModelsRequest" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        throw reader.unknownField(name, in: Self.protoJSONName)
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {}
}

extension TensorwireV1.ListModelsResponse: ProtoJSONMessage {
    public static var protoJSONName: String { "ListModelsResponse" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        switch name {
        case "models":
            try fields.read(1, name, &reader, in: Self.protoJSONName) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in models.append(try .init(jsonObjectFrom: &r)) }
            }
        default:
            throw reader.unknownField(name, in: Self.protoJSONName)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoRepeated("models", models) { w, value in value.writeJSON(to: &w) }
    }
}

extension TensorwireV1.GetModelRequest: ProtoJSONMessage {
    public static var protoJSONName: String { "GetModelRequest" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        switch name {
        case "model":
            try fields.read(1, name, &reader, in: Self.protoJSONName) { r throws(JSONError) in model = try r.readString() }
        default:
            throw reader.unknownField(name, in: Self.protoJSONName)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoString("model", model)
    }
}

extension TensorwireV1.TensorSpec: ProtoJSONMessage {
    public static var protoJSONName: String { "TensorSpec" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "name":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in self.name = try r.readString() }
        case "dtype":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in
                dtype = DataType(rawValue: try r.readProtoEnum(DataType.names))
            }
        case "shape":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoNumbers { r throws(JSONError) in shape.append(try r.readProtoInt64()) }
            }
        case "acceptedDtypes", "accepted_dtypes":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in
                    acceptedDtypes.append(DataType(rawValue: try r.readProtoEnum(DataType.names)))
                }
            }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoString("name", name)
        writer.protoEnum("dtype", dtype.rawValue, DataType.names)
        writer.protoRepeated("shape", shape) { w, value in w.string(String(value)) }
        writer.protoRepeated("acceptedDtypes", acceptedDtypes) { w, value in w.protoEnumValue(value.rawValue, DataType.names) }
    }
}

extension TensorwireV1.ModelVersion: ProtoJSONMessage {
    public static var protoJSONName: String { "ModelVersion" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "version":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in version = try r.readString() }
        case "state":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in
                state = ModelState(rawValue: try r.readProtoEnum(ModelState.names))
            }
        case "error":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in error = try r.readString() }
        case "sealed":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in sealed = try r.readBool() }
        case "sha256":
            try fields.read(5, name, &reader, in: message) { r throws(JSONError) in sha256 = try r.readString() }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoString("version", version)
        writer.protoEnum("state", state.rawValue, ModelState.names)
        writer.protoString("error", error)
        if sealed {
            writer.key("sealed")
            writer.bool(true)
        }
        writer.protoString("sha256", sha256)
    }
}

extension TensorwireV1.BatchingConfig: ProtoJSONMessage {
    public static var protoJSONName: String { "BatchingConfig" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "maxBatchSize", "max_batch_size":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in maxBatchSize = try r.readProtoUInt32() }
        case "maxQueueDelayUs", "max_queue_delay_us":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in
                maxQueueDelayUs = try r.readProtoUInt64()
            }
        case "preferredBatchSizes", "preferred_batch_sizes":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoNumbers { r throws(JSONError) in preferredBatchSizes.append(try r.readProtoUInt32()) }
            }
        case "maxQueueSize", "max_queue_size":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in maxQueueSize = try r.readProtoUInt32() }
        case "defaultTimeoutUs", "default_timeout_us":
            try fields.read(5, name, &reader, in: message) { r throws(JSONError) in
                defaultTimeoutUs = try r.readProtoUInt64()
            }
        case "instances":
            try fields.read(6, name, &reader, in: message) { r throws(JSONError) in instances = try r.readProtoUInt32() }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoUInt32("maxBatchSize", maxBatchSize)
        writer.protoUInt64("maxQueueDelayUs", maxQueueDelayUs)
        writer.protoRepeated("preferredBatchSizes", preferredBatchSizes) { w, value in w.uint64(UInt64(value)) }
        writer.protoUInt32("maxQueueSize", maxQueueSize)
        writer.protoUInt64("defaultTimeoutUs", defaultTimeoutUs)
        writer.protoUInt32("instances", instances)
    }
}

extension TensorwireV1.ModelInfo: ProtoJSONMessage {
    public static var protoJSONName: String { "ModelInfo" }

    public mutating func readJSONMember(_ name: String, from reader: inout JSONReader, fields: inout ProtoJSONFields)
        throws(JSONError)
    {
        let message = Self.protoJSONName
        switch name {
        case "name":
            try fields.read(1, name, &reader, in: message) { r throws(JSONError) in self.name = try r.readString() }
        case "versions":
            try fields.read(2, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in versions.append(try .init(jsonObjectFrom: &r)) }
            }
        case "state":
            try fields.read(3, name, &reader, in: message) { r throws(JSONError) in
                state = ModelState(rawValue: try r.readProtoEnum(ModelState.names))
            }
        case "error":
            try fields.read(4, name, &reader, in: message) { r throws(JSONError) in error = try r.readString() }
        case "inputs":
            try fields.read(5, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in inputs.append(try .init(jsonObjectFrom: &r)) }
            }
        case "outputs":
            try fields.read(6, name, &reader, in: message) { r throws(JSONError) in
                try r.readProtoRepeated { r throws(JSONError) in outputs.append(try .init(jsonObjectFrom: &r)) }
            }
        case "batching":
            try fields.read(7, name, &reader, in: message) { r throws(JSONError) in
                batching = try TensorwireV1.BatchingConfig(jsonObjectFrom: &r)
            }
        case "defaultVersion", "default_version":
            try fields.read(8, name, &reader, in: message) { r throws(JSONError) in defaultVersion = try r.readString() }
        case "platform":
            try fields.read(9, name, &reader, in: message) { r throws(JSONError) in platform = try r.readString() }
        case "description":
            try fields.read(10, name, &reader, in: message) { r throws(JSONError) in description = try r.readString() }
        default:
            throw reader.unknownField(name, in: message)
        }
    }

    public func writeJSONMembers(to writer: inout JSONWriter) {
        writer.protoString("name", name)
        writer.protoRepeated("versions", versions) { w, value in value.writeJSON(to: &w) }
        writer.protoEnum("state", state.rawValue, ModelState.names)
        writer.protoString("error", error)
        writer.protoRepeated("inputs", inputs) { w, value in value.writeJSON(to: &w) }
        writer.protoRepeated("outputs", outputs) { w, value in value.writeJSON(to: &w) }
        writer.protoMessage("batching", batching)
        writer.protoString("defaultVersion", defaultVersion)
        writer.protoString("platform", platform)
        writer.protoString("description", description)
    }
}

extension ProtoJSONMessage {
    /// A message read from the object at the reader's position.
    init(jsonObjectFrom reader: inout JSONReader) throws(JSONError) {
        self.init()
        try readJSONObject(from: &reader)
    }
}
