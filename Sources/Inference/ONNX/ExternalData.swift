internal import Glibc

/// The folder an ONNX file's external tensor data is read from: the folder of the `.onnx` file (torch's dynamo
/// exporter writes the weights to `model.onnx.data` beside it by default).
///
/// A tensor names its data with `location` (a path relative to that folder), `offset` and `length`. The file is
/// untrusted input: the location must stay inside the folder (no absolute path, no `..` component), the byte range
/// must lie inside a regular file, and the length must be exactly what the tensor's shape and type need, which the
/// compiler has charged against the model's memory budget before this reads it.
struct ExternalDataFolder: Sendable {
    let directory: String

    /// Bytes one element of `dataType` (an ONNX element type number) takes in external data; nil for strings and
    /// the types the engine does not read.
    static func elementSize(_ dataType: Int32) -> Int? {
        switch dataType {
        case ONNXTensor.ElementType.float, ONNXTensor.ElementType.int32, ONNXTensor.ElementType.uint32: return 4
        case ONNXTensor.ElementType.double, ONNXTensor.ElementType.int64, ONNXTensor.ElementType.uint64: return 8
        case ONNXTensor.ElementType.int16, ONNXTensor.ElementType.uint16: return 2
        case ONNXTensor.ElementType.int8, ONNXTensor.ElementType.uint8, ONNXTensor.ElementType.bool: return 1
        default: return nil
        }
    }

    /// The `location` of `entries`, checked to stay inside the folder.
    static func location(_ entries: [ONNXStringEntry]) throws(CompileFailure) -> String {
        guard let location = entries.last(where: { $0.key == "location" })?.value, !location.isEmpty else {
            throw CompileFailure("external data without a location")
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), location.utf8.count <= 4096, !location.utf8.contains(0),
              !components.contains(".."), !components.contains("")
        else {
            throw CompileFailure("external data location '\(location)' is not a relative path inside the model's "
                + "folder")
        }
        return location
    }

    /// Exactly `expectedBytes` bytes of the tensor's external data.
    func read(_ entries: [ONNXStringEntry], expectedBytes: Int) throws(CompileFailure) -> [UInt8] {
        let location = try Self.location(entries)
        func number(_ key: String) throws(CompileFailure) -> Int? {
            guard let text = entries.last(where: { $0.key == key })?.value else { return nil }
            guard let value = Int(text), value >= 0 else {
                throw CompileFailure("external data \(key) '\(text)' is not a non-negative integer")
            }
            return value
        }
        let offset = try number("offset") ?? 0
        if let length = try number("length"), length != expectedBytes {
            throw CompileFailure("external data length \(length) in '\(location)' differs from the \(expectedBytes) "
                + "bytes the tensor's shape and type need")
        }
        let path = directory + "/" + location
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw CompileFailure("external data file '\(location)' cannot be opened (\(reason))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw CompileFailure("external data '\(location)' is not a regular file")
        }
        let (end, overflow) = offset.addingReportingOverflow(expectedBytes)
        guard !overflow, end <= Int(status.st_size) else {
            throw CompileFailure("external data '\(location)' holds \(status.st_size) bytes; the tensor needs bytes "
                + "\(offset)..<\(overflow ? Int.max : end)")
        }
        var failure: CompileFailure?
        let bytes = [UInt8](unsafeUninitializedCapacity: expectedBytes) { buffer, initialized in
            var done = 0
            while done < expectedBytes, let base = buffer.baseAddress {
                let count = pread(descriptor, base + done, expectedBytes - done, off_t(offset + done))
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    failure = CompileFailure("external data '\(location)' could not be read at byte \(offset + done)")
                    break
                }
                done += count
            }
            initialized = failure == nil ? expectedBytes : 0
        }
        if let failure { throw failure }
        return bytes
    }
}
