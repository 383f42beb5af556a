internal import Auth
internal import Locks
internal import Batching
public import Clocks
public import Crypto
internal import EventLoop
internal import Inference
public import Logging
internal import RPCCore
public import ServiceSupport
internal import TensorwireProto
public import Transport
internal import Tracing
internal import Synchronization
internal import Glibc

/// The running server: the model catalog (models and their batchers), the router with every service, and the
/// gRPC transport. Created and stopped by one thread (the executable's main thread or a test).
public final class TensorwireServer: Sendable {
    public let catalog: ModelCatalog
    public let transport: GRPCServer
    /// The Prometheus metrics (`GET /metrics`).
    public let metrics: ServerMetrics
    /// `--metrics-port`'s listener (GET /metrics only), when asked for.
    let metricsServer: GRPCServer?
    /// The bound `--metrics-port`.
    public var metricsPort: Int? { metricsServer?.port }
    /// Serving status per service; "" is the server as a whole.
    public let health: HealthStatusBoard
    public let options: ServerOptions
    /// The `--auth-keys` check, when configured (its watcher re-reads the file once a second).
    public let authGate: AuthGate?

    /// Why the server refused to start before binding anything (the insecure-bind rule).
    public struct StartupRefusal: Error, CustomStringConvertible {
        public let description: String
    }

    private let tlsLogger: Logger
    /// Scans the repository (`--models`): every `--repository-poll-secs` in poll mode, on SIGHUP in every mode.
    let poller: RepositoryPoller?
    /// The certificate files' watcher (`watchTLSFiles`), stopped at shutdown.
    private let tlsWatch = Lock<FileWatch?>(nil)

    /// The bound port.
    public var port: Int { transport.port }
    /// The TLS context new connections get (`--tls-cert`, replaced by `reloadTLS`); nil for plaintext.
    public var tlsContext: TLSServerContext? { transport.tlsContext }
    /// The bound `--http-port`, when one was asked for.
    public var httpPort: Int? { transport.httpPort }

