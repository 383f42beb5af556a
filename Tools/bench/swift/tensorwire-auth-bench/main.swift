// tensorwire-auth-bench: the cost of one authorization check, in a release build. Prints the median of 9 runs of N
// checks each, in nanoseconds per check, for an allowed key and an unknown key against a key file of 4 and of 64
// entries: Authorizer.check (hash and digest lookup every time), the same with the `authorization` value parsed
// each time, and KeyFileWatcher.check (what the server calls: a remembered token skips the hash).
// Usage: tensorwire-auth-bench [N]

internal import Auth
internal import Glibc
internal import Logging

func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

let count = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000
let now = WallTime(seconds: 1_800_000_000, nanoseconds: 0)

func authorizer(entries: Int) -> (Authorizer, String, String) {
    var lines: [String] = []
    var last = ""
    for index in 0..<entries {
        let key = NewAPIKey(id: "key-\(index)", scopes: [.infer(ModelGlob("fraud-*")), .read(ModelGlob("*"))], expires: "2099-01-01")
        lines.append(key.entryJSON)
        last = key.key
    }
    let file = "{\"keys\": [\(lines.joined(separator: ","))]}"
    let parsed = (try? AuthKeyFile.parse(Array(file.utf8), path: "bench")) ?? []
    return (Authorizer(entries: parsed), last, file)
}

func measure(_ label: String, _ body: () -> AuthDecision) {
    var runs: [Double] = []
    var sink = 0
    for _ in 0..<9 {
        let start = nanoseconds()
        for _ in 0..<count { if case .allowed = body() { sink &+= 1 } }
        runs.append(Double(nanoseconds() - start) / Double(count))
    }
    runs.sort()
    print("\(label): \(Int(runs[4].rounded())) ns/check (median of 9 × \(count))" + (sink == -1 ? "" : ""))
}

for entries in [4, 64] {
    let (auth, key, file) = authorizer(entries: entries)
    let allowed = AuthCredential(authorization: "Bearer \(key)")
    let unknown = AuthCredential(authorization: "Bearer tw_0000000000000000000000000000000000000000000000000000000000000000")
    measure("\(entries) entries, allowed", { auth.check(credential: allowed, action: .infer(model: "fraud-v2"), now: now) })
    measure("\(entries) entries, unknown key", { auth.check(credential: unknown, action: .infer(model: "fraud-v2"), now: now) })
    let header = "Bearer \(key)"
    measure("\(entries) entries, header parse + allowed", {
        auth.check(credential: AuthCredential(authorization: header), action: .infer(model: "fraud-v2"), now: now)
    })
    let path = "/tmp/tensorwire-auth-bench-\(getpid())-\(entries).json"
    guard let handle = fopen(path, "w"), fputs(file, handle) >= 0, fclose(handle) == 0,
          let watcher = try? KeyFileWatcher(path: path, publicActions: PublicActions(), logger: Logger(
              component: "auth", sink: .discarding))
    else { fatalError("could not write and read \(path)") }
    unlink(path)
    measure("\(entries) entries, server path (KeyFileWatcher), header parse + allowed", {
        watcher.check(credential: AuthCredential(authorization: header), action: .infer(model: "fraud-v2"), now: now)
    })
    measure("\(entries) entries, server path (KeyFileWatcher), unknown key", {
        watcher.check(credential: unknown, action: .infer(model: "fraud-v2"), now: now)
    })
}
