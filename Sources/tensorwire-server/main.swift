internal import Clocks
internal import BuildInfo
internal import CLinuxShims
internal import EventLoop
internal import Logging
internal import Server

#if canImport(Glibc)
internal import Glibc
#endif

// The composition root: parse arguments, make the one log sink and the clock, set the process-wide settings
// (OpenBLAS's thread pool), start the server, wait for SIGTERM/SIGINT, drain, exit 0. Every setting reaches the
// modules from here (no module reads the environment). Every line goes to standard error through the sink, in the
// --log-format chosen (a command-line error, found before the format is known, is text); stdout carries only --help
// and --version.
let parsed: ServerOptions.Parsed
do {
    parsed = try ServerOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    Logger.standardError(component: "server").error("\(error)\n\(ServerOptions.usage)")
    exit(2)
}
var options: ServerOptions
switch parsed {
case .help:
    print(ServerOptions.usage)
    exit(0)
case .version:
    print(BuildInfo.versionLine(program: "tensorwire-server"))
    exit(0)
case .run(let parsedOptions):
    options = parsedOptions
}
// glibc reads its allocator settings only when a program starts: re-execute once (same process id and arguments)
// with the per-thread cache of freed blocks set (docs/performance.md, "The allocator"). Before any thread starts and
// anything is logged; it returns only when it did not re-execute.
var allocatorTuningError: Int32 = 0
if options.mallocTcacheCount > 0 {
    let rc = cls_reexec_with_glibc_tunable(
        CommandLine.unsafeArgv, "glibc.malloc.tcache_count", "glibc.malloc.tcache_count=\(options.mallocTcacheCount)")
    if rc < 0 { allocatorTuningError = -rc }
}
// --inline-batches auto: on when the process may run on one CPU only (taskset, a container's cpuset), where an
// instance thread cannot compute beside the loop and a hand-off only adds thread switches (docs/batching.md).
options.resolveInlineBatches(cpusAllowed: Int(cls_cpus_allowed()))
let sink = LogSink(format: options.logFormat.format, minimumLevel: options.logLevel)
let log = Logger(component: "server", sink: sink)
log.info("\(BuildInfo.versionLine(program: "tensorwire-server")) starting")
if allocatorTuningError != 0 {
    log.warning("could not re-execute with glibc.malloc.tcache_count=\(options.mallocTcacheCount) (\(String(cString: strerror(allocatorTuningError)))): glibc's default allocator cache")
}
TensorwireServer.configureProcess(options: options)
if options.hasModelKeys {
    // Model keys, and the plaintext of sealed models while they compile, are secrets in this process's memory: no
    // core dumps, no ptrace and no /proc/PID/mem or environ for same-user processes (docs/sealed-models.md).
    guard cls_set_non_dumpable() == 0, cls_dumpable() == 0 else {
        log.error("cannot start: prctl(PR_SET_DUMPABLE, 0) failed, and model keys must not be dumpable")
        exit(1)
    }
    log.info("model keys configured: the process is non-dumpable (PR_GET_DUMPABLE=\(cls_dumpable()))")
    if let name = options.modelKeysEnvironmentVariable {
        options.modelKeysEnvironmentValue = getenv(name).map { SecretText(String(cString: $0)) }
    }
}
let server: TensorwireServer
do {
    server = try TensorwireServer(options: options, clock: SystemMonotonicClock(), logSink: sink)
} catch {
    log.error("cannot start: \(TensorwireServer.describe(startupError: error))")
    exit(1)
}
for line in server.startupSummary() { log.log(line.level, line.text) }
server.watchTLSFiles()
// SIGHUP rescans the repository in every mode (and reloads TLS above, when serving TLS).
HangupSignal.onHangup { server.rescanRepository() }
// systemd Type=notify: READY=1 now that the listeners accept and the start-up models are warm; STOPPING=1 on
// SIGTERM; WATCHDOG=1 every WATCHDOG_USEC/2. The environment is read here, the one place that may.
var environment: [String: String] = [:]
for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
    if let value = getenv(key) { environment[key] = String(cString: value) }
}
let notifier = ServiceNotifySettings(environment: environment, pid: getpid()).flatMap { ServiceNotifier(settings: $0) }
if environment["NOTIFY_SOCKET"] != nil, notifier == nil {
    log.warning("NOTIFY_SOCKET=\(environment["NOTIFY_SOCKET"] ?? "") is not a unix socket path or @name; not notifying")
}
notifier?.startWatchdog()
notifier?.ready(status: "serving \(server.catalog.readyModelNames.count) model(s) on port \(server.port)")
TerminationSignals.wait()
notifier?.stopping(status: "draining (up to \(options.drainSeconds)s)")
log.info("draining (up to \(options.drainSeconds)s)")
server.shutdown()
notifier?.close()
log.info("stopped")
