import Batching
import Clocks
import Dispatch
import EventLoop
import Inference
import Locks
import ProtoWire
import RPCCore
import Synchronization
import TensorwireProto
@testable import Transport

@testable import Server
import TestSupport

/// A gate an instance thread waits at in `beforeCompute`: closed at first, so the first batch holds its instance
/// busy while the test queues more work; `open()` lets it and every later batch through.
final class ComputeGate: Sendable {
    private let isOpen = Atomic<Bool>(false)
    private let semaphore = DispatchSemaphore(value: 0)
    /// Every batch that reached the hook, in order.
    let traces = Lock<[BatchTrace]>([])
    /// For each of `traces`: whether it computed on an event loop's thread (`Batcher.runLoneRequestOrWake`).
    let onLoopThread = Lock<[Bool]>([])

    var hooks: BatcherHooks {
        BatcherHooks(beforeCompute: { trace in
            self.traces.withLock { $0.append(trace) }
            self.onLoopThread.withLock { $0.append(EventLoop.current != nil) }
            guard !self.isOpen.load(ordering: .acquiring) else { return }
            self.semaphore.wait()
            self.semaphore.signal()
        })
    }

    func open() {
        guard !isOpen.exchange(true, ordering: .acquiringAndReleasing) else { return }
        semaphore.signal()
    }

    var computedRows: Int { traces.withLock { $0.reduce(0) { $0 + $1.rows } } }
}

/// `tensorwire.v1.Inference` on the built-in digits model with `config` and test hooks, served by our transport on
/// an ephemeral port, and a client connected to it. The gate opens before anything shuts down.
struct HookedServer {
    let catalog: ModelCatalog
    let transport: GRPCServer
    let client: ClientConnection
    let gate: ComputeGate
    /// The server side of the first PredictStream call (to watch the stream pause reading).
    let firstStreamCall: Promise<ServerCall>

    /// `clock`: the one clock of the transport's loops, the call deadlines and the batcher; a `ManualClock` lets a
    /// test move deadlines past without waiting for them. `computesInline` false (the default) sets
    /// `inline_max_weight_bytes` 0 (no `Batcher.runLoneRequestOrWake` on the loop thread), so that a held instance
    /// holds an instance thread, not the loop thread that read the request.
    static func with(
        config: ModelConfig = ModelConfig(), gated: Bool = true, computesInline: Bool = false,
        clock: any MonotonicClock = SystemMonotonicClock(), configure: (inout GRPCServer.Configuration) -> Void = { _ in },
        _ body: (HookedServer) throws -> Void
    ) throws {
        var config = config
        if !computesInline { config.inlineMaxWeightBytes = 0 }
        let gate = ComputeGate()
        if !gated { gate.open() }
        let catalog = ModelCatalog(repository: ModelRepository.builtin(config: config), clock: clock, hooks: gate.hooks)
        var inference = Router<ServerMethodHandler>()
        InferenceRPC.register(PredictService(catalog: catalog), on: &inference)
        // The same routes, with PredictStream's handler wrapped to record the first call.
        let firstStreamCall = Promise<ServerCall>()
        var router = Router<ServerMethodHandler>()
        for method in ["Predict", "PredictStream", "ListModels", "GetModel"] {
            guard case .success(let route) = inference.lookup(path: "/\(InferenceRPC.serviceName)/\(method)") else {
                continue
            }
            let handler = route.handler
            guard route.descriptor.path == Digits.stream else {
                router.register(route.descriptor, handler: handler)
                continue
            }
            router.register(route.descriptor, handler: ServerMethodHandler { call in
                firstStreamCall.fulfill(call)
                return handler.start(call)
            })
        }
        var configuration = GRPCServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.clock = clock
        configure(&configuration)
        let transport: GRPCServer
        do {
            transport = try GRPCServer(router: router, configuration: configuration)
        } catch {
            catalog.shutdown(drain: false)
            throw error
        }
        defer {
            gate.open()
            transport.shutdown(drainSeconds: 1)
            catalog.shutdown(drain: false)
        }
        let client = try ClientConnection(host: "127.0.0.1", port: transport.port)
        defer { client.close() }
        try body(HookedServer(catalog: catalog, transport: transport, client: client, gate: gate, firstStreamCall: firstStreamCall))
    }

    var batcher: Batcher {
        get throws { try catalog.resolve(model: "digits", version: "").1 }
    }
}

enum Digits {
    static let predict = "/tensorwire.v1.Inference/Predict"
    static let stream = "/tensorwire.v1.Inference/PredictStream"

    /// A request for `rows` rows of digits input whose values depend on `seed`.
    static func request(id: String, rows: Int, seed: UInt64) -> TensorwireV1.PredictRequest {
        var generator = SplitMix64(seed: seed)
        var request = TensorwireV1.PredictRequest()
        request.model = "digits"
        request.id = id
        request.inputs = [TensorwireV1.Tensor(name: "X", shape: [Int64(rows), 64],
                                              floatData: (0..<(rows * 64)).map { _ in Float(generator.next() % 17) })]
        return request
    }

    /// The probabilities of a response, row-major.
    static func probabilities(_ response: TensorwireV1.PredictResponse) -> [Float] {
        response.outputs.first { $0.name == "probabilities" }?.floatData ?? []
    }

    static func labels(_ response: TensorwireV1.PredictResponse) -> [Int64] {
        response.outputs.first { $0.name == "label" }?.int64Data ?? []
    }

    /// True when both responses carry the same rows: labels equal, probabilities within `tolerance`.
    static func sameRows(_ a: TensorwireV1.PredictResponse, _ b: TensorwireV1.PredictResponse, tolerance: Float = 1e-5) -> Bool {
        let (pa, pb) = (probabilities(a), probabilities(b))
        return !pa.isEmpty && pa.count == pb.count && zip(pa, pb).allSatisfy { abs($0 - $1) <= tolerance }
            && labels(a) == labels(b)
    }
}
