// Clients/TensorwireCLI/TensorwireCommand.swift: the tensorwire command line: global options and subcommands.
internal import Auth
internal import BuildInfo
internal import Crypto
internal import Dispatch
internal import Locks
internal import ProtoWire
internal import RPCCore
internal import TensorwireClient
internal import TensorwireProto
internal import Transport

/// The `tensorwire` command: parses the command line, runs one subcommand, and returns the exit code (errors
/// are written to standard error). Runs on the calling thread, which blocks on RPCs.
public enum TensorwireCommand {
    static let exitCodes = """
        Exit codes:
          0  success (health: the service is SERVING)
          1  the server answered with an error status (other than those below)
          2  usage error (bad arguments)
          3  bad input (JSON, .npy, an unreadable file, a NaN or infinite number)
          4  server unreachable (host does not resolve, nothing listens, UNAVAILABLE)
          5  not found (unknown model or health service)
          6  deadline exceeded (--timeout)
          7  not serving: health's service is not SERVING, or the model is not READY (FAILED, UNLOADED)
          8  stream/bench: some requests failed
        """

    static let globalHelp = """
        Global options (before or after the subcommand):
          --server ADDRESS    the server: HOST:PORT for gRPC, or http://HOST:PORT for HTTP/1.1 + JSON
                              (default localhost:50051, or $TENSORWIRE_SERVER); for TLS use HOST:PORT
                              with --tls-ca (https:// REST is not supported yet). gRPC: repeat it or give a
                              comma list (A:1,B:2), or dns:///NAME:PORT (every A/AAAA record), to spread calls
                              round robin over several servers (docs/client.md)
          --http              speak HTTP/1.1 + JSON (the server's REST API, docs/rest.md) instead of gRPC: list,
                              info, health (the whole server only), predict and bench; stream is gRPC only
          --timeout DURATION  deadline of each RPC (10s, 500ms, 2m; default none; bench: per request)
          -H KEY:VALUE        metadata sent with every RPC (repeatable; HTTP header fields with --http)
          --tls-ca FILE       TLS (gRPC, or HTTPS with --http), verifying the server's certificate against FILE
          --tls-cert FILE --tls-key FILE
                              with --tls-ca: present this client certificate and key (mutual TLS)
          --api-key KEY       send "authorization: Bearer KEY" with every call, gRPC or HTTP (default
                              $TENSORWIRE_API_KEY; prefer the variable: a flag shows in the process list)
          --max-attempts N    attempts per call, the first included (default 5; 1: no retries); a call that
                              failed UNAVAILABLE (or --retry-codes) is retried with exponential backoff and
                              jitter within --timeout, as gRPC's retry policy does (docs/client.md)
          --initial-backoff D --max-backoff D --backoff-multiplier X
                              the retries' delay ceiling: D, growing X times per retry up to the maximum
                              (default 100ms, 1s, 2); each delay is random below it
          --retry-codes CODES the status codes retried (default UNAVAILABLE; names or numbers, comma-separated)
          --non-idempotent    retry a Predict only when it provably never reached the server (by default
                              inference is idempotent, so one that may have reached the model is retried too)
          --wait-for-ready    while no server can be reached, wait for one (until --timeout) instead of failing
          -h, --help          help for the command or subcommand
          --version           (first, before any command) the version and git commit
        """

    static let usage = """
        usage: tensorwire [--server HOST:PORT[,HOST:PORT]... | dns:///NAME:PORT | http://HOST:PORT] [--http]
                          [--timeout D] [-H K:V]... [retry options] COMMAND [ARGS]

        A client for a Tensorwire model server.

        Commands:
          list                   the models the server serves
          info MODEL             one model: versions, inputs, outputs, batching
          health [SERVICE]       gRPC health check; exit 0 only when SERVING
          predict MODEL --input  one prediction from JSON or .npy
          stream MODEL           JSON lines in, JSON lines out over one PredictStream
          bench MODEL            load generator: latency percentiles, throughput, server batching
          keys new NAME          a fresh API key and the line to add to the server's --auth-keys file
          seal MODEL             encrypt a model file for --model-keys (seal --new-key FILE: a new key)
          unseal SEALED          decrypt a sealed model file (for its owner)
          models reload [MODEL]  model control: rescan (poll mode) or reload; models load|unload MODEL

        Run 'tensorwire COMMAND --help' for a command's options.

        \(globalHelp)
        \(exitCodes)
        """

