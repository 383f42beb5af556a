// Clients/TensorwireCLI/ModelsCommand.swift: `tensorwire models reload|load|unload`, model control over KServe's
// RepositoryModelLoad / RepositoryModelUnload (gRPC).
internal import RPCCore
internal import TensorwireClient
internal import TensorwireProto

/// `tensorwire models`: asks the server to (re)load or unload models. `reload MODEL` and `load MODEL` send
/// RepositoryModelLoad (poll mode: rescan the model's folder now; explicit mode: load or reload it); `reload`
/// without a model does that for every model of RepositoryIndex; `unload MODEL` sends RepositoryModelUnload
/// (explicit mode). Exit 0 once the server answered OK, i.e. the new versions serve.
enum ModelsCommand {
    static let spec = OptionSpec()

    static let help = """
        usage: tensorwire models reload [MODEL] | models load MODEL | models unload MODEL

        Model control (the server's --model-control, docs/operations.md):
          reload [MODEL]   poll mode: rescan MODEL's folder now (every model without MODEL): changed versions
                           load, warm and swap in; exit 0 once they serve, 1 with the reasons when a version
                           fails (the previous one keeps serving). Explicit mode: load MODEL again (without
                           MODEL: every loaded model)
          load MODEL       load MODEL (explicit mode), or rescan it (poll mode)
          unload MODEL     unload MODEL once its queued requests finish (explicit mode)
        """

    static let service = "/inference.GRPCInferenceService/"

    static func run(_ parsed: ParsedArguments, _ context: TensorwireCommand.Context) throws(CLIError) -> Int32 {
        try context.requireGRPC("models")
        let arguments = try TensorwireCommand.positionals(parsed, "models", ["ACTION", "MODEL"], optional: 1)
        guard let action = arguments.first else { throw .usage("models needs reload, load or unload") }
        let model = arguments.dropFirst().first
        switch action {
        case "reload", "load", "unload":
            if action != "reload", model == nil { throw .usage("models \(action) needs MODEL") }
        default:
            throw .usage("models: unknown action '\(action)' (reload, load, unload)")
        }
        let client = try context.connectGRPC()
        defer { client.close() }
        var names: [String]
        if let model {
            names = [model]
        } else {
            // Every model the server lists: with a version, it is loaded (or failed); without, it was never loaded.
            let index = try TensorwireCommand.call(context) { () throws(RPCError) in
                try client.unary(path: service + "RepositoryIndex", KServe.RepositoryIndexRequest(),
                                 as: KServe.RepositoryIndexResponse.self).message
            }
            names = []
            for entry in index.models where !entry.version.isEmpty && !names.contains(entry.name) { names.append(entry.name) }
        }
        for name in names {
            try TensorwireCommand.call(context) { () throws(RPCError) in
                if action == "unload" {
                    _ = try client.unary(path: service + "RepositoryModelUnload", KServe.RepositoryModelRequest(modelName: name),
                                         as: KServe.RepositoryModelUnloadResponse.self)
                } else {
                    _ = try client.unary(path: service + "RepositoryModelLoad", KServe.RepositoryModelRequest(modelName: name),
                                         as: KServe.RepositoryModelLoadResponse.self)
                }
            }
            context.console.out("\(name): \(action == "unload" ? "unloaded" : "loaded")")
        }
        return 0
    }
}
