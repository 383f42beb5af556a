// Sources/HTTP2/HeaderStrings.swift: received header bytes → String, without decoding the common ones.

/// The header names and values that arrive on nearly every gRPC request, recognised by their length and bytes and
/// returned as string literals: decoding them (`String(decoding:as:)` validates, and allocates past 15 bytes) cost
/// ~200 instructions per field, a dozen fields per RPC (callgrind). Anything else is decoded as before, so the
/// strings are the same either way. Pure functions; any thread.
enum HeaderStrings {
    static func name(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        switch bytes.count {
        case 2: if bytes.equals("te") { return "te" }
        case 5: if bytes.equals(":path") { return ":path" }
        case 7:
            if bytes.equals(":method") { return ":method" }
            if bytes.equals(":scheme") { return ":scheme" }
            if bytes.equals(":status") { return ":status" }
        case 10:
            if bytes.equals(":authority") { return ":authority" }
            if bytes.equals("user-agent") { return "user-agent" }
        case 11: if bytes.equals("grpc-status") { return "grpc-status" }
        case 12:
            if bytes.equals("content-type") { return "content-type" }
            if bytes.equals("grpc-timeout") { return "grpc-timeout" }
            if bytes.equals("grpc-message") { return "grpc-message" }
        case 13:
            if bytes.equals("grpc-encoding") { return "grpc-encoding" }
            if bytes.equals("authorization") { return "authorization" }
        case 14: if bytes.equals("content-length") { return "content-length" }
        case 20: if bytes.equals("grpc-accept-encoding") { return "grpc-accept-encoding" }
        default: break
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The literal for a common value, or nil.
    static func commonValue(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        switch bytes.count {
        case 1: if bytes.equals("0") { return "0" }
        case 3: if bytes.equals("200") { return "200" }
        case 4:
            if bytes.equals("POST") { return "POST" }
            if bytes.equals("http") { return "http" }
        case 5: if bytes.equals("https") { return "https" }
        case 8: if bytes.equals("trailers") { return "trailers" }
        case 16: if bytes.equals("application/grpc") { return "application/grpc" }
        case 22: if bytes.equals("application/grpc+proto") { return "application/grpc+proto" }
        default: break
        }
        return nil
    }
}

/// The last few header values one connection received outside the common set, so that a value a client sends
/// again on every request (the `:path` of the method it calls, its `user-agent`, an `authorization` key, its
/// `:authority`) is decoded (and, past 15 bytes, allocated) once per connection, not once per request (~500
/// instructions a long value, ~100 a short one that Swift stores inline, callgrind). Values of up to 512 bytes are
/// kept. A cached value can be a credential and a proxy can carry several clients' requests on one connection, so a
/// presented value is compared with each cached one in constant time (no early exit inside a value of the same
/// length). Owned by one session; its thread only.
struct RepeatedHeaderValues {
    static let capacity = 6
    static let cachedBytes = 1...512
    private var slots: [String] = []
    /// Each slot's length in bytes, so that a value is compared only with cached values of its own length.
    private var lengths: [Int] = []
    private var next = 0

    /// The String for a received value: a common literal, a cached string with the same bytes, or a new one.
    mutating func value(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if let common = HeaderStrings.commonValue(bytes) { return common }
        guard Self.cachedBytes.contains(bytes.count) else { return String(decoding: bytes, as: UTF8.self) }
        for index in lengths.indices where lengths[index] == bytes.count {
            if Self.equalInConstantTime(slots[index], bytes) { return slots[index] }
        }
        let decoded = String(decoding: bytes, as: UTF8.self)
        let length = decoded.utf8.count  // what a later identical value will have (a repair changes the length)
        if slots.count < Self.capacity {
            slots.append(decoded)
            lengths.append(length)
        } else {
            slots[next] = decoded
            lengths[next] = length
            next = (next + 1) % Self.capacity
        }
        return decoded
    }

    /// Whether `text`'s UTF-8 is `bytes`: lengths first, then every byte XOR-accumulated eight at a time.
    static func equalInConstantTime(_ text: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { stored -> Bool in
            guard stored.count == bytes.count, let a = stored.baseAddress, let b = bytes.baseAddress else {
                return stored.count == bytes.count && stored.isEmpty
            }
            let raw = (UnsafeRawPointer(a), UnsafeRawPointer(b))
            var difference: UInt64 = 0
            var offset = 0
            while offset + 8 <= stored.count {
                difference |= raw.0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    ^ raw.1.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            while offset < stored.count {
                difference |= UInt64(a[offset] ^ b[offset])
                offset += 1
            }
            return difference == 0
        } ?? false
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Byte equality with an ASCII literal (the caller has matched the length already, or this does).
    fileprivate func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        let other = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for index in 0..<count where self[index] != other[index] { return false }
        return true
    }
}
