// Sources/Auth/Authorizer.swift: who may do what (pure): scopes, globs, credentials, the decision.

internal import Crypto
public import Logging

/// A model-name pattern: `*` matches any run of characters (the empty one too), `?` exactly one; everything else
/// matches itself. A value; any thread.
public struct ModelGlob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let characters: [Character]
    /// The pattern's bytes when it is ASCII: then an ASCII name is matched byte by byte (the same answer as by
    /// characters, without building a `[Character]` per check); nil otherwise.
    private let asciiBytes: [UInt8]?
    /// For an ASCII pattern whose only wildcard is one `*` at its end (`fraud-*`, the common shape): the length of
    /// the literal before it, so that a match is a prefix compare; nil otherwise.
    private let literalPrefixLength: Int?

    public init(_ pattern: String) {
        self.pattern = pattern
        self.characters = Array(pattern)
        let asciiBytes = pattern.utf8.allSatisfy { $0 < 0x80 } ? Array(pattern.utf8) : nil
        self.asciiBytes = asciiBytes
        if let asciiBytes, let last = asciiBytes.last, last == UInt8(ascii: "*"),
           !asciiBytes.dropLast().contains(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") })
        {
            literalPrefixLength = asciiBytes.count - 1
        } else {
            literalPrefixLength = nil
        }
    }

    public var description: String { pattern }

    /// Whether the pattern is `*` alone: it covers every model, including "all models at once" requests.
    public var matchesEverything: Bool { pattern == "*" }

    /// Whether `name` matches. Iterative with one backtrack point (the last `*`), so O(pattern × name) at worst.
    public func matches(_ name: String) -> Bool {
        if matchesEverything { return true }
        if let asciiBytes, let answer = name.utf8.withContiguousStorageIfAvailable({ text in
            text.allSatisfy { $0 < 0x80 }
                ? Self.matches(asciiBytes, text, star: UInt8(ascii: "*"), any: UInt8(ascii: "?")) : nil
        }), let answer {
            return answer
        }
        return Self.matches(characters, Array(name), star: "*", any: "?")
    }

    /// `matches(_:)` for a name given as its bytes, which the caller has checked are all ASCII: the same answer, with
    /// no `String` made; nil when the pattern is not ASCII (then ask `matches(_:)`).
    func matches(ascii name: UnsafeRawBufferPointer) -> Bool? {
        guard let asciiBytes else { return nil }
        if let literalPrefixLength {
            guard name.count >= literalPrefixLength else { return false }
            for index in 0..<literalPrefixLength where asciiBytes[index] != name[index] { return false }
            return true
        }
        return Self.matches(asciiBytes, name, star: UInt8(ascii: "*"), any: UInt8(ascii: "?"))
    }

    /// The matcher over characters or, for ASCII, bytes; `text` is indexed from 0 (an array or a buffer).
    private static func matches<Text: RandomAccessCollection>(
        _ pattern: [Text.Element], _ text: Text, star wildcard: Text.Element, any: Text.Element
    ) -> Bool where Text.Element: Equatable, Text.Index == Int {
        guard text.startIndex == 0 else { return matches(pattern, Array(text), star: wildcard, any: any) }
        var p = 0
        var t = 0
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == any || (pattern[p] != wildcard && pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == wildcard {
                star = p
                resume = t
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == wildcard { p += 1 }
        return p == pattern.count
    }
}

/// One permission: `infer:<glob>`, `read:<glob>` (metadata, config, statistics, readiness) or `admin` (load, unload,
/// the repository index; admin implies every other scope).
public enum AuthScope: Sendable, Hashable, CustomStringConvertible {
    case infer(ModelGlob)
    case read(ModelGlob)
    case admin

    /// Parses `infer:fraud-*`, `read:*`, `admin`; nil for anything else.
    public init?(parsing text: String) {
        if text == "admin" {
            self = .admin
        } else if text.hasPrefix("infer:"), text.count > 6 {
            self = .infer(ModelGlob(String(text.dropFirst(6))))
        } else if text.hasPrefix("read:"), text.count > 5 {
            self = .read(ModelGlob(String(text.dropFirst(5))))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .infer(let glob): "infer:\(glob)"
        case .read(let glob): "read:\(glob)"
        case .admin: "admin"
        }
    }
}

/// What a request wants to do. `model` nil: every model at once (ListModels, statistics of all models).
public enum AuthAction: Sendable, Hashable {
    case infer(model: String)
    case read(model: String?)
    case admin
    /// Server metadata: any valid credential will do.
    case serverInfo
    case health
    case reflection
    case metrics

    /// The scope this action needs, as written in a key file (what PERMISSION_DENIED names).
    public var scopeNeeded: String {
        switch self {
        case .infer(let model): "infer:\(model)"
        case .read(let model): "read:\(model ?? "*")"
        case .admin, .reflection, .metrics: "admin"
        case .serverInfo, .health: "none"
        }
    }

    func isGranted(by scope: AuthScope) -> Bool {
        switch (self, scope) {
        case (_, .admin): true
        case (.serverInfo, _), (.health, _): true
        case (.infer(let model), .infer(let glob)): glob.matches(model)
        case (.read(let model?), .read(let glob)): glob.matches(model)
        case (.read(nil), .read(let glob)): glob.matchesEverything
        default: false
        }
    }
}

/// What a caller presents: a bearer token (the `authorization` header or metadata, without `Bearer `) and/or the
/// identity of a verified TLS client certificate.
public struct AuthCredential: Sendable {
    public var bearer: String?
    public var identity: String?

    public init(bearer: String? = nil, identity: String? = nil) {
        self.bearer = bearer
        self.identity = identity
    }

    /// The credential of an `authorization` header value: `Bearer <token>` (the scheme case-insensitively, RFC 9110
    /// §11.1); another scheme or a malformed value gives a credential with no bearer and `malformed` set.
    public init(authorization: String?, identity: String? = nil) {
        self.identity = identity
        guard let authorization else { return }
        // Byte-wise over the contiguous UTF-8: the scheme compared case-insensitively, then the token after any
        // spaces (no split, no lowercased copy, no iterator per byte: this runs on every request).
        var value = authorization
        bearer = value.withUTF8 { bytes -> String? in
            let scheme: StaticString = "bearer"
            let length = scheme.utf8CodeUnitCount
            guard bytes.count > length, bytes[length] == UInt8(ascii: " ") else { return nil }
            for index in 0..<length where bytes[index] | 0x20 != scheme.utf8Start[index] { return nil }
            var start = length
            while start < bytes.count, bytes[start] == UInt8(ascii: " ") { start += 1 }
            guard start < bytes.count else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self)
        }
        malformed = bearer == nil
    }

    /// An authorization value was sent but it is not `Bearer <token>`.
    public var malformed = false
}

/// The outcome of a check. Reasons and scopes carry key ids and model names, never key material.
public enum AuthDecision: Sendable, Equatable {
    /// Allowed; the key's id or the certificate's identity ("" for a public action).
    case allowed(String)
    /// No credential, an unknown or expired one (gRPC UNAUTHENTICATED, HTTP 401).
    case unauthenticated(String)
    /// A valid credential without the scope; the scope needed (gRPC PERMISSION_DENIED, HTTP 403).
    case permissionDenied(String)
}

/// One entry of the key file: an API key (by the SHA-256 of the key) or an mTLS identity, with its scopes and
/// optional expiry (seconds since the Unix epoch, UTC).
public struct AuthEntry: Sendable, Equatable {
    public enum Subject: Sendable, Equatable {
        /// `id` names the key in logs and answers; `digest` is SHA-256 of the key's bytes.
        case key(id: String, digest: [UInt8])
        /// The subject of a verified client certificate, as the TLS layer reports it (`CN=…`).
        case identity(String)
    }

    public var subject: Subject
    public var scopes: [AuthScope]
    public var expires: Int?

    public init(subject: Subject, scopes: [AuthScope], expires: Int? = nil) {
        self.subject = subject
        self.scopes = scopes
        self.expires = expires
    }

    public var name: String {
        switch subject {
        case .key(let id, _): id
        case .identity(let identity): identity
        }
    }
}

/// Which actions need no credential: health always; reflection and metrics when `--auth-public` names them.
public struct PublicActions: Sendable, Equatable {
    public var reflection = false
    public var metrics = false

    public init(reflection: Bool = false, metrics: Bool = false) {
        self.reflection = reflection
        self.metrics = metrics
    }

    /// `health,reflection,metrics` (any subset; `health` must be listed or implied: it is always open).
    public init?(parsing text: String) {
        for name in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingPrefix(" ") }) {
            switch name {
            case "health": break
            case "reflection": reflection = true
            case "metrics": metrics = true
            default: return nil
            }
        }
    }

    func contains(_ action: AuthAction) -> Bool {
        switch action {
        case .health: true
        case .reflection: reflection
        case .metrics: metrics
        default: false
        }
    }
}

