// Tests/ServerTests/ServiceNotifyTests.swift: systemd's notify protocol: settings from the environment, the
// datagrams, socket addresses, and a real datagram socket receiving them (issue 21).

import Foundation
import Glibc
import Testing
import TestSupport
@testable import Server

@Suite struct ServiceNotifyTests {
    @Test func settingsComeFromNotifySocketAndHalfTheWatchdogInterval() throws {
        #expect(ServiceNotifySettings(environment: [:], pid: 7) == nil)
        let plain = try #require(ServiceNotifySettings(environment: ["NOTIFY_SOCKET": "/run/n"], pid: 7))
        #expect(plain.socket == "/run/n" && plain.watchdogInterval == nil)
        let watched = ServiceNotifySettings(environment: ["NOTIFY_SOCKET": "@n", "WATCHDOG_USEC": "3000000"], pid: 7)
        #expect(watched?.watchdogInterval == .milliseconds(1500))
        let ours = ServiceNotifySettings(
            environment: ["NOTIFY_SOCKET": "@n", "WATCHDOG_USEC": "2000", "WATCHDOG_PID": "7"], pid: 7)
        #expect(ours?.watchdogInterval == .microseconds(1000))
        let other = ServiceNotifySettings(
            environment: ["NOTIFY_SOCKET": "@n", "WATCHDOG_USEC": "2000", "WATCHDOG_PID": "8"], pid: 7)
        #expect(other?.watchdogInterval == nil, "the watchdog is meant for another process")
        #expect(ServiceNotifySettings(environment: ["NOTIFY_SOCKET": "@n", "WATCHDOG_USEC": "x"], pid: 7)?
            .watchdogInterval == nil)
    }

    @Test func messagesAreNewlineSeparatedAssignments() {
        #expect(ServiceNotifyMessage.ready(status: "serving 2 models", pid: 42)
            == "READY=1\nSTATUS=serving 2 models\nMAINPID=42\n")
        #expect(ServiceNotifyMessage.stopping(status: "draining\nnow") == "STOPPING=1\nSTATUS=draining now\n")
        #expect(ServiceNotifyMessage.watchdog == "WATCHDOG=1\n")
    }

    @Test func addressesArePathsWithATerminatorOrAbstractNamesWithALeadingNul() throws {
        let header = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        let path = try #require(ServiceNotifyMessage.address("/run/notify"))
        #expect(path.path == Array("/run/notify".utf8) + [0] && path.length == header + 12)
        let abstract = try #require(ServiceNotifyMessage.address("@tw"))
        #expect(abstract.path == [0] + Array("tw".utf8) && abstract.length == header + 3)
        #expect(ServiceNotifyMessage.address("relative") == nil)
        #expect(ServiceNotifyMessage.address("vsock:2:1234") == nil)
        #expect(ServiceNotifyMessage.address("@") == nil)
        #expect(ServiceNotifyMessage.address("/" + String(repeating: "x", count: 200)) == nil)
    }
}

@Suite(.tags(.live)) struct ServiceNotifyLiveTests {
    /// A datagram socket bound at `path`; returns its descriptor.
    func listen(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func receive(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    @Test func readyStoppingAndWatchdogDatagramsReachAPathSocket() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let fd = try listen(at: path)
        defer {
            close(fd)
            unlink(path)
        }
        let settings = ServiceNotifySettings(socket: path, watchdogInterval: .milliseconds(5))
        let notifier = try #require(ServiceNotifier(settings: settings))
        notifier.ready(status: "serving")
        #expect(receive(fd) == "READY=1\nSTATUS=serving\nMAINPID=\(getpid())\n")
        notifier.startWatchdog()
        var watchdogs = 0
        while watchdogs < 3, let message = receive(fd) {
            if message == "WATCHDOG=1\n" { watchdogs += 1 }
        }
        #expect(watchdogs == 3)
        notifier.close()
        #expect(!notifier.send("STOPPING=1\n"), "nothing is sent once closed")
    }
}
