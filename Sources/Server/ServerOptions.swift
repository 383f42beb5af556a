public import Auth
public import Crypto
public import Inference
public import Logging

/// Whether models may be loaded and unloaded while the server runs (Triton's `--model-control-mode`).
public enum ModelControlMode: String, Sendable, Equatable, CaseIterable {
    /// The models found at start-up serve until exit; RepositoryModelLoad / RepositoryModelUnload answer UNAVAILABLE.
    case none
    /// No model is loaded at start-up except those named by `--load-model`; RepositoryModelLoad loads (or reloads)
    /// a model from the repository and RepositoryModelUnload unloads it.
    case explicit
    /// Every model of the repository loads at start-up, and the repository is scanned every
    /// `--repository-poll-secs`: new and changed versions load, warm and swap in without a failed request, removed
    /// model folders unload. RepositoryModelLoad rescans one model now; RepositoryModelUnload is refused.
    case poll
}

/// Text that must not be printed (keys from the environment): `description` and reflection say "<redacted>".
public struct SecretText: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

/// The `tensorwire-server` command line, parsed by hand. A value; `parse` never exits or prints.
public struct ServerOptions: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 50051
    /// A model repository directory; nil serves the built-in `digits` model.
    public var modelsDirectory: String?
    public var loops = 1
    /// `--malloc-tcache-count`: glibc's per-thread cache of freed blocks, per size (its default is 7). At start-up
    /// the server re-executes itself once with `glibc.malloc.tcache_count` set in GLIBC_TUNABLES (glibc reads it
    /// only when a program starts), unless GLIBC_TUNABLES already names it; 0 leaves glibc's default and never
    /// re-executes. docs/performance.md, "The allocator".
    public var mallocTcacheCount = 1000
    public var maxReceiveMessageBytes = 64 << 20
    public var drainSeconds = 10.0
    /// `--drain-delay-seconds`: on SIGTERM, how long the server reports not ready while it still accepts and serves,
    /// before it stops accepting (so load balancers move traffic first); default 0.
    public var drainDelaySeconds = 0.0
    /// The batching knobs of every model whose config.json does not set them, and of the built-in model.
    public var modelDefaults = ModelConfig()
    /// Threads per GEMM call (packed kernels and OpenBLAS); nil: cores / instances, so threads × instances ≤ cores.
    public var blasThreads: Int?
    /// `--inline-batches`: whether a model that computes a lone request on the loop thread also runs a pass's queued
    /// requests there, batch by batch (`ModelConfig.inlineQueuedBatches`). The composition root resolves `auto`
    /// (`resolveInlineBatches(cpusAllowed:)`): on when the process may run on one CPU only.
    public var inlineBatches = InlineBatches.auto

    /// The values of `--inline-batches`.
    public enum InlineBatches: String, Sendable, CaseIterable {
        case auto, on, off
    }

    /// Sets `modelDefaults.inlineQueuedBatches` from `--inline-batches`: `auto` is on when `cpusAllowed` (the
    /// process's CPU affinity; 0 when unknown) is 1, when an instance thread could not compute beside the loop anyway.
    public mutating func resolveInlineBatches(cpusAllowed: Int) {
        switch inlineBatches {
        case .on: modelDefaults.inlineQueuedBatches = true
        case .off: modelDefaults.inlineQueuedBatches = false
        case .auto: modelDefaults.inlineQueuedBatches = cpusAllowed == 1
        }
    }

    /// `--gemm`: the GEMM models compile for; `auto` (default) is `GEMMBackend.preferred`, the best this CPU runs.
    public var gemm = GEMMBackend.preferred
    /// `--model-control`: `none` (default) or `explicit`.
    public var modelControl = ModelControlMode.none
    /// `--repository-poll-secs`: the poll interval of `--model-control poll` (default 15, as Triton's).
    public var repositoryPollSeconds = 15.0
    /// `--load-model NAME` (repeatable; `*` loads every repository model): the models loaded at start-up in explicit
    /// mode.
    public var loadModels: [String] = []
    /// `--strict-readiness`: not ready (health "", ServerReady) while any loaded model has no ready version.
    public var strictReadiness = false
    /// `--log-level`: the lowest level written to standard error.
    public var logLevel = LogLevel.info
    /// `--log-format`: `text` (default) or `json`, one object per line.
    public var logFormat = LogFormatKind.text
    /// `--access-log`: one line per finished request, component `access` (`AccessLog`).
    public var accessLog = false
    // Transport resource limits (issue 25); the defaults are GRPCServer.Configuration's.
    /// `--max-connections`: open connections; one accepted beyond it is closed at once.
    public var maxConnections = 4096
    /// `--handshake-timeout-seconds`: close a connection without the HTTP/2 preface and SETTINGS by then; 0: never.
    public var handshakeTimeoutSeconds = 20.0
    /// `--idle-timeout-seconds`: GOAWAY a connection with no RPC for this long; 0: never.
    public var idleTimeoutSeconds = 300.0
    /// `--max-buffered-request-bytes`: bytes of unfinished request messages buffered across all connections.
    public var maxBufferedRequestBytes = 512 << 20
    /// `--max-buffered-request-bytes-per-connection`: the same per connection.
    public var maxBufferedRequestBytesPerConnection = 128 << 20
    /// `--max-queued-response-bytes-per-connection`: response bytes queued on a connection before its streams are
    /// told to stop producing (`ServerCall.isWritable`).
    public var maxQueuedResponseBytesPerConnection = 16 << 20
    /// `--max-model-bytes`: every model's memory budget (weights, folded constants, execution buffers), 1 GiB by
    /// default; a model that needs more is a load error.
    public var maxModelBytes = Model.defaultMaxModelBytes
    /// `--http-port`: a second port for HTTP/1.1 and h2c REST (Triton-style separate ports); nil: only `--port`,
    /// which answers REST as well.
    public var httpPort: Int?
    /// `--metrics-port`: a port that serves only `GET /metrics` (the server port serves it too); nil: none.
    public var metricsPort: Int?
    /// `--http-head-timeout-seconds`: an HTTP/1.1 request head must complete this soon after its first byte.
    public var httpHeadTimeoutSeconds = 30.0
    /// `--http-body-timeout-seconds`: an HTTP/1.1 request body may stall this long between bytes.
    public var httpBodyTimeoutSeconds = 30.0
    /// `--tls-cert FILE --tls-key FILE`: serve TLS on every listener with this PEM chain and key; nil: plaintext.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// `--tls-client-ca FILE`: verify client certificates against this CA (mutual TLS).
    public var tlsClientCAFile: String?
    /// `--tls-client-auth required|optional`: with a client CA, whether a client without a certificate connects.
    public var tlsClientAuth = TLSClientAuth.required

    /// `--auth-keys FILE`: the API keys and identities with their scopes (docs/security.md); nil: no key checks.
    public var authKeysPath: String?
    /// `--auth-public`: what needs no credential besides health (reflection, metrics).
    public var authPublic = PublicActions()
    /// `--insecure`: allow a non-loopback `--host` without `--auth-keys` (a trusted network).
    public var insecure = false

    /// `--model-keys PATH`: a key file (32 raw bytes) or a folder of them, which open `model.onnx.sealed` files
    /// (docs/sealed-models.md); nil: none.
    public var modelKeysPath: String?
    /// `--model-keys-env VAR`: the name of an environment variable holding keys as hex; nil: none.
    public var modelKeysEnvironmentVariable: String?
    /// The value of `modelKeysEnvironmentVariable`, read by the composition root (no module reads the environment);
    /// nil when the variable is not set. Its description is redacted, so printing the options shows no key.
    public var modelKeysEnvironmentValue: SecretText?

    /// Whether any model keys are configured: the process then holds secrets and marks itself non-dumpable.
    public var hasModelKeys: Bool { modelKeysPath != nil || modelKeysEnvironmentVariable != nil }

    public init() {}

    /// Whether `host` is a loopback name or address: `localhost`, 127.0.0.0/8, `::1`.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Why these options must not start: a non-loopback `--host` with no credential check (neither `--auth-keys` nor
    /// required client certificates) and no `--insecure`. `--tls-client-auth optional` alone lets clients without a
    /// certificate in, so it does not count.
    public var insecureBindRefusal: String? {
        let mutualTLS = tlsClientCAFile != nil && tlsClientAuth == .required
        guard !Self.isLoopback(host), authKeysPath == nil, !mutualTLS, !insecure else { return nil }
        return "refusing to listen on \(host) with no access control: anyone who reaches the port could infer, load "
            + "and unload models. Give --auth-keys FILE (API keys), or --tls-client-ca FILE (client certificates), or, "
            + "on a trusted network only, --insecure"
    }

    /// The options in force, one line for the start-up log (defaults included, so the log says what runs).
    public var effectiveSummary: String {
        var parts = [
            "host=\(host)", "port=\(port)", "loops=\(loops)", "malloc-tcache-count=\(mallocTcacheCount)",
            "max-receive-message-bytes=\(maxReceiveMessageBytes)",
            "max-connections=\(maxConnections)", "idle-timeout-seconds=\(idleTimeoutSeconds)",
            "handshake-timeout-seconds=\(handshakeTimeoutSeconds)", "http-head-timeout-seconds=\(httpHeadTimeoutSeconds)",
            "http-body-timeout-seconds=\(httpBodyTimeoutSeconds)", "max-batch-size=\(modelDefaults.maxBatchSize)",
            "max-queue-delay-us=\(modelDefaults.maxQueueDelayMicroseconds)", "max-queue-size=\(modelDefaults.maxQueueSize)",
            "instances=\(modelDefaults.instances)", "inline-max-weight-bytes=\(modelDefaults.inlineMaxWeightBytes)",
            "inline-batches=\(inlineBatches.rawValue)\(inlineBatches == .auto ? (modelDefaults.inlineQueuedBatches ? " (on)" : " (off)") : "")",
            "gemm=\(gemm)", "model-control=\(modelControl)",
            "strict-readiness=\(strictReadiness)", "log-level=\(logLevel)", "log-format=\(logFormat.rawValue)",
            "access-log=\(accessLog)", "drain-seconds=\(drainSeconds)", "drain-delay-seconds=\(drainDelaySeconds)",
        ]
        if modelControl == .poll { parts.append("repository-poll-secs=\(repositoryPollSeconds)") }
        if let httpPort { parts.append("http-port=\(httpPort)") }
        if let metricsPort { parts.append("metrics-port=\(metricsPort)") }
        if let blasThreads { parts.append("blas-threads=\(blasThreads)") }
        if let tlsCertificateFile, let tlsKeyFile {
            parts.append("tls-cert=\(tlsCertificateFile) tls-key=\(tlsKeyFile)")
            if let tlsClientCAFile { parts.append("tls-client-ca=\(tlsClientCAFile) tls-client-auth=\(tlsClientAuth.rawValue)") }
        }
        if let authKeysPath {
            var open = ["health"]
            if authPublic.reflection { open.append("reflection") }
            if authPublic.metrics { open.append("metrics") }
            parts.append("auth-keys=\(authKeysPath) auth-public=\(open.joined(separator: ","))")
        }
        if insecure { parts.append("insecure=true") }
        if let modelKeysPath { parts.append("model-keys=\(modelKeysPath)") }
        if let modelKeysEnvironmentVariable { parts.append("model-keys-env=\(modelKeysEnvironmentVariable)") }
        return parts.joined(separator: " ")
    }

    public static let usage = """
        usage: tensorwire-server [options]

          --host HOST                        address to listen on (default 127.0.0.1; 0.0.0.0 for containers)
          --port PORT                        port (default 50051; 0 picks a free one)
          --models DIR                       model repository: DIR/<model>/<version>/model.onnx
                                             (default: the built-in `digits` model)
          --loops N                          event-loop threads (default 1)
          --malloc-tcache-count N            freed blocks glibc caches per thread and size; set by re-executing
                                             once at start-up unless GLIBC_TUNABLES names it; 0: glibc's
                                             default, no re-execution (default 1000)
          --max-receive-message-bytes N      largest request message accepted (default 67108864)
          --drain-seconds S                  grace period for in-flight calls on SIGTERM/SIGINT (default 10)
          --drain-delay-seconds S            on SIGTERM, report not ready for S seconds while still serving,
                                             then stop accepting and drain (default 0)
          --model-control MODE               none (default): serve the models found at start-up;
                                             explicit: load and unload with RepositoryModelLoad/Unload, and
                                             start with no model loaded except those of --load-model;
                                             poll: rescan --models every --repository-poll-secs and load new
                                             or changed versions without downtime (SIGHUP rescans in every mode)
          --repository-poll-secs S           poll interval of --model-control poll (default 15)
          --load-model NAME                  with --model-control explicit: load NAME at start-up (repeatable;
                                             "*" loads every model of the repository)
          --strict-readiness                 ready (health "", ServerReady) only when every model loaded; by
                                             default a failed model is reported per model and the rest serve
          --log-level LEVEL                  debug, info (default), warning or error; logs go to stderr
          --log-format FORMAT                text (default) or json: one JSON object per line (ts, level,
                                             component, msg, then the line's fields)
          --access-log                       one line per request (component "access": peer, protocol, route,
                                             model, version, status, durations, batch size, request and trace
                                             ids), whatever --log-level says
          --http-port PORT                   also serve REST (HTTP/1.1 and h2c) on PORT; --port answers REST too
                                             (gRPC, KServe v2 HTTP/JSON and /v1 JSON share one port by default)
          --metrics-port PORT                also serve GET /metrics (Prometheus) on PORT, and nothing else there;
                                             --port serves /metrics too

        TLS (docs/tls.md):
          --tls-cert FILE --tls-key FILE     serve TLS 1.2/1.3 on every listener (ALPN h2, http/1.1) with this
                                             PEM certificate chain and key; reloaded on SIGHUP and when the
                                             files change (new connections get the new pair)
          --tls-client-ca FILE               mutual TLS: verify client certificates against this CA
          --tls-client-auth MODE             required (default): no certificate, no connection; optional:
                                             clients without one connect too

        Access control (docs/security.md):
          --auth-keys FILE                   API keys with scopes (JSON; re-read within 5 s of a change); every
                                             call then needs "authorization: Bearer <key>"
          --auth-public LIST                 what needs no key: health (always), reflection, metrics
                                             (default health)
          --insecure                         allow a --host other than loopback without --auth-keys or
                                             --tls-client-ca

        Sealed models (docs/sealed-models.md):
          --model-keys PATH                  a key file (32 raw bytes, from tensorwire seal --new-key) or a folder
                                             of key files, to open DIR/<model>/<version>/model.onnx.sealed; the
                                             process is then marked non-dumpable
          --model-keys-env VAR               keys from the environment variable VAR: 64 hex digits each,
                                             separated by commas or spaces (with --model-keys: both sets)

        Connection limits:
          --max-connections N                open connections; one accepted beyond it is closed at once
                                             (default 4096)
          --handshake-timeout-seconds S      close a connection that has not sent the HTTP/2 preface and
                                             SETTINGS within S seconds; 0: never (default 20)
          --idle-timeout-seconds S           GOAWAY a connection with no RPC for S seconds; 0: never (default 300)
          --max-buffered-request-bytes N     bytes of unfinished request messages buffered across all
                                             connections; the stream past it ends RESOURCE_EXHAUSTED
                                             (default 536870912)
          --max-buffered-request-bytes-per-connection N
                                             the same per connection (a lone stream may still buffer one whole
                                             message) (default 134217728)
          --http-head-timeout-seconds S      an HTTP/1.1 request head must complete within S seconds of its
                                             first byte, else 408 and close (default 30, at most 60)
          --http-body-timeout-seconds S      an HTTP/1.1 request body may stall S seconds (default 30)
          --max-queued-response-bytes-per-connection N
                                             response bytes queued for a slow reader before its streams stop
                                             producing (default 16777216)

        Batching defaults for every model (a model's config.json key of the same name wins):
          --max-batch-size N                 most rows per batch; 1 turns batching off (default 64)
          --max-queue-delay-us N             how long a free instance may wait for a fuller batch (default 0:
                                             never waits)
          --preferred-batch-sizes N,N,...    batch sizes to wait for within the delay (default none)
          --max-queue-size N                 queued requests before RESOURCE_EXHAUSTED (default 1024)
          --default-timeout-us N             deadline for requests without grpc-timeout; 0: none (default 0)
          --instances N                      instance threads per model version (default 1)
          --inline-max-weight-bytes N        a model with at most N bytes of weights computes a request on the
                                             thread that read it when an idle instance would run it alone at
                                             once; 0: never (default 262144)
          --inline-batches MODE              on: such a model also computes the requests a loop pass queued, batch
                                             by batch, on that loop thread; off: an instance thread does; auto
                                             (default): on when the process may run on one CPU only (server-wide;
                                             no config.json key)
          --blas-threads N                   threads per GEMM call (default: cores / instances)
          --gemm KIND                        the dense layers' GEMM: packed (AVX-512 kernels), blas (OpenBLAS)
                                             or auto (default: packed where the CPU has AVX-512, else blas)
          --max-model-bytes N                memory budget of each model: weights, folded constants and execution
                                             buffers; a model over it fails to load (default 1073741824, 1 GiB)
          -h, --help                         this text
          --version                          the version and git commit, then exit
        """

    /// What the command line asks for.
    public enum Parsed: Equatable, Sendable {
        case run(ServerOptions)
        case help
        case version
    }

    public struct UsageError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ arguments: [String]) throws(UsageError) -> Parsed {
        var options = ServerOptions()
        var index = 0
        var pollIntervalGiven = false
        func value(_ flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError(description: "\(flag) needs a value") }
            return arguments[index]
        }
        func integer(_ flag: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
            let text = try value(flag)
            guard let number = Int(text), range.contains(number) else {
                throw UsageError(description: "\(flag): \"\(text)\" is not a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        func seconds(_ flag: String) throws(UsageError) -> Double {
            let text = try value(flag)
            guard let seconds = Double(text), seconds >= 0, seconds <= 86_400 else {
                throw UsageError(description: "\(flag): \"\(text)\" is not a number of seconds in 0...86400")
            }
            return seconds
        }
        while index < arguments.count {
            var flag = arguments[index]
            // Accept --flag=value as well as --flag value.
            if flag.hasPrefix("--"), let equals = flag.firstIndex(of: "=") {
                var rest = arguments
                rest.insert(String(flag[flag.index(after: equals)...]), at: index + 1)
                flag = String(flag[..<equals])
                return try parse(Array(rest[..<index]) + [flag] + Array(rest[(index + 1)...]))
            }
            switch flag {
            case "-h", "--help": return .help
            case "--version": return .version
            case "--strict-readiness": options.strictReadiness = true
            case "--access-log": options.accessLog = true
            case "--log-format":
                let text = try value(flag)
                guard let format = LogFormatKind(rawValue: text) else {
                    throw UsageError(description: "--log-format: \"\(text)\" is not one of text, json")
                }
                options.logFormat = format
            case "--log-level":
                let text = try value(flag)
                guard let level = LogLevel(name: text) else {
                    throw UsageError(description: "--log-level: \"\(text)\" is not one of debug, info, warning, error")
                }
                options.logLevel = level
            case "--host": options.host = try value(flag)
            case "--auth-keys": options.authKeysPath = try value(flag)
            case "--insecure": options.insecure = true
            case "--model-keys": options.modelKeysPath = try value(flag)
            case "--model-keys-env":
                let name = try value(flag)
                guard !name.isEmpty, !name.contains("=") else {
                    throw UsageError(description: "--model-keys-env needs the name of an environment variable")
                }
                options.modelKeysEnvironmentVariable = name
            case "--auth-public":
                let text = try value(flag)
                guard let open = PublicActions(parsing: text) else {
                    throw UsageError(description: "--auth-public: \"\(text)\" is not a list of health, reflection, metrics")
                }
                options.authPublic = open
            case "--port": options.port = try integer(flag, in: 0...65535)
            case "--models": options.modelsDirectory = try value(flag)
            case "--loops": options.loops = try integer(flag, in: 1...256)
            case "--malloc-tcache-count": options.mallocTcacheCount = try integer(flag, in: 0...65535)
            case "--max-receive-message-bytes": options.maxReceiveMessageBytes = try integer(flag, in: 1...Int(Int32.max))
            case "--max-connections": options.maxConnections = try integer(flag, in: 1...1 << 24)
            case "--handshake-timeout-seconds": options.handshakeTimeoutSeconds = try seconds(flag)
            case "--http-port": options.httpPort = try integer(flag, in: 0...65535)
            case "--metrics-port": options.metricsPort = try integer(flag, in: 0...65535)
            case "--http-head-timeout-seconds":
                options.httpHeadTimeoutSeconds = try seconds(flag)
                guard options.httpHeadTimeoutSeconds > 0, options.httpHeadTimeoutSeconds <= 60 else {
                    throw UsageError(description: "--http-head-timeout-seconds must be more than 0 and at most 60")
                }
            case "--http-body-timeout-seconds":
                options.httpBodyTimeoutSeconds = try seconds(flag)
                guard options.httpBodyTimeoutSeconds > 0 else {
                    throw UsageError(description: "--http-body-timeout-seconds must be more than 0")
                }
            case "--idle-timeout-seconds": options.idleTimeoutSeconds = try seconds(flag)
            case "--max-buffered-request-bytes": options.maxBufferedRequestBytes = try integer(flag, in: 1...1 << 50)
            case "--max-buffered-request-bytes-per-connection":
                options.maxBufferedRequestBytesPerConnection = try integer(flag, in: 1...1 << 50)
            case "--max-queued-response-bytes-per-connection":
                options.maxQueuedResponseBytesPerConnection = try integer(flag, in: 1...1 << 50)
            case "--max-batch-size": options.modelDefaults.maxBatchSize = try integer(flag, in: 1...ModelConfig.maxBatchSizeLimit)
            case "--max-queue-delay-us": options.modelDefaults.maxQueueDelayMicroseconds = try integer(flag, in: 0...60_000_000)
            case "--max-queue-size": options.modelDefaults.maxQueueSize = try integer(flag, in: 1...1 << 24)
            case "--default-timeout-us": options.modelDefaults.defaultTimeoutMicroseconds = try integer(flag, in: 0...Int(Int32.max) * 1000)
            case "--inline-max-weight-bytes":
                options.modelDefaults.inlineMaxWeightBytes = try integer(flag, in: 0...ModelConfig.inlineMaxWeightBytesLimit)
            case "--instances": options.modelDefaults.instances = try integer(flag, in: 1...ModelConfig.instancesLimit)
            case "--max-model-bytes": options.maxModelBytes = try integer(flag, in: 1 << 16...1 << 40)
            case "--blas-threads": options.blasThreads = try integer(flag, in: 1...1024)
            case "--inline-batches":
                let text = try value(flag)
                guard let mode = InlineBatches(rawValue: text) else {
                    throw UsageError(description: "--inline-batches: \"\(text)\" is not one of auto, on, off")
                }
                options.inlineBatches = mode
            case "--gemm":
                let text = try value(flag)
                switch text {
                case "auto": options.gemm = .preferred
                case "packed": options.gemm = .packed
                case "blas": options.gemm = .blas
                default: throw UsageError(description: "--gemm: \"\(text)\" is not one of packed, blas, auto")
                }
            case "--model-control":
                let text = try value(flag)
                guard let mode = ModelControlMode(rawValue: text) else {
                    throw UsageError(description: "--model-control: \"\(text)\" is not one of none, explicit, poll")
                }
                options.modelControl = mode
            case "--repository-poll-secs":
                options.repositoryPollSeconds = try seconds(flag)
                guard options.repositoryPollSeconds >= 0.05 else {
                    throw UsageError(description: "--repository-poll-secs must be at least 0.05")
                }
                pollIntervalGiven = true
            case "--load-model":
                let name = try value(flag)
                guard !name.isEmpty else { throw UsageError(description: "--load-model needs a model name") }
                options.loadModels.append(name)
            case "--preferred-batch-sizes":
                let text = try value(flag)
                let parts = text.split(separator: ",", omittingEmptySubsequences: false)
                let sizes = parts.compactMap { Int($0.trimmingPrefix(" ")) }.filter { (1...(1 << 20)).contains($0) }
                guard !parts.isEmpty, sizes.count == parts.count else {
                    throw UsageError(description: "--preferred-batch-sizes: \"\(text)\" is not a comma-separated list of sizes ≥ 1")
                }
                options.modelDefaults.preferredBatchSizes = Array(Set(sizes)).sorted()
            case "--tls-cert": options.tlsCertificateFile = try value(flag)
            case "--tls-key": options.tlsKeyFile = try value(flag)
            case "--tls-client-ca": options.tlsClientCAFile = try value(flag)
            case "--tls-client-auth":
                let text = try value(flag)
                guard let mode = TLSClientAuth(rawValue: text) else {
                    throw UsageError(description: "--tls-client-auth: \"\(text)\" is not required or optional")
                }
                options.tlsClientAuth = mode
            case "--drain-delay-seconds":
                options.drainDelaySeconds = try seconds(flag)
                guard options.drainDelaySeconds <= 3600 else {
                    throw UsageError(description: "--drain-delay-seconds must be at most 3600")
                }
            case "--drain-seconds":
                let text = try value(flag)
                guard let seconds = Double(text), seconds >= 0, seconds <= 3600 else {
                    throw UsageError(description: "--drain-seconds: \"\(text)\" is not a number of seconds in 0...3600")
                }
                options.drainSeconds = seconds
            default:
                throw UsageError(description: "unknown option \"\(flag)\"")
            }
            index += 1
        }
        if let largest = options.modelDefaults.preferredBatchSizes.last, largest > options.modelDefaults.maxBatchSize {
            throw UsageError(description: "--preferred-batch-sizes: \(largest) exceeds the max batch size \(options.modelDefaults.maxBatchSize) (see --max-batch-size)")
        }
        if (options.tlsCertificateFile == nil) != (options.tlsKeyFile == nil) {
            throw UsageError(description: "--tls-cert and --tls-key go together: give both or neither")
        }
        if options.tlsClientCAFile != nil, options.tlsCertificateFile == nil {
            throw UsageError(description: "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS runs over TLS)")
        }
        if pollIntervalGiven, options.modelControl != .poll {
            throw UsageError(description: "--repository-poll-secs needs --model-control poll")
        }
        if options.modelControl == .poll, options.modelsDirectory == nil {
            throw UsageError(description: "--model-control poll needs --models DIR (the repository to poll)")
        }
        if !options.loadModels.isEmpty, options.modelControl != .explicit {
            throw UsageError(description: "--load-model needs --model-control explicit (in mode none every model is loaded)")
        }
        return .run(options)
    }
}