/// The decision procedure over a set of entries: authentication (which entry, if any, the credential names, and
/// whether it has expired), then authorization (whether one of its scopes grants the action). A presented token is
/// hashed (SHA-256) and its digest looked up by its first 8 bytes among the entries' digests; each candidate is then
/// compared in full in constant time. The lookup's time can depend only on the digest of what the caller sent, and
/// steering a digest toward a stored one needs a SHA-256 preimage, so neither the time nor the answer reveals how
/// much of a key matched (docs/security.md). A value; any thread.
public struct Authorizer: Sendable {
    public var entries: [AuthEntry] {
        didSet { keyIndex = Self.index(entries) }
    }
    public var publicActions: PublicActions
    /// Indices into `entries` of the keys whose digest starts with these 8 bytes (a few at most: collisions of the
    /// prefix are rare, and duplicate keys are allowed).
    private var keyIndex: [UInt64: [Int]]

    public init(entries: [AuthEntry], publicActions: PublicActions = PublicActions()) {
        self.entries = entries
        self.publicActions = publicActions
        self.keyIndex = Self.index(entries)
    }

    private static func index(_ entries: [AuthEntry]) -> [UInt64: [Int]] {
        var index: [UInt64: [Int]] = [:]
        for (position, entry) in entries.enumerated() {
            if case .key(_, let digest) = entry.subject { index[prefix(digest), default: []].append(position) }
        }
        return index
    }

