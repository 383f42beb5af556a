// Sources/BuildInfo/BuildInfo.swift: the version and commit `--version` prints.

/// What this binary is: the release version (kept here) and the git commit it was built from (stamped before every
/// build, a plain `swift build` included, by the BuildInfoPlugin build-tool plugin: Tools/build-info-plugin).
public enum BuildInfo {
    /// The release version of the server, the CLI and the client library.
    public static let version = "0.4.0"

    /// The short commit hash, with `-dirty` when the tree had uncommitted changes; `unknown` when not stamped.
    public static var commit: String { buildCommit }

    /// `NAME VERSION (commit COMMIT)`, the `--version` line.
    public static func versionLine(program: String) -> String {
        "\(program) \(version) (commit \(commit))"
    }
}
