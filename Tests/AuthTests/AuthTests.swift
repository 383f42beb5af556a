@testable internal import Auth
internal import Crypto
internal import Glibc
internal import Logging
internal import Testing
internal import TestSupport

private func hex(_ bytes: [UInt8]) -> String { AuthKeyFile.hex(bytes) }
private func digestHex(_ key: String) -> String { hex(Crypto.sha256(Array(key.utf8))) }
private let now2026 = WallTime(seconds: AuthKeyFile.parseDate("2026-12-07T00:00:00Z") ?? 0, nanoseconds: 0)

/// The digests keys are matched by: Crypto's SHA-256 against the FIPS 180-4 examples, as Auth relies on them.
@Suite struct KeyDigestTests {
    // FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the empty string.
    @Test func knownVectors() {
        #expect(hex(Crypto.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Crypto.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(Crypto.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(Crypto.sha256([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func constantTimeEquals() {
        #expect(Crypto.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(Crypto.randomBytes(count: 32).count == 32)
        #expect(Crypto.randomBytes(count: 32) != Crypto.randomBytes(count: 32))
    }
}

@Suite struct GlobTests {
    @Test(arguments: [
        ("fraud-*", "fraud-v2", true), ("fraud-*", "fraud-", true), ("fraud-*", "fraud", false),
        ("*", "", true), ("*", "anything", true), ("digit?", "digits", true), ("digit?", "digit", false),
        ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false), ("*-prod", "fraud-prod", true), ("exact", "exact", true),
        ("exact", "exactly", false), ("**", "x", true), ("?*", "", false),
        // Non-ASCII on either side takes the character path: `?` is one character, not one byte.
        ("caf?", "café", true), ("m?dele", "mødele", true), ("modèle-*", "modèle-1", true), ("modèle-?", "modele-1", false),
        ("caf??", "café", false),
    ])
    func matches(pattern: String, name: String, expected: Bool) {
        #expect(ModelGlob(pattern).matches(name) == expected)
        // The byte matcher (a name peeked out of a request) answers the same for ASCII names, and leaves a
        // non-ASCII pattern to the character path.
        guard name.utf8.allSatisfy({ $0 < 0x80 }) else { return }
        var bytes = Array(name.utf8)
        let byBytes = bytes.withUnsafeMutableBytes { ModelGlob(pattern).matches(ascii: UnsafeRawBufferPointer($0)) }
        #expect(byBytes == (pattern.utf8.allSatisfy { $0 < 0x80 } ? expected : nil))
    }

    /// Every glob shape (a literal prefix and `*`, the fast path, and the general matcher) against every short name
    /// over a small alphabet: the byte matcher and the character matcher agree.
    @Test func byteMatcherAgreesWithCharacterMatcher() {
        let patterns = ["a*", "ab*", "*", "", "a", "ab", "a?", "?b*", "a*b", "*a", "a**", "ab*b*", "b?*"]
        var names = [""]
        for _ in 0..<4 { names += names.flatMap { prefix in ["a", "b", "c"].map { prefix + $0 } } }
        names = Array(Set(names))
        for pattern in patterns {
            let glob = ModelGlob(pattern)
            for name in names {
                let bytes = Array(name.utf8)
                let byBytes = bytes.withUnsafeBytes { glob.matches(ascii: $0) }
                #expect(byBytes == glob.matches(name), "\(pattern) vs \(name)")
            }
        }
    }

    @Test func scopesParse() {
        #expect(AuthScope(parsing: "admin") == .admin)
        #expect(AuthScope(parsing: "infer:fraud-*") == .infer(ModelGlob("fraud-*")))
        #expect(AuthScope(parsing: "read:*") == .read(ModelGlob("*")))
        #expect(AuthScope(parsing: "infer:") == nil)
        #expect(AuthScope(parsing: "write:*") == nil)
    }
}

@Suite struct KeyFileParsingTests {
    let digest = digestHex("secret-1")

