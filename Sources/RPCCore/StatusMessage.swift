// Sources/RPCCore/StatusMessage.swift: percent-encoding of `grpc-message` (W-45).

internal import HTTPTypes

/// The `grpc-message` codec (W-45, grpc `doc/PROTOCOL-HTTP2.md` "Status-Message"): bytes 0x20–0x7E other than `%`
/// pass through, every other byte of the UTF-8 text becomes `%XX` with uppercase hex. Stateless.
public enum StatusMessage {
    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// The longest `grpc-message` value sent, in bytes after percent-encoding (issue 25, point 5). A longer message
    /// (a 70,000-byte model name echoed into an error, 12,000 × "é") is cut at a Unicode scalar boundary and ends
    /// with "…", so the trailers stay far below what nghttp2 sends (64 KiB per header block) and what clients
    /// accept (grpc-core warns past 8 KiB of metadata): the client always gets its `grpc-status`.
    public static let maxEncodedBytes = 4096

    /// "…" percent-encoded: what a truncated message ends with.
    static let encodedEllipsis = "%E2%80%A6"

    /// The `grpc-message` value for `message`: percent-encoded, and at most `maxEncodedBytes` long (cut at a scalar
    /// boundary with "…" appended when longer), so always valid UTF-8 before encoding. The one place where a status
    /// message becomes a header value on the server (RPCStreamStateMachine.statusFields).
    public static func headerValue(_ message: String, maxEncodedBytes: Int = StatusMessage.maxEncodedBytes) -> String {
        let limit = max(encodedEllipsis.utf8.count, maxEncodedBytes)
        // The common case: short ASCII text goes out as is.
        if message.utf8.count <= limit, message.utf8.allSatisfy(passesThrough) { return message }
        var total = 0
        for scalar in message.unicodeScalars {
            total += encodedLength(scalar)
            if total > limit { break }
        }
        guard total > limit else { return percentEncode(message) }
        // Keep the longest scalar prefix that leaves room for the ellipsis.
        let budget = limit - encodedEllipsis.utf8.count
        var kept = 0
        var end = message.unicodeScalars.startIndex
        for index in message.unicodeScalars.indices {
            let length = encodedLength(message.unicodeScalars[index])
            if kept + length > budget { break }
            kept += length
            end = message.unicodeScalars.index(after: index)
        }
        return percentEncode(String(message.unicodeScalars[..<end])) + encodedEllipsis
    }

    /// Bytes `scalar` takes once percent-encoded.
    private static func encodedLength(_ scalar: Unicode.Scalar) -> Int {
        var length = 0
        for byte in scalar.utf8 { length += passesThrough(byte) ? 1 : 3 }
        return length
    }

    /// Percent-encodes `message` for the `grpc-message` header.
    public static func percentEncode(_ message: String) -> String {
        let utf8 = message.utf8
        if utf8.allSatisfy(passesThrough) { return message }
        var output: [UInt8] = []
        output.reserveCapacity(utf8.count * 3)
        for byte in utf8 {
            if passesThrough(byte) {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes a received `grpc-message`. Never fails: a `%` not followed by two hex digits is kept as is, and bytes
    /// that do not form UTF-8 become U+FFFD (grpc-go and grpc-core are both this lenient). Lowercase hex is accepted.
    public static func percentDecode(_ value: String) -> String {
        let input = Array(value.utf8)
        guard input.contains(UInt8(ascii: "%")) else { return value }
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "%"), index + 2 < input.count,
                let high = HexDigit.value(input[index + 1]), let low = HexDigit.value(input[index + 2])
            {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(byte)
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func passesThrough(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%")
    }

}
