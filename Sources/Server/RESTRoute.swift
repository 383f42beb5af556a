// Sources/Server/RESTRoute.swift: which REST endpoint a method and path name (pure).

internal import HTTPTypes

/// One REST endpoint with its path parameters: the KServe v2 / Open Inference Protocol HTTP routes (with the Triton
/// extensions tritonclient.http and perf_analyzer use), the native `/v1` routes, and the operational ones.
/// `version` is nil when the path names none (the model's policy picks). Names are percent-decoded.
public enum RESTRoute: Sendable, Equatable {
    case serverMetadata
    case serverLive
    case serverReady
    case modelMetadata(model: String, version: String?)
    case modelReady(model: String, version: String?)
    case modelConfig(model: String, version: String?)
    /// `model` nil: every model (`GET /v2/models/stats`).
    case modelStatistics(model: String?, version: String?)
    case infer(model: String, version: String?)
    case repositoryIndex
    case repositoryLoad(model: String)
    case repositoryUnload(model: String)
    case predict(model: String, version: String?)
    case listModels
    case getModel(model: String)
    /// `GET /metrics`: the Prometheus exposition.
    case metrics

    /// Why a request names no route: 404 for an unknown path, 405 (with the methods it allows) for a known path
    /// asked with the wrong method, 400 for a path that does not decode.
    public struct Miss: Error, Sendable, Equatable {
        public var status: Int
        public var message: String
        public var allowed: [String]
    }

    /// The route for `method` and `path` (the target without its query).
    public static func match(method: String, path: Substring) throws(Miss) -> RESTRoute {
        // Split on the UTF-8 bytes: splitting the Substring compared Characters (~15K instructions a request).
        let raw = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        var segments: [String] = []
        segments.reserveCapacity(raw.count)
        for piece in raw {
            guard let decoded = percentDecoded(Substring(piece)) else {
                throw Miss(status: 400, message: "the path \(String(path).prefix(200)) is not valid percent-encoding",
                           allowed: [])
            }
            segments.append(decoded)
        }
        // A trailing slash is not a different resource.
        if segments.count > 1, segments.last == "" { segments.removeLast() }
        guard let (route, allowed) = lookup(segments) else {
            throw Miss(status: 404, message: "no route for \(method) \(String(path).prefix(200))", allowed: [])
        }
        let asked = method == "HEAD" ? "GET" : method
        guard allowed.contains(asked) else {
            throw Miss(
                status: 405, message: "\(method) is not allowed on \(String(path).prefix(200)) (allowed: "
                    + allowed.joined(separator: ", ") + ")", allowed: allowed)
        }
        return route
    }

    private static func lookup(_ s: [String]) -> (RESTRoute, [String])? {
        let get = ["GET"]
        let post = ["POST"]
        switch s.first {
        case "metrics" where s.count == 1:
            return (.metrics, get)
        case "v2":
            return lookupV2(Array(s.dropFirst()), get: get, post: post)
        case "v1":
            guard s.count >= 2, s[1] == "models" else { return nil }
            if s.count == 2 { return (.listModels, get) }
            // /v1/models/{m}:predict, /v1/models/{m}/versions/{v}:predict, /v1/models/{m}
            if s.count == 3 {
                if let model = s[2].strippingSuffix(":predict") { return (.predict(model: model, version: nil), post) }
                return (.getModel(model: s[2]), get)
            }
            if s.count == 5, s[3] == "versions", let version = s[4].strippingSuffix(":predict") {
                return (.predict(model: s[2], version: version), post)
            }
            return nil
        default:
            return nil
        }
    }

    private static func lookupV2(_ s: [String], get: [String], post: [String]) -> (RESTRoute, [String])? {
        switch s.count {
        case 0: return (.serverMetadata, get)
        case 2 where s[0] == "health" && s[1] == "live": return (.serverLive, get)
        case 2 where s[0] == "health" && s[1] == "ready": return (.serverReady, get)
        case 2 where s[0] == "repository" && s[1] == "index": return (.repositoryIndex, post)
        case 2 where s[0] == "models" && s[1] == "stats": return (.modelStatistics(model: nil, version: nil), get)
        case 4 where s[0] == "repository" && s[1] == "models" && s[3] == "load": return (.repositoryLoad(model: s[2]), post)
        case 4 where s[0] == "repository" && s[1] == "models" && s[3] == "unload":
            return (.repositoryUnload(model: s[2]), post)
        default: break
        }
        // /v2/models/{m}[/versions/{v}][/ready|/config|/stats|/infer]
        guard s.count >= 2, s[0] == "models", !s[1].isEmpty else { return nil }
        let model = s[1]
        var rest = s.dropFirst(2)
        var version: String?
        if rest.first == "versions" {
            guard rest.count >= 2 else { return nil }
            version = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        switch Array(rest) {
        case []: return (.modelMetadata(model: model, version: version), get)
        case ["ready"]: return (.modelReady(model: model, version: version), get)
        case ["config"]: return (.modelConfig(model: model, version: version), get)
        case ["stats"]: return (.modelStatistics(model: model, version: version), get)
        case ["infer"]: return (.infer(model: model, version: version), post)
        default: return nil
        }
    }

    /// RFC 3986 percent-decoding of one path segment; nil for a bad escape or bytes that are not UTF-8.
    static func percentDecoded(_ segment: Substring) -> String? {
        guard segment.utf8.contains(UInt8(ascii: "%")) else { return String(segment) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.utf8.count)
        var iterator = segment.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(HexDigit.value), let low = iterator.next().flatMap(HexDigit.value) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

}

extension String {
    /// The string without `suffix`, or nil when it does not end with it (or is only the suffix).
    fileprivate func strippingSuffix(_ suffix: String) -> String? {
        guard hasSuffix(suffix), count > suffix.count else { return nil }
        return String(dropLast(suffix.count))
    }
}