    @Test func parsesKeysAndIdentities() throws {
        let text = """
            {"keys": [{"id": "etl-job", "sha256": "\(digest)", "scopes": ["infer:fraud-*", "read:*"],
                       "expires": "2027-06-30T00:00:00Z"},
                      {"identity": "CN=batch", "scopes": ["admin"]}]}
            """
        let entries = try AuthKeyFile.parse(Array(text.utf8), path: "keys.json")
        #expect(entries.count == 2)
        #expect(entries[0].name == "etl-job")
        #expect(entries[0].expires == 1_814_313_600)
        #expect(entries[0].scopes == [.infer(ModelGlob("fraud-*")), .read(ModelGlob("*"))])
        #expect(entries[1].subject == .identity("CN=batch"))
    }

    @Test(arguments: [
        ("{}", "", "no \"keys\""),
        ("{\"keys\": [{\"id\": \"a\", \"scopes\": []}]}", "keys[0] (a)", "needs \"sha256\""),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"abc\", \"scopes\": []}]}", "keys[0] (a)", "64 hexadecimal"),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"D\", \"scopes\": [\"write:*\"]}]}", "keys[0] (a)", "64 hexadecimal"),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"DIGEST\", \"scopes\": [\"write:*\"]}]}", "keys[0] (a)", "unknown scope"),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"DIGEST\", \"scopes\": [], \"expires\": \"2027-02-30\"}]}", "keys[0] (a)", "not a UTC date"),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"DIGEST\", \"scopes\": [], \"extra\": 1}]}", "keys[0] (a)", "unknown member \"extra\""),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"DIGEST\"}]}", "keys[0] (a)", "no \"scopes\""),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"DIGEST\", \"scopes\": []}, {\"id\": \"a\", \"sha256\": \"DIGEST\", \"scopes\": []}]}",
         "keys[1] (a)", "a second entry"),
        ("{\"keys\": [{\"id\": \"a\", \"sha256\": \"DIGEST\", \"identity\": \"CN=x\", \"scopes\": []}]}", "keys[0] (a) (CN=x)", "not both"),
        ("{\"keys\": [], }", "", "trailing comma"),
    ])
    func refusesWithFileEntryAndReason(text: String, entry: String, reason: String) {
        let bytes = Array(text.replacingOccurrences(of: "DIGEST", with: digest).utf8)
        #expect {
            _ = try AuthKeyFile.parse(bytes, path: "/etc/tw/keys.json")
        } throws: { error in
            guard let error = error as? AuthKeyFileError else { return false }
            return error.path == "/etc/tw/keys.json" && error.entry == entry && error.reason.contains(reason)
                && !error.description.contains(digest)
        }
    }

    @Test func dates() {
        #expect(AuthKeyFile.parseDate("1970-01-01T00:00:00Z") == 0)
        #expect(AuthKeyFile.parseDate("2000-03-01") == 951_868_800)
        #expect(AuthKeyFile.parseDate("2024-02-29T23:59:59Z") == 1_709_251_199)
        #expect(AuthKeyFile.parseDate("2023-02-29") == nil)
        #expect(AuthKeyFile.parseDate("2027-06-30T24:00:00Z") == nil)
        #expect(AuthKeyFile.parseDate("2027-06-30T00:00:00+01:00") == nil)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

@Suite struct AuthorizerTests {
    let authorizer = Authorizer(entries: [
        AuthEntry(subject: .key(id: "etl-job", digest: Crypto.sha256(Array("k-etl".utf8))),
                  scopes: [.infer(ModelGlob("fraud-*")), .read(ModelGlob("*"))],
                  expires: AuthKeyFile.parseDate("2027-06-30T00:00:00Z")),
        AuthEntry(subject: .key(id: "old", digest: Crypto.sha256(Array("k-old".utf8))), scopes: [.admin],
                  expires: AuthKeyFile.parseDate("2026-01-01")),
        AuthEntry(subject: .key(id: "ops", digest: Crypto.sha256(Array("k-ops".utf8))), scopes: [.admin]),
        AuthEntry(subject: .identity("CN=batch"), scopes: [.infer(ModelGlob("digits"))]),
    ])

    func check(_ header: String?, _ action: AuthAction, identity: String? = nil) -> AuthDecision {
        authorizer.check(credential: AuthCredential(authorization: header, identity: identity), action: action, now: now2026)
    }

    @Test func everyOutcome() {
        #expect(check("Bearer k-etl", .infer(model: "fraud-v2")) == .allowed("etl-job"))
        #expect(check("bearer   k-etl", .read(model: "digits")) == .allowed("etl-job"))
        #expect(check("Bearer k-etl", .read(model: nil)) == .allowed("etl-job"))
        #expect(check("Bearer k-etl", .infer(model: "digits")) == .permissionDenied("infer:digits"))
        #expect(check("Bearer k-etl", .admin) == .permissionDenied("admin"))
        #expect(check("Bearer k-etl", .serverInfo) == .allowed("etl-job"))
        #expect(check("Bearer k-ops", .admin) == .allowed("ops"))
        #expect(check("Bearer k-ops", .infer(model: "any")) == .allowed("ops"))
        #expect(check(nil, .health) == .allowed(""))
        #expect(check(nil, .reflection) == .unauthenticated("no credential: send \"authorization: Bearer <key>\""))
        #expect(check(nil, .infer(model: "digits")) == .unauthenticated("no credential: send \"authorization: Bearer <key>\""))
        #expect(check("Bearer nope", .infer(model: "digits")) == .unauthenticated("unknown API key"))
        #expect(check("Basic dXNlcg==", .infer(model: "digits")) == .unauthenticated("the authorization value is not \"Bearer <key>\""))
        #expect(check("Bearer k-old", .admin) == .unauthenticated("the key old expired at 2026-01-01T00:00:00.000Z"))
        #expect(check(nil, .infer(model: "digits"), identity: "CN=batch") == .allowed("CN=batch"))
        #expect(check(nil, .infer(model: "fraud"), identity: "CN=batch") == .permissionDenied("infer:fraud"))
        #expect(check(nil, .infer(model: "digits"), identity: "CN=other") == .unauthenticated("no entry for the identity CN=other"))
    }

    @Test func identitiesMatchWholeSubjectOrOneSAN() {
        let tls = Authorizer(entries: [
            AuthEntry(subject: .identity("URI:spiffe://acme/etl-job"), scopes: [.read(ModelGlob("*"))]),
            AuthEntry(subject: .identity("O=Acme,CN=ops"), scopes: [.admin]),
        ])
        func check(_ identity: String, _ action: AuthAction) -> AuthDecision {
            tls.check(credential: AuthCredential(identity: identity), action: action, now: now2026)
        }
        #expect(check("O=Acme,CN=etl-job; SAN=URI:spiffe://acme/etl-job,DNS:etl.acme", .read(model: "m"))
            == .allowed("URI:spiffe://acme/etl-job"))
        #expect(check("O=Acme,CN=ops", .admin) == .allowed("O=Acme,CN=ops"))
        #expect(check("O=Acme,CN=ops; SAN=DNS:ops.acme", .admin) == .allowed("O=Acme,CN=ops"))
        #expect(check("O=Acme,CN=other; SAN=URI:spiffe://acme/etl-job-2", .admin)
            == .unauthenticated("no entry for the identity O=Acme,CN=other; SAN=URI:spiffe://acme/etl-job-2"))
    }

    @Test func expiryIsAgainstThePassedClock() {
        let expires = AuthKeyFile.parseDate("2027-06-30T00:00:00Z") ?? 0
        let before = authorizer.check(credential: AuthCredential(bearer: "k-etl"), action: .read(model: "x"),
                                      now: WallTime(seconds: expires - 1, nanoseconds: 0))
        let at = authorizer.check(credential: AuthCredential(bearer: "k-etl"), action: .read(model: "x"),
                                  now: WallTime(seconds: expires, nanoseconds: 0))
        #expect(before == .allowed("etl-job"))
        #expect(at == .unauthenticated("the key etl-job expired at 2027-06-30T00:00:00.000Z"))
    }

    @Test func publicActionsFollowTheOption() {
        let open = Authorizer(entries: [], publicActions: PublicActions(parsing: "health,reflection,metrics") ?? PublicActions())
        let none = AuthCredential()
        #expect(open.check(credential: none, action: .reflection, now: now2026) == .allowed(""))
        #expect(open.check(credential: none, action: .metrics, now: now2026) == .allowed(""))
        #expect(open.check(credential: none, action: .admin, now: now2026) != .allowed(""))
        #expect(PublicActions(parsing: "health") == PublicActions())
        #expect(PublicActions(parsing: "health,bogus") == nil)
    }

    /// A key differing from a stored one only in its last byte is as unknown as one differing in its first:
    /// the comparison is of SHA-256 digests, so a prefix of the key matches no prefix of the digest.
    @Test func nearMissesAreUnknown() {
        #expect(check("Bearer k-etX", .read(model: "x")) == .unauthenticated("unknown API key"))
        #expect(check("Bearer X-etl", .read(model: "x")) == .unauthenticated("unknown API key"))
        #expect(check("Bearer k-et", .read(model: "x")) == .unauthenticated("unknown API key"))
    }

    @Test func newKeyLineParsesAndAdmitsTheKey() throws {
        let fresh = NewAPIKey(id: "etl-job", scopes: [.infer(ModelGlob("fraud-*"))], expires: "2027-06-30T00:00:00Z")
        #expect(fresh.key.hasPrefix("tw_") && fresh.key.count == 67)
        let entries = try AuthKeyFile.parse(Array("{\"keys\": [\(fresh.entryJSON)]}".utf8), path: "k")
        let decision = Authorizer(entries: entries).check(
            credential: AuthCredential(bearer: fresh.key), action: .infer(model: "fraud-1"), now: now2026)
        #expect(decision == .allowed("etl-job"))
        #expect(!fresh.entryJSON.contains(fresh.key))
    }
}

