package import Crypto
package import EventLoop

/// A connection's socket seen through a TLS session: `read` returns plaintext and `write` takes plaintext, with the
/// same `IOResult` contract as `Socket`, so `HTTP2Connection` and `HTTP1ServerConnection` run unchanged above it.
/// A connection without TLS has no channel and calls its socket directly (no extra copy, one nil check per call).
///
/// Ciphertext the socket did not take waits in `pending`; the owner keeps write interest while `hasPendingOutput`
/// and calls `flushPending` when writable. Created and touched only on the connection's loop thread (or, in the
/// REST client's blocking connection, by the one thread that holds it).
package final class TLSChannel {
    package let session: TLSServerSession
    package let socket: Socket
    /// Where ciphertext is read to (the loop's `cipherBuffer`, shared by its TLS connections: used only inside
    /// `read`).
    private let cipherBuffer: UnsafeMutableRawBufferPointer
    private var pending: [UInt8] = []
    private var pendingOffset = 0

    package init(session: TLSServerSession, socket: Socket, cipherBuffer: UnsafeMutableRawBufferPointer) {
        self.session = session
        self.socket = socket
        self.cipherBuffer = cipherBuffer
    }

    package var handshakeDone: Bool { session.handshakeDone }
    var applicationProtocol: TLSApplicationProtocol? { session.applicationProtocol }
    /// The verified client certificate's identity (mutual TLS), e.g. "CN=etl-job; SAN=URI:spiffe://acme/etl":
    /// built once, on the first request after the handshake, not per call.
    var peerIdentity: String? {
        if let cachedIdentity { return cachedIdentity }
        guard session.handshakeDone else { return nil }
        let identity = session.peerIdentity?.identity
        cachedIdentity = .some(identity)
        return identity
    }
    private var cachedIdentity: String?? = nil
    /// Ciphertext waits for the socket.
    package var hasPendingOutput: Bool { pendingOffset < pending.count }
    /// Plaintext (or ciphertext not yet decrypted) waits inside the session: epoll will not report it, so a reader
    /// that stops before `read` says `wouldBlock` must come back on its own.
    package var hasBufferedInput: Bool { session.hasBufferedInput }

    /// Fills `buffer` with plaintext, reading ciphertext from the socket as the session needs it and sending the
    /// handshake's replies. Returns `.transferred` with fewer bytes than asked only when the socket has no more for
    /// now; throws the session's `TLSError` (a failed handshake, a bad record) or the socket's error.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        var total = 0
        while total < buffer.count {
            let result: TLSReadResult
            do {
                result = try session.readPlaintext(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            } catch {
                // Best effort: the peer learns why (the alert OpenSSL queued: protocol_version, bad_certificate…)
                // before the owner closes the socket.
                try? sendSessionOutput()
                throw error
            }
            switch result {
            case .bytes(let n):
                total += n
            case .closed:
                try sendSessionOutput()
                return total > 0 ? .transferred(total) : .endOfFile
            case .needsCiphertext:
                try sendSessionOutput()
                switch try socket.read(into: cipherBuffer) {
                case .transferred(let n):
                    session.receiveCiphertext(UnsafeRawBufferPointer(rebasing: cipherBuffer[0..<n]))
                case .wouldBlock:
                    return total > 0 ? .transferred(total) : .wouldBlock
                case .endOfFile:
                    return total > 0 ? .transferred(total) : .endOfFile
                }
            }
        }
        return .transferred(total)
    }

    /// Encrypts all of `bytes` and writes what the socket takes, keeping the rest in `pending`. While earlier
    /// ciphertext still waits, takes nothing (`.wouldBlock`): the owner keeps its plaintext and waits for writable.
    package func write(_ bytes: UnsafeRawBufferPointer) throws -> IOResult {
        if hasPendingOutput, try !flushPending() { return .wouldBlock }
        try session.write(bytes)
        try sendSessionOutput()
        return .transferred(bytes.count)
    }

    /// Writes waiting ciphertext; true when none is left.
    @discardableResult
    package func flushPending() throws -> Bool {
        while pendingOffset < pending.count {
            let result = try pending.withUnsafeBytes { raw in
                try socket.write(UnsafeRawBufferPointer(rebasing: raw[pendingOffset...]))
            }
            switch result {
            case .transferred(let n): pendingOffset += n
            case .wouldBlock, .endOfFile: return false
            }
        }
        pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
        pendingOffset = 0
        return true
    }

    /// Moves what the session produced (handshake messages, records, alerts) to `pending` and tries the socket.
    private func sendSessionOutput() throws {
        guard session.hasCiphertext else { return }
        if pendingOffset == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingOffset = 0
        }
        session.drainCiphertext(into: &pending)
        try flushPending()
    }
}
