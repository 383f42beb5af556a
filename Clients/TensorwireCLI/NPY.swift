// Clients/TensorwireCLI/NPY.swift: NumPy .npy files (format versions 1, 2 and 3), parsed by hand.

/// The elements of one .npy array, widened to the types a tensor carries.
public enum NPYElements: Sendable, Equatable {
    case float32([Float])
    case float64([Double])
    case int32([Int32])
    case int64([Int64])
    case uint8([UInt8])
    /// IEEE 754 binary16 values as their bit patterns (sent as FLOAT16 raw_data; the server converts them).
    case float16(bits: [UInt16])
}

/// One array read from a .npy file: shape (C order) and elements. A plain value.
public struct NPYArray: Sendable, Equatable {
    public var shape: [Int]
    public var elements: NPYElements

    public init(shape: [Int], elements: NPYElements) {
        self.shape = shape
        self.elements = elements
    }

    /// Parses a .npy file: magic `\x93NUMPY`, version, little-endian header length (2 bytes in v1, 4 in v2/v3),
    /// then a Python dict literal with 'descr' ('<f4', '<f8', '<f2', '<i4', '<i8', '|u1'; '|' or '=' byte order
    /// accepted only where meaningless or little-endian), 'fortran_order' (must be False) and 'shape'.
    public init(bytes: [UInt8]) throws(CLIError) {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw .input("not a .npy file (bad magic)") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw .input(".npy header truncated") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw .input("unsupported .npy version \(major)")
        }
        guard headerLength <= bytes.count - headerStart else { throw .input(".npy header truncated") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let descr = try Self.stringValue(of: "descr", in: header)
        if let fortran = Self.rawValue(of: "fortran_order", in: header), fortran.hasPrefix("True") {
            throw .input(".npy arrays in Fortran order are not supported (save with np.ascontiguousarray)")
        }
        let shape = try Self.shape(in: header)
        self.shape = shape
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .input(".npy shape too large") }
            count = product
        }
        let data = bytes[(headerStart + headerLength)...]
        func elementBytes(_ width: Int) throws(CLIError) -> ArraySlice<UInt8> {
            let (needed, overflow) = count.multipliedReportingOverflow(by: width)
            guard !overflow, data.count >= needed else {
                throw .input(".npy data truncated: shape \(shape) needs \(count) elements of \(width) bytes")
            }
            return data.prefix(needed)
        }
        func littleEndian(_ slice: ArraySlice<UInt8>, width: Int) -> [UInt64] {
            var values: [UInt64] = []
            values.reserveCapacity(slice.count / width)
            var index = slice.startIndex
            while index < slice.endIndex {
                var value: UInt64 = 0
                for byte in 0..<width { value |= UInt64(slice[index + byte]) << (8 * UInt64(byte)) }
                values.append(value)
                index += width
            }
            return values
        }
        switch descr {
        case "<f4", "=f4":
            elements = .float32(littleEndian(try elementBytes(4), width: 4).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) })
        case "<f8", "=f8":
            elements = .float64(littleEndian(try elementBytes(8), width: 8).map { Double(bitPattern: $0) })
        case "<i4", "=i4":
            elements = .int32(littleEndian(try elementBytes(4), width: 4).map { Int32(bitPattern: UInt32(truncatingIfNeeded: $0)) })
        case "<i8", "=i8":
            elements = .int64(littleEndian(try elementBytes(8), width: 8).map { Int64(bitPattern: $0) })
        case "<f2", "=f2":
            elements = .float16(bits: littleEndian(try elementBytes(2), width: 2).map { UInt16(truncatingIfNeeded: $0) })
        case "|u1", "<u1", "=u1":
            elements = .uint8(Array(try elementBytes(1)))
        default:
            throw .input(".npy dtype '\(descr)' is not supported (use '<f4', '<f8', '<f2', '<i4', '<i8' or '|u1')")
        }
    }

    /// The text after `'key':` in the header dict, leading spaces dropped.
    private static func rawValue(of key: String, in header: String) -> Substring? {
        for quote in ["'", "\""] {
            if let end = endOfFirstMatch(of: quote + key + quote, in: header) {
                var rest = header[end...].drop { $0 == " " }
                guard rest.first == ":" else { continue }
                rest = rest.dropFirst().drop { $0 == " " }
                return rest
            }
        }
        return nil
    }

    /// The index just after the first occurrence of `needle` in `text`.
    private static func endOfFirstMatch(of needle: String, in text: String) -> String.Index? {
        var start = text.startIndex
        while start < text.endIndex {
            if text[start...].hasPrefix(needle) { return text.index(start, offsetBy: needle.count) }
            start = text.index(after: start)
        }
        return nil
    }

    private static func stringValue(of key: String, in header: String) throws(CLIError) -> String {
        guard let raw = rawValue(of: key, in: header), let quote = raw.first, quote == "'" || quote == "\"" else {
            throw .input(".npy header has no '\(key)'")
        }
        let body = raw.dropFirst()
        guard let end = body.firstIndex(of: quote) else { throw .input(".npy header: unterminated '\(key)'") }
        return String(body[..<end])
    }

    private static func shape(in header: String) throws(CLIError) -> [Int] {
        guard let raw = rawValue(of: "shape", in: header), raw.first == "(", let end = raw.firstIndex(of: ")") else {
            throw .input(".npy header has no 'shape' tuple")
        }
        let inner = raw[raw.index(after: raw.startIndex)..<end]
        var dimensions: [Int] = []
        for part in inner.split(separator: ",") {
            let text = part.trimmingCharacters(in: " L")
            if text.isEmpty { continue }
            guard let value = Int(text), value >= 0 else { throw .input(".npy shape has a bad dimension '\(part)'") }
            dimensions.append(value)
        }
        return dimensions
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return text
    }
}
