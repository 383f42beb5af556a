/// The bytes a stream has queued for DATA frames: whole arrays appended without copying, copied out once into
/// nghttp2's frame buffer by the data provider.
struct OutboundQueue {
    /// One queued array, with up to 8 bytes written before it from a value (`leading`, big-endian in its low
    /// `leadingCount` bytes): a gRPC message prefix without a framed copy of the message.
    private struct Chunk {
        var leading: UInt64 = 0
        var leadingCount = 0
        var bytes: [UInt8] = []
        var count: Int { leadingCount + bytes.count }
    }

    /// The chunk being read, held inline (empty when nothing is queued): a unary response queues a single chunk, and
    /// an array of chunks for it was an allocation per stream.
    private var front = Chunk()
    /// The chunks queued behind `front`; those before `head` are already taken.
    private var rest: [Chunk] = []
    private var head = 0
    /// Bytes of `front` (its leading bytes first) already read.
    private var offset = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        append(Chunk(bytes: bytes))
    }

    /// Queues `leadingCount` (0...8) bytes of `leading`, most significant first, then `bytes`.
    mutating func append(leading: UInt64, leadingCount: Int, _ bytes: [UInt8]) {
        precondition((0...8).contains(leadingCount), "at most 8 leading bytes")
        append(Chunk(leading: leading, leadingCount: leadingCount, bytes: bytes))
    }

    private mutating func append(_ chunk: Chunk) {
        let n = chunk.count
        guard n > 0 else { return }
        if count == 0 {
            front = chunk
            offset = 0
        } else {
            rest.append(chunk)
        }
        count += n
    }

    /// Copies up to `capacity` bytes into `destination` and drops them from the queue.
    mutating func read(into destination: UnsafeMutablePointer<UInt8>, capacity: Int) -> Int {
        var written = 0
        while written < capacity && count - written > 0 {
            while offset < front.leadingCount && written < capacity {
                destination[written] = UInt8(truncatingIfNeeded: front.leading >> (8 * (front.leadingCount - 1 - offset)))
                written += 1
                offset += 1
            }
            if offset >= front.leadingCount && written < capacity {
                let bodyOffset = offset - front.leadingCount
                let n = min(capacity - written, front.bytes.count - bodyOffset)
                front.bytes.withUnsafeBufferPointer { source in
                    guard let base = source.baseAddress else { return }
                    (destination + written).update(from: base + bodyOffset, count: n)
                }
                written += n
                offset += n
            }
            if offset == front.count {
                offset = 0
                if head < rest.count {
                    front = rest[head]
                    rest[head] = Chunk()
                    head += 1
                } else {
                    front = Chunk()
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
