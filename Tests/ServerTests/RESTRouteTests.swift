// Tests/ServerTests/RESTRouteTests.swift: which endpoint a method and path name.

import Server
import Testing

@Suite struct RESTRouteTests {
    @Test(arguments: [
        ("GET", "/v2", RESTRoute.serverMetadata),
        ("GET", "/v2/health/live", .serverLive),
        ("HEAD", "/v2/health/ready", .serverReady),
        ("GET", "/v2/models/digits", .modelMetadata(model: "digits", version: nil)),
        ("GET", "/v2/models/digits/versions/3", .modelMetadata(model: "digits", version: "3")),
        ("GET", "/v2/models/digits/ready", .modelReady(model: "digits", version: nil)),
        ("GET", "/v2/models/digits/versions/2/ready", .modelReady(model: "digits", version: "2")),
        ("GET", "/v2/models/digits/config", .modelConfig(model: "digits", version: nil)),
        ("GET", "/v2/models/digits/stats", .modelStatistics(model: "digits", version: nil)),
        ("GET", "/v2/models/stats", .modelStatistics(model: nil, version: nil)),
        ("POST", "/v2/models/digits/infer", .infer(model: "digits", version: nil)),
        ("POST", "/v2/models/digits/versions/1/infer", .infer(model: "digits", version: "1")),
        ("POST", "/v2/repository/index", .repositoryIndex),
        ("POST", "/v2/repository/models/digits/load", .repositoryLoad(model: "digits")),
        ("POST", "/v2/repository/models/digits/unload", .repositoryUnload(model: "digits")),
        ("POST", "/v1/models/digits:predict", .predict(model: "digits", version: nil)),
        ("POST", "/v1/models/digits/versions/7:predict", .predict(model: "digits", version: "7")),
        ("GET", "/v1/models", .listModels),
        ("GET", "/v1/models/digits", .getModel(model: "digits")),
        ("GET", "/v2/models/my%20model/ready", .modelReady(model: "my model", version: nil)),
        ("GET", "/v2/health/live/", .serverLive),
        ("GET", "/metrics", .metrics),
    ] as [(String, String, RESTRoute)])
    func matches(_ method: String, _ path: String, _ route: RESTRoute) throws {
        #expect(try RESTRoute.match(method: method, path: path[...]) == route)
    }

    @Test(arguments: ["/", "/v3", "/v2/models", "/v2/models/digits/versions", "/v2/models/digits/explain",
                      "/v1/models/digits:explain/x", "/v2/health", "/metrics2", "/v2/models//ready"])
    func unknownPathsAre404(_ path: String) {
        #expect(throws: RESTRoute.Miss.self) { try RESTRoute.match(method: "GET", path: path[...]) }
        do {
            _ = try RESTRoute.match(method: "GET", path: path[...])
        } catch {
            #expect(error.status == 404)
        }
    }

    @Test func wrongMethodIs405WithTheAllowedOnes() {
        do {
            _ = try RESTRoute.match(method: "GET", path: "/v2/models/digits/infer")
            Issue.record("GET infer matched")
        } catch {
            #expect(error.status == 405)
            #expect(error.allowed == ["POST"])
        }
        do {
            _ = try RESTRoute.match(method: "POST", path: "/v2/health/ready")
            Issue.record("POST ready matched")
        } catch {
            #expect(error.status == 405)
            #expect(error.allowed == ["GET"])
        }
    }

    @Test(arguments: ["/v2/models/%zz/ready", "/v2/models/%4/ready", "/v2/models/%ff%fe/ready"])
    func badPercentEncodingIs400(_ path: String) {
        do {
            _ = try RESTRoute.match(method: "GET", path: path[...])
            Issue.record("\(path) matched")
        } catch {
            #expect(error.status == 400)
        }
    }
}
