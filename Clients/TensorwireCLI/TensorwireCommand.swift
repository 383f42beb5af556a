// Clients/TensorwireCLI/TensorwireCommand.swift: the tensorwire command line: global options and subcommands.
internal import Dispatch
internal import ProtoWire
internal import RPCCore
internal import Synchronization
internal import TensorwireClient
internal import TensorwireProto

/// The `tensorwire` command: parses the command line, runs one subcommand, and returns the exit code (errors
/// are written to standard error). Runs on the calling thread, which blocks on RPCs.
public enum TensorwireCommand {
    static let exitCodes = """
        Exit codes:
          0  success (health: the service is SERVING)
          1  the server answered with an error status (other than those below)
          2  usage error (bad arguments)
          3  bad input (JSON, .npy or an unreadable file)
          4  server unreachable (UNAVAILABLE)
          5  not found (unknown model or health service)
          6  deadline exceeded (--timeout)
          7  health: the service is not SERVING
          8  stream/bench: some requests failed
        """

    static let globalHelp = """
        Global options (before or after the subcommand):
          --server HOST:PORT  the server (default localhost:50051, or $TENSORWIRE_SERVER)
          --timeout DURATION  deadline of each RPC (10s, 500ms, 2m; default none; bench: per request)
          -H KEY:VALUE        metadata sent with every RPC (repeatable)
          -h, --help          help for the command or subcommand
        """

    static let usage = """
        usage: tensorwire [--server HOST:PORT] [--timeout D] [-H K:V]... COMMAND [ARGS]

        A client for a Tensorwire model server.

        Commands:
          list                   the models the server serves
          info MODEL             one model: versions, inputs, outputs, batching
          health [SERVICE]       gRPC health check; exit 0 only when SERVING
          predict MODEL --input  one prediction from JSON or .npy
          stream MODEL           JSON lines in, JSON lines out over one PredictStream
          bench MODEL            load generator: latency percentiles, throughput, server batching

        Run 'tensorwire COMMAND --help' for a command's options.

        \(globalHelp)
        \(exitCodes)
        """

    /// The global settings every subcommand uses.
    struct Context {
        var host: String
        var port: Int
        var timeout: Duration?
        var metadata: Metadata

        func connect() throws(CLIError) -> TensorwireClient {
            do {
                return try TensorwireClient(host: host, port: port, defaultTimeout: timeout, defaultMetadata: metadata)
            } catch {
                throw .rpc(RPCError(code: .unavailable, message: "cannot connect to \(host):\(port): \(error)"))
            }
        }
    }

    /// Runs the command line `arguments` (without the program name) with `environment` (for TENSORWIRE_SERVER).
    public static func run(_ arguments: [String], environment: [String: String]) -> Int32 {
        do {
            return try dispatch(arguments, environment: environment)
        } catch {
            ConsoleIO.err("tensorwire: \(error)")
            if case .usage = error { ConsoleIO.err("Run 'tensorwire --help' for usage.") }
            return error.exitCode
        }
    }

    static func dispatch(_ arguments: [String], environment: [String: String]) throws(CLIError) -> Int32 {
        let (leading, rest) = try OptionSpec.global.parse(arguments, stopAtPositional: true)
        guard let command = rest.first else {
            if leading.flags.contains("--help") {
                ConsoleIO.out(usage)
                return 0
            }
            throw .usage("no command given")
        }
        let spec: OptionSpec
        let help: String
        switch command {
        case "list": (spec, help) = (OptionSpec(flags: ["--json"]), listHelp)
        case "info": (spec, help) = (OptionSpec(flags: ["--json"]), infoHelp)
        case "health": (spec, help) = (OptionSpec(), healthHelp)
        case "predict": (spec, help) = (predictSpec, predictHelp)
        case "stream": (spec, help) = (streamSpec, streamHelp)
        case "bench": (spec, help) = (BenchCommand.spec, BenchCommand.help)
        case "help":
            ConsoleIO.out(usage)
            return 0
        default: throw .usage("unknown command '\(command)'")
        }
        var (parsed, _) = try OptionSpec.global.merging(spec).parse(Array(rest.dropFirst()))
        for (key, values) in leading.values { parsed.values[key] = values + (parsed.values[key] ?? []) }
        parsed.flags.formUnion(leading.flags)
        if parsed.flags.contains("--help") {
            ConsoleIO.out(help + "\n\n" + globalHelp + "\n" + exitCodes)
            return 0
        }
        let context = try makeContext(parsed, environment: environment)
        switch command {
        case "list": return try list(parsed, context)
        case "info": return try info(parsed, context)
        case "health": return try health(parsed, context)
        case "predict": return try predict(parsed, context)
        case "stream": return try stream(parsed, context)
        default: return try BenchCommand.run(parsed, context)
        }
    }

