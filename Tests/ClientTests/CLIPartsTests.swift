import RPCCore
import Testing
@testable import TensorwireCLI
import TensorwireProto

/// The CLI's hand-written parts: JSON, .npy, the histogram, argument parsing, and JSON ↔ tensor conversion.
struct CLIPartsTests {
    @Test func jsonParsesAndPrintsRoundTrip() throws {
        let text = #"{"a":[1,-2.5,1e3,true,false,null],"b":"x\"\\\n\u00e9\ud83d\ude00","c":{}}"#
        let value = try JSONParser.parse(text)
        #expect(value["a"] == .array([.integer(1), .number(-2.5), .number(1000), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("x\"\\\né😀"))
        #expect(try JSONParser.parse(JSONPrinter().string(value)) == value)
        #expect(try JSONParser.parse(JSONPrinter(pretty: true).string(value)) == value)
    }

    @Test func jsonRejectsMalformedText() {
        for bad in ["", "[1,", "[1 2]", "{\"a\" 1}", "01", "1.", "\"\u{01}\"", "[1]x", "tru", "\"\\ud800\"", "{1:2}"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONParser.parse(bad) }
        }
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test func nestedArraysGiveShapeAndRaggedOnesFail() throws {
        let (shape, scalars) = try TensorJSON.flatten(try JSONParser.parse("[[1,2,3],[4,5,6]]"))
        #expect(shape == [2, 3])
        #expect(scalars.count == 6)
        #expect(throws: CLIError.self) { try TensorJSON.flatten(try JSONParser.parse("[[1,2],[3]]")) }
        #expect(throws: CLIError.self) { try TensorJSON.flatten(try JSONParser.parse("[[1,2],3]")) }
    }

    static func digitsModel() -> TensorwireV1.ModelInfo {
        var model = TensorwireV1.ModelInfo()
        model.name = "digits"
        var input = TensorwireV1.TensorSpec()
        input.name = "X"
        input.dtype = .float32
        input.shape = [-1, 64]
        model.inputs = [input]
        return model
    }

    @Test func inputsFromABareArrayOrAnObject() throws {
        let bare = try TensorJSON.inputs(from: try JSONParser.parse("[[0.5, 1]]"), model: Self.digitsModel())
        #expect(bare == [TensorwireV1.Tensor(name: "X", dtype: .float32, shape: [1, 2], floatData: [0.5, 1])])
        let object = try TensorJSON.inputs(from: try JSONParser.parse(#"{"X": [[2]]}"#), model: Self.digitsModel())
        #expect(object.first?.floatData == [2])
        #expect(throws: CLIError.self) { try TensorJSON.inputs(from: try JSONParser.parse(#"{"Y": [[2]]}"#), model: Self.digitsModel()) }
    }

    /// NaN (a missing value for tree models) is accepted in float inputs as Python's json.dumps writes it (NaN), in
    /// lower case, or as a string; an integer input refuses it, and infinities stay refused.
    @Test func nanInFloatInputsIsAMissingValue() throws {
        let inputs = try TensorJSON.inputs(from: try JSONParser.parse(#"[[1, NaN, nan, "NaN", -2.5]]"#),
                                           model: Self.digitsModel())
        let values = try #require(inputs.first?.floatData)
        #expect(values.map(\.isNaN) == [false, true, true, true, false])
        #expect(values[0] == 1 && values[4] == -2.5)
        let doubles = try TensorJSON.tensor(name: "X", dtype: .float64, json: try JSONParser.parse("[NaN, 0.25]"))
        #expect(doubles.doubleData.first?.isNaN == true && doubles.doubleData.last == 0.25)
        #expect(throws: CLIError.self) {
            try TensorJSON.tensor(name: "ids", dtype: .int64, json: try JSONParser.parse("[[1, NaN]]"))
        }
        #expect(throws: CLIError.self) {
            try TensorJSON.tensor(name: "X", dtype: .float32, json: try JSONParser.parse("[1e400]"))
        }
        for bad in ["[Nan]", "[na]", "[NaNa]", "[nul]"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONParser.parse(bad) }
        }
    }

