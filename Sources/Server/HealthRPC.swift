import EventLoop
import ProtoWire
public import RPCCore
public import ServiceSupport
public import TensorwireProto
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

/// Registers server reflection, v1 and v1alpha (grpcurl up to 1.8.7 speaks only v1alpha), on one responder:
/// each request message gets one response message on the same bidi stream.
public enum ReflectionRPC {
    public static func register(_ responder: ReflectionResponder, on router: inout Router<ServerMethodHandler>) {
        let handler = ServerMethodHandler.bidirectionalStreaming { call in
            RequestObserver(
                onMessage: { bytes in
                    let request: GRPCReflection.ServerReflectionRequest
                    do {
                        request = try GRPCReflection.ServerReflectionRequest(serializedBytes: bytes)
                    } catch {
                        call.finish(error: RequestDecoding.error(
                            error, decoding: "ServerReflectionRequest", otherwise: .invalidArgument))
                        return
                    }
                    call.send(responder.respond(to: request).serializedBytes())
                    // Backpressure: a client that sends requests but does not read the answers would otherwise make
                    // the server queue every answer. Stop reading (HTTP/2 flow control then stops the client) until
                    // the queued answers drain.
                    if !call.isWritable {
                        call.pauseReading()
                        call.whenWritable { call.resumeReading() }
                    }
                },
                onEnd: { call.finish() })
        }
        for service in ReflectionResponder.reflectionServices {
            router.register(MethodDescriptor(service: service, method: "ServerReflectionInfo", kind: .bidirectionalStreaming),
                            handler: handler)
        }
    }
}