    /// Loads the models (the repository, or the built-in one), starts their batchers and starts serving.
    /// Throws when the repository directory cannot be read or the port cannot be bound.
    /// `clock` is the one monotonic clock of the Predict path: the transport's loop timers and call deadlines, the
    /// batchers and the statistics' durations (the composition root passes the system clock; a test may pass a
    /// `ManualClock` and move time itself). `logSink` receives every log line of the server's components
    /// (`models`, `engine`, `transport`).
    public init(
        options: ServerOptions, clock: any MonotonicClock = SystemMonotonicClock(), logSink: LogSink = LogSink()
    ) throws {
        if let refusal = options.insecureBindRefusal { throw StartupRefusal(description: refusal) }
        let metrics = ServerMetrics()
        let authGate: AuthGate?
        if let path = options.authKeysPath {
            let keys = try KeyFileWatcher(
                path: path, publicActions: options.authPublic, logger: Logger(component: "auth", sink: logSink))
            authGate = AuthGate(keys: keys, metrics: metrics)
        } else {
            authGate = nil
        }
        let modelsLogger = Logger(component: "models", sink: logSink)
        // Before any model loads: a bad certificate path should fail at once, naming the file.
        let tls = try Self.makeTLSContext(options: options)
        tlsLogger = Logger(component: "tls", sink: logSink)
        if options.gemm == .packed && !GEMMBackend.available.contains(.packed) {
            Logger(component: "engine", sink: logSink).warning(
                "--gemm packed: this CPU has no AVX-512 (F, CD, BW, DQ, VL) and FMA; the models use OpenBLAS")
        }
        let modelKeys = try Self.modelKeys(options: options)
        if !modelKeys.keys.isEmpty {
            modelsLogger.info("model keys: \(modelKeys.keys.count) key(s), ids \(modelKeys.idsHex.joined(separator: ", "))")
        }
        for file in modelKeys.exposedFiles {
            modelsLogger.warning("\(file): the key file is readable by its group or others; chmod 600 it")
        }
        // The repository as it is before the start-up load reads it: what the first poll compares against.
        let scanner = options.modelsDirectory.map { directory in
            RepositoryScanner(directory: directory, files: LocalRepositoryFileSystem(maxFileBytes: options.maxModelBytes))
        }
        let seed = scanner?.scan()
        let repository: ModelRepository
        if options.modelControl == .explicit {
            // Explicit model control: nothing is loaded but the --load-model names (see loadStartupModels).
            repository = ModelRepository(directory: options.modelsDirectory ?? "builtin", entries: [])
        } else if let directory = options.modelsDirectory {
            repository = try ModelRepository.load(directory: directory, defaults: options.modelDefaults, logger: modelsLogger,
                                                  maxModelBytes: options.maxModelBytes, gemm: options.gemm, keys: modelKeys)
        } else {
            repository = ModelRepository.builtin(config: options.modelDefaults, gemm: options.gemm)
        }
        let source = ModelCatalog.Source(
            directory: options.modelsDirectory, defaults: options.modelDefaults, logger: modelsLogger,
            maxModelBytes: options.maxModelBytes, gemm: options.gemm, modelKeys: modelKeys)
        let catalog = ModelCatalog(
            repository: repository, clock: clock, blasThreads: options.blasThreads, modelControl: options.modelControl,
            source: source, strictReadiness: options.strictReadiness, metrics: metrics)
        do {
            try catalog.loadStartupModels(options.loadModels)
        } catch {
            catalog.shutdown(drain: false)
            throw error
        }
        let poller = scanner.map { scanner in
            RepositoryPoller(
                scanner: scanner, catalog: catalog, scope: options.modelControl == .explicit ? .loadedModels : .repository,
                logger: modelsLogger, seed: seed)
        }
        var router = Router<ServerMethodHandler>()
        InferenceRPC.register(PredictService(catalog: catalog), on: &router)
        KServeRPC.register(KServeService(catalog: catalog), on: &router)
        let health = HealthStatusBoard()
        HealthRPC.register(health, on: &router)
        // Every service the router serves must resolve in the embedded descriptors (a test checks it too).
        let served = router.serviceNames.filter { !ReflectionResponder.reflectionServices.contains($0) }
        ReflectionRPC.register(try ReflectionResponder(servedServices: served), on: &router)
        // SERVING once the start-up loads are done (with --strict-readiness: when every loaded model has a ready
        // version; loads and unloads move "" with it, see ModelCatalog.isReady).
        let status: HealthStatusBoard.ServingStatus = catalog.isReady ? .serving : .notServing
        for service in router.serviceNames { health.set(service, .serving) }
        health.set("", status)
        catalog.onChange { catalog in health.set("", catalog.isReady ? .serving : .notServing) }

        var configuration = GRPCServer.Configuration()
        configuration.host = options.host
        configuration.port = options.port
        configuration.loopCount = options.loops
        configuration.maxReceiveMessageBytes = options.maxReceiveMessageBytes
        configuration.maxConnections = options.maxConnections
        configuration.handshakeTimeout = Self.duration(seconds: options.handshakeTimeoutSeconds)
        configuration.idleTimeout = Self.duration(seconds: options.idleTimeoutSeconds)
        configuration.maxBufferedRequestBytes = options.maxBufferedRequestBytes
        configuration.maxBufferedRequestBytesPerConnection = options.maxBufferedRequestBytesPerConnection
        configuration.maxQueuedResponseBytesPerConnection = options.maxQueuedResponseBytesPerConnection
        configuration.logger = Logger(component: "transport", sink: logSink)
        configuration.httpPort = options.httpPort
        configuration.httpHeadTimeout = .milliseconds(Int64(options.httpHeadTimeoutSeconds * 1000))
        configuration.httpBodyIdleTimeout = .milliseconds(Int64(options.httpBodyTimeoutSeconds * 1000))
        configuration.clock = clock
        configuration.tls = tls
        let accessLog = AccessLog(sink: logSink, enabled: options.accessLog)
        if accessLog.isEnabled {
            configuration.onRequestEnd = { summary in accessLog.log(Self.accessRecord(summary)) }
        }
        if let authGate { router = authGate.guarding(router) }
        let rest = RESTService(
            kserve: KServeService(catalog: catalog), health: health, clock: clock, metrics: metrics, authGate: authGate)
        let transport: GRPCServer
        do {
            transport = try GRPCServer(router: router, httpHandler: rest.handler, configuration: configuration)
            if let port = options.metricsPort {
                var metricsConfiguration = GRPCServer.Configuration(host: options.host, port: port, loopCount: 1)
                metricsConfiguration.maxReceiveMessageBytes = 64 << 10
                metricsConfiguration.clock = clock
                metricsConfiguration.tls = tls
                do {
                    metricsServer = try GRPCServer(
                        router: Router<ServerMethodHandler>(), httpHandler: RESTService.metricsOnly(metrics, authGate: authGate),
                        configuration: metricsConfiguration)
                } catch {
                    transport.shutdown(drainSeconds: 0)
                    throw error
                }
            } else {
                metricsServer = nil
            }
        } catch {
            catalog.shutdown(drain: false)
            throw error
        }
        self.transport = transport
        self.metrics = metrics
        metrics.registerCollectors(catalog: catalog) { [weak transport] in
            guard let transport else { return nil }
            let http1 = transport.http1Connections
            return TransportCounts(
                http2Connections: max(0, transport.activeConnections - http1), http1Connections: http1,
                grpcCalls: transport.openCalls, restRequests: transport.openRESTRequests)
        }
        self.catalog = catalog
        self.options = options
        self.health = health
        self.authGate = authGate
        self.poller = poller
        authGate?.keys.start()
        if options.modelControl == .poll, let poller {
            catalog.setRescanHandler { name in
                do throws(RPCError) {
                    try poller.rescan(model: name)
                    return nil
                } catch {
                    return error
                }
            }
            poller.startPolling(every: .milliseconds(Int64(options.repositoryPollSeconds * 1000)))
        }
    }