    /// The global settings every subcommand uses.
    struct Context {
        /// The first server (messages, HTTP/1.1).
        var host: String
        var port: Int
        /// Every gRPC server calls are spread over (just host:port unless several were given).
        var addresses: [ServerAddress] = []
        /// The retry policy, reconnect backoff and wait-for-ready (the connection settings are added when used).
        var channel = ClientChannel.Configuration()
        /// --non-idempotent clears it.
        var predictIsIdempotent = true
        /// HTTP/1.1 + JSON (--http, or an http:// address) instead of gRPC.
        var http = false
        var timeout: Duration?
        var metadata: Metadata
        var console: Console
        /// --tls-ca (and --tls-cert/--tls-key): gRPC over TLS; nil is plaintext.
        var tls: TLSClientContext? = nil

        /// The gRPC connection settings: TLS when asked for (with the name given for addresses resolved from it).
        var connectionConfiguration: ClientConnection.Configuration {
            var configuration = ClientConnection.Configuration()
            configuration.tls = tls
            if let tlsName {
                configuration.tlsServerName = tlsName
                configuration.authority = Reachability.address(host: tlsName, port: port)
            }
            return configuration
        }

        /// The name behind addresses resolved from `dns:///NAME:PORT`: the TLS server name and `:authority`.
        var tlsName: String? = nil

        /// The channel settings with the connection settings.
        var channelConfiguration: ClientChannel.Configuration {
            var configuration = channel
            configuration.connection = connectionConfiguration
            return configuration
        }

        var address: String { Reachability.address(host: host, port: port) }

        /// Fails with a plain reason when a host does not resolve (the transport would only say "Cannot assign
        /// requested address").
        func checkHost() throws(CLIError) {
            for host in Set(gRPCAddresses.map(\.host)) {
                if let reason = Reachability.resolveFailure(host: host) {
                    throw .unreachable(Reachability.unresolvable(host: host, reason: reason))
                }
            }
        }

        var gRPCAddresses: [ServerAddress] { addresses.isEmpty ? [ServerAddress(host: host, port: port)] : addresses }

        /// The error for a connection that could not be opened.
        func connectFailure(_ error: any Error) -> CLIError {
            let message = (error as? RPCError)?.message ?? "\(error)"
            return .unreachable(
                Reachability.describe(unavailable: message, host: host, port: port) ?? "cannot connect to \(address) (\(message))")
        }

        /// A client of the protocol chosen (--http or not).
        func connect() throws(CLIError) -> ServerCalls {
            if http { return .http(try connectREST()) }
            return .grpc(try connectGRPC())
        }

        func connectGRPC() throws(CLIError) -> TensorwireClient {
            try checkHost()
            do {
                return try TensorwireClient(
                    addresses: gRPCAddresses, defaultTimeout: timeout, defaultMetadata: metadata,
                    channel: channelConfiguration, predictIsIdempotent: predictIsIdempotent)
            } catch {
                throw connectFailure(error)
            }
        }

        /// A REST client (it connects on its first call).
        func connectREST() throws(CLIError) -> TensorwireRESTClient {
            try checkHost()
            return TensorwireRESTClient(
                host: host, port: port, defaultTimeout: timeout, defaultMetadata: metadata, tls: tls)
        }

        /// Refuses --http for a command that exists only over gRPC.
        func requireGRPC(_ what: String) throws(CLIError) {
            if http {
                throw .usage("\(what) works over gRPC only; leave out --http (and use HOST:PORT, not http://HOST:PORT)")
            }
        }

        /// A channel of its own (bench spreads its load over several): a connection to every server, with its loop.
        func openChannel() throws(CLIError) -> ClientChannel {
            try checkHost()
            do {
                return try ClientChannel(addresses: gRPCAddresses, configuration: channelConfiguration)
            } catch {
                throw connectFailure(error)
            }
        }

        /// An RPC failure as the CLI reports it: a connection failure in plain words, anything else as the status.
        func failure(_ error: RPCError) -> CLIError {
            if error.code == .unavailable {
                if gRPCAddresses.count > 1, !http, error.message.hasPrefix("no server reachable") {
                    return .unreachable(error.message)
                }
                if let text = Reachability.describe(unavailable: error.message, host: host, port: port) {
                    return .unreachable(text)
                }
            }
            return .rpc(error)
        }
    }

