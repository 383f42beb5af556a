// Tests/RPCCoreTests/RobustnessTests.swift: random and hostile input never crashes, and always ends in an action.

import RPCCore
import Testing
import HTTPTypes
import TestSupport

@Suite struct RobustnessTests {
    @Test func randomBytesIntoTheDeframerEitherYieldMessagesOrATypedError() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            var deframer = MessageDeframer(maxMessageBytes: 64)
            let bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do throws(DeframingError) {
                for piece in randomChunks(bytes, maxSize: 9, using: &rng) {
                    for message in try deframer.receive(piece) { #expect(message.bytes.count <= 64) }
                }
                try deframer.finish()
            } catch {
                #expect(error.rpcError.code == .internal || error.rpcError.code == .resourceExhausted)
            }
        }
    }

    @Test func randomRequestBodiesAlwaysEndInDeliveryOrAStatus() throws {
        var rng = SplitMix64(seed: 8)
        let paths = ["/pkg.Svc/Unary", "/pkg.Svc/Upload", "/pkg.Svc/Watch", "/pkg.Svc/Chat"]
        for _ in 0..<500 {
            let path = paths[Int.random(in: 0..<paths.count, using: &rng)]
            var machine = try RPCStreamStateMachine.acceptedServer(path: path)
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                let length = Int.random(in: 0...20, using: &rng)
                bytes += [UInt8.random(in: 0...2, using: &rng), 0, 0, 0, UInt8(length)]
                bytes += (0..<Int.random(in: 0...length, using: &rng)).map { _ in UInt8(0x5A) }
            }
            var finished = false
            let pieces = randomChunks(bytes, maxSize: 6, using: &rng) + [[]]
            for (index, piece) in pieces.enumerated() {
                switch try machine.receiveRequestData(piece, endStream: index == pieces.count - 1) {
                case .deliver(_, let end): finished = finished || end
                case .reject(let response):
                    #expect(response.status.code != .ok)
                    #expect(value("grpc-status", in: response.fields) == String(response.status.code.rawValue))
                    finished = true
                case .drop: break
                }
            }
            #expect(finished)
            #expect(machine.clientSide == .closed)
        }
    }

    @Test func randomRequestHeaderListsAlwaysAcceptOrRejectWithAStatus() throws {
        var rng = SplitMix64(seed: 9)
        let names = [":method", ":path", "content-type", "grpc-timeout", "grpc-encoding", "x-bin", "x", ":authority"]
        let values = [
            "POST", "GET", "/pkg.Svc/Chat", "/x", "application/grpc", "text/plain", "1S", "abc", "gzip", "",
            "AAE", "%%", "application/grpc+json", "0n",
        ]
        for _ in 0..<1_000 {
            let fields = (0..<Int.random(in: 0...8, using: &rng)).map { _ in
                HeaderField(
                    names[Int.random(in: 0..<names.count, using: &rng)],
                    values[Int.random(in: 0..<values.count, using: &rng)])
            }
            var machine = RPCStreamStateMachine(server: Fixtures.configuration)
            switch try machine.receiveRequestHeaders(
                fields, endStream: Bool.random(using: &rng), router: Fixtures.router)
            {
            case .accept(let head, _, _):
                #expect(head.path == "/pkg.Svc/Chat")
            case .reject(let end):
                #expect(end.isTrailersOnly)
                #expect(value("content-type", in: end.fields) == "application/grpc")
                #expect(end.status.code != .ok)
            }
        }
    }

    @Test func randomResponseHeaderListsAlwaysEndTheCallWithAStatusOrOpenIt() throws {
        var rng = SplitMix64(seed: 10)
        let names = [":status", "content-type", "grpc-status", "grpc-message", "grpc-encoding", "y-bin"]
        let values = ["200", "404", "100", "x", "application/grpc", "0", "13", "99", "%E2%98", "gzip", "!!", ""]
        for _ in 0..<1_000 {
            let fields = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                HeaderField(
                    names[Int.random(in: 0..<names.count, using: &rng)],
                    values[Int.random(in: 0..<values.count, using: &rng)])
            }
            var machine = try RPCStreamStateMachine.startedClient(ended: true)
            let endStream = Bool.random(using: &rng)
            switch try machine.receiveResponseHeaders(fields, endStream: endStream) {
            case .receivedHeaders: #expect(!endStream && machine.serverSide == .open)
            case .finished: #expect(machine.isFinished)
            case .drop: #expect(machine.serverSide == .idle)
            case .receivedMessages: Issue.record("messages from headers")
            }
        }
    }
}
