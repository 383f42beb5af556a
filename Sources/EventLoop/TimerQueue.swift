internal import Clocks

/// A binary min-heap of timer deadlines, ordered by (deadline, scheduling order), with the callbacks in a table
/// keyed by id. Cancelling removes the callback; the heap entry is skipped when it surfaces, and the heap is
/// compacted once cancelled entries outnumber live ones (so per-RPC deadline timers that are nearly always cancelled
/// do not accumulate). Owned by one loop thread; a value type for tests.
struct TimerQueue {
    private struct Entry {
        let deadline: MonotonicInstant
        let id: UInt64

        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && id < other.id)
        }
    }

    private var heap: [Entry] = []
    private var callbacks: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 0

    var count: Int { callbacks.count }

    mutating func schedule(at deadline: MonotonicInstant, _ body: @escaping () -> Void) -> TimerID {
        nextID += 1
        callbacks[nextID] = body
        push(Entry(deadline: deadline, id: nextID))
        return TimerID(rawValue: nextID)
    }

    mutating func cancel(_ id: TimerID) {
        guard callbacks.removeValue(forKey: id.rawValue) != nil else { return }
        if heap.count > 64 && callbacks.count < heap.count / 2 {
            heap.removeAll { callbacks[$0.id] == nil }
            for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
        }
    }

    /// The `epoll_wait` timeout: -1 without timers, else milliseconds until the earliest, rounded up.
    mutating func millisecondsUntilNextDeadline(now: MonotonicInstant) -> Int32 {
        dropCancelledTop()
        guard let first = heap.first else { return -1 }
        let wait = first.deadline.nanoseconds(since: now)
        let millis = wait / 1_000_000 + (wait % 1_000_000 == 0 ? 0 : 1)
        return Int32(clamping: millis)
    }

    /// The id of the newest timer so far; pass it to `popDue` so timers scheduled while running due ones wait for
    /// the next iteration (a callback that reschedules itself for "now" cannot starve the loop).
    var newestID: UInt64 { nextID }

    /// Removes and returns the earliest timer due at `now` and scheduled no later than `newest`. The caller runs it
    /// outside this mutation, because a callback may schedule or cancel timers.
    mutating func popDue(now: MonotonicInstant, newest: UInt64) -> (() -> Void)? {
        while true {
            dropCancelledTop()
            guard let first = heap.first, first.deadline <= now, first.id <= newest else { return nil }
            popFirst()
            if let body = callbacks.removeValue(forKey: first.id) { return body }
        }
    }

    private mutating func dropCancelledTop() {
        while let first = heap.first, callbacks[first.id] == nil { popFirst() }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popFirst() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