/// The prepared entry the server checks each request message with: on ASCII model names it answers what
/// `Authorizer.authorize` answers, and it leaves a non-ASCII pattern undecided rather than guess.
@Suite struct AuthGrantTests {
    @Test func answersAsTheAuthorizerDoes() {
        let scopeSets: [[AuthScope]] = [
            [.admin], [.infer(ModelGlob("digit*"))], [.read(ModelGlob("*"))], [.infer(ModelGlob("fraud-?")), .read(ModelGlob("d*s"))],
            [.infer(ModelGlob("x")), .infer(ModelGlob("digits"))], [],
        ]
        let names = ["digits", "digit", "fraud-1", "fraud-12", "x", "", "dogs", "ds"]
        for scopes in scopeSets {
            let entry = AuthEntry(subject: .key(id: "k", digest: []), scopes: scopes)
            let grant = AuthGrant(entry)
            for name in names {
                let bytes = Array(name.utf8)
                let infer = bytes.withUnsafeBytes { grant.allows(.infer, asciiModel: $0) }
                let read = bytes.withUnsafeBytes { grant.allows(.read, asciiModel: $0) }
                let expectedInfer = Authorizer.authorize(entry, .infer(model: name)) == .allowed("k")
                let expectedRead = Authorizer.authorize(entry, .read(model: name)) == .allowed("k")
                #expect(infer == expectedInfer, "\(scopes) infer \(name)")
                #expect(read == expectedRead, "\(scopes) read \(name)")
            }
        }
    }

