import DecoderFuzzing

#if canImport(Glibc)
import Glibc
#endif

/// The target a libFuzzer run drives: `TENSORWIRE_FUZZ_TARGET` (proto, onnx, config, http2, http1, json;
/// `Tools/fuzz/run TARGET` sets it), proto when unset. An unknown name stops the run before the first input.
let selectedTarget: FuzzTarget = {
    guard let raw = getenv("TENSORWIRE_FUZZ_TARGET") else { return .proto }
    let name = String(cString: raw)
    guard let target = FuzzTarget(rawValue: name) else {
        print("tensorwire-fuzz: unknown TENSORWIRE_FUZZ_TARGET '\(name)' (proto, onnx, config, http2, http1, json)")
        exit(2)
    }
    return target
}()

/// libFuzzer calls this once per input. Built by `Tools/fuzz/run` with `-sanitize=fuzzer -DFUZZING`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    _ = selectedTarget.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

#if !FUZZING
/// Without libFuzzer the same binary replays files: `tensorwire-fuzz --replay DIR_OR_FILE...` runs every file
/// through every fuzz target (proto, onnx, config, http2, http1, json), so a crash of any target replays wherever it is
/// filed. A directory named `corpus` brings its sibling per-target corpora (`corpus-onnx`, `corpus-config`,
/// `corpus-http2`, `corpus-http1`, …) along, so the test command's `--replay Tools/fuzz/corpus Tools/fuzz/crashes`
/// covers them all.
@main
enum ReplayMain {
    static func main() {
        var paths = Array(CommandLine.arguments.dropFirst())
        if paths.first == "--replay" { paths.removeFirst() }
        guard !paths.isEmpty else {
            print("usage: tensorwire-fuzz --replay DIR_OR_FILE...")
            exit(2)
        }
        // A path named on the command line must exist: a missing crashes folder would otherwise replay nothing and
        // pass (issue 16 §5).
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0 else {
                print("tensorwire-fuzz: \(path) does not exist")
                exit(1)
            }
        }
        var files = 0
        var accepted = 0
        for path in paths.flatMap(withTargetCorpora) {
            for file in regularFiles(at: path) {
                guard let bytes = readFile(file) else {
                    print("tensorwire-fuzz: cannot read \(file)")
                    exit(1)
                }
                for target in FuzzTarget.allCases {
                    accepted += bytes.withUnsafeBytes { target.run($0) }
                }
                files += 1
            }
        }
        print("tensorwire-fuzz: replayed \(files) inputs without a crash (\(accepted) decodes accepted)")
    }

    /// `path`, and when it is a directory named `corpus`, its existing siblings named `corpus-TARGET`.
    static func withTargetCorpora(_ path: String) -> [String] {
        var trimmed = path
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard trimmed == "corpus" || trimmed.hasSuffix("/corpus") else { return [path] }
        let siblings = FuzzTarget.allCases.map { trimmed + "-" + $0.rawValue }
        return [path] + siblings.filter { regularFiles(at: $0).count > 0 }
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