    /// Runs the command line `arguments` (without the program name) with `environment` (for TENSORWIRE_SERVER),
    /// writing to and reading from `console`.
    public static func run(_ arguments: [String], environment: [String: String], console: Console = .standard) -> Int32 {
        do {
            return try dispatch(arguments, environment: environment, console: console)
        } catch {
            console.err("tensorwire: \(error)")
            if case .usage = error { console.err("Run 'tensorwire --help' for usage.") }
            return error.exitCode
        }
    }

    static func dispatch(_ arguments: [String], environment: [String: String], console: Console) throws(CLIError) -> Int32 {
        // Before any command only: after `predict`/`stream`, --version names the model version.
        if arguments.first == "--version" || arguments.first == "version" {
            console.out(BuildInfo.versionLine(program: "tensorwire"))
            return 0
        }
        let (leading, rest) = try OptionSpec.global.parse(arguments, stopAtPositional: true)
        guard let command = rest.first else {
            if leading.flags.contains("--help") {
                console.out(usage)
                return 0
            }
            throw .usage("no command given")
        }
        let spec: OptionSpec
        let help: String
        switch command {
        case "list": (spec, help) = (OptionSpec(flags: ["--json", "--pretty"]), listHelp)
        case "info": (spec, help) = (OptionSpec(flags: ["--json", "--pretty"]), infoHelp)
        case "health": (spec, help) = (OptionSpec(), healthHelp)
        case "predict": (spec, help) = (predictSpec, predictHelp)
        case "stream": (spec, help) = (streamSpec, streamHelp)
        case "bench": (spec, help) = (BenchCommand.spec, BenchCommand.help)
        case "keys": (spec, help) = (OptionSpec(values: ["--scope", "--expires"]), keysHelp)
        case "seal": (spec, help) = (SealCommand.sealSpec, SealCommand.sealHelp)
        case "unseal": (spec, help) = (SealCommand.unsealSpec, SealCommand.unsealHelp)
        case "models": (spec, help) = (ModelsCommand.spec, ModelsCommand.help)
        case "help":
            console.out(usage)
            return 0
        default: throw .usage("unknown command '\(command)'")
        }
        var (parsed, _) = try OptionSpec.global.merging(spec).parse(Array(rest.dropFirst()))
        for (key, values) in leading.values { parsed.values[key] = values + (parsed.values[key] ?? []) }
        parsed.flags.formUnion(leading.flags)
        if parsed.flags.contains("--help") {
            console.out(help + "\n\n" + globalHelp + "\n" + exitCodes)
            return 0
        }
        if command == "keys" { return try keys(parsed, console) }
        if command == "seal" { return try SealCommand.seal(parsed, console) }
        if command == "unseal" { return try SealCommand.unseal(parsed, console) }
        let context = try makeContext(parsed, environment: environment, console: console)
        switch command {
        case "list": return try list(parsed, context)
        case "info": return try info(parsed, context)
        case "health": return try health(parsed, context)
        case "predict": return try predict(parsed, context)
        case "stream": return try stream(parsed, context)
        case "models": return try ModelsCommand.run(parsed, context)
        default: return try BenchCommand.run(parsed, context)
        }
    }