    static func makeContext(_ parsed: ParsedArguments, environment: [String: String]) throws(CLIError) -> Context {
        let address = parsed.value("--server") ?? environment["TENSORWIRE_SERVER"] ?? "localhost:50051"
        let (host, port) = try ArgumentValues.server(address)
        let timeout = try parsed.value("--timeout").map { text throws(CLIError) in
            try ArgumentValues.duration(text, option: "--timeout")
        }
        var metadata = Metadata()
        for header in parsed.values["--header"] ?? [] { try ArgumentValues.header(header, into: &metadata) }
        return Context(host: host, port: port, timeout: timeout, metadata: metadata)
    }

    static func positionals(_ parsed: ParsedArguments, _ names: [String], optional: Int = 0) throws(CLIError) -> [String] {
        let count = parsed.positionals.count
        guard count <= names.count, count >= names.count - optional else {
            throw .usage("expected \(names.joined(separator: " ")), got \(count) argument(s)")
        }
        return parsed.positionals
    }

    static func call<T>(_ body: () throws(RPCError) -> T) throws(CLIError) -> T {
        do { return try body() } catch { throw .rpc(error) }
    }

    /// Runs an RPC; UNAVAILABLE says which server could not be reached.
    static func call<T>(_ context: Context, _ body: () throws(RPCError) -> T) throws(CLIError) -> T {
        do {
            return try body()
        } catch where error.code == .unavailable {
            throw .rpc(RPCError(code: .unavailable, message: "cannot reach \(context.host):\(context.port) (\(error.message))"))
        } catch {
            throw .rpc(error)
        }
    }

    // MARK: list

    static let listHelp = """
        usage: tensorwire list [--json]

        Lists the server's models: name, default version, state, inputs and outputs (name:dtype[shape]).
          --json  one JSON object per model, as a JSON array
        """

    static func list(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        _ = try positionals(parsed, [])
        let client = try context.connect()
        defer { client.close() }
        let models = try call(context) { () throws(RPCError) in try client.listModels() }
        if parsed.flags.contains("--json") {
            ConsoleIO.out(JSONPrinter(pretty: true).string(.array(models.map(modelJSON))))
            return 0
        }
        var rows = [["MODEL", "VERSION", "STATE", "INPUTS", "OUTPUTS"]]
        for model in models {
            rows.append([
                model.name, model.defaultVersion.isEmpty ? "-" : model.defaultVersion, stateName(model.state),
                model.inputs.map(specText).joined(separator: " "), model.outputs.map(specText).joined(separator: " "),
            ])
        }
        ConsoleIO.out(table(rows))
        return 0
    }

