import Server
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to standard error (fd 2; the C `stderr` global is not concurrency-safe to name in Swift 6).
func printError(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

// Parse arguments, start the server, wait for SIGTERM/SIGINT, drain, exit 0.
let parsed: ServerOptions.Parsed
do {
    parsed = try ServerOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    printError("tensorwire-server: \(error)\n\(ServerOptions.usage)")
    exit(2)
}
guard case .run(let options) = parsed else {
    print(ServerOptions.usage)
    exit(0)
}
let server: TensorwireServer
do {
    server = try TensorwireServer(options: options)
} catch {
    printError("tensorwire-server: cannot start: \(error)")
    exit(1)
}
let models = server.catalog.modelNames.joined(separator: ", ")
print("tensorwire-server listening on \(options.host):\(server.port) serving \(models)")
fflush(nil)
TerminationSignals.wait()
print("tensorwire-server: draining (up to \(options.drainSeconds)s)")
fflush(nil)
server.shutdown()
print("tensorwire-server: stopped")
