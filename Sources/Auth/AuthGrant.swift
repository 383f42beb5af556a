// Sources/Auth/AuthGrant.swift: one key-file entry, prepared for the check a request makes on every message.

public import Logging

/// The kind of model scope a request needs: `infer:<glob>` or `read:<glob>` (or `admin`, which grants both).
public enum ModelScopeKind: Sendable {
    case infer
    case read
}

/// One entry of the key set in force, prepared for the per-request check. `KeyFileWatcher` remembers one per
/// recently presented key and hands out the reference (one retain, where a copy of an `AuthEntry` retains each of
/// its strings and arrays), and its model scopes are kept apart by kind so that a model name peeked out of a request
/// as bytes is matched without making a `String`. Immutable; any thread.
public final class AuthGrant: Sendable {
    public let entry: AuthEntry
    /// The entry has the `admin` scope: every action is granted.
    private let admin: Bool
    private let inferGlobs: [ModelGlob]
    private let readGlobs: [ModelGlob]

    public init(_ entry: AuthEntry) {
        self.entry = entry
        var admin = false
        var inferGlobs: [ModelGlob] = []
        var readGlobs: [ModelGlob] = []
        for scope in entry.scopes {
            switch scope {
            case .admin: admin = true
            case .infer(let glob): inferGlobs.append(glob)
            case .read(let glob): readGlobs.append(glob)
            }
        }
        self.admin = admin
        self.inferGlobs = inferGlobs
        self.readGlobs = readGlobs
    }

    /// This grant when its entry has not expired at `now`; the refusal naming the expiry otherwise (as
    /// `Authorizer.authenticate` answers).
    public func unexpired(now: WallTime) -> Result<AuthGrant, Authorizer.Refusal> {
        if let expires = entry.expires, now.seconds >= expires,
           case .failure(let refusal) = Authorizer.unexpired(entry, now: now)
        {
            return .failure(refusal)
        }
        return .success(self)
    }

    /// Whether the entry may act (`kind`) on the model named by `name`, bytes the caller has checked are all ASCII:
    /// the answer `Authorizer.authorize` gives for `.infer(model:)` or `.read(model:)` with that name, or nil when one
    /// of the entry's patterns of that kind is not ASCII and none of the others matched (then ask it with a String).
    public func allows(_ kind: ModelScopeKind, asciiModel name: UnsafeRawBufferPointer) -> Bool? {
        if admin { return true }
        let globs = kind == .infer ? inferGlobs : readGlobs
        var undecided = false
        for index in globs.indices {
            switch globs[index].matches(ascii: name) {
            case true?: return true
            case false?: continue
            case nil: undecided = true
            }
        }
        return undecided ? nil : false
    }
}
