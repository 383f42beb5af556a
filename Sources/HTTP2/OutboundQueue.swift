/// The bytes a stream has queued for DATA frames: whole arrays appended without copying, copied out once into
/// nghttp2's frame buffer by the data provider.
struct OutboundQueue {
    private var chunks: [[UInt8]] = []
    private var head = 0
    private var offset = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        chunks.append(bytes)
        count += bytes.count
    }

    /// Copies up to `capacity` bytes into `destination` and drops them from the queue.
    mutating func read(into destination: UnsafeMutablePointer<UInt8>, capacity: Int) -> Int {
        var written = 0
        while written < capacity && head < chunks.count {
            let chunk = chunks[head]
            let n = min(capacity - written, chunk.count - offset)
            chunk.withUnsafeBufferPointer { source in
                guard let base = source.baseAddress else { return }
                (destination + written).update(from: base + offset, count: n)
            }
            written += n
            offset += n
            if offset == chunk.count {
                head += 1
                offset = 0
            }
        }
        count -= written
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 32 && head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
        return written
    }
}
