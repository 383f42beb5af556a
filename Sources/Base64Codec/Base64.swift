// Sources/Base64Codec/Base64.swift: the one base64 codec (metadata, JSON bytes fields, embedded files).

/// Standard-alphabet base64 (RFC 4648 §4): gRPC `-bin` metadata (W-21) encodes without padding (grpc-go uses
/// `RawStdEncoding`), proto3 JSON `bytes` fields with it; decoding accepts both. The one codec of the project (the
/// built-in model and the embedded descriptors decode with `ignoringLineBreaks`). Stateless; owns its tables.
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0...63 for an alphabet byte, 0xFF otherwise.
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Encodes `bytes`; with `padded: false` (the default) no `=` is emitted.
    public static func encode(_ bytes: some Collection<UInt8>, padded: Bool = false) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = b1 == nil ? nil : iterator.next()
            output.append(alphabet[Int(b0 >> 2)])
            output.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            if let b1 {
                output.append(alphabet[Int((b1 & 0x0F) << 2 | (b2 ?? 0) >> 6)])
            } else if padded {
                output.append(UInt8(ascii: "="))
            }
            if let b2 {
                output.append(alphabet[Int(b2 & 0x3F)])
            } else if padded {
                output.append(UInt8(ascii: "="))
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes padded or unpadded base64; `nil` for anything else (a bad character, a lone trailing character,
    /// padding in the middle). Non-zero leftover bits are ignored, as Go's non-strict `StdEncoding` does.
    ///
    /// grpc-go decodes with padding when `len % 4 == 0` and without otherwise; accepting both forms everywhere is the
    /// same set of valid inputs.
    /// `ignoringLineBreaks` drops CR, LF and spaces first (text embedded in source files, wrapped).
    public static func decode(_ text: some StringProtocol, ignoringLineBreaks: Bool = false) -> [UInt8]? {
        var input = Array(text.utf8)
        if ignoringLineBreaks {
            input.removeAll { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: " ") }
        }
        // Strip up to two trailing '=' only when they complete a 4-character group.
        if input.count % 4 == 0 {
            var padding = 0
            while padding < 2, input.last == UInt8(ascii: "=") {
                input.removeLast()
                padding += 1
            }
        }
        if input.count % 4 == 1 { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in input {
            let value = reverse[Int(byte)]
            if value == 0xFF { return nil }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        return output
    }
}
