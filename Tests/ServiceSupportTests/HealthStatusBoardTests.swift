import Locks
import ServiceSupport
import TensorwireProto
import Testing

/// Collects the statuses one watcher is sent.
final class Received: Sendable {
    let statuses = Lock<[HealthStatusBoard.ServingStatus]>([])
    var all: [HealthStatusBoard.ServingStatus] { statuses.withLock { $0 } }
    @Sendable func append(_ status: HealthStatusBoard.ServingStatus) { statuses.withLock { $0.append(status) } }
}

struct HealthStatusBoardTests {
    @Test func checkOfTheWholeServerIsRegisteredNotServingByDefault() {
        let board = HealthStatusBoard()
        #expect(board.check("") == .success(.notServing))
        board.set("", .serving)
        #expect(board.check("") == .success(.serving))
    }

    @Test func checkOfAnUnknownNameIsUnknownService() {
        let board = HealthStatusBoard(["": .serving])
        #expect(board.check("nope") == .failure(HealthStatusBoard.UnknownService(service: "nope")))
    }

    @Test func watchSendsTheCurrentStatusAtOnceThenOnlyChanges() {
        let board = HealthStatusBoard(["tensorwire.v1.Inference": .notServing])
        let received = Received()
        let token = board.watch("tensorwire.v1.Inference", onChange: received.append)
        #expect(received.all == [.notServing])
        board.set("tensorwire.v1.Inference", .notServing)
        board.set("tensorwire.v1.Inference", .serving)
        board.set("tensorwire.v1.Inference", .serving)
        board.set("other", .notServing)
        #expect(received.all == [.notServing, .serving])
        board.cancel(token)
        board.set("tensorwire.v1.Inference", .notServing)
        #expect(received.all == [.notServing, .serving])
    }

    @Test func watchOfAnUnknownNameSendsServiceUnknownAndStaysOpen() {
        let board = HealthStatusBoard()
        let received = Received()
        _ = board.watch("later", onChange: received.append)
        #expect(received.all == [.serviceUnknown])
        board.set("later", .serving)
        #expect(received.all == [.serviceUnknown, .serving])
    }

    @Test func shutdownTellsWatchersOfUnknownNamesNotServingToo() {
        let board = HealthStatusBoard()
        let received = Received()
        _ = board.watch("never.Registered", onChange: received.append)
        #expect(!board.isShutDown)
        board.shutdown()
        #expect(board.isShutDown)
        #expect(received.all == [.serviceUnknown, .notServing])
        let late = Received()
        _ = board.watch("never.Registered", onChange: late.append)
        #expect(late.all == [.notServing])
    }

    @Test func shutdownTellsEveryWatcherNotServingAndIgnoresLaterSets() {
        let board = HealthStatusBoard(["": .serving, "a": .serving, "b": .notServing])
        let whole = Received()
        let a = Received()
        let b = Received()
        _ = board.watch("", onChange: whole.append)
        _ = board.watch("a", onChange: a.append)
        _ = board.watch("b", onChange: b.append)
        board.shutdown()
        #expect(whole.all == [.serving, .notServing])
        #expect(a.all == [.serving, .notServing])
        #expect(b.all == [.notServing])
        board.set("", .serving)
        board.setAll(.serving)
        #expect(board.check("") == .success(.notServing))
        #expect(whole.all == [.serving, .notServing])
    }

    @Test func setAllChangesEveryRegisteredName() {
        let board = HealthStatusBoard(["": .notServing, "a": .notServing])
        board.setAll(.serving)
        #expect(board.statuses == ["": .serving, "a": .serving])
    }

    @Test func aWatcherMayCancelItselfFromItsCallback() {
        let board = HealthStatusBoard(["": .serving])
        let received = Received()
        let token = Lock<HealthStatusBoard.WatchToken?>(nil)
        let cancelling: @Sendable (HealthStatusBoard.ServingStatus) -> Void = { status in
            received.append(status)
            if status == .notServing, let mine = token.withLock({ $0 }) { board.cancel(mine) }
        }
        token.withLock { $0 = board.watch("", onChange: cancelling) }
        board.set("", .notServing)
        board.set("", .serving)
        #expect(received.all == [.serving, .notServing])
    }

    @Test func concurrentUpdatesReachEachWatcherInOrderWithoutRepeats() async {
        let board = HealthStatusBoard(["": .notServing])
        let received = Received()
        _ = board.watch("", onChange: received.append)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for step in 0..<200 { board.set("", (worker + step) % 2 == 0 ? .serving : .notServing) }
                }
            }
        }
        let all = received.all
        #expect(all.first == .notServing)
        #expect(zip(all, all.dropFirst()).allSatisfy { $0 != $1 })
        #expect(all.last == (try? board.check("").get()))
    }
}
