// A closed-loop gRPC load generator for tensorwire.v1.Inference over our Transport client (no client threads: each
// caller sends its next request from the previous response's callback, on the connection's loop thread).
//
//   tensorwire-grpc-load --server HOST:PORT --model NAME --features N [--input NAME] [--mode unary|stream]
//                        [--concurrency C] [--connections K] [--seconds S] [--warmup S]
//
// unary: C callers, each with one Predict in flight, spread over K connections.
// stream: one PredictStream per connection (min(C, K) of them) with C requests in flight in all, pipelined.
// Every request is one row of N float32 features (raw_data). Prints one TSV line:
//   mode  concurrency  requests/s  p50 µs  p99 µs  mean batch size  errors
// The mean batch size is rows per model run: requests / Σ 1/tw-batch-size (each 1-row request reports its batch).

import Dispatch
import Glibc
import Locks
import ProtoWire
import RPCCore
import Synchronization
import TensorwireProto
import Transport

@main
struct GRPCLoad {
    struct Options {
        var host = "127.0.0.1"
        var port = 50051
        var model = "digits"
        var input = ""
        var features = 64
        var stream = false
        var concurrency = 1
        var connections = 2
        var seconds = 3.0
        var warmup = 0.5
    }

    static func parse() -> Options {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        func fail(_ message: String) -> Never {
            print("tensorwire-grpc-load: \(message)")
            exit(2)
        }
        while let argument = arguments.next() {
            let value = arguments.next() ?? ""
            switch argument {
            case "--server":
                guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]) else {
                    fail("--server needs HOST:PORT")
                }
                options.host = String(value[..<colon])
                options.port = port
            case "--model": options.model = value
            case "--input": options.input = value
            case "--features": options.features = max(1, Int(value) ?? 0)
            case "--mode":
                guard value == "unary" || value == "stream" else { fail("--mode is unary or stream") }
                options.stream = value == "stream"
            case "--concurrency": options.concurrency = max(1, Int(value) ?? 1)
            case "--connections": options.connections = max(1, Int(value) ?? 1)
            case "--seconds": options.seconds = Double(value) ?? options.seconds
            case "--warmup": options.warmup = Double(value) ?? options.warmup
            default: fail("unknown argument \(argument)")
            }
        }
        return options
    }

    /// What the callbacks record, shared by every connection's loop thread.
    final class Recorder: Sendable {
        struct State {
            var recording = false
            var latencies: [Int] = []
            var inverseBatchSum = 0.0
            var errors = 0
        }

        let state = Lock(State())
        let stopping = Atomic<Bool>(false)
        let outstanding = Atomic<Int>(0)

        func record(start: ContinuousClock.Instant, batchSize: Int?, ok: Bool) {
            let elapsed = start.duration(to: .now)
            let microseconds = Int(elapsed.components.seconds) * 1_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000_000)
            state.withLock { state in
                guard state.recording else { return }
                if ok {
                    state.latencies.append(microseconds)
                    state.inverseBatchSum += 1.0 / Double(max(1, batchSize ?? 1))
                } else {
                    state.errors += 1
                }
            }
        }
    }

    /// One PredictStream's send times (responses come back in request order) and its call.
    final class StreamState: Sendable {
        let sent = Lock<[ContinuousClock.Instant]>([])
        let handle = Lock<ClientCall?>(nil)
        let inFlight: Atomic<Int>

        init(callers: Int) { inFlight = Atomic(callers) }
    }

    static func main() throws {
        let options = parse()
        var generator = SystemRandomNumberGenerator()
        var floats = [Float](repeating: 0, count: options.features)
        for index in floats.indices { floats[index] = Float.random(in: -1...1, using: &generator) }
        var request = TensorwireV1.PredictRequest()
        request.model = options.model
        var tensor = TensorwireV1.Tensor(name: options.input, shape: [1, Int64(options.features)])
        tensor.dtype = .float32
        tensor.rawData = floats.withUnsafeBytes { Array($0) }
        request.inputs = [tensor]
        let bytes = request.serializedBytes()

        let connectionCount = options.stream ? min(options.concurrency, options.connections) : options.connections
        let connections = try (0..<connectionCount).map { _ in
            try ClientConnection(host: options.host, port: options.port,
                                 configuration: ClientConnection.Configuration(maxReceiveMessageBytes: 64 << 20))
        }
        let recorder = Recorder()
        let finishedStreams = DispatchSemaphore(value: 0)

        if options.stream {
            for (index, connection) in connections.enumerated() {
                let callers = options.concurrency / connectionCount + (index < options.concurrency % connectionCount ? 1 : 0)
                let stream = StreamState(callers: callers)
                let call = connection.makeCall(
                    path: "/tensorwire.v1.Inference/PredictStream", kind: .bidirectionalStreaming,
                    handlers: ClientCallHandlers(
                        onMessage: { message in
                            let start = stream.sent.withLock { $0.removeFirst() }
                            let response = try? TensorwireV1.PredictResponse(serializedBytes: message)
                            let ok = response != nil && response?.error == nil
                            recorder.record(start: start, batchSize: response?.batch.map { Int($0.batchSize) }, ok: ok)
                            if recorder.stopping.load(ordering: .relaxed) {
                                recorder.outstanding.wrappingSubtract(1, ordering: .relaxed)
                                if stream.inFlight.wrappingSubtract(1, ordering: .relaxed).newValue == 0 {
                                    stream.handle.withLock { $0 }?.closeSend()
                                }
                                return
                            }
                            stream.sent.withLock { $0.append(.now) }
                            stream.handle.withLock { $0 }?.send(bytes)
                        },
                        onFinish: { status, _ in
                            if !status.isOK { print("tensorwire-grpc-load: stream ended: \(status)") }
                            finishedStreams.signal()
                        }))
                stream.handle.withLock { $0 = call }
                for _ in 0..<callers {
                    recorder.outstanding.wrappingAdd(1, ordering: .relaxed)
                    stream.sent.withLock { $0.append(.now) }
                    call.send(bytes)
                }
            }
        } else {
            @Sendable func issue(_ connection: ClientConnection) {
                guard !recorder.stopping.load(ordering: .relaxed) else {
                    recorder.outstanding.wrappingSubtract(1, ordering: .relaxed)
                    return
                }
                let start = ContinuousClock.now
                connection.unary(path: "/tensorwire.v1.Inference/Predict", request: bytes) { response in
                    let size = response.trailers.strings(forKey: "tw-batch-size").first.flatMap { Int($0) }
                    recorder.record(start: start, batchSize: size, ok: response.status.isOK)
                    issue(connection)
                }
            }
            for caller in 0..<options.concurrency {
                recorder.outstanding.wrappingAdd(1, ordering: .relaxed)
                issue(connections[caller % connectionCount])
            }
        }

        usleep(UInt32(options.warmup * 1_000_000))
        recorder.state.withLock { $0.recording = true }
        let start = ContinuousClock.now
        usleep(UInt32(options.seconds * 1_000_000))
        let state = recorder.state.withLock { state -> Recorder.State in
            state.recording = false
            return state
        }
        let elapsed = start.duration(to: .now)
        recorder.stopping.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + .seconds(30)
        while recorder.outstanding.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline { usleep(1000) }
        if options.stream {
            for _ in connections { _ = finishedStreams.wait(timeout: .now() + 10) }
        }
        for connection in connections { connection.close() }

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let sorted = state.latencies.sorted()
        func percentile(_ p: Double) -> Int {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
        let meanBatch = state.inverseBatchSum > 0 ? Double(sorted.count) / state.inverseBatchSum : 0
        let mode = options.stream ? "stream" : "unary"
        print("\(mode)\t\(options.concurrency)\t\(Int(Double(sorted.count) / seconds))\t\(percentile(0.5))\t\(percentile(0.99))\t"
              + "\((meanBatch * 10).rounded() / 10)\t\(state.errors)")
    }
}
