// Tests/TransportTests/TLSChannelTests.swift: the TLS channel over a socket pair whose send buffer is tiny, so the
// socket takes a little ciphertext at a time and the channel must keep the rest (the path loopback TCP, with its
// large buffers, never takes).

import Crypto
import EventLoop
import Glibc
import TestSupport
import Testing
import Transport

@Suite struct TLSChannelTests {
    static let certificates = Result { try TestCertificates.make() }

    /// A non-blocking AF_UNIX stream pair with small buffers.
    private func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var size: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return (fds[0], fds[1])
    }

    @Test func ciphertextTheSocketRefusesWaitsAndNewPlaintextIsHeldBack() throws {
        let certs = try Self.certificates.get()
        let (serverFD, clientFD) = try socketPair()
        defer {
            close(serverFD)
            close(clientFD)
        }
        let cipherBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { cipherBuffer.deallocate() }
        let server = try TLSServerContext(certificateFile: certs.serverCertificate, keyFile: certs.serverKey)
        let channel = TLSChannel(session: try server.makeSession(), socket: Socket(fd: serverFD), cipherBuffer: cipherBuffer)
        let client = try TLSClientContext(caFile: certs.caCertificate, alpn: [.http1]).makeSession(serverName: "localhost")
        try client.start()

        var received: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        var clientOut = client.drainCiphertext()
        /// Moves bytes both ways once: the client's ciphertext to the server socket, the server's to the client.
        func pumpClient() throws {
            while !clientOut.isEmpty {
                let n = clientOut.withUnsafeBytes { send(clientFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                clientOut.removeFirst(n)
            }
            while true {
                let n = scratch.withUnsafeMutableBytes { recv(clientFD, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                let result = client.feed(Array(scratch[0..<n]))
                #expect(result.error == nil)
                received += result.plaintext
            }
            clientOut += client.drainCiphertext()
        }

        // The handshake: the channel reads the ClientHello and answers through the small buffer.
        var plaintext = [UInt8](repeating: 0, count: 1024)
        for _ in 0..<200 where !channel.handshakeDone || !client.handshakeDone {
            try pumpClient()
            _ = try plaintext.withUnsafeMutableBytes { try channel.read(into: $0) }
            if channel.hasPendingOutput { try channel.flushPending() }
        }
        #expect(channel.handshakeDone && client.handshakeDone)

        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let first = try payload.withUnsafeBytes { try channel.write($0) }
        // All plaintext is taken (encrypted); most ciphertext waits in the channel.
        #expect(first == .transferred(payload.count))
        #expect(channel.hasPendingOutput)
        // While it waits, more plaintext is refused rather than piled up.
        #expect(try [UInt8]([1]).withUnsafeBytes { try channel.write($0) } == .wouldBlock)
        for _ in 0..<100_000 where received.count < payload.count {
            try pumpClient()
            try channel.flushPending()
        }
        #expect(!channel.hasPendingOutput)
        #expect(received == payload)
    }
}
