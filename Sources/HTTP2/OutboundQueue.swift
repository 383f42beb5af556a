/// The bytes a stream has queued for DATA frames: whole arrays appended without copying, copied out once into
/// nghttp2's frame buffer by the data provider.
struct OutboundQueue {
    /// The chunk being read, held inline (empty when nothing is queued): a unary response queues a single chunk, and
    /// an array of chunks for it was an allocation per stream.
    private var front: [UInt8] = []
    /// The chunks queued behind `front`; those before `head` are already taken.
    private var rest: [[UInt8]] = []
    private var head = 0
    /// Bytes of `front` already read.
    private var offset = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if count == 0 {
            front = bytes
            offset = 0
        } else {
            rest.append(bytes)
        }
        count += bytes.count
    }

    /// Copies up to `capacity` bytes into `destination` and drops them from the queue.
    mutating func read(into destination: UnsafeMutablePointer<UInt8>, capacity: Int) -> Int {
        var written = 0
        while written < capacity && !front.isEmpty {
            let n = min(capacity - written, front.count - offset)
            front.withUnsafeBufferPointer { source in
                guard let base = source.baseAddress else { return }
                (destination + written).update(from: base + offset, count: n)
            }
            written += n
            offset += n
            if offset == front.count {
                offset = 0
                if head < rest.count {
                    front = rest[head]
                    rest[head] = []
                    head += 1
                } else {
                    front = []
                }
            }
        }
        count -= written
        if head == rest.count {
            if head > 0 {
                rest.removeAll(keepingCapacity: true)
                head = 0
            }
        } else if head > 32 && head * 2 > rest.count {
            rest.removeFirst(head)
            head = 0
        }
        return written
    }
}
