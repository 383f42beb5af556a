/// Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Written here
/// because `String(validating:as:)` is generic over `Sequence` and, unspecialised, costs a metadata lookup per
/// call on the decode hot path; an ASCII run is checked eight bytes at a time.
@usableFromInline
enum UTF8Validation {
    @inlinable
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        isASCII(bytes) || isValidScalarByScalar(bytes)
    }

    /// True when no byte has its high bit set: words of eight bytes, the last one overlapping, so that the short
    /// names and ids of most messages take two or three loads instead of a loop over bytes.
    @inlinable
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        if count >= 8 {
            var index = 0
            while count - index > 8 {
                guard bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 else {
                    return false
                }
                index += 8
            }
            return bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
        }
        if count >= 4 {
            let head = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            let tail = bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
            return (head | tail) & 0x8080_8080 == 0
        }
        guard count > 0 else { return true }
        return (bytes[0] | bytes[count / 2] | bytes[count - 1]) & 0x80 == 0
    }

    /// The full check, for input with at least one non-ASCII byte.
    @usableFromInline
    static func isValidScalarByScalar(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        var index = 0
        while index < count {
            // Fast path: eight ASCII bytes at once.
            if count - index >= 8,
                bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
                continue
            }
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; upper = 0x9F
            case 0xF0: length = 4; lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; upper = 0x8F
            default: return false
            }
            guard count - index >= length else { return false }
            let second = bytes[index + 1]
            guard second >= lower, second <= upper else { return false }
            for offset in 2..<max(2, length) {
                let byte = bytes[index + offset]
                guard byte & 0xC0 == 0x80 else { return false }
            }
            index += length
        }
        return true
    }

    /// A `String` of bytes `isValid` accepted, `readable` of which (at least `bytes.count`) may be read. Through
    /// `String(unsafeUninitializedCapacity:initializingUTF8With:)`, whose small-string path (up to 15 bytes) takes
    /// ASCII without a second validation pass, where `String(decoding:as:)` always runs the standard library's
    /// repairing validator again.
    @inlinable
    static func string(fromValidated bytes: UnsafeRawBufferPointer, readable: Int) -> String {
        let count = bytes.count
        guard let source = bytes.baseAddress, count > 0 else { return "" }
        if count <= 8, readable >= 8 {
            // Up to 8 bytes go in as one 8-byte store, which the small-string initialiser's 8-byte load reads
            // straight back; bytes stored in pieces stall that load (no store-to-load forwarding). Only the first
            // `count` bytes of the capacity become the string.
            let word = source.loadUnaligned(as: UInt64.self)
            return String(unsafeUninitializedCapacity: 8) { buffer in
                guard let target = buffer.baseAddress, buffer.count >= 8 else { return 0 }
                UnsafeMutableRawPointer(target).storeBytes(of: word, as: UInt64.self)
                return count
            }
        }
        return String(unsafeUninitializedCapacity: count) { buffer in
            guard let target = buffer.baseAddress else { return 0 }
            UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: count)
            return count
        }
    }
}