    @Test func responseTensorsNestByShapeAndTopKRanks() throws {
        var probabilities = TensorwireV1.Tensor(name: "probabilities", dtype: .float32, shape: [2, 3],
                                                floatData: [0.1, 0.7, 0.2, 0.5, 0.25, 0.25])
        #expect(JSONPrinter().string(TensorJSON.json(of: probabilities)) == "[[0.1,0.7,0.2],[0.5,0.25,0.25]]")
        #expect(JSONPrinter().string(TensorJSON.topK(2, of: probabilities))
            == #"[[{"class":1,"probability":0.7},{"class":2,"probability":0.2}],[{"class":0,"probability":0.5},{"class":1,"probability":0.25}]]"#)
        // raw_data (little-endian) decodes like the typed field.
        probabilities.rawData = probabilities.floatData.flatMap { value in
            withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        }
        probabilities.floatData = []
        #expect(JSONPrinter().string(TensorJSON.json(of: probabilities)) == "[[0.1,0.7,0.2],[0.5,0.25,0.25]]")
    }

    static func npy(descr: String, shape: String, payload: [UInt8], version: UInt8 = 1) -> [UInt8] {
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let prefix = version == 1 ? 10 : 12
        while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
        let length = header.count
        bytes += version == 1 ? [UInt8(length & 0xFF), UInt8(length >> 8)]
            : [UInt8(length & 0xFF), UInt8(length >> 8), 0, 0]
        return bytes + header + payload
    }

