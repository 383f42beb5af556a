internal import EventLoop
internal import ProtoWire
public import RPCCore
public import ServiceSupport
internal import TensorwireProto
public import Transport

/// Registers `grpc.health.v1.Health` (Check and Watch) over a `HealthStatusBoard`. Watch streams run until the
/// client cancels or the server drains: on shutdown the board turns NOT_SERVING first, every watcher is sent it and
/// its stream ends with OK before GOAWAY, so open watches never hold the drain period open.
public enum HealthRPC {
    public static let serviceName = "grpc.health.v1.Health"

    public static func register(_ board: HealthStatusBoard, on router: inout Router<ServerMethodHandler>) {
        router.register(MethodDescriptor(service: serviceName, method: "Check", kind: .unary), handler: .unary { call, bytes in
            guard let request = InferenceRPC.decode(GRPCHealthV1.HealthCheckRequest.self, bytes, call: call) else { return }
            switch board.check(request.service) {
            case .success(let status):
                call.respond(GRPCHealthV1.HealthCheckResponse(status: status).serializedBytes())
            case .failure:
                call.finish(Status(code: .notFound, message: "unknown service \"\(request.service)\""))
            }
        })
        router.register(MethodDescriptor(service: serviceName, method: "Watch", kind: .serverStreaming),
                        handler: .serverStreaming { call, bytes in
            guard let request = InferenceRPC.decode(GRPCHealthV1.HealthCheckRequest.self, bytes, call: call) else { return }
            let token = board.watch(request.service) { status in
                call.send(GRPCHealthV1.HealthCheckResponse(status: status).serializedBytes())
                // Draining: the watcher has its NOT_SERVING; end the stream so it does not hold the drain open.
                if board.isShutDown { call.finish() }
            }
            call.onCancel { _ in board.cancel(token) }
        })
    }
}
