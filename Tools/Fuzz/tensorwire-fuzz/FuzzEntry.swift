import DecoderFuzzing

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer calls this once per input. Built by `Tools/fuzz` with `-sanitize=fuzzer -DFUZZING`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    DecoderFuzzing.decodeAll(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

#if !FUZZING
/// Without libFuzzer the same binary replays files: `tensorwire-fuzz --replay DIR_OR_FILE...` decodes every
/// file through the fuzz entry point (the test command runs it over the committed corpus and past crashes).
@main
enum ReplayMain {
    static func main() {
        var paths = Array(CommandLine.arguments.dropFirst())
        if paths.first == "--replay" { paths.removeFirst() }
        guard !paths.isEmpty else {
            print("usage: tensorwire-fuzz --replay DIR_OR_FILE...")
            exit(2)
        }
        var files = 0
        var accepted = 0
        for path in paths {
            for file in regularFiles(at: path) {
                guard let bytes = readFile(file) else {
                    print("tensorwire-fuzz: cannot read \(file)")
                    exit(1)
                }
                accepted += bytes.withUnsafeBytes { DecoderFuzzing.decodeAll($0) }
                files += 1
            }
        }
        print("tensorwire-fuzz: replayed \(files) inputs without a crash (\(accepted) decodes accepted)")
    }

    /// `path` itself when it is a file, else the files directly inside it, sorted; a missing path is empty.
    static func regularFiles(at path: String) -> [String] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return [path] }
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count { break }
        }
        return bytes
    }
}
#endif