    static func makeContext(_ parsed: ParsedArguments, environment: [String: String], console: Console) throws(CLIError)
        -> Context
    {
        let given = ArgumentValues.serverList(parsed.values["--server"] ?? [environment["TENSORWIRE_SERVER"] ?? "localhost:50051"])
        guard let firstGiven = given.first else { throw .usage("--server: no address given") }
        var addresses: [ServerAddress] = []
        var tlsName: String?
        var http = false
        for text in given {
            if let target = try ArgumentValues.dnsTarget(text) {
                do {
                    addresses += try ServerAddress.resolveAll(host: target.host, port: target.port)
                } catch {
                    throw .unreachable(error.message)
                }
                tlsName = target.host
                continue
            }
            let address = try ArgumentValues.serverAddress(text)
            http = http || address.http
            addresses.append(ServerAddress(host: address.host, port: address.port))
        }
        guard let first = addresses.first else { throw .usage("--server \(firstGiven): no address") }
        let (host, port) = (first.host, first.port)
        if addresses.count > 1, http || parsed.flags.contains("--http") {
            throw .usage("several servers work over gRPC only (HTTP/1.1 talks to one server); give one http:// address")
        }
        let timeout = try parsed.value("--timeout").map { text throws(CLIError) in
            try ArgumentValues.duration(text, option: "--timeout")
        }
        var metadata = Metadata()
        for header in parsed.values["--header"] ?? [] { try ArgumentValues.header(header, into: &metadata) }
        if let key = parsed.value("--api-key") ?? environment["TENSORWIRE_API_KEY"], !key.isEmpty {
            guard key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw .usage("--api-key: the key must be printable ASCII without spaces")
            }
            metadata.removeAll(forKey: "authorization")
            // Never echo the key in an error.
            guard (try? metadata.addString("Bearer \(key)", forKey: "authorization")) != nil else {
                throw .usage("--api-key: the key is not a valid header value")
            }
        }
        var context = Context(
            host: host, port: port, http: http || parsed.flags.contains("--http"), timeout: timeout, metadata: metadata,
            console: console)
        context.addresses = addresses
        context.tlsName = tlsName
        context.channel = try channelSettings(parsed)
        context.predictIsIdempotent = !parsed.flags.contains("--non-idempotent")
        context.tls = try tlsContext(parsed, http: context.http)
        return context
    }

    /// The retry policy and wait-for-ready of --max-attempts, --initial-backoff, --max-backoff,
    /// --backoff-multiplier, --retry-codes and --wait-for-ready (gRPC's defaults otherwise, docs/client.md).
    static func channelSettings(_ parsed: ParsedArguments) throws(CLIError) -> ClientChannel.Configuration {
        var policy = RetryPolicy()
        if let text = parsed.value("--max-attempts") {
            policy.maxAttempts = try ArgumentValues.positiveInt(text, option: "--max-attempts")
        }
        if let text = parsed.value("--initial-backoff") {
            policy.initialBackoff = try ArgumentValues.duration(text, option: "--initial-backoff")
        }
        if let text = parsed.value("--max-backoff") {
            policy.maxBackoff = try ArgumentValues.duration(text, option: "--max-backoff")
        }
        if let text = parsed.value("--backoff-multiplier") {
            policy.backoffMultiplier = try ArgumentValues.positiveDouble(text, option: "--backoff-multiplier")
            guard policy.backoffMultiplier >= 1 else { throw .usage("--backoff-multiplier: must be at least 1") }
        }
        if let text = parsed.value("--retry-codes") {
            policy.retryableStatusCodes = try ArgumentValues.statusCodes(text, option: "--retry-codes")
        }
        var configuration = ClientChannel.Configuration(retryPolicy: policy)
        configuration.waitForReady = parsed.flags.contains("--wait-for-ready")
        return configuration
    }

    /// The TLS client settings of --tls-ca, --tls-cert and --tls-key; nil without --tls-ca.
    static func tlsContext(_ parsed: ParsedArguments, http: Bool) throws(CLIError) -> TLSClientContext? {
        let ca = parsed.value("--tls-ca")
        let certificate = parsed.value("--tls-cert")
        let key = parsed.value("--tls-key")
        guard let ca else {
            if certificate != nil || key != nil { throw .usage("--tls-cert and --tls-key need --tls-ca (the server's CA)") }
            return nil
        }
        if (certificate == nil) != (key == nil) { throw .usage("--tls-cert and --tls-key go together: give both or neither") }
        do {
            // ALPN: gRPC needs h2; the REST client speaks HTTP/1.1 only.
            return try TLSClientContext(
                caFile: ca, certificateFile: certificate, keyFile: key, alpn: http ? [.http1] : [.http2])
        } catch {
            throw .input("\(error)")
        }
    }

    /// The positional arguments of `command`, which takes `names` (the last `optional` of them may be left out).
    static func positionals(_ parsed: ParsedArguments, _ command: String, _ names: [String], optional: Int = 0)
        throws(CLIError) -> [String]
    {
        let given = parsed.positionals
        let required = names.count - optional
        if given.count > names.count {
            let extra = given.dropFirst(names.count).map { "'\($0)'" }.joined(separator: " ")
            if names.isEmpty { throw .usage("\(command) takes no arguments (got \(extra))") }
            let takes = names.enumerated().map { $0.offset < required ? $0.element : "[\($0.element)]" }.joined(separator: " ")
            throw .usage("\(command) takes \(takes); unexpected \(extra)")
        }
        if given.count < required {
            throw .usage("\(command) needs \(names[given.count..<required].joined(separator: " "))")
        }
        return given
    }

    /// Runs an RPC; a connection failure says in plain words why the server could not be reached.
    static func call<T>(_ context: Context, _ body: () throws(RPCError) -> T) throws(CLIError) -> T {
        do {
            return try body()
        } catch {
            throw context.failure(error)
        }
    }

    /// Refuses a model (or the `version` asked for) that is not READY, with its state and the server's reason,
    /// instead of sending requests it can only fail (a failed model also lists no inputs).
    static func requireReady(_ model: TensorwireV1.ModelInfo, version: String?) throws(CLIError) {
        func refusal(_ what: String, _ state: TensorwireV1.ModelState, _ reason: String) -> CLIError {
            let name = stateName(state)
            let because = reason.isEmpty || reason.lowercased() == name.lowercased() ? "" : ": \(reason)"
            return .notServing("\(what) is \(name)\(because)")
        }
        if let version, !version.isEmpty, let chosen = model.versions.first(where: { $0.version == version }) {
            guard chosen.state == .ready else { throw refusal("model '\(model.name)' version \(version)", chosen.state, chosen.error) }
            return
        }
        guard model.state == .ready else { throw refusal("model '\(model.name)'", model.state, model.error) }
    }

    // MARK: keys

    static let keysHelp = """
        usage: tensorwire keys new NAME --scope SCOPE [--scope SCOPE]... [--expires DATE]

        Prints a fresh API key (32 random bytes, hex) once, and the JSON line that admits it, to add to the "keys"
        list of the server's --auth-keys file (which stores only the key's SHA-256). Talks to no server.
          --scope SCOPE    infer:<model glob>, read:<model glob> or admin (repeatable; * and ? match)
          --expires DATE   2027-06-30 or 2027-06-30T00:00:00Z (UTC); default: never
        """

    static func keys(_ parsed: ParsedArguments, _ console: Console) throws(CLIError) -> Int32 {
        let given = try positionals(parsed, "keys", ["new", "NAME"])
        guard given[0] == "new" else { throw .usage("keys: unknown subcommand '\(given[0])' (only 'new')") }
        let scopeTexts = parsed.values["--scope"] ?? []
        guard !scopeTexts.isEmpty else { throw .usage("keys new needs at least one --scope") }
        var scopes: [AuthScope] = []
        for text in scopeTexts {
            guard let scope = AuthScope(parsing: text), !text.contains("\""), !text.contains("\\") else {
                throw .usage("--scope: '\(text)' is not infer:<glob>, read:<glob> or admin")
            }
            scopes.append(scope)
        }
        let expires = parsed.value("--expires")
        if let expires, AuthKeyFile.parseDate(expires) == nil {
            throw .usage("--expires: '\(expires)' is not a UTC date like 2027-06-30 or 2027-06-30T00:00:00Z")
        }
        let fresh = NewAPIKey(id: given[1], scopes: scopes, expires: expires)
        // The line must be one the server accepts (the id's characters among others).
        do throws(AuthKeyFileError) {
            _ = try AuthKeyFile.parse(Array("{\"keys\": [\(fresh.entryJSON)]}".utf8), path: "the new entry")
        } catch {
            throw .usage("keys new: \(error.reason)")
        }
        console.out("API key (shown once, store it now): \(fresh.key)")
        console.out("add this line to the \"keys\" list of the --auth-keys file:")
        console.out(fresh.entryJSON)
        return 0
    }

    // MARK: list

    static let listHelp = """
        usage: tensorwire list [--json] [--pretty]

        Lists the server's models: name, default version, state, inputs and outputs (name:dtype[shape]).
          --json    one JSON object per model, as a JSON array on one line
          --pretty  the JSON indented (implies --json)
        """

    /// The JSON printer that --json / --pretty ask for, or nil for text.
    static func jsonPrinter(_ parsed: ParsedArguments) -> JSONPrinter? {
        let pretty = parsed.flags.contains("--pretty")
        return pretty || parsed.flags.contains("--json") ? JSONPrinter(pretty: pretty) : nil
    }

    static func list(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        _ = try positionals(parsed, "list", [])
        let client = try context.connect()
        defer { client.close() }
        let models = try call(context) { () throws(RPCError) in try client.listModels() }
        if let printer = jsonPrinter(parsed) {
            context.console.out(printer.string(.array(models.map(modelJSON))))
            return 0
        }
        var rows = [["MODEL", "VERSION", "STATE", "INPUTS", "OUTPUTS"]]
        for model in models {
            rows.append([
                model.name, model.defaultVersion.isEmpty ? "-" : model.defaultVersion, stateName(model.state),
                model.inputs.map(specText).joined(separator: " "), model.outputs.map(specText).joined(separator: " "),
            ])
        }
        context.console.out(table(rows))
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
            if version.sealed { fields.append(("sealed", .bool(true))) }
            if !version.sha256.isEmpty { fields.append(("sha256", .string(version.sha256))) }
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
        usage: tensorwire info MODEL [--json] [--pretty]

        Describes one model: versions and their state (with the reason when not READY), inputs and outputs,
        batching settings.
          --json    the description as JSON on one line
          --pretty  the JSON indented (implies --json)
        """

    static func info(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        let name = try positionals(parsed, "info", ["MODEL"])[0]
        let client = try context.connect()
        defer { client.close() }
        let model = try call(context) { () throws(RPCError) in try client.getModel(name) }
        if let printer = jsonPrinter(parsed) {
            context.console.out(printer.string(modelJSON(model)))
            return 0
        }
        var lines = ["model     \(model.name)", "state     \(stateName(model.state))"]
        if !model.error.isEmpty { lines.append("error     \(model.error)") }
        if !model.platform.isEmpty { lines.append("platform  \(model.platform)") }
        if !model.description.isEmpty { lines.append("about     \(model.description)") }
        lines.append("versions  " + model.versions.map { v in
            "\(v.version)\(v.version == model.defaultVersion ? " (default)" : "") \(stateName(v.state))"
                + (v.sealed ? " sealed" : "")
        }.joined(separator: ", "))
        for v in model.versions where !v.sha256.isEmpty { lines.append("sha256    \(v.version): \(v.sha256)") }
        for spec in model.inputs { lines.append("input     \(specText(spec))") }
        for spec in model.outputs { lines.append("output    \(specText(spec))") }
        if let b = model.batching {
            lines.append(
                "batching  max_batch_size=\(b.maxBatchSize) max_queue_delay_us=\(b.maxQueueDelayUs) "
                    + "preferred_batch_sizes=\(b.preferredBatchSizes) max_queue_size=\(b.maxQueueSize) "
                    + "default_timeout_us=\(b.defaultTimeoutUs) instances=\(b.instances)")
        }
        context.console.out(lines.joined(separator: "\n"))
        return 0
    }

    // MARK: health

    static let healthHelp = """
        usage: tensorwire health [SERVICE]

        gRPC health check (grpc.health.v1.Health/Check) of SERVICE ("" or absent: the whole server, or e.g.
        tensorwire.v1.Inference). Prints the serving status; exits 0 only when SERVING (7 otherwise, 5 for an
        unknown service, 4 when unreachable), so it works as a readiness probe. With --http: GET /v2/health/ready
        (200 SERVING, 503 NOT_SERVING), the whole server only (no SERVICE).
        """

    static func health(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        let service = try positionals(parsed, "health", ["SERVICE"], optional: 1).first ?? ""
        if context.http {
            guard service.isEmpty else {
                throw .usage("health SERVICE works over gRPC only; over HTTP, health checks the whole server (GET /v2/health/ready)")
            }
            let client = try context.connectREST()
            defer { client.close() }
            let ready = try call(context) { () throws(RPCError) in try client.ready() }
            context.console.out(ready ? "SERVING" : "NOT_SERVING")
            if !ready { throw .notServing("the server is NOT_SERVING") }
            return 0
        }
        let client = try context.connectGRPC()
        defer { client.close() }
        let status = try call(context) { () throws(RPCError) in try client.health(service: service) }
        let name: String
        switch status {
        case .serving: name = "SERVING"
        case .notServing: name = "NOT_SERVING"
        case .serviceUnknown: name = "SERVICE_UNKNOWN"
        default: name = "UNKNOWN"
        }
        context.console.out(name)
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
        A model (or version) that is not READY is refused with its state and the server's reason (exit 7).
          -i, --input X    the inputs: a JSON text, @FILE (JSON, or .npy by extension/magic), or - (stdin).
                           JSON is an object of input name → nested array, or for a one-input model just the
                           nested array ([[0, 1, ...]]); the shape is inferred from the nesting. .npy: '<f4',
                           '<f8', '<f2', '<i4', '<i8' or '|u1', C order, for a one-input model. Every number
                           must be finite (no NaN or infinity, nothing beyond the input's float range).
          --pretty         indented JSON
          -k, --top-k K    the K most probable classes of each row (from the probabilities output)
          -o, --output N   return only output N (repeatable)
          --version V      run version V instead of the default
        """

    /// The inputs of `model` from an --input value: JSON text, @FILE (JSON or .npy) or - (standard input).
    static func loadInputs(_ input: String, model: TensorwireV1.ModelInfo, console: Console) throws(CLIError)
        -> [TensorwireV1.Tensor]
    {
        var bytes: [UInt8]
        var path: String?
        if input == "-" {
            bytes = try console.readFile("-")
        } else if input.hasPrefix("@") {
            path = String(input.dropFirst())
            bytes = try console.readFile(path ?? "")
        } else {
            bytes = Array(input.utf8)
        }
        if path?.hasSuffix(".npy") == true || bytes.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) {
            guard let only = model.inputs.first, model.inputs.count == 1 else {
                throw .input(".npy input needs a one-input model; '\(model.name)' has \(model.inputs.count) inputs")
            }
            return [try TensorJSON.tensor(name: only.name, npy: try NPYArray(bytes: bytes))]
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
        let name = try positionals(parsed, "predict", ["MODEL"])[0]
        guard let input = parsed.value("--input") else { throw .usage("predict needs --input JSON|@FILE|-") }
        let topK = try topK(parsed)
        let version = parsed.value("--version") ?? ""
        let client = try context.connect()
        defer { client.close() }
        let model = try call(context) { () throws(RPCError) in try client.getModel(name) }
        try requireReady(model, version: version)
        var request = TensorwireV1.PredictRequest()
        request.model = name
        request.version = version
        request.inputs = try loadInputs(input, model: model, console: context.console)
        request.outputs = parsed.values["--output"] ?? []
        let response = try call(context) { () throws(RPCError) in try client.predict(request) }
        let printer = JSONPrinter(pretty: parsed.flags.contains("--pretty"))
        context.console.out(printer.string(try TensorJSON.json(of: response, topK: topK)))
        return 0
    }

    // MARK: stream

    static let streamSpec = OptionSpec(values: ["--top-k", "--version", "--output"],
                                       aliases: ["-k": "--top-k", "-o": "--output"])

    static let streamHelp = """
        usage: tensorwire stream MODEL [--top-k K] [--output NAME]... [--version V]  < requests.jsonl

        Reads JSON lines from standard input (each line: what predict's --input takes as JSON), sends each as soon
        as it is read over one PredictStream (pipelined, so the server can batch them), and prints one JSON line
        per response as it arrives, in input order, with "id" set to the input's line number (1-based). Blank
        lines are skipped. A line that is not valid input (bad JSON, a wrong input name, a NaN or infinite number)
        or that the server rejects prints a line with "error" ({"code": 3, "message": ...} for the former) and the
        stream goes on; exit 8 if any did. --timeout bounds the whole stream.
          -k, --top-k K    the K most probable classes of each row
          -o, --output N   return only output N (repeatable)
          --version V      run version V instead of the default
        """

    /// The inputs of one stream line (JSON only: `@FILE` and `-` mean nothing there).
    static func streamInputs(_ line: String, model: TensorwireV1.ModelInfo) throws(CLIError) -> [TensorwireV1.Tensor] {
        let json: JSONValue
        do {
            json = try JSONParser.parse(line)
        } catch {
            throw .input("\(error)")
        }
        return try TensorJSON.inputs(from: json, model: model)
    }

    /// A stream output line for a request that failed before or after the server saw it.
    static func errorLine(model: String, version: String, id: String, code: Status.Code, message: String) -> JSONValue {
        var response = TensorwireV1.PredictResponse()
        response.model = model
        response.version = version
        response.id = id
        response.error = TensorwireV1.PredictError(code: Int32(code.rawValue), message: message)
        return (try? TensorJSON.json(of: response, topK: nil)) ?? .null
    }

    static func stream(_ parsed: ParsedArguments, _ context: Context) throws(CLIError) -> Int32 {
        let name = try positionals(parsed, "stream", ["MODEL"])[0]
        try context.requireGRPC("stream (one PredictStream)")
        let topK = try topK(parsed)
        let version = parsed.value("--version") ?? ""
        let client = try context.connectGRPC()
        defer { client.close() }
        let model = try call(context) { () throws(RPCError) in try client.getModel(name) }
        try requireReady(model, version: version)
        let printer = JSONPrinter(pretty: false)
        let output = StreamOutput(console: context.console)
        let stream = client.predictStream(onResponse: { response in
            do {
                output.answered(printer.string(try TensorJSON.json(of: response, topK: topK)), failed: response.error != nil)
            } catch {
                let line = errorLine(
                    model: response.model, version: response.version, id: response.id, code: .invalidArgument,
                    message: "\(error)")
                output.answered(printer.string(line), failed: true)
            }
        })
        var lineNumber = 0
        while stream.status == nil, let line = context.console.readLine() {
            lineNumber += 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            var request = TensorwireV1.PredictRequest()
            request.model = name
            request.version = version
            request.outputs = parsed.values["--output"] ?? []
            request.id = String(lineNumber)
            do {
                request.inputs = try streamInputs(line, model: model)
            } catch {
                let line = errorLine(model: name, version: version, id: request.id, code: .invalidArgument, message: "\(error)")
                output.local(printer.string(line))
                continue
            }
            output.expectAnswer()
            stream.send(request)
        }
        stream.finish()
        let status = stream.wait()
        let (failed, total) = output.finish()
        guard status.isOK else { throw context.failure(RPCError(status: status)) }
        if failed > 0 { throw .someFailed("\(failed) of \(total) requests failed") }
        return 0
    }
}

