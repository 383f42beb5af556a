// Sources/Inference/RepositoryFiles.swift: the file-system calls of the model repository, on Glibc.

internal import Glibc

/// The few file-system operations the model repository needs (list a folder, test a path, read a file) and the path
/// arithmetic of its messages, on Glibc: loading Foundation for them cost the server about 8 MB of resident memory
/// (its libraries and ICU data; issue 26), more than everything else it keeps while idle.
package enum RepositoryFiles {
    /// The kind of what `path` names (following symbolic links), or nil when nothing is there.
    package static func kind(_ path: String) -> Kind? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_mode & S_IFMT) == S_IFDIR ? .directory : .file
    }

    package enum Kind {
        case file
        case directory
    }

    package static func exists(_ path: String) -> Bool { kind(path) != nil }

    package static func isDirectory(_ path: String) -> Bool { kind(path) == .directory }

    /// The size in bytes of the file at `path`, or nil when it cannot be examined.
    package static func size(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// The names in a folder (without "." and ".."), unsorted; nil when it cannot be listed.
    package static func contents(ofDirectory path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The whole file, or nil when it cannot be opened or read or holds more than `maxBytes`. Reads in chunks until
    /// end of file, so the memory follows the bytes actually there, never more than `maxBytes` and a chunk.
    package static func read(_ path: String, maxBytes: Int = Int.max) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        let chunk = 1 << 16
        while true {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: chunk))
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.read(fd, base + start, chunk)
            }
            if n < 0 {
                if errno == EINTR {
                    bytes.removeLast(chunk)
                    continue
                }
                return nil
            }
            bytes.removeLast(chunk - n)
            if n == 0 { return bytes }
            if bytes.count > maxBytes { return nil }
        }
    }

    // MARK: Paths (for messages and joins; no file-system access)

    /// `directory/name`, without doubling a trailing slash.
    package static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// `path` made absolute (against the working directory) with "." and ".." and repeated slashes resolved, as
    /// text: symbolic links are not followed.
    package static func standardized(_ path: String) -> String {
        var absolute = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                absolute = join(cwd, path)
            }
        }
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The last component of `path` ("" for "/").
    package static func lastComponent(_ path: String) -> String {
        String(path.split(separator: "/").last ?? "")
    }

    /// `path` without its last component ("/" when nothing is left of an absolute path).
    package static func parent(_ path: String) -> String {
        var parts = path.split(separator: "/")
        if !parts.isEmpty { parts.removeLast() }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// The extension of a file name (after its last dot, not counting a leading one) and the name without it.
    package static func splitExtension(_ name: String) -> (stem: String, extension: String) {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}

extension ModelConfig {
    /// The largest config.json read: 1 MiB (a real one is a few hundred bytes).
    package static let maxFileBytes = 1 << 20

    /// The bytes of the config.json at `path`, or the load error that says why they cannot be used.
    package static func readFile(_ path: String) throws(ModelLoadError) -> [UInt8] {
        guard let size = RepositoryFiles.size(path) else {
            throw ModelLoadError(file: path, node: nil, op: nil, reason: "cannot be read")
        }
        guard size <= Int64(maxFileBytes), let bytes = RepositoryFiles.read(path, maxBytes: maxFileBytes) else {
            throw ModelLoadError(file: path, node: nil, op: nil,
                                 reason: size > Int64(maxFileBytes)
                                    ? "is \(size) bytes, over the \(maxFileBytes >> 20) MiB a config.json may hold"
                                    : "cannot be read")
        }
        return bytes
    }
}
