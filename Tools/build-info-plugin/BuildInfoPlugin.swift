// Tools/build-info-plugin/BuildInfoPlugin.swift: stamps the git commit into the BuildInfo module on every build.

internal import Foundation
internal import PackagePlugin

/// A build-tool plugin of the BuildInfo target: before every build (a plain `swift build` too) it runs
/// `Tools/build-info-plugin/stamp-commit` (POSIX sh and git), which writes `BuildCommit.swift` with the short commit
/// of the package's checkout (`-dirty` with uncommitted changes, `unknown` outside a git checkout) into the plugin's
/// work directory, rewriting it only when it changes so that an unchanged tree does not recompile. So
/// `--version` and `tensorwire_build_info` name the commit the binary was built from.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = context.package.directoryURL.appending(path: "Tools/build-info-plugin/stamp-commit")
        return [
            .prebuildCommand(
                displayName: "Stamping the git commit into BuildInfo",
                executable: URL(filePath: "/bin/sh"),
                arguments: [script.path(), context.package.directoryURL.path(), output.path()],
                outputFilesDirectory: output),
        ]
    }
}
