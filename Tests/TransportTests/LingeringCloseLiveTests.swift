import Dispatch
import Glibc
import Testing
import Transport
import TestSupport

/// The end of a drained connection: the server's last frames must reach a peer that keeps sending (a proxy's
/// WINDOW_UPDATEs, PINGs, a request that crossed the GOAWAY). Closing a socket with unread input makes the kernel
/// send a reset, and a peer that gets it before reading our final frames loses them (HAProxy then cut responses
/// the server had completed). The server sends FIN and reads until the peer's FIN instead (`lingerThenClose`).
@Suite(.serialized, .tags(.live))
struct LingeringCloseLiveTests {
    @Test func aPeerThatKeepsSendingThroughTheDrainReadsEveryFrameThenAnOrderlyEnd() throws {
        let server = try makeServer()
        let fd = try connectLoopback(port: server.port)
        // The client preface and an empty SETTINGS frame.
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
        _ = preface.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The connection is accepted and the session up (the server's SETTINGS came) before the drain begins: one
        // still in the listener's backlog is reset when the listener closes, which is another matter.
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        #expect(waitUntil(seconds: 10) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += buffer[0..<n] }
            return received.count >= 9 && server.activeConnections == 1
        })
        let stopped = Promise<Void>()
        DispatchQueue.global().async {
            server.shutdown(drainSeconds: 0.5)
            stopped.fulfill(())
        }
        // Keep sending PINGs (never ACKing the server's) and read until the server's side ends: an orderly end
        // (recv 0, the FIN) after every frame, never a reset.
        var ending = "none within 10 s"
        let giveUp = DispatchTime.now() + .seconds(10)
        var opaque: UInt8 = 0
        while DispatchTime.now() < giveUp {
            opaque &+= 1
            let ping: [UInt8] = [0, 0, 8, 6, 0, 0, 0, 0, 0, opaque, 0, 0, 0, 0, 0, 0, 0]
            let sent = ping.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                ending = "send failed with errno \(errno)"
                break
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received += buffer[0..<n]
            } else if n == 0 {
                ending = "orderly"
                break
            } else if errno != EAGAIN && errno != EWOULDBLOCK {
                ending = "recv failed with errno \(errno)"
                break
            }
        }
        #expect(ending == "orderly")
        // The frames before the end include the final GOAWAY (type 7), whole.
        var offset = 0
        var goAways = 0
        while offset + 9 <= received.count {
            let length = Int(received[offset]) << 16 | Int(received[offset + 1]) << 8 | Int(received[offset + 2])
            if received[offset + 3] == 7 { goAways += 1 }
            offset += 9 + length
        }
        #expect(offset == received.count)
        #expect(goAways >= 1)
        close(fd)
        #expect(stopped.wait(seconds: 10) != nil)
    }
}
