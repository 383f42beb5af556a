internal import EventLoop
internal import ProtoWire
public import RPCCore
public import ServiceSupport
internal import TensorwireProto
public import Transport

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