    /// SIGHUP: rescans the repository in the background (every model in mode none and poll; the loaded ones in
    /// explicit mode): changed versions load, warm and swap in. Nothing without `--models`. Any thread.
    public func rescanRepository() {
        poller?.rescanInBackground()
    }

    /// One access-log line from a finished request's summary.
    static func accessRecord(_ summary: RequestSummary) -> AccessLogRecord {
        let notes = summary.annotations
        return AccessLogRecord(
            peer: summary.peer, wireProtocol: summary.wireProtocol == .grpc ? .grpc : .http, route: summary.route,
            model: notes.model, version: notes.version, status: summary.statusName, httpStatus: summary.httpStatus,
            durationMicroseconds: summary.durationMicroseconds, queueMicroseconds: notes.queueMicroseconds,
            computeMicroseconds: notes.computeMicroseconds, batchSize: notes.batchSize, requestID: notes.requestID,
            traceID: summary.traceID?.hex ?? "")
    }

    /// Sets the process-wide settings that cannot be per server: OpenBLAS's thread pool, to `--blas-threads` or
    /// cores / `--instances`. The composition root (`tensorwire-server`'s main) calls it once, before the server
    /// starts; the packed kernels take their thread count per batcher instead.
    public static func configureProcess(options: ServerOptions) {
        BLAS.threadCount = options.blasThreads
            ?? Batcher.defaultBLASThreads(instances: options.modelDefaults.instances, cores: Batcher.onlineCores)
    }

    /// The keys of `--model-keys` and `--model-keys-env` together; throws a `ModelKeyError` naming the file or the
    /// variable (never a key byte).
    static func modelKeys(options: ServerOptions) throws -> ModelKeyRing {
        var ring = ModelKeyRing.empty
        if let path = options.modelKeysPath {
            do throws(ModelKeyError) {
                ring = try ModelKeyRing.load(path: path)
            } catch {
                throw ModelKeyError(path: "--model-keys \(error.path ?? path)", error.reason)
            }
        }
        if let name = options.modelKeysEnvironmentVariable {
            let source = "--model-keys-env \(name)"
            guard let value = options.modelKeysEnvironmentValue else {
                throw ModelKeyError(path: source, "the environment variable is not set")
            }
            ring = try ring.merging(ModelKeyRing.parse(hexKeys: value.value, source: source))
        }
        return ring
    }

    /// The TLS context the options ask for (nil: plaintext); throws a `TLSError` naming the file that failed.
    static func makeTLSContext(options: ServerOptions) throws -> TLSServerContext? {
        guard let certificate = options.tlsCertificateFile, let key = options.tlsKeyFile else { return nil }
        return try TLSServerContext(
            certificateFile: certificate, keyFile: key, clientCAFile: options.tlsClientCAFile,
            clientAuth: options.tlsClientAuth)
    }

    /// Re-reads the certificate, key and client CA files; on success connections accepted from now on use them (open
    /// ones keep theirs), on failure the old ones stay and the reason is logged. Returns whether it reloaded. Any
    /// thread; a plaintext server does nothing.
    @discardableResult
    public func reloadTLS() -> Bool {
        guard transport.tlsContext != nil else { return false }
        do {
            guard let context = try Self.makeTLSContext(options: options) else { return false }
            transport.replaceTLSContext(context)
            metricsServer?.replaceTLSContext(context)
            tlsLogger.info("reloaded the TLS certificate and key; new connections use them")
            return true
        } catch {
            tlsLogger.error("TLS reload failed, still serving the previous certificate: \(error)")
            return false
        }
    }

    /// Reloads TLS on SIGHUP and when the certificate, key or client CA file changes (checked every second).
    /// Called once by the executable; a plaintext server does nothing.
    public func watchTLSFiles() {
        guard transport.tlsContext != nil, let certificate = options.tlsCertificateFile, let key = options.tlsKeyFile
        else { return }
        HangupSignal.onHangup { [weak self] in self?.reloadTLS() }
        let paths = [certificate, key] + (options.tlsClientCAFile.map { [$0] } ?? [])
        let watch = FileWatch(paths: paths) { [weak self] in self?.reloadTLS() }
        tlsWatch.withLock { $0 = watch }
    }

