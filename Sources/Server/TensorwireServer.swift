import Batching
public import Inference
import RPCCore
public import ServiceSupport
import TensorwireProto
public import Transport

/// The running server: the model catalog (models and their batchers), the router with every service, and the
/// gRPC transport. Created and stopped by one thread (the executable's main thread or a test).
public final class TensorwireServer: Sendable {
    public let catalog: ModelCatalog
    public let transport: GRPCServer
    /// Serving status per service; "" is the server as a whole.
    public let health: HealthStatusBoard
    public let options: ServerOptions

    /// The bound port.
    public var port: Int { transport.port }

    /// Loads the models (the repository, or the built-in one), starts their batchers and starts serving.
    /// Throws when the repository directory cannot be read or the port cannot be bound.
    public init(options: ServerOptions, log: @escaping @Sendable (String) -> Void = { ModelRepository.logToStandardError($0) }) throws {
        let repository: ModelRepository
        if options.modelControl == .explicit {
            // Explicit model control: nothing is loaded but the --load-model names (see loadStartupModels).
            repository = ModelRepository(directory: options.modelsDirectory ?? "builtin", entries: [])
        } else if let directory = options.modelsDirectory {
            repository = try ModelRepository.load(directory: directory, defaults: options.modelDefaults, log: log)
        } else {
            repository = ModelRepository.builtin(config: options.modelDefaults)
        }
        let clock = SystemMonotonicClock()
        let source = ModelCatalog.Source(directory: options.modelsDirectory, defaults: options.modelDefaults, log: log)
        let catalog = ModelCatalog(
            repository: repository, clock: clock, blasThreads: options.blasThreads, modelControl: options.modelControl,
            source: source)
        do {
            try catalog.loadStartupModels(options.loadModels)
        } catch {
            catalog.shutdown(drain: false)
            throw error
        }
        var router = Router<ServerMethodHandler>()
        InferenceRPC.register(PredictService(catalog: catalog), clock: clock, on: &router)
        KServeRPC.register(KServeService(catalog: catalog), clock: clock, on: &router)
        let health = HealthStatusBoard()
        HealthRPC.register(health, on: &router)
        // Every service the router serves must resolve in the embedded descriptors (a test checks it too).
        let served = router.serviceNames.filter { !ReflectionResponder.reflectionServices.contains($0) }
        ReflectionRPC.register(try ReflectionResponder(servedServices: served), on: &router)
        // SERVING once the models are loaded: the server as a whole when every model has a ready version.
        // With explicit model control, loads and unloads move "" with it (see ModelCatalog.allModelsReady).
        let status: HealthStatusBoard.ServingStatus = catalog.allModelsReady ? .serving : .notServing
        for service in router.serviceNames { health.set(service, .serving) }
        health.set("", status)
        catalog.onChange { [weak catalog] in
            guard let catalog else { return }
            health.set("", catalog.allModelsReady ? .serving : .notServing)
        }

        var configuration = GRPCServer.Configuration()
        configuration.host = options.host
        configuration.port = options.port
        configuration.loopCount = options.loops
        configuration.maxReceiveMessageBytes = options.maxReceiveMessageBytes
        do {
            self.transport = try GRPCServer(router: router, configuration: configuration)
        } catch {
            catalog.shutdown(drain: false)
            throw error
        }
        self.catalog = catalog
        self.options = options
        self.health = health
    }

    /// Graceful stop: GOAWAY, in-flight calls finish within `drainSeconds`, then the batchers stop.
    public func shutdown(drainSeconds: Double? = nil) {
        // Watchers learn NOT_SERVING before the connections get GOAWAY.
        health.shutdown()
        transport.shutdown(drainSeconds: drainSeconds ?? options.drainSeconds)
        catalog.shutdown(drain: true)
    }
}
