// tensorwire-interop-server: grpc.testing.TestService on Tensorwire's transport, for the gRPC interop cases
// (Tools/interop/grpc-interop.sh). With --client it runs the cases with our own ClientConnection instead.
//
//   tensorwire-interop-server [--host H] [--port N]            serve; N=0 binds an ephemeral port; prints
//                                                              "listening on H:PORT"; SIGTERM/SIGINT stop it
//   tensorwire-interop-server --client --port N [--host H] [--test-cases a,b,...|all]
//                                                              run the cases against a server; exit 1 if any fails

internal import CLinuxShims
internal import EventLoop
import InteropService
import Transport

#if canImport(Glibc)
import Glibc
#endif

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

func usage() -> Never {
    printError(
        """
        usage: tensorwire-interop-server [--host H] [--port N]
               tensorwire-interop-server --client --port N [--host H] [--test-cases a,b,...|all]
        cases: \(InteropClient.allCases.joined(separator: ","))
        """)
    exit(2)
}

var host = "127.0.0.1"
var port = 50052
var clientMode = false
var cases = InteropClient.allCases
var arguments = Array(CommandLine.arguments.dropFirst())[...]
while let argument = arguments.popFirst() {
    switch argument {
    case "--host":
        guard let value = arguments.popFirst() else { usage() }
        host = value
    case "--port":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), (0...65535).contains(value) else { usage() }
        port = value
    case "--client": clientMode = true
    case "--test-cases", "--test_case":
        guard let value = arguments.popFirst() else { usage() }
        cases = value == "all" ? InteropClient.allCases : value.split(separator: ",").map(String.init)
    default: usage()
    }
}

if clientMode {
    let connection: ClientConnection
    do {
        connection = try ClientConnection(host: host, port: port)
    } catch {
        printError("tensorwire-interop-server --client: \(error)")
        exit(1)
    }
    let client = InteropClient(connection: connection)
    var failures = 0
    for name in cases {
        do throws(InteropFailure) {
            try client.run(name)
            print("PASS \(name)")
        } catch {
            failures += 1
            print("FAIL \(name): \(error)")
        }
        fflush(nil)
    }
    connection.close()
    print("\(cases.count - failures) of \(cases.count) interop cases passed (Swift client)")
    exit(failures == 0 ? 0 : 1)
}

// The allocator setting tensorwire-server starts with (--malloc-tcache-count's default), so that the EmptyCall
// benchmark measures the transport as the server runs it (docs/performance.md, "The allocator").
_ = cls_reexec_with_glibc_tunable(CommandLine.unsafeArgv, "glibc.malloc.tcache_count", "glibc.malloc.tcache_count=1000")
let server: GRPCServer
do {
    server = try GRPCServer(
        router: InteropTestService.router(), configuration: InteropTestService.configuration(host: host, port: port))
} catch {
    printError("tensorwire-interop-server: cannot start: \(error)")
    exit(1)
}
print("listening on \(host):\(server.port)")
fflush(nil)
TerminationSignals.wait()
server.shutdown(drainSeconds: 2)
