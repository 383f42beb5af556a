// Sources/TensorwireJSON/KServeHTTP.swift: KServe v2 / Open Inference Protocol inference bodies over HTTP, with
// Triton's binary tensor extension (docs/rest-json.md).

internal import JSONWire
public import TensorwireProto

/// The KServe v2 HTTP bodies (`/v2/...`), as tritonclient.http and perf_analyzer send and read them, to and from the
/// `inference` messages the gRPC service already handles: the server decodes a body into the same
/// `KServe.ModelInferRequest` a gRPC call carries and encodes the same `KServe.ModelInferResponse`. Stateless; any
/// thread. Knows no HTTP: bytes and header values in, messages and bytes out.
public enum KServeHTTP {
    /// The deepest JSON nesting a body may have (a `data` array of a rank-62 tensor fits).
    public static let maxDepth = 64
}

/// Why a KServe v2 HTTP body could not be read or written. `message` is the text of the `{"error": …}` body as it
/// is (HTTP 400 for a request the client got wrong).
public struct KServeHTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    /// A JSON error of a request body, located: `request body at line L, column C: reason`.
    init(_ error: JSONError) {
        message = "request body at line \(error.line), column \(error.column): \(error.reason)"
    }

    public var description: String { message }
}

/// A KServe v2 HTTP response body: a JSON header, then the outputs sent as binary, in output order.
public struct KServeHTTPBody: Equatable, Sendable {
    /// The whole body.
    public var bytes: [UInt8]
    /// The JSON header's length when binary data follows it: the value of the `Inference-Header-Content-Length`
    /// response header (and `Content-Type: application/octet-stream`). Nil when the body is only JSON.
    public var jsonLength: Int?

    public init(bytes: [UInt8], jsonLength: Int?) {
        self.bytes = bytes
        self.jsonLength = jsonLength
    }
}

/// Which outputs of an inference response go back as binary data after the JSON header, and which as JSON `data`
/// arrays: an output's own `binary_data` parameter decides; without one, the request's `binary_data_output`
/// parameter (false when absent). Kept by the server from the request it decoded.
public struct KServeOutputChoice: Equatable, Sendable {
    /// `binary_data_output` of the request.
    public var binaryByDefault: Bool
    /// `binary_data` of each requested output that set it.
    public var binaryByName: [String: Bool]

    public init(binaryByDefault: Bool = false, binaryByName: [String: Bool] = [:]) {
        self.binaryByDefault = binaryByDefault
        self.binaryByName = binaryByName
    }

    /// The choice a decoded request makes (its `binary_data_output` and per-output `binary_data` parameters).
    public init(request: KServe.ModelInferRequest) {
        binaryByDefault = false
        binaryByName = [:]
        if case .bool(let value)? = request.parameters.first(where: { $0.key == "binary_data_output" })?.value.choice {
            binaryByDefault = value
        }
        for output in request.outputs {
            if case .bool(let value)? = output.parameters.first(where: { $0.key == "binary_data" })?.value.choice {
                binaryByName[output.name] = value
            }
        }
    }

    /// Whether the output named `name` goes back as binary data.
    public func isBinary(_ name: String) -> Bool {
        binaryByName[name] ?? binaryByDefault
    }
}

/// The KServe v2 datatypes (`datatype` strings) and their element sizes in the binary form (0: BYTES, whose
/// elements are a 4-byte little-endian length and that many bytes).
enum KServeDatatype {
    static let elementSizes: [String: Int] = [
        "BOOL": 1, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8, "INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8,
        "FP16": 2, "BF16": 2, "FP32": 4, "FP64": 8, "BYTES": 0,
    ]
}

// MARK: - Parameters

extension KServe.InferParameter {
    /// A parameter from JSON: a bool, an integer (int64, or uint64 above Int64.max), another number (double) or a
    /// string; anything else is refused.
    init(jsonFrom reader: inout JSONReader, name: String) throws(JSONError) {
        self.init()
        switch try reader.peekKind() {
        case .bool:
            choice = .bool(try reader.readBool())
        case .string:
            choice = .string(try reader.readString())
        case .number:
            switch try reader.readNumberValue() {
            case .int64(let value): choice = .int64(value)
            case .uint64(let value): choice = .uint64(value)
            case .double(let value): choice = .double(value)
            }
        case .object, .array, .null:
            throw reader.error("parameter '\(name)' must be a bool, a number or a string")
        }
    }

