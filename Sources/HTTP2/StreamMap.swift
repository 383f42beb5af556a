// Sources/HTTP2/StreamMap.swift: the per-connection table from HTTP/2 stream id to per-stream state.

/// Stream id → value, for a connection's per-stream state (owned by the connection's loop thread, like the value).
///
/// Open addressing with linear probing over a power-of-two table, slots picked by a multiplicative (Fibonacci) hash
/// of the id; deletion shifts the following run back, so no tombstones build up. `Dictionary<Int32, _>` hashed every
/// id with seeded SipHash: about 17 lookups per unary RPC cost ~2.5K instructions (callgrind). Ids come from the
/// peer, but a connection holds at most `maxConcurrentStreams` of them and the table stays under 3/4 full, so a
/// chosen set of colliding ids costs at most a scan of that many slots.
///
/// Inlinable, so that each user's module specialises it for its value type.
public struct StreamMap<Value> {
    @usableFromInline var keys: [Int32]
    /// `nil`: an empty slot.
    @usableFromInline var slots: [Value?]
    @usableFromInline var occupied = 0
    /// `64 - log2(capacity)`: the hash's top bits index the table.
    @usableFromInline var shift: UInt64

    @inlinable
    public init() {
        keys = Array(repeating: 0, count: 16)
        slots = Array(repeating: nil, count: 16)
        shift = 64 - 4
    }

    @inlinable public var count: Int { occupied }
    @inlinable public var isEmpty: Bool { occupied == 0 }

    /// Every value, in table order.
    @inlinable public var values: [Value] { slots.compactMap { $0 } }

    @inlinable
    func home(_ key: Int32) -> Int {
        // Wrapping multiply and shift: a hash of a 32-bit id into [0, capacity), never a size or an index by itself.
        Int(truncatingIfNeeded: (UInt64(UInt32(bitPattern: key)) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inlinable
    func find(_ key: Int32) -> (index: Int, found: Bool) {
        let mask = slots.count - 1
        var index = home(key)
        while slots[index] != nil {
            if keys[index] == key { return (index, true) }
            index = (index + 1) & mask
        }
        return (index, false)
    }

    @inlinable
    public subscript(key: Int32) -> Value? {
        get {
            let (index, found) = find(key)
            return found ? slots[index] : nil
        }
        set {
            guard let newValue else {
                removeValue(forKey: key)
                return
            }
            let (index, found) = find(key)
            if found {
                slots[index] = newValue
                return
            }
            if (occupied + 1) * 4 > slots.count * 3 {
                grow()
                self[key] = newValue
                return
            }
            keys[index] = key
            slots[index] = newValue
            occupied += 1
        }
    }

    @inlinable
    @discardableResult
    public mutating func removeValue(forKey key: Int32) -> Value? {
        let (found, isPresent) = find(key)
        guard isPresent else { return nil }
        let removed = slots[found]
        slots[found] = nil
        occupied -= 1
        // Backward-shift deletion: move later entries of the run into the hole unless their home lies cyclically
        // after the hole and at or before their own slot.
        let mask = slots.count - 1
        var hole = found
        var next = (hole + 1) & mask
        while slots[next] != nil {
            let wanted = home(keys[next])
            let staysPut = hole <= next ? (hole < wanted && wanted <= next) : (hole < wanted || wanted <= next)
            if !staysPut {
                keys[hole] = keys[next]
                slots[hole] = slots[next]
                slots[next] = nil
                hole = next
            }
            next = (next + 1) & mask
        }
        return removed
    }

    @inlinable
    public mutating func removeAll() {
        self = StreamMap()
    }

    /// Inlinable like the rest, so that it is specialised too: the generic version cost ~50K instructions per call,
    /// once per new connection that reaches 13 concurrent streams.
    @inlinable
    mutating func grow() {
        let oldKeys = keys
        let oldSlots = slots
        let capacity = slots.count * 2
        keys = Array(repeating: 0, count: capacity)
        slots = Array(repeating: nil, count: capacity)
        shift -= 1
        occupied = 0
        for (key, value) in zip(oldKeys, oldSlots) {
            if let value { self[key] = value }
        }
    }
}

extension StreamMap: Sendable where Value: Sendable {}
