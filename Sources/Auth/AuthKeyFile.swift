// Sources/Auth/AuthKeyFile.swift: the --auth-keys file, parsed strictly (pure: bytes in, entries out).

internal import Crypto
internal import JSONWire

/// Why a key file was refused: the file, the entry (`keys[2] (etl-job)`, or "" for the document) and the reason.
/// Never carries key material (a digest is described by its length and alphabet only).
public struct AuthKeyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let entry: String
    public let reason: String

    public var description: String {
        entry.isEmpty ? "\(path): \(reason)" : "\(path): \(entry): \(reason)"
    }
}

/// The key file: `{"keys": [{"id": "etl-job", "sha256": "<64 hex>", "scopes": ["infer:fraud-*", "read:*"],
/// "expires": "2027-06-30T00:00:00Z"}, {"identity": "CN=batch", "scopes": ["admin"]}]}`. Strict: unknown members,
/// duplicate ids or identities, a digest that is not 64 hex digits, an unknown scope or a bad date are errors.
public enum AuthKeyFile {
    /// The entries of `bytes`; `path` only names the file in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws(AuthKeyFileError) -> [AuthEntry] {
        var reader = JSONReader(bytes)
        var entries: [AuthEntry] = []
        var sawKeys = false
        var entryName = ""
        do throws(JSONError) {
            try reader.readObject { (reader, name) throws(JSONError) in
                guard name == "keys" else { throw reader.error("unknown member \"\(name)\" (expected \"keys\")") }
                sawKeys = true
                var index = 0
                try reader.readArray { (reader) throws(JSONError) in
                    entryName = "keys[\(index)]"
                    entries.append(try entry(&reader, name: &entryName))
                    index += 1
                }
                entryName = ""
            }
            try reader.finish()
        } catch {
            throw AuthKeyFileError(path: path, entry: entryName, reason: error.description)
        }
        guard sawKeys else { throw AuthKeyFileError(path: path, entry: "", reason: "no \"keys\" list") }
        var seen = Set<String>()
        for (index, entry) in entries.enumerated() where !seen.insert(entry.name).inserted {
            throw AuthKeyFileError(path: path, entry: "keys[\(index)] (\(entry.name))", reason: "a second entry with this name")
        }
        return entries
    }

    private static func entry(_ reader: inout JSONReader, name: inout String) throws(JSONError) -> AuthEntry {
        var id: String?
        var identity: String?
        var digest: [UInt8]?
        var scopes: [AuthScope]?
        var expires: Int?
        let start = reader.offset
        try reader.readObject { (reader, member) throws(JSONError) in
            switch member {
            case "id":
                let text = try reader.readString()
                guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) }) else {
                    throw reader.error("\"id\" must be letters, digits, '-', '_', '.' or '@'")
                }
                id = text
                name += " (\(text))"
            case "identity":
                let text = try reader.readString()
                guard !text.isEmpty else { throw reader.error("\"identity\" is empty") }
                identity = text
                name += " (\(text))"
            case "sha256":
                let text = try reader.readString()
                guard let bytes = hexBytes(text), bytes.count == 32 else {
                    throw reader.error("\"sha256\" must be 64 hexadecimal digits (the SHA-256 of the key, not the key)")
                }
                digest = bytes
            case "scopes":
                var list: [AuthScope] = []
                try reader.readArray { (reader) throws(JSONError) in
                    let text = try reader.readString()
                    guard let scope = AuthScope(parsing: text) else {
                        throw reader.error("unknown scope \"\(text.prefix(80))\" (infer:<glob>, read:<glob> or admin)")
                    }
                    list.append(scope)
                }
                scopes = list
            case "expires":
                let text = try reader.readString()
                guard let seconds = parseDate(text) else {
                    throw reader.error("\"expires\" \"\(text.prefix(40))\" is not a UTC date like 2027-06-30T00:00:00Z")
                }
                expires = seconds
            default:
                throw reader.error("unknown member \"\(member.prefix(80))\"")
            }
        }
        let subject: AuthEntry.Subject
        switch (id, digest, identity) {
        case (let id?, let digest?, nil): subject = .key(id: id, digest: digest)
        case (nil, nil, let identity?): subject = .identity(identity)
        case (_?, nil, nil): throw reader.error("a key entry needs \"sha256\"", at: start)
        case (nil, _?, nil): throw reader.error("a key entry needs \"id\"", at: start)
        case (nil, nil, nil): throw reader.error("an entry needs \"id\" and \"sha256\", or \"identity\"", at: start)
        default: throw reader.error("an entry is either a key (\"id\", \"sha256\") or an \"identity\", not both", at: start)
        }
        guard let scopes else { throw reader.error("the entry has no \"scopes\"", at: start) }
        return AuthEntry(subject: subject, scopes: scopes, expires: expires)
    }

    /// Lower- or upper-case hex to bytes; nil for odd lengths or other characters.
    static func hexBytes(_ text: String) -> [UInt8]? { Crypto.bytes(hex: text) }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String { Crypto.hex(bytes) }

    /// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339 in UTC, no fraction) or `YYYY-MM-DD` (midnight UTC), as seconds since the
    /// Unix epoch; nil for anything else or an impossible date.
    public static func parseDate(_ text: String) -> Int? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var value = 0
            for byte in b[from..<from + count] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard b.count == 10 || b.count == 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        var seconds = 0
        if b.count == 20 {
            guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"), b[13] == UInt8(ascii: ":"),
                  b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "Z") || b[19] == UInt8(ascii: "z"),
                  let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
                  hour < 24, minute < 60, second < 60
            else { return nil }
            seconds = hour * 3600 + minute * 60 + second
        }
        return daysFromCivil(year: year, month: month, day: day) * 86_400 + seconds
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// A fresh API key and the key-file line that admits it (`tensorwire keys new`).
public struct NewAPIKey: Sendable {
    /// The key to hand to the client, shown once: `tw_` and 32 random bytes in lower-case hex.
    public let key: String
    /// The line to add to the key file's `keys` list.
    public let entryJSON: String

    /// 32 bytes from the system CSPRNG; `expires` as written in the file (already checked by the caller).
    public init(id: String, scopes: [AuthScope], expires: String?) {
        key = "tw_" + AuthKeyFile.hex(Crypto.randomBytes(count: 32))
        let digest = AuthKeyFile.hex(Crypto.sha256(Array(key.utf8)))
        let scopeList = scopes.map { "\"\($0)\"" }.joined(separator: ", ")
        var json = "{\"id\": \"\(id)\", \"sha256\": \"\(digest)\", \"scopes\": [\(scopeList)]"
        if let expires { json += ", \"expires\": \"\(expires)\"" }
        entryJSON = json + "}"
    }
}
