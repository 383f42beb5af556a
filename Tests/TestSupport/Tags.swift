// Tests/TestSupport/Tags.swift: the tags every test target shares.

package import Testing

extension Tag {
    /// A suite that starts real threads, sockets, a server or a process (loopback servers, batcher instance threads,
    /// event loops, protoc). Such a suite carries this tag and its name ends in `LiveTests`: `swift test --skip` and
    /// `--filter` match test ids, not tags, in this toolchain, so the quick loop is `swift test --skip LiveTests`
    /// (docs/testing.md).
    @Tag package static var live: Self
}