/// `stream`'s output: one line per input line, printed as soon as it and every line before it are known, so
/// answers appear as they arrive and in input order although a bad line's error is known before the answers to
/// the lines above it. The server answers a PredictStream's requests in the order they were sent.
/// Threads: any (answers come on the connection's loop thread, local errors on the reading thread).
final class StreamOutput: Sendable {
    struct State {
        /// Lines known but not yet printed, by sequence number.
        var ready: [Int: String] = [:]
        /// Sequence numbers of the requests sent, in send order; `awaiting[awaitingHead...]` are unanswered.
        var awaiting: [Int] = []
        var awaitingHead = 0
        /// Sequence numbers that get no line (requests the stream ended without answering).
        var skipped: Set<Int> = []
        var nextSequence = 0
        var nextToPrint = 0
        var failed = 0
    }

    let console: Console
    let state = Lock(State())

    init(console: Console) {
        self.console = console
    }

    /// Reserves the next line for the answer to a request about to be sent (call before sending it).
    func expectAnswer() {
        state.withLock { state in
            state.awaiting.append(state.nextSequence)
            state.nextSequence += 1
        }
    }

    /// The next line is an error found before sending (the input line was bad).
    func local(_ line: String) {
        state.withLock { state in
            state.ready[state.nextSequence] = line
            state.nextSequence += 1
            state.failed += 1
            flush(&state)
        }
    }

    /// The server's answer to the oldest unanswered request.
    func answered(_ line: String, failed: Bool) {
        state.withLock { state in
            guard state.awaitingHead < state.awaiting.count else { return }
            state.ready[state.awaiting[state.awaitingHead]] = line
            state.awaitingHead += 1
            if state.awaitingHead >= 4096 {
                state.awaiting.removeFirst(state.awaitingHead)
                state.awaitingHead = 0
            }
            if failed { state.failed += 1 }
            flush(&state)
        }
    }

    /// The stream has ended: unanswered requests get no line, the lines after them are printed. Returns the failed
    /// lines (bad input or an error answer) and all lines.
    func finish() -> (failed: Int, total: Int) {
        state.withLock { state in
            state.skipped.formUnion(state.awaiting[state.awaitingHead...])
            state.awaiting = []
            state.awaitingHead = 0
            flush(&state)
            return (state.failed, state.nextSequence)
        }
    }

    private func flush(_ state: inout State) {
        while true {
            if let line = state.ready.removeValue(forKey: state.nextToPrint) {
                console.out(line)
            } else if state.skipped.remove(state.nextToPrint) == nil {
                return
            }
            state.nextToPrint += 1
        }
    }
}