    /// The first 8 bytes of a digest as a number (0 for a digest shorter than that, which no stored key has).
    private static func prefix(_ digest: [UInt8]) -> UInt64 {
        guard digest.count >= 8 else { return 0 }
        var value: UInt64 = 0
        for byte in digest[0..<8] { value = value << 8 | UInt64(byte) }
        return value
    }

    /// Decides whether `credential` may do `action` at wall-clock time `now`.
    public func check(credential: AuthCredential, action: AuthAction, now: WallTime) -> AuthDecision {
        if publicActions.contains(action) { return .allowed("") }
        switch authenticate(credential: credential, now: now) {
        case .success(let entry): return Self.authorize(entry, action)
        case .failure(let refusal): return refusal.decision
        }
    }

    /// Why a credential names no usable entry (`decision` is always `.unauthenticated`).
    public struct Refusal: Error, Sendable, Equatable {
        public let decision: AuthDecision
    }

    /// Whether `action` needs no credential at all.
    public func isPublic(_ action: AuthAction) -> Bool { publicActions.contains(action) }

    /// The first half of `check`: the unexpired entry the credential names.
    public func authenticate(credential: AuthCredential, now: WallTime) -> Result<AuthEntry, Refusal> {
        guard let entry = find(credential) else {
            let reason = if credential.malformed {
                "the authorization value is not \"Bearer <key>\""
            } else if credential.bearer != nil {
                "unknown API key"
            } else if let identity = credential.identity {
                "no entry for the identity \(identity)"
            } else {
                "no credential: send \"authorization: Bearer <key>\""
            }
            return .failure(Refusal(decision: .unauthenticated(reason)))
        }
        return Self.unexpired(entry, now: now)
    }

    /// `entry` when it has not expired at `now`; the refusal naming its expiry otherwise.
    static func unexpired(_ entry: AuthEntry, now: WallTime) -> Result<AuthEntry, Refusal> {
        if let expires = entry.expires, now.seconds >= expires {
            let when = WallTime(seconds: expires, nanoseconds: 0).rfc3339
            return .failure(Refusal(decision: .unauthenticated("the key \(entry.name) expired at \(when)")))
        }
        return .success(entry)
    }

    /// The second half of `check`: whether one of `entry`'s scopes grants `action` (the entry alone decides).
    public static func authorize(_ entry: AuthEntry, _ action: AuthAction) -> AuthDecision {
        for scope in entry.scopes where action.isGranted(by: scope) { return .allowed(entry.name) }
        return .permissionDenied(action.scopeNeeded)
    }

    /// The entry the credential names: a bearer token first, then the certificate identity.
    func find(_ credential: AuthCredential) -> AuthEntry? {
        if let bearer = credential.bearer {
            var token = bearer
            let digest = token.withUTF8 { Crypto.sha256(UnsafeRawBufferPointer($0)) }
            var found: AuthEntry?
            for position in keyIndex[Self.prefix(digest)] ?? [] {
                if case .key(_, let expected) = entries[position].subject, Crypto.constantTimeEquals(digest, expected),
                   found == nil
                {
                    found = entries[position]
                }
            }
            return found
        }
        if let identity = credential.identity {
            let names = Self.identityNames(identity)
            return entries.first { entry in
                if case .identity(let name) = entry.subject { names.contains(name) } else { false }
            }
        }
        return nil
    }

    /// The names an entry's `identity` may use for a certificate: the whole identity string the TLS layer reports
    /// (`O=Acme,CN=etl-job; SAN=URI:spiffe://acme/etl-job,DNS:etl.acme.internal`, docs/tls.md), its subject alone
    /// (`O=Acme,CN=etl-job`), or any one subject alternative name (`URI:spiffe://acme/etl-job`).
    static func identityNames(_ identity: String) -> [String] {
        let parts = identity.split(separator: "; SAN=", maxSplits: 1, omittingEmptySubsequences: false)
        var names = [identity, String(parts[0])]
        if parts.count == 2 { names += parts[1].split(separator: ",").map(String.init) }
        return names
    }
}