    static func table(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column + 1 == row.count ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func stateName(_ state: TensorwireV1.ModelState) -> String {
        switch state {
        case .loading: "LOADING"
        case .ready: "READY"
        case .failed: "FAILED"
        case .unloaded: "UNLOADED"
        default: "UNSPECIFIED"
        }
    }

    /// `float32`, `int64`, … (the enum name without its DATA_TYPE_ prefix, lower-cased).
    static func dtypeName(_ dtype: TensorwireV1.DataType) -> String {
        let name = "\(dtype)"
        return (name.hasPrefix("DATA_TYPE_") ? String(name.dropFirst(10)) : name).lowercased()
    }

    static func specText(_ spec: TensorwireV1.TensorSpec) -> String {
        "\(spec.name):\(dtypeName(spec.dtype))[\(spec.shape.map { $0 < 0 ? "-1" : String($0) }.joined(separator: ","))]"
    }

    static func specJSON(_ spec: TensorwireV1.TensorSpec) -> JSONValue {
        .object([
            ("name", .string(spec.name)), ("dtype", .string(dtypeName(spec.dtype))),
            ("shape", .array(spec.shape.map { .integer($0) })),
        ])
    }

    static func modelJSON(_ model: TensorwireV1.ModelInfo) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("name", .string(model.name)), ("default_version", .string(model.defaultVersion)),
            ("state", .string(stateName(model.state))),
        ]
        if !model.error.isEmpty { members.append(("error", .string(model.error))) }
        if !model.platform.isEmpty { members.append(("platform", .string(model.platform))) }
        if !model.description.isEmpty { members.append(("description", .string(model.description))) }
        members.append(("versions", .array(model.versions.map { version in
            var fields: [(String, JSONValue)] = [("version", .string(version.version)), ("state", .string(stateName(version.state)))]
            if !version.error.isEmpty { fields.append(("error", .string(version.error))) }
            return .object(fields)
        })))
        members.append(("inputs", .array(model.inputs.map(specJSON))))
        members.append(("outputs", .array(model.outputs.map(specJSON))))
        if let batching = model.batching {
            members.append(("batching", .object([
                ("max_batch_size", .integer(Int64(batching.maxBatchSize))),
                ("max_queue_delay_us", .integer(Int64(clamping: batching.maxQueueDelayUs))),
                ("preferred_batch_sizes", .array(batching.preferredBatchSizes.map { .integer(Int64($0)) })),
                ("max_queue_size", .integer(Int64(batching.maxQueueSize))),
                ("default_timeout_us", .integer(Int64(clamping: batching.defaultTimeoutUs))),
                ("instances", .integer(Int64(batching.instances))),
            ])))
        }
        return .object(members)
    }

    // MARK: info

    static let infoHelp = """
        usage: tensorwire info MODEL [--json]

        Describes one model: versions and their state, inputs and outputs, batching settings.
          --json  the description as JSON
        """

    static func info(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        let name = try positionals(parsed, ["MODEL"])[0]
        let client = try context.connect()
        defer { client.close() }
        let model = try call(context) { () throws(RPCError) in try client.getModel(name) }
        if parsed.flags.contains("--json") {
            ConsoleIO.out(JSONPrinter(pretty: true).string(modelJSON(model)))
            return 0
        }
        var lines = ["model     \(model.name)", "state     \(stateName(model.state))"]
        if !model.error.isEmpty { lines.append("error     \(model.error)") }
        if !model.platform.isEmpty { lines.append("platform  \(model.platform)") }
        if !model.description.isEmpty { lines.append("about     \(model.description)") }
        lines.append("versions  " + model.versions.map { v in
            "\(v.version)\(v.version == model.defaultVersion ? " (default)" : "") \(stateName(v.state))"
        }.joined(separator: ", "))
        for spec in model.inputs { lines.append("input     \(specText(spec))") }
        for spec in model.outputs { lines.append("output    \(specText(spec))") }
        if let b = model.batching {
            lines.append(
                "batching  max_batch_size=\(b.maxBatchSize) max_queue_delay_us=\(b.maxQueueDelayUs) "
                    + "preferred_batch_sizes=\(b.preferredBatchSizes) max_queue_size=\(b.maxQueueSize) "
                    + "default_timeout_us=\(b.defaultTimeoutUs) instances=\(b.instances)")
        }
        ConsoleIO.out(lines.joined(separator: "\n"))
        return 0
    }

    // MARK: health

    static let healthHelp = """
        usage: tensorwire health [SERVICE]

        gRPC health check (grpc.health.v1.Health/Check) of SERVICE ("" or absent: the whole server, or e.g.
        tensorwire.v1.Inference). Prints the serving status; exits 0 only when SERVING (7 otherwise, 5 for an
        unknown service, 4 when unreachable), so it works as a readiness probe.
        """

    static func health(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        let service = try positionals(parsed, ["SERVICE"], optional: 1).first ?? ""
        let client = try context.connect()
        defer { client.close() }
        let status = try call(context) { () throws(RPCError) in try client.health(service: service) }
        let name: String
        switch status {
        case .serving: name = "SERVING"
        case .notServing: name = "NOT_SERVING"
        case .serviceUnknown: name = "SERVICE_UNKNOWN"
        default: name = "UNKNOWN"
        }
        ConsoleIO.out(name)
        if status != .serving { throw .notServing("\(service.isEmpty ? "the server" : service) is \(name)") }
        return 0
    }

    // MARK: predict

    static let predictSpec = OptionSpec(values: ["--input", "--top-k", "--output", "--version"], flags: ["--pretty"],
                                        aliases: ["-i": "--input", "-k": "--top-k", "-o": "--output"])

    static let predictHelp = """
        usage: tensorwire predict MODEL --input JSON|@FILE|- [--pretty] [--top-k K] [--output NAME]... [--version V]

        Runs one Predict and prints the response as JSON: model, version, outputs (name → nested array), top_k
        (with --top-k), and how the server batched it (batch_size, batch_requests, queue_us, compute_us).
          -i, --input X    the inputs: a JSON text, @FILE (JSON, or .npy by extension/magic), or - (stdin).
                           JSON is an object of input name → nested array, or for a one-input model just the
                           nested array ([[0, 1, ...]]); the shape is inferred from the nesting. .npy: '<f4',
                           '<f8', '<i4' or '<i8', C order, for a one-input model.
          --pretty         indented JSON
          -k, --top-k K    the K most probable classes of each row (from the probabilities output)
          -o, --output N   return only output N (repeatable)
          --version V      run version V instead of the default
        """

    /// The inputs of `model` from an --input value.
    static func loadInputs(_ input: String, model: TensorwireV1.ModelInfo) throws(CLIError) -> [TensorwireV1.Tensor] {
        var bytes: [UInt8]
        var path: String?
        if input == "-" {
            bytes = try ConsoleIO.readFile("-")
        } else if input.hasPrefix("@") {
            path = String(input.dropFirst())
            bytes = try ConsoleIO.readFile(path ?? "")
        } else {
            bytes = Array(input.utf8)
        }
        if path?.hasSuffix(".npy") == true || bytes.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) {
            guard let only = model.inputs.first, model.inputs.count == 1 else {
                throw .input(".npy input needs a one-input model; '\(model.name)' has \(model.inputs.count) inputs")
            }
            return [TensorJSON.tensor(name: only.name, npy: try NPYArray(bytes: bytes))]
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw .input("--input: \(error)")
        }
        bytes = []
        return try TensorJSON.inputs(from: json, model: model)
    }

    static func topK(_ parsed: ParsedArguments) throws(CLIError) -> Int? {
        try parsed.value("--top-k").map { text throws(CLIError) in try ArgumentValues.positiveInt(text, option: "--top-k") }
    }

    static func predict(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        let name = try positionals(parsed, ["MODEL"])[0]
        guard let input = parsed.value("--input") else { throw .usage("predict needs --input JSON|@FILE|-") }
        let topK = try topK(parsed)
        let client = try context.connect()
        defer { client.close() }
        let model = try call(context) { () throws(RPCError) in try client.getModel(name) }
        var request = TensorwireV1.PredictRequest()
        request.model = name
        request.version = parsed.value("--version") ?? ""
        request.inputs = try loadInputs(input, model: model)
        request.outputs = parsed.values["--output"] ?? []
        let response = try call(context) { () throws(RPCError) in try client.predict(request) }
        ConsoleIO.out(JSONPrinter(pretty: parsed.flags.contains("--pretty")).string(try TensorJSON.json(of: response, topK: topK)))
        return 0
    }

    // MARK: stream

    static let streamSpec = OptionSpec(values: ["--top-k", "--version", "--output"], flags: ["--pretty"],
                                       aliases: ["-k": "--top-k", "-o": "--output"])

    static let streamHelp = """
        usage: tensorwire stream MODEL [--top-k K] [--output NAME]... [--version V]  < requests.jsonl

        Reads JSON lines from standard input (each line: what predict's --input takes as JSON), sends each as soon
        as it is read over one PredictStream (pipelined, so the server can batch them), and prints one JSON line
        per response, in input order, with "id" set to the input's line number (1-based). Blank lines are skipped.
        A request the server rejects prints a line with "error" and the stream goes on; exit 8 if any did.
          -k, --top-k K    the K most probable classes of each row
          -o, --output N   return only output N (repeatable)
          --version V      run version V instead of the default
        """

    static func stream(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        let name = try positionals(parsed, ["MODEL"])[0]
        let topK = try topK(parsed)
        let client = try context.connect()
        defer { client.close() }
        let model = try call(context) { () throws(RPCError) in try client.getModel(name) }
        let printer = JSONPrinter(pretty: false)
        let failures = Mutex(0)
        let stream = client.predictStream(onResponse: { response in
            if response.error != nil { failures.withLock { $0 += 1 } }
            do {
                ConsoleIO.out(printer.string(try TensorJSON.json(of: response, topK: topK)))
            } catch {
                failures.withLock { $0 += 1 }
                ConsoleIO.err("tensorwire: response \(response.id): \(error)")
            }
        })
        var lineNumber = 0
        var sent = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            var request = TensorwireV1.PredictRequest()
            request.model = name
            request.version = parsed.value("--version") ?? ""
            request.outputs = parsed.values["--output"] ?? []
            request.id = String(lineNumber)
            do {
                request.inputs = try loadInputs(line, model: model)
            } catch {
                stream.cancel()
                throw .input("line \(lineNumber): \(error)")
            }
            stream.send(request)
            sent += 1
        }
        stream.finish()
        let status = stream.wait()
        guard status.isOK else { throw .rpc(RPCError(status: status)) }
        let failed = failures.withLock { $0 }
        if failed > 0 { throw .someFailed("\(failed) of \(sent) requests failed") }
        return 0
    }
}
