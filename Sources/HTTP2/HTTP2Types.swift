public import HTTPTypes

/// One SETTINGS parameter as received.
public struct HTTP2Setting: Sendable, Hashable {
    public var identifier: UInt16
    public var value: UInt32

    public init(identifier: UInt16, value: UInt32) {
        self.identifier = identifier
        self.value = value
    }

    public static let maxConcurrentStreams: UInt16 = 0x3
    public static let initialWindowSize: UInt16 = 0x4
    public static let maxFrameSize: UInt16 = 0x5
    public static let maxHeaderListSize: UInt16 = 0x6
}

/// What a session reports after `receive` (and, for stream closures, after `drainOutput`).
public enum HTTP2Event: Sendable, Hashable {
    /// Which header block a `.headers` event is.
    public enum HeadersKind: Sendable, Hashable {
        /// The request headers that open a stream (server role).
        case request
        /// The response headers (client role); with `endStream` this is a gRPC Trailers-Only response.
        case response
        /// A later header block: response trailers (client role) or request trailers (server role, W-38).
        case trailers
    }

    /// A complete header block (HEADERS plus any CONTINUATION), pseudo-headers first, in wire order.
    case headers(streamID: Int32, headers: [HeaderField], kind: HeadersKind, endStream: Bool)
    /// Body bytes, copied out of nghttp2's buffer. One DATA frame may arrive as several events; `endStream` is set on
    /// the last (an empty event when the END_STREAM frame carried no new bytes). With manual flow control every byte
    /// must be handed back through `consume(streamID:count:)`, whether or not the stream is still of interest.
    case data(streamID: Int32, bytes: [UInt8], endStream: Bool)
    /// The stream is gone (both sides done, reset by either side, or refused). Also reported for streams the
    /// application never saw, e.g. one nghttp2 or the header-size cap rejected before its headers completed.
    case streamClosed(streamID: Int32, errorCode: HTTP2ErrorCode)
    /// The peer sent GOAWAY: streams above `lastStreamID` will not be processed.
    case goAway(lastStreamID: Int32, errorCode: HTTP2ErrorCode, debugData: [UInt8])
    /// A PING (nghttp2 has already queued the ACK) or the ACK of ours.
    case ping(opaqueData: UInt64, ack: Bool)
    /// The peer's SETTINGS (already applied and ACKed by nghttp2), or the ACK of ours.
    case settings(ack: Bool, values: [HTTP2Setting])
}

/// A failure of the session. `libraryCode` is nghttp2's negative error code (e.g. -903 bad client preface, -904
/// flooded), or 0 for a misuse of this API. After an error from `receive` the connection should be closed (flush
/// first: nghttp2 may have queued a GOAWAY).
public struct HTTP2Error: Error, Sendable, Hashable, CustomStringConvertible {
    public let libraryCode: Int
    public let message: String

    public init(libraryCode: Int, message: String) {
        self.libraryCode = libraryCode
        self.message = message
    }

    /// The peer did not start with the HTTP/2 client preface (e.g. an HTTP/1.1 request, W-04).
    public var isBadClientPreface: Bool { libraryCode == -903 }

    public var description: String {
        libraryCode == 0 ? "HTTP2Error: \(message)" : "HTTP2Error(\(libraryCode)): \(message)"
    }
}