    @Test func aNonASCIIPatternIsLeftToTheCharacterPath() {
        let grant = AuthGrant(AuthEntry(subject: .identity("CN=x"), scopes: [.infer(ModelGlob("modèle-*")), .infer(ModelGlob("a*"))]))
        #expect(Array("b".utf8).withUnsafeBytes { grant.allows(.infer, asciiModel: $0) } == nil)
        #expect(Array("ab".utf8).withUnsafeBytes { grant.allows(.infer, asciiModel: $0) } == true)
        #expect(Array("ab".utf8).withUnsafeBytes { grant.allows(.read, asciiModel: $0) } == false)
    }

    @Test func expiryIsCheckedEachTime() {
        let expires = AuthKeyFile.parseDate("2027-06-30T00:00:00Z") ?? 0
        let grant = AuthGrant(AuthEntry(subject: .key(id: "etl", digest: []), scopes: [.admin], expires: expires))
        guard case .success(let same) = grant.unexpired(now: WallTime(seconds: expires - 1, nanoseconds: 0)) else {
            Issue.record("refused before its expiry")
            return
        }
        #expect(same === grant)
        guard case .failure(let refusal) = grant.unexpired(now: WallTime(seconds: expires, nanoseconds: 0)) else {
            Issue.record("accepted at its expiry")
            return
        }
        #expect(refusal.decision == .unauthenticated("the key etl expired at 2027-06-30T00:00:00.000Z"))
    }
}

