// tensorwire-echo-server: the transport alone, for Tools/bench/transport. One unary method,
// /tensorwire.bench.Echo/Echo, answers each request message with the same bytes (no protobuf decoding, no
// batching), so h2load and grpcio measure GRPCServer, HTTP2 and RPCCore and nothing else.
//
// usage: tensorwire-echo-server [--port N] [--loops N]
// Prints "tensorwire-echo-server listening on 127.0.0.1:PORT" and serves until SIGTERM/SIGINT.
import Transport
internal import CLinuxShims
internal import EventLoop
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

var port = 50052
var loops = 1
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    guard let text = arguments.first, let value = Int(text), value >= 0 else {
        print("usage: tensorwire-echo-server [--port N] [--loops N]")
        exit(2)
    }
    arguments.removeFirst()
    switch flag {
    case "--port": port = value
    case "--loops": loops = max(1, value)
    default:
        print("usage: tensorwire-echo-server [--port N] [--loops N]")
        exit(2)
    }
}

var router = Router<ServerMethodHandler>()
router.register(
    MethodDescriptor(service: "tensorwire.bench.Echo", method: "Echo", kind: .unary),
    handler: .unary { call, message in call.respond(message) })

// The allocator setting tensorwire-server starts with (--malloc-tcache-count's default), so that the transport
// benchmark measures it as the server runs (docs/performance.md, "The allocator").
_ = cls_reexec_with_glibc_tunable(CommandLine.unsafeArgv, "glibc.malloc.tcache_count", "glibc.malloc.tcache_count=1000")
let server: GRPCServer
do {
    server = try GRPCServer(router: router, configuration: GRPCServer.Configuration(port: port, loopCount: loops))
} catch {
    print("tensorwire-echo-server: cannot start: \(error)")
    exit(1)
}
print("tensorwire-echo-server listening on 127.0.0.1:\(server.port)")
fflush(nil)
TerminationSignals.wait()
server.shutdown(drainSeconds: 1)