    @Test func npyFilesOfEachSupportedDtype() throws {
        let f4 = try NPYArray(bytes: Self.npy(descr: "<f4", shape: "(1, 2)", payload: [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]))
        #expect(f4 == NPYArray(shape: [1, 2], elements: .float32([1, 2])))
        let i8 = try NPYArray(bytes: Self.npy(descr: "<i8", shape: "(1,)", payload: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], version: 2))
        #expect(i8.elements == .int64([-1]))
        let i4 = try NPYArray(bytes: Self.npy(descr: "<i4", shape: "(2,)", payload: [7, 0, 0, 0, 9, 0, 0, 0]))
        #expect(i4.elements == .int32([7, 9]))
        let f8 = try NPYArray(bytes: Self.npy(descr: "<f8", shape: "()", payload: [0, 0, 0, 0, 0, 0, 0xF0, 0x3F]))
        #expect(f8 == NPYArray(shape: [], elements: .float64([1])))
        #expect(throws: CLIError.self) { try NPYArray(bytes: Self.npy(descr: ">f4", shape: "(1,)", payload: [0, 0, 0, 0])) }
        #expect(throws: CLIError.self) { try NPYArray(bytes: Self.npy(descr: "<f4", shape: "(3,)", payload: [0, 0, 0, 0])) }
        #expect(throws: CLIError.self) { try NPYArray(bytes: Array("not numpy".utf8)) }
    }

    @Test func histogramPercentilesAreWithinOneBucket() {
        var histogram = LatencyHistogram()
        for value in 1...10_000 { histogram.record(UInt64(value)) }
        #expect(histogram.count == 10_000)
        #expect(histogram.max == 10_000)
        for (q, exact) in [(0.5, 5000.0), (0.9, 9000.0), (0.99, 9900.0), (0.999, 9990.0)] {
            let value = Double(histogram.value(atQuantile: q))
            #expect(abs(value - exact) / exact < 0.02, "q=\(q): \(value)")
        }
        #expect(histogram.value(atQuantile: 1) == 10_000)
        var small = LatencyHistogram()
        for value: UInt64 in [3, 3, 3, 40] { small.record(value) }
        #expect(small.value(atQuantile: 0.5) == 3)
        #expect(LatencyHistogram().value(atQuantile: 0.99) == 0)
    }

    @Test func argumentsParseLongShortInlineAndRejectUnknown() throws {
        let spec = OptionSpec.global.merging(OptionSpec(values: ["--rate"], flags: ["--json"], aliases: ["-r": "--rate"]))
        let (parsed, _) = try spec.parse(["digits", "-r", "5", "--json", "--server=h:1", "-H", "a:b", "-"])
        #expect(parsed.positionals == ["digits", "-"])
        #expect(parsed.value("--rate") == "5")
        #expect(parsed.value("--server") == "h:1")
        #expect(parsed.values["--header"] == ["a:b"])
        #expect(parsed.flags.contains("--json"))
        #expect(throws: CLIError.self) { try spec.parse(["--nope"]) }
        #expect(throws: CLIError.self) { try spec.parse(["--rate"]) }
        #expect(try ArgumentValues.duration("1.5s", option: "") == .milliseconds(1500))
        #expect(try ArgumentValues.duration("250ms", option: "") == .milliseconds(250))
        #expect(try ArgumentValues.duration("2m", option: "") == .seconds(120))
        #expect(try ArgumentValues.server("localhost:9") == ("127.0.0.1", 9))
        #expect(try ArgumentValues.server("[::1]:7") == ("::1", 7))
        #expect(throws: CLIError.self) { try ArgumentValues.server("h:0") }
        var metadata = Metadata()
        try ArgumentValues.header("X-Key: v", into: &metadata)
        #expect(metadata.strings(forKey: "x-key") == ["v"])
    }

    @Test func serverAddressesSelectTheProtocol() throws {
        #expect(try ArgumentValues.serverAddress("localhost:9") == ("127.0.0.1", 9, false))
        #expect(try ArgumentValues.serverAddress("http://localhost:9") == ("127.0.0.1", 9, true))
        #expect(try ArgumentValues.serverAddress("http://[::1]:8000/") == ("::1", 8000, true))
        #expect(try ArgumentValues.serverAddress("HTTP://h:1") == ("h", 1, true))
        for bad in ["https://h:1", "http://h", "http://[::1]", "http://h:1/v1/models", "http://u@h:1", "http://h:1?x",
                    "http://h:0", "http://:1", "grpc://h:1", "http://h:x"] {
            #expect(throws: CLIError.self, "\(bad)") { try ArgumentValues.serverAddress(bad) }
        }
        // --http is a global flag, before or after the command.
        let (parsed, rest) = try OptionSpec.global.parse(["--http", "list"], stopAtPositional: true)
        #expect(parsed.flags.contains("--http") && rest == ["list"])
    }

    static func benchOptions(_ arguments: [String], http: Bool) throws(CLIError) -> BenchCommand.Options {
        let (parsed, _) = try OptionSpec.global.merging(BenchCommand.spec).parse(arguments)
        return try BenchCommand.options(parsed, http: http)
    }

    @Test func benchOverHTTPTakesOneConnectionPerRequestInFlight() throws {
        let closed = try Self.benchOptions(["digits", "-c", "8"], http: true)
        #expect(closed.http && closed.concurrency == 8 && closed.connections == 8)
        let open = try Self.benchOptions(["digits", "--rate", "100", "--connections", "3"], http: true)
        #expect(open.rate == 100 && open.connections == 3)
        #expect(try Self.benchOptions(["digits", "-c", "8", "--connections", "2"], http: false).connections == 2)
        #expect {
            try Self.benchOptions(["digits", "--stream"], http: true)
        } throws: { error in
            "\(error)" == "bench --stream works over gRPC only (PredictStream); leave out --http"
        }
        #expect(throws: CLIError.self) { try Self.benchOptions(["digits", "-c", "8", "--connections", "2"], http: true) }
    }

    @Test func grpcOnlyCommandsRefuseHTTP() {
        let stream = CLICommandLiveTests.run(["--http", "stream", "digits"], port: nil)
        #expect(stream.code == CLIError.ExitCode.usage)
        #expect(stream.err.first?.hasPrefix("tensorwire: stream (one PredictStream) works over gRPC only") == true, "\(stream.err)")
        let health = CLICommandLiveTests.run(["--server", "http://127.0.0.1:1", "health", "tensorwire.v1.Inference"], port: nil)
        #expect(health.code == CLIError.ExitCode.usage)
        #expect(health.err.first?.contains("health SERVICE works over gRPC only") == true, "\(health.err)")
    }

    @Test func exitCodesAreDistinct() {
        let errors: [CLIError] = [
            .rpc(RPCError(code: .internal, message: "")), .usage(""), .input(""),
            .rpc(RPCError(code: .unavailable, message: "")), .rpc(RPCError(code: .notFound, message: "")),
            .rpc(RPCError(code: .deadlineExceeded, message: "")), .notServing(""), .someFailed(""),
        ]
        #expect(errors.map(\.exitCode) == [1, 2, 3, 4, 5, 6, 7, 8])
    }
}
