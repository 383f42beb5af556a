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

    /// The `count` bytes at `offset` in `bytes` (a range the caller has checked lies within `bytes`) as a `String`,
    /// or nil when they are not valid UTF-8.
    ///
    /// Short ASCII strings (the names and ids of most messages) are checked with the same one or two 8-byte loads
    /// that build them; anything else takes `isValid` and then a copy. Loads may run past the string's end, never
    /// past the end of `bytes` (the whole input, which every nested reader shares), and only the string's own
    /// bytes are ever kept.
    @inlinable @inline(__always)
    static func string(in bytes: UnsafeRawBufferPointer, at offset: Int, count: Int) -> String? {
        if count <= 8, bytes.count - offset >= 8 {
            // One word: its first `count` bytes are the string.
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let kept = UInt64.max >> ((8 - count) * 8)
            let leading = UInt64(littleEndian: word) & kept
            if leading & 0x8080_8080_8080_8080 == 0 {
                return count == 0 ? "" : smallString(word: word, count: count)
            }
        } else if count > 8, count <= 15 {
            // Two overlapping words cover exactly the string.
            let head = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let tail = bytes.loadUnaligned(fromByteOffset: offset + count - 8, as: UInt64.self)
            if (head | tail) & 0x8080_8080_8080_8080 == 0 {
                // `String(decoding:as:)` builds a small string in registers from the bytes; the unsafe-capacity
                // initialiser would read its second word straight back from a store that has not retired yet
                // (no store-to-load forwarding: its last byte is never written by us), which costs more than the
                // standard library's own ASCII check does here.
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]), as: UTF8.self)
            }
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        guard isValid(slice) else { return nil }
        return string(fromValidated: slice)
    }

    /// A small ASCII string of the first `count` (1...8) bytes of `word` (as stored in memory). The word goes in
    /// as one 8-byte store, which the small-string initialiser's 8-byte load reads straight back; bytes stored in
    /// pieces would stall that load (no store-to-load forwarding). Only the first `count` bytes of the capacity
    /// become the string, and ASCII takes that initialiser's small-string path without a second validation pass.
    @inlinable @inline(__always)
    static func smallString(word: UInt64, count: Int) -> String {
        String(unsafeUninitializedCapacity: 8) { buffer in
            guard let target = buffer.baseAddress, buffer.count >= 8 else { return 0 }
            UnsafeMutableRawPointer(target).storeBytes(of: word, as: UInt64.self)
            return count
        }
    }

    /// A `String` of bytes `isValid` accepted, copied once into the string's storage.
    @usableFromInline
    static func string(fromValidated bytes: UnsafeRawBufferPointer) -> String {
        let count = bytes.count
        guard let source = bytes.baseAddress, count > 0 else { return "" }
        return String(unsafeUninitializedCapacity: count) { buffer in
            guard let target = buffer.baseAddress else { return 0 }
            UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: count)
            return count
        }
    }
}