    /// A limit in seconds as a duration; 0 (or less) turns it off.
    static func duration(seconds: Double) -> Duration? {
        seconds > 0 ? .milliseconds(Int64(seconds * 1000)) : nil
    }

    /// The lines the server logs once it listens: where, what serves, what failed (and where to read why), and the
    /// readiness rule in force.
    public func startupSummary() -> [(level: LogLevel, text: String)] {
        var lines: [(level: LogLevel, text: String)] = []
        let ready = catalog.readyModelNames
        let failed = catalog.failedModelNames
        let source = options.modelsDirectory.map { "repository \($0)" } ?? "the built-in model"
        let serving = ready.isEmpty ? "no model" : "models " + ready.joined(separator: ", ")
        var listening = transport.tlsContext == nil
            ? "listening on \(options.host):\(port) (gRPC, REST: HTTP/1.1 and h2c)"
            : "listening on \(options.host):\(port) (TLS: gRPC, REST over HTTP/1.1 and h2)"
        if let httpPort { listening += " and \(options.host):\(httpPort) (REST)" }
        if let metricsPort { listening += " and \(options.host):\(metricsPort) (metrics)" }
        lines.append((.info, "\(listening), serving \(serving) from \(source)"))
        for (model, version, state, gemm) in catalog.versionSummaries() {
            lines.append((.info, "model \(model) version \(version): \(state)" + (gemm.map { ", GEMM \($0)" } ?? "")))
        }
        lines.append((.info, "options: " + options.effectiveSummary))
        if let authGate {
            let open = ["health"] + (options.authPublic.reflection ? ["reflection"] : [])
                + (options.authPublic.metrics ? ["metrics"] : [])
            lines.append((.info, "access control: \(authGate.keys.authorizer.entries.count) key file entries from "
                + "\(authGate.keys.path); open without a key: \(open.joined(separator: ", "))"))
        } else if !ServerOptions.isLoopback(options.host), options.tlsClientCAFile == nil || options.tlsClientAuth == .optional {
            lines.append((.warning, "--insecure: \(options.host) is served with no access control; anyone who reaches "
                + "the port can infer, load and unload models"))
        }
        if !failed.isEmpty {
            let rule = options.strictReadiness
                ? "the server is NOT ready (--strict-readiness)"
                : "the server is ready; these models answer UNAVAILABLE (--strict-readiness makes the server not ready)"
            lines.append((.warning, "failed to load: \(failed.joined(separator: ", ")) (reasons above, and in GetModel/"
                + "ModelReady); \(rule)"))
        }
        if ready.isEmpty && failed.isEmpty {
            let how = options.modelControl == .explicit
                ? "load models with RepositoryModelLoad or --load-model" : "add DIR/<model>/<version>/model.onnx and restart"
            lines.append((.warning, "no model is loaded: every Predict will be NOT_FOUND; \(how)"))
        }
        return lines
    }

    /// A start-up error in plain words (the message of an RPC error, the file and reason of a load error).
    public static func describe(startupError error: any Error) -> String {
        if let rpcError = error as? RPCError { return rpcError.message }
        return String(describing: error)
    }

    /// The first step of the stop: health "" NOT_SERVING (Watch streams told and ended), KServe ServerReady and
    /// `/v2/health/ready` not ready, repository polls stopped, while every listener still accepts and serves.
    /// Idempotent; any thread.
    public func reportNotReady() {
        // The board first: its shutdown ends Watch streams with NOT_SERVING; the catalog's change would only set it.
        health.shutdown()
        catalog.beginDraining()
        poller?.stop()
    }

    /// Graceful stop: not ready at once (health NOT_SERVING, ServerReady false) while still serving for
    /// `--drain-delay-seconds`, then GOAWAY; in-flight calls finish within `drainSeconds`, then the batchers stop.
    public func shutdown(drainSeconds: Double? = nil) {
        // Watchers learn NOT_SERVING before the connections get GOAWAY.
        reportNotReady()
        if options.drainDelaySeconds > 0 {
            // Still accepting and serving, while load balancers see "not ready" and move traffic away.
            let whole = options.drainDelaySeconds.rounded(.down)
            var delay = timespec(tv_sec: Int(whole), tv_nsec: Int((options.drainDelaySeconds - whole) * 1e9))
            var remaining = timespec()
            while nanosleep(&delay, &remaining) != 0 && errno == EINTR { delay = remaining }
        }
        authGate?.keys.stop()
        tlsWatch.withLock { watch in
            watch?.stop()
            watch = nil
        }
        transport.shutdown(drainSeconds: drainSeconds ?? options.drainSeconds)
        metricsServer?.shutdown(drainSeconds: 0)
        catalog.shutdown(drain: true)
    }
}
