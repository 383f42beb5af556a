// Tests/ServerTests/LogOptionsTests.swift: `--log-format` and `--access-log` (issue 18 §2).

import Logging
@testable import Server
import Testing

@Suite struct LogOptionsTests {
    static func parsed(_ arguments: [String]) throws -> ServerOptions? {
        guard case .run(let options) = try ServerOptions.parse(arguments) else { return nil }
        return options
    }

    @Test func logFormatAndAccessLogParse() throws {
        let defaults = try #require(try Self.parsed([]))
        #expect(defaults.logFormat == .text && !defaults.accessLog)
        let json = try #require(try Self.parsed(["--log-format", "json", "--access-log", "--log-level", "error"]))
        #expect(json.logFormat == .json && json.accessLog && json.logLevel == .error)
        #expect(try Self.parsed(["--log-format=text"])?.logFormat == .text)
    }

    @Test func unknownFormatsAreUsageErrors() {
        #expect(throws: ServerOptions.UsageError(description: "--log-format: \"xml\" is not one of text, json")) {
            try ServerOptions.parse(["--log-format", "xml"])
        }
        #expect(throws: ServerOptions.UsageError(description: "--log-format needs a value")) {
            try ServerOptions.parse(["--log-format"])
        }
    }

    @Test func usageNamesBothFlags() {
        #expect(ServerOptions.usage.contains("--log-format FORMAT"))
        #expect(ServerOptions.usage.contains("--access-log"))
    }
}