    /// The parameter's JSON value.
    func writeJSON(to writer: inout JSONWriter) {
        switch choice {
        case .bool(let value): writer.bool(value)
        case .int64(let value): writer.int64(value)
        case .uint64(let value): writer.uint64(value)
        case .string(let value): writer.string(value)
        case .double(let value): writer.protoDoubleValue(value)
        case nil: writer.null()
        }
    }
}

extension KServeHTTP {
    /// Reads a request body that must be one JSON object, handing each member to `member`; a member given twice is
    /// refused. JSON errors become located `KServeHTTPError`s.
    static func readBodyObject(
        _ body: [UInt8], _ member: (inout JSONReader, String) throws(JSONError) -> Void
    ) throws(KServeHTTPError) {
        do throws(JSONError) {
            var reader = JSONReader(body, maxDepth: maxDepth)
            guard try reader.peekKind() == .object else { throw reader.error("the body must be a JSON object") }
            var names = MemberNames()
            try reader.readObject { reader, key throws(JSONError) in
                try names.insert(key, reader, in: "the request")
                try member(&reader, key)
            }
            try reader.finish()
        } catch {
            throw KServeHTTPError(error)
        }
    }
}

extension JSONWriter {
    mutating func member(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    mutating func member(_ name: String, _ value: Bool) {
        key(name)
        bool(value)
    }

    mutating func member(_ name: String, uint64 value: UInt64) {
        key(name)
        uint64(value)
    }

    mutating func member(_ name: String, int64 value: Int64) {
        key(name)
        int64(value)
    }

    /// A list of whole numbers (shapes and dims, numbers in these bodies).
    mutating func member(_ name: String, int64s values: [Int64]) {
        key(name)
        beginArray()
        for value in values { int64(value) }
        endArray()
    }

    mutating func member(_ name: String, strings values: [String]) {
        key(name)
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    /// A member whose value `body` writes as an object's members.
    mutating func member(_ name: String, object body: (inout JSONWriter) -> Void) {
        key(name)
        beginObject()
        body(&self)
        endObject()
    }

    /// The members of a `parameters` object.
    mutating func kserveParameterMembers(_ parameters: [KServe.ParameterEntry]) {
        for entry in parameters {
            key(entry.key)
            entry.value.writeJSON(to: &self)
        }
    }
}

/// The member names of one JSON object seen so far, so that a name given twice is refused.
struct MemberNames {
    /// The first names, compared in turn: a request's objects have a handful of members, and hashing each name
    /// into a set cost more (~12K instructions per KServe request, callgrind). Past `listed`, a set takes over, so
    /// an object with many members is still checked in linear time.
    private var first: [String] = []
    private var more: Set<String> = []
    private static let listed = 16

    mutating func insert(_ name: String, _ reader: JSONReader, in what: String) throws(JSONError) {
        guard !contains(name) else {
            throw reader.error("\(what) has '\(name)' more than once", at: reader.memberNameOffset)
        }
        if first.count < Self.listed {
            first.append(name)
        } else {
            more.insert(name)
        }
    }

    func contains(_ name: String) -> Bool {
        first.contains(name) || (!more.isEmpty && more.contains(name))
    }
}

/// What a `parameters` reader does with one key it claims.
enum ParameterHandling {
    /// Not claimed: read as a generic parameter and kept.
    case generic
    /// Read by the claimant and kept as this value.
    case keep(KServe.InferParameter)
    /// Read by the claimant and not kept (it is the transport's, like `binary_data_size`).
    case drop
}

extension JSONReader {
    /// A `parameters` object: its entries in document order. `special` may claim a key and read its value itself.
    mutating func readKServeParameters(
        into entries: inout [KServe.ParameterEntry], in what: String,
        special: (String, inout JSONReader) throws(JSONError) -> ParameterHandling = { _, _ in .generic }
    ) throws(JSONError) {
        var names = MemberNames()
        try readObject { reader, key throws(JSONError) in
            try names.insert(key, reader, in: "\(what) parameters")
            if key.hasPrefix("shared_memory_") {
                throw reader.error("\(what): shared memory is not supported ('\(key)')", at: reader.memberNameOffset)
            }
            var entry = KServe.ParameterEntry()
            entry.key = key
            switch try special(key, &reader) {
            case .generic: entry.value = try KServe.InferParameter(jsonFrom: &reader, name: key)
            case .keep(let value): entry.value = value
            case .drop: return
            }
            entries.append(entry)
        }
    }
}
