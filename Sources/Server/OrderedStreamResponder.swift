internal import EventLoop
internal import RPCCore
internal import Transport

/// Serves one bidirectional stream whose requests run concurrently (each is its own batcher job) while their responses
/// must leave in request order: it numbers the requests, holds early responses until every earlier one is sent, bounds
/// the requests in flight with HTTP/2 flow control (reading pauses at `maxInFlight`, and while the client is not
/// reading its responses), and ends the call with OK once the client half-closed and every response is out. Shared by
/// PredictStream and KServe's ModelStreamInfer.
///
/// Threads: `begin`, `endOfRequests` and `inFlight` run on the call's loop thread (the request observer's); `complete`
/// may be called from any thread (a batcher instance) and hops to the loop. All state is loop-confined in a
/// `LoopBound`.
final class OrderedStreamResponder: Sendable {
    /// What one request produced: a response message, or a status that ends the whole stream (Triton's
    /// `triton_grpc_error` mode).
    enum Outcome: Sendable {
        case message([UInt8])
        case endStream(RPCError)
    }

    /// Loop-confined state.
    final class State {
        var nextToAssign = 0
        var nextToSend = 0
        var ready: [Int: Outcome] = [:]
        var requestEnded = false
        var finished = false
        /// Reading is paused: too many requests in flight, or waiting for the stream to become writable.
        var readingPaused = false
        var waitingForWritable = false

        var inFlight: Int { nextToAssign - nextToSend }
    }

    let call: ServerCall
    let state: LoopBound<State>
    let maxInFlight: Int
    /// Set when the stream ends early (an error ended it, or the client went away): queued work is not computed.
    let cancellation: CancellationSignal

    /// On the call's loop thread.
    init(call: ServerCall, maxInFlight: Int, cancellation: CancellationSignal) {
        self.call = call
        self.state = LoopBound(State(), loop: call.loop)
        self.maxInFlight = maxInFlight
        self.cancellation = cancellation
    }

    /// A cancel hook for the stream's jobs (the batcher's token), called when an error ends the stream.
    struct CancellationSignal: Sendable {
        let cancel: @Sendable () -> Void
    }

    /// On the loop: true once the stream has ended (later requests are ignored).
    var isFinished: Bool { state.value.finished }

    /// On the loop: requests begun and not yet answered in order.
    var inFlight: Int { state.value.inFlight }

    /// On the loop: numbers the next request and pauses reading if the limit is reached.
    func begin() -> Int {
        let stream = state.value
        let sequence = stream.nextToAssign
        stream.nextToAssign += 1
        updateReading()
        return sequence
    }

    /// Any thread: the outcome of request `sequence`.
    func complete(_ sequence: Int, _ outcome: Outcome) {
        let loop = call.loop
        if loop.inEventLoop {
            deliver(sequence, outcome)
        } else {
            loop.execute { self.deliver(sequence, outcome) }
        }
    }

    /// On the loop: the client half-closed; the call ends once every response is out.
    func endOfRequests() {
        let stream = state.value
        stream.requestEnded = true
        finishIfDone()
    }

    private func finishIfDone() {
        let stream = state.value
        if stream.requestEnded, stream.inFlight == 0, !stream.finished {
            stream.finished = true
            call.finish()
        }
    }

    /// On the loop: records an outcome and sends every one that is next in order.
    private func deliver(_ sequence: Int, _ outcome: Outcome) {
        let stream = state.value
        guard !stream.finished else { return }
        stream.ready[sequence] = outcome
        while let next = stream.ready.removeValue(forKey: stream.nextToSend) {
            stream.nextToSend += 1
            switch next {
            case .message(let bytes):
                call.send(bytes)
            case .endStream(let error):
                stream.finished = true
                cancellation.cancel()
                call.finish(error: error)
                return
            }
        }
        finishIfDone()
        guard !stream.finished else { return }
        if !stream.waitingForWritable, !call.isWritable {
            // The client is not reading its responses: take no more requests until it does.
            stream.waitingForWritable = true
            let loop = call.loop
            call.whenWritable {
                let resume: @Sendable () -> Void = {
                    self.state.value.waitingForWritable = false
                    self.updateReading()
                }
                if loop.inEventLoop { resume() } else { loop.execute(resume) }
            }
        }
        updateReading()
    }

    /// On the loop: pauses or resumes reading requests. Pausing is recorded before the transport is told, since
    /// resuming may hand over waiting messages (and so re-enter the request observer) at once.
    private func updateReading() {
        let stream = state.value
        let pause = !stream.finished && (stream.inFlight >= maxInFlight || stream.waitingForWritable)
        guard pause != stream.readingPaused else { return }
        stream.readingPaused = pause
        if pause { call.pauseReading() } else { call.resumeReading() }
    }
}
