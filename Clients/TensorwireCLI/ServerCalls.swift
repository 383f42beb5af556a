// Clients/TensorwireCLI/ServerCalls.swift: the calls list, info, predict and bench make, over gRPC or HTTP/1.1.
internal import RPCCore
internal import TensorwireClient
internal import TensorwireProto

/// The server as the commands call it: over gRPC (`TensorwireClient`) or over HTTP/1.1 + JSON
/// (`TensorwireRESTClient`, --http). Both fail with the same `RPCError`s, so a command prints and exits alike
/// whichever it speaks. Threads: the command's (blocking calls).
enum ServerCalls {
    case grpc(TensorwireClient)
    case http(TensorwireRESTClient)

    func listModels() throws(RPCError) -> [TensorwireV1.ModelInfo] {
        switch self {
        case .grpc(let client): try client.listModels()
        case .http(let client): try client.listModels()
        }
    }

    func getModel(_ name: String) throws(RPCError) -> TensorwireV1.ModelInfo {
        switch self {
        case .grpc(let client): try client.getModel(name)
        case .http(let client): try client.getModel(name)
        }
    }

    func predict(_ request: TensorwireV1.PredictRequest) throws(RPCError) -> TensorwireV1.PredictResponse {
        switch self {
        case .grpc(let client): try client.predict(request)
        case .http(let client): try client.predict(request)
        }
    }

    func close() {
        switch self {
        case .grpc(let client): client.close()
        case .http(let client): client.close()
        }
    }
}
