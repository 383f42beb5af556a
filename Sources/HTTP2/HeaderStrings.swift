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
        case 13: if bytes.equals("grpc-encoding") { return "grpc-encoding" }
        case 14: if bytes.equals("content-length") { return "content-length" }
        case 20: if bytes.equals("grpc-accept-encoding") { return "grpc-accept-encoding" }
        default: break
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func value(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
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
        return String(decoding: bytes, as: UTF8.self)
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