@Suite struct KeyFileWatcherTests {
    let directory: String

    init() {
        var template = Array("/tmp/tw-auth-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
            return String(cString: made)
        }
    }

    func writeFile(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }

    func keys(_ pairs: [(String, String)]) -> String {
        "{\"keys\": [" + pairs.map { "{\"id\": \"\($0.0)\", \"sha256\": \"\(digestHex($0.1))\", \"scopes\": [\"admin\"]}" }
            .joined(separator: ",") + "]}"
    }

    func allows(_ watcher: KeyFileWatcher, _ key: String) -> Bool {
        if case .allowed = watcher.check(credential: AuthCredential(bearer: key), action: .admin, now: now2026) { return true }
        return false
    }

    @Test func reloadsInPlaceRewriteAndRenameAndKeepsOldKeysOnMalformed() throws {
        let path = directory + "/keys.json"
        writeFile(path, keys([("a", "key-a")]))
        let output = MemoryLogOutput()
        let logger = Logger(component: "auth", sink: LogSink(output: output, minimumLevel: .debug))
        let watcher = try KeyFileWatcher(path: path, publicActions: PublicActions(), logger: logger)
        #expect(allows(watcher, "key-a"))
        #expect(!watcher.poll())

        // In-place rewrite with a longer content (size changes; mtime may not within the filesystem's granularity).
        writeFile(path, keys([("a", "key-a"), ("b", "key-b")]))
        #expect(watcher.poll())
        #expect(allows(watcher, "key-b"))

        // Rename over the file: a new inode.
        let staged = directory + "/keys.json.new"
        writeFile(staged, keys([("c", "key-c")]))
        #expect(rename(staged, path) == 0)
        #expect(watcher.poll())
        #expect(allows(watcher, "key-c") && !allows(watcher, "key-a"))

        // A malformed file keeps the keys in force and says why, without key material.
        writeFile(path, "{\"keys\": [{\"id\": \"d\", \"sha256\": \"zz\", \"scopes\": []}]}  ")
        #expect(!watcher.poll())
        #expect(allows(watcher, "key-c"))
        let warning = output.lines.last ?? ""
        #expect(warning.contains("auth:") && warning.contains("keys[0] (d)") && warning.contains("64 hexadecimal"))
        #expect(warning.contains(path))
        #expect(!output.lines.joined().contains("key-c") && !output.lines.joined().contains(digestHex("key-c")))
        #expect(!watcher.poll())
        unlink(path)
        rmdir(directory)
    }

    @Test func rememberedTokensStillExpireAndOutnumberTheMemory() throws {
        let path = directory + "/keys.json"
        let expires = "2027-01-01T00:00:00Z"
        let names = (0..<(KeyFileWatcher.recentCapacity + 3)).map { "key-\($0)" }
        writeFile(path, "{\"keys\": [" + names.map {
            "{\"id\": \"\($0)\", \"sha256\": \"\(digestHex($0))\", \"scopes\": [\"admin\"], \"expires\": \"\(expires)\"}"
        }.joined(separator: ",") + "]}")
        let watcher = try KeyFileWatcher(path: path, publicActions: PublicActions(), logger: Logger(
            component: "auth", sink: .discarding))
        // More distinct keys than the memory holds, twice round: each is accepted from the memory or by its digest.
        for _ in 0..<2 { for name in names { #expect(allows(watcher, name)) } }
        #expect(!allows(watcher, "key-unknown"))
        // A remembered key past its expiry is refused like any other.
        let later = WallTime(seconds: (AuthKeyFile.parseDate(expires) ?? 0) + 1, nanoseconds: 0)
        let decision = watcher.check(credential: AuthCredential(bearer: names[names.count - 1]), action: .admin, now: later)
        guard case .unauthenticated(let reason) = decision else {
            Issue.record("an expired remembered key gave \(decision)")
            return
        }
        #expect(reason.contains("expired"))
        unlink(path)
        rmdir(directory)
    }

    /// A remembered value hands out the grant it was remembered with until the key file reloads; after a reload
    /// the value is looked up in the new keys (here: gone, then back with other scopes).
    @Test func rememberedGrantsLastUntilAReload() throws {
        let path = directory + "/keys.json"
        writeFile(path, keys([("a", "key-a")]))
        let watcher = try KeyFileWatcher(path: path, publicActions: PublicActions(), logger: .discarding)
        func grant(_ key: String) -> AuthGrant? {
            guard case .success(let grant) = watcher.grant(authorization: "Bearer " + key, identity: nil, now: now2026)
            else { return nil }
            return grant
        }
        let first = try #require(grant("key-a"))
        #expect(grant("key-a") === first)
        #expect(grant("key-b") == nil)
        writeFile(path, keys([("b", "key-b"), ("c", "key-c")]))
        #expect(watcher.poll())
        #expect(grant("key-a") == nil)
        #expect(grant("key-b")?.entry.name == "b")
        writeFile(path, "{\"keys\": [{\"id\": \"a2\", \"sha256\": \"\(digestHex("key-a"))\", \"scopes\": [\"read:*\"]}]}")
        #expect(watcher.poll())
        let back = try #require(grant("key-a"))
        #expect(back !== first && back.entry.name == "a2" && back.entry.scopes == [.read(ModelGlob("*"))])
        unlink(path)
        rmdir(directory)
    }

    @Test func unreadableFileRefusesToStart() {
        #expect(throws: AuthKeyFileError.self) {
            _ = try KeyFileWatcher(path: directory + "/missing.json", publicActions: PublicActions(), logger: .discarding)
        }
        rmdir(directory)
    }
}

/// The watcher's own timer (a dispatch queue thread): a rewrite is in force once a poll has run.
@Suite(.tags(.live)) struct KeyFileWatcherLiveTests {
    let files = KeyFileWatcherTests()

    @Test func theTimerPicksUpARewrite() throws {
        let path = files.directory + "/timed.json"
        files.writeFile(path, files.keys([("a", "key-a")]))
        let watcher = try KeyFileWatcher(path: path, publicActions: PublicActions(), logger: .discarding)
        watcher.start(interval: .milliseconds(20))
        defer { watcher.stop() }
        files.writeFile(path, files.keys([("a", "key-a"), ("bb", "key-bb")]))
        #expect(waitUntil(seconds: 5) { files.allows(watcher, "key-bb") })
        unlink(path)
        rmdir(files.directory)
    }
}
