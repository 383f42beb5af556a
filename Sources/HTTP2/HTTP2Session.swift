internal import CNGHTTP2
public import HTTPTypes

/// A sans-I/O HTTP/2 connection over libnghttp2, in the server or the client role: bytes in (`receive`), events out,
/// submissions queued, bytes out (`drainOutput`). It never touches a socket, a thread or a clock.
///
/// Threads: not `Sendable`. One thread (the connection's loop thread) creates it and makes every call.
///
/// Outgoing bodies go through a per-stream queue read by an nghttp2 data provider. When the queue is empty the
/// provider defers (`NGHTTP2_ERR_DEFERRED`); `sendData` and `finish` resume it. `finish(streamID:trailers:)` makes
/// the provider signal EOF with `NO_END_STREAM` and submit the trailers from inside the read callback, the only
/// point where they are guaranteed to follow the last DATA (nghttp2/nghttp2#269).
///
/// Inbound flow control is manual (`nghttp2_option_set_no_auto_window_update`): the peer stops once the windows
/// fill, until the application calls `consume(streamID:count:)` for the bytes it has taken. That is the backpressure.
///
/// Errors raised inside nghttp2 callbacks are stored and thrown after the C call returns; callbacks only collect
/// events or submit frames, and never re-enter `mem_recv`/`mem_send` (nghttp2/nghttp2#1088).
public final class HTTP2Session {
    public enum Role: Sendable, Hashable {
        case server
        case client
    }

    /// Connection settings (grpc-wire.md W-05, nghttp2.md §6).
    public struct Configuration: Sendable, Hashable {
        /// SETTINGS_MAX_CONCURRENT_STREAMS (server role).
        public var maxConcurrentStreams: UInt32 = 100
        /// SETTINGS_INITIAL_WINDOW_SIZE: per-stream receive window. Tensors are large, so ≥ 1 MiB.
        public var initialWindowSize: UInt32 = 1 << 20
        /// The connection receive window, raised with WINDOW_UPDATE at start (at least 65,535).
        public var connectionWindowSize: UInt32 = 16 << 20
        /// SETTINGS_MAX_HEADER_LIST_SIZE, and the cap enforced on inbound header blocks as Σ(name + value + 32):
        /// nghttp2 does not enforce it (W-19). A stream over the cap is reset with INTERNAL_ERROR.
        public var maxHeaderListSize: Int = 16384
        /// Rapid-reset guard (CVE-2023-44487, Debian backport): burst and refill rate per second of peer resets.
        public var streamResetBurst: UInt64 = 1000
        public var streamResetRate: UInt64 = 33
        /// CONTINUATION-flood guard (CVE-2024-28182, Debian backport).
        public var maxContinuations: Int = 8

        public init() {}
    }

    public let role: Role
    public let configuration: Configuration

    /// The nghttp2 session; deleted in `deinit`, so it never outlives `self` (its user_data).
    private let session: OpaquePointer
    // Dynamic exclusivity checks are off for the per-frame state below (`@exclusivity(unchecked)`): each check cost
    // ~80 instructions and the callbacks made ~25 per request (callgrind). Sound because one thread owns the session
    // (see above) and no access to these properties is ever held across a call that could reach another.
    @exclusivity(unchecked) private var streams = StreamMap<StreamState>()
    @exclusivity(unchecked) private var events: [HTTP2Event] = []
    /// An error raised inside a callback, thrown once the C call returns.
    @exclusivity(unchecked) private var pendingError: HTTP2Error?
    /// True while inside `mem_recv`/`mem_send`; guards against re-entry.
    @exclusivity(unchecked) private var insideNGHTTP2 = false
    /// The header block being received and its RFC 9113 §6.5.2 size. HTTP/2 never interleaves header blocks (a
    /// HEADERS and its CONTINUATIONs are contiguous, §4.3), so the session holds one at a time.
    @exclusivity(unchecked) private var headerBlockStreamID: Int32 = 0
    @exclusivity(unchecked) private var headerBlock: [HeaderField] = []
    @exclusivity(unchecked) private var headerBlockBytes = 0
    @exclusivity(unchecked) private var repeatedValues = RepeatedHeaderValues()
    /// Σ of every stream's `outbound.count` (`queuedOutboundBytes`).
    @exclusivity(unchecked) private var totalQueuedOutbound = 0

    /// Creates the session and queues the initial SETTINGS (and the connection WINDOW_UPDATE), so the first
    /// `drainOutput` starts with them (the client preface first in the client role; W-02).
    public init(role: Role, configuration: Configuration = Configuration()) throws {
        self.role = role
        self.configuration = configuration

        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw HTTP2Error(libraryCode: Int(NGHTTP2_ERR_NOMEM.rawValue), message: "nghttp2_session_callbacks_new")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkRecv)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)
        nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, onFrameNotSend)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            throw HTTP2Error(libraryCode: Int(NGHTTP2_ERR_NOMEM.rawValue), message: "nghttp2_option_new")
        }
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        // gRPC uses no priorities; retaining closed streams only costs memory (nghttp2 PR #811, envoy#471).
        nghttp2_option_set_no_closed_streams(option, 1)
        nghttp2_option_set_stream_reset_rate_limit(option, configuration.streamResetBurst, configuration.streamResetRate)
        nghttp2_option_set_max_continuations(option, configuration.maxContinuations)

        // `self` is not fully initialised yet, so the session is created with a placeholder user_data and pointed at
        // `self` below, before any callback can run (callbacks only run inside mem_recv/mem_send).
        var created: OpaquePointer?
        let rv: Int32
        switch role {
        case .server: rv = nghttp2_session_server_new2(&created, callbacks, nil, option)
        case .client: rv = nghttp2_session_client_new2(&created, callbacks, nil, option)
        }
        guard rv == 0, let created else {
            throw HTTP2Error(libraryCode: Int(rv), message: "nghttp2_session_new: \(Self.describe(rv))")
        }
        session = created
        nghttp2_session_set_user_data(session, Unmanaged.passUnretained(self).toOpaque())

        var settings: [nghttp2_settings_entry] = [
            Self.setting(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, configuration.initialWindowSize),
            Self.setting(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, UInt32(clamping: configuration.maxHeaderListSize)),
            Self.setting(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1),
        ]
        switch role {
        case .server: settings.append(Self.setting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, configuration.maxConcurrentStreams))
        case .client: settings.append(Self.setting(NGHTTP2_SETTINGS_ENABLE_PUSH, 0))
        }
        try check(nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), settings, settings.count), "submit_settings")
        if configuration.connectionWindowSize > 65535 {
            let window = Int32(clamping: configuration.connectionWindowSize)
            try check(nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, window), "set_local_window_size")
        }
    }

    deinit {
        nghttp2_session_del(session)
    }

    // MARK: Bytes in, bytes out

    /// Feeds bytes read from the peer and returns the events they produced, in wire order. Throws on a
    /// connection-fatal error (bad preface, flood, …); flush `drainOutput` once more, then close.
    public func receive(_ bytes: UnsafeRawBufferPointer) throws -> [HTTP2Event] {
        precondition(!insideNGHTTP2, "HTTP2Session.receive re-entered from an nghttp2 callback")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return takeEvents() }
        insideNGHTTP2 = true
        let rv = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        insideNGHTTP2 = false
        if let error = pendingError {
            pendingError = nil
            events.removeAll()
            throw error
        }
        if rv < 0 {
            events.removeAll()
            throw HTTP2Error(libraryCode: rv, message: Self.describe(Int32(truncatingIfNeeded: rv)))
        }
        return takeEvents()
    }

    public func receive(_ bytes: [UInt8]) throws -> [HTTP2Event] {
        try bytes.withUnsafeBytes { try receive($0) }
    }

    /// Appends everything nghttp2 has to send to `buffer` (one contiguous buffer: write it with one write/writev),
    /// stopping early once `buffer` holds at least `maxBytes`. After an early stop more output may be pending
    /// (`wantsWrite`): call again once the socket has taken the bytes, since no socket event will ask for it.
    /// Returns the events raised while sending: streams that closed because their last frame went out.
    public func drainOutput(into buffer: inout [UInt8], maxBytes: Int = .max) throws -> [HTTP2Event] {
        precondition(!insideNGHTTP2, "HTTP2Session.drainOutput re-entered from an nghttp2 callback")
        while buffer.count < maxBytes {
            var chunk: UnsafePointer<UInt8>?
            insideNGHTTP2 = true
            let n = nghttp2_session_mem_send(session, &chunk)
            insideNGHTTP2 = false
            if let error = pendingError {
                pendingError = nil
                throw error
            }
            if n < 0 { throw HTTP2Error(libraryCode: n, message: Self.describe(Int32(truncatingIfNeeded: n))) }
            guard n > 0, let chunk else { break }
            buffer.append(contentsOf: UnsafeBufferPointer(start: chunk, count: n))
        }
        return takeEvents()
    }

    /// False once the session has nothing more to read or write (after GOAWAY both ways, or a fatal error):
    /// flush the output, then close the connection.
    public var isActive: Bool {
        nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0
    }

    public var wantsWrite: Bool { nghttp2_session_want_write(session) != 0 }

    /// Streams this session tracks (opened and not yet closed).
    public var openStreamCount: Int { streams.count }

    /// Bytes queued by `sendData` on all streams and not yet taken into DATA frames: the per-connection figure that
    /// `queuedOutboundBytes(streamID:)` is per stream (issue 25, backpressure).
    public var queuedOutboundBytes: Int { totalQueuedOutbound }

    /// Frames nghttp2 refused to send (on_frame_not_send), e.g. a header block over its 64 KiB limit; each one's
    /// stream was reset with INTERNAL_ERROR instead of being left open (issue 25, point 5).
    public private(set) var framesNotSent = 0

    /// Bytes queued by `sendData` on a stream and not yet taken into a DATA frame; 0 for an unknown stream.
    /// Use it to stop a producer while a slow peer's windows are shut (W-82).
    public func queuedOutboundBytes(streamID: Int32) -> Int {
        streams[streamID]?.outbound.count ?? 0
    }

    // MARK: Submissions (queued; `drainOutput` sends them)

    /// Client: opens a stream with these request headers and returns its id. With `endStream`, the HEADERS frame
    /// ends the request; otherwise send the body with `sendData` and end it with `finish`.
    public func sendRequest(headers: [HeaderField], endStream: Bool = false) throws -> Int32 {
        precondition(role == .client, "sendRequest is for the client role")
        let stream = StreamState()
        var provider = Self.dataProvider
        let id = withHeaderBlock(headers) { nva, count in
            endStream
                ? nghttp2_submit_request(session, nil, nva, count, nil, nil)
                : nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
        try check(id, "submit_request")
        stream.hasProvider = !endStream
        streams[id] = stream
        return id
    }

    /// Server: the response HEADERS for a stream whose body follows (`sendData`, then `finish` with trailers).
    /// Returns false when the stream is already gone (reset by the peer: drop the response).
    @discardableResult
    public func sendResponseHeaders(streamID: Int32, headers: [HeaderField]) throws -> Bool {
        try sendResponseHeaders(streamID: streamID, .list(headers))
    }

    /// `sendResponseHeaders(streamID:headers:)` with a block laid out once for many streams.
    @discardableResult
    public func sendResponseHeaders(streamID: Int32, block: HTTP2HeaderBlock) throws -> Bool {
        try sendResponseHeaders(streamID: streamID, .block(block))
    }

    private func sendResponseHeaders(streamID: Int32, _ headers: HeaderSource) throws -> Bool {
        precondition(role == .server, "sendResponseHeaders is for the server role")
        guard let stream = streams[streamID] else { return false }
        guard !stream.hasProvider, !stream.responded else {
            throw HTTP2Error(libraryCode: 0, message: "response headers already sent on stream \(streamID)")
        }
        var provider = Self.dataProvider
        try check(
            headers.withNV { nva, count in nghttp2_submit_response(session, streamID, nva, count, &provider) },
            "submit_response"
        )
        // A laid-out block's bytes are read by nghttp2 until the HEADERS frame goes (NO_COPY): keep it with the stream.
        if case .block(let block) = headers { stream.responseBlock = block }
        stream.hasProvider = true
        stream.responded = true
        return true
    }

    /// Server: a single HEADERS frame with END_STREAM carrying the status (gRPC Trailers-Only, W-41; it must include
    /// `:status` and `content-type`). Returns false when the stream is already gone.
    @discardableResult
    public func sendTrailersOnly(streamID: Int32, headers: [HeaderField]) throws -> Bool {
        precondition(role == .server, "sendTrailersOnly is for the server role")
        guard let stream = streams[streamID] else { return false }
        guard !stream.responded else {
            throw HTTP2Error(libraryCode: 0, message: "response already started on stream \(streamID)")
        }
        try check(
            withHeaderBlock(headers) { nva, count in nghttp2_submit_response(session, streamID, nva, count, nil) },
            "submit_response"
        )
        stream.responded = true
        stream.ending = true
        return true
    }

    /// Queues body bytes on a stream whose headers were submitted with a body to follow, and resumes its deferred
    /// data provider. Returns false when the stream is already gone.
    @discardableResult
    public func sendData(streamID: Int32, _ bytes: [UInt8]) throws -> Bool {
        guard let stream = streams[streamID] else { return false }
        guard stream.hasProvider, !stream.ending else {
            throw HTTP2Error(libraryCode: 0, message: "stream \(streamID) has no open body to send on")
        }
        stream.outbound.append(bytes)
        totalQueuedOutbound += bytes.count
        resume(streamID, stream)
        return true
    }

    /// `sendData(streamID:_:)` with `leadingCount` (0...8) bytes of `leading`, most significant first, queued before
    /// `bytes` from the value: a gRPC message prefix without a framed copy of the message.
    @discardableResult
    public func sendData(streamID: Int32, leading: UInt64, leadingCount: Int, _ bytes: [UInt8]) throws -> Bool {
        guard let stream = streams[streamID] else { return false }
        guard stream.hasProvider, !stream.ending else {
            throw HTTP2Error(libraryCode: 0, message: "stream \(streamID) has no open body to send on")
        }
        stream.outbound.append(leading: leading, leadingCount: leadingCount, bytes)
        totalQueuedOutbound += leadingCount + bytes.count
        resume(streamID, stream)
        return true
    }

    /// Ends our side of the stream once the queued bytes are out: with `trailers` (server: `grpc-status` …, no
    /// pseudo-headers) as a final HEADERS frame with END_STREAM, or without them as END_STREAM on the last DATA
    /// (client half-close). Returns false when the stream is already gone.
    @discardableResult
    public func finish(streamID: Int32, trailers: [HeaderField]? = nil) throws -> Bool {
        try finish(streamID: streamID, trailers.map(HeaderSource.list))
    }

    /// `finish(streamID:trailers:)` with trailers laid out once for many streams.
    @discardableResult
    public func finish(streamID: Int32, trailerBlock: HTTP2HeaderBlock) throws -> Bool {
        try finish(streamID: streamID, .block(trailerBlock))
    }

    /// `finish(streamID:trailerBlock:)` with `numbers` after the block's fields: their values are written out as
    /// decimals only when nghttp2 takes the trailers, with no header field or string made for them.
    ///
    /// `enteringNames`: send every one of them indexable this once, so that the HPACK encoder's table holds each
    /// name; later never-indexed values of those names are then written with the name's index instead of the name
    /// spelt out (and Huffman-coded) every time. A connection does it on its first such response and again now and
    /// then, in case later entries evicted the names.
    @discardableResult
    public func finish(
        streamID: Int32, trailerBlock: HTTP2HeaderBlock, appending numbers: NumericHeaderFields, enteringNames: Bool = false
    ) throws -> Bool {
        try finish(streamID: streamID, .block(trailerBlock), numbers: numbers, enteringNames: enteringNames)
    }

    private func finish(
        streamID: Int32, _ trailers: HeaderSource?, numbers: NumericHeaderFields? = nil, enteringNames: Bool = false
    ) throws -> Bool {
        guard let stream = streams[streamID] else { return false }
        guard stream.hasProvider, !stream.ending else {
            throw HTTP2Error(libraryCode: 0, message: "stream \(streamID) has no open body to finish")
        }
        stream.ending = true
        stream.trailers = trailers
        if let numbers {
            stream.trailerNumbers = numbers
            stream.enteringNames = enteringNames
        }
        resume(streamID, stream)
        return true
    }

    /// RST_STREAM. Drops whatever is still queued for the stream (nghttp2 programmers' guide).
    public func resetStream(streamID: Int32, errorCode: HTTP2ErrorCode = .cancel) {
        // Fails only for stream id 0; a stream that is already closed is ignored by nghttp2.
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode.rawValue)
    }

    /// Tells the peer flow-control credit is back for `count` bytes of `.data` on the stream (also valid after the
    /// stream closed, for the connection window).
    public func consume(streamID: Int32, count: Int) {
        guard count > 0 else { return }
        // Fails only for arguments nghttp2 considers invalid (stream 0); the connection window is credited anyway.
        _ = nghttp2_session_consume(session, streamID, count)
    }

    /// Credits only the connection window for `count` bytes of `.data`: the stream's credit is withheld (its sender
    /// stops at the stream window) while other streams keep flowing. Release it later with `consumeStream`.
    public func consumeConnection(count: Int) {
        guard count > 0 else { return }
        _ = nghttp2_session_consume_connection(session, count)
    }

    /// Credits only the stream window for `count` bytes whose connection credit `consumeConnection` already
    /// returned. A stream that has closed meanwhile is ignored.
    public func consumeStream(streamID: Int32, count: Int) {
        guard count > 0 else { return }
        _ = nghttp2_session_consume_stream(session, streamID, count)
    }

    public func sendPing(opaqueData: UInt64 = 0) throws {
        var bytes = opaqueData.bigEndian
        try withUnsafeBytes(of: &bytes) { raw in
            try check(
                nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), raw.baseAddress?.assumingMemoryBound(to: UInt8.self)),
                "submit_ping"
            )
        }
    }

    /// Server: the first GOAWAY of a graceful shutdown (last-stream-id 2^31−1, W-60). Follow it with a PING and,
    /// on its ACK, `sendGoAway()`.
    public func sendShutdownNotice() throws {
        precondition(role == .server, "sendShutdownNotice is for the server role")
        try check(nghttp2_submit_shutdown_notice(session), "submit_shutdown_notice")
    }

    /// GOAWAY with `lastStreamID` (default: the last stream processed). Streams up to it may finish; the session stops
    /// accepting new ones.
    public func sendGoAway(errorCode: HTTP2ErrorCode = .noError, lastStreamID: Int32? = nil, debugData: [UInt8] = []) throws {
        let last = lastStreamID ?? nghttp2_session_get_last_proc_stream_id(session)
        try check(
            debugData.withUnsafeBufferPointer { debug in
                nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode.rawValue, debug.baseAddress, debug.count)
            },
            "submit_goaway"
        )
    }

    // MARK: Callbacks (called by the file-scope C functions below, inside mem_recv/mem_send)

    fileprivate func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let id = frame.pointee.hd.stream_id
        if streams[id] == nil { streams[id] = StreamState() }
        headerBlockStreamID = id
        headerBlock = []
        headerBlock.reserveCapacity(16)  // one allocation, not one per doubling
        headerBlockBytes = 0
        return 0
    }

    fileprivate func header(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Int32 {
        // beginHeaders opened the block (and the stream) just before.
        guard frame.pointee.hd.stream_id == headerBlockStreamID else { return 0 }
        // RFC 9113 §6.5.2 size: name + value + 32 per field. Over the cap, nghttp2 resets the stream with
        // INTERNAL_ERROR and skips the rest of the block (W-19).
        headerBlockBytes += name.count + value.count + 32
        if headerBlockBytes > configuration.maxHeaderListSize {
            headerBlock.removeAll()
            return Self.temporalCallbackFailure
        }
        headerBlock.append(HeaderField(HeaderStrings.name(name), repeatedValues.value(value)))
        return 0
    }

    fileprivate func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let hd = frame.pointee.hd
        let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            guard streams[hd.stream_id] != nil else { return 0 }
            let kind: HTTP2Event.HeadersKind
            switch frame.pointee.headers.cat {
            case NGHTTP2_HCAT_REQUEST: kind = .request
            case NGHTTP2_HCAT_RESPONSE: kind = .response
            default: kind = .trailers
            }
            let headers = hd.stream_id == headerBlockStreamID ? headerBlock : []
            headerBlock = []
            events.append(.headers(streamID: hd.stream_id, headers: headers, kind: kind, endStream: endStream))
        case NGHTTP2_DATA.rawValue where endStream:
            if case .data(let id, let bytes, false)? = events.last, id == hd.stream_id {
                events[events.count - 1] = .data(streamID: id, bytes: bytes, endStream: true)
            } else {
                events.append(.data(streamID: hd.stream_id, bytes: [], endStream: true))
            }
        case NGHTTP2_GOAWAY.rawValue:
            let goaway = frame.pointee.goaway
            let debug = goaway.opaque_data_len > 0 && goaway.opaque_data != nil
                ? Array(UnsafeBufferPointer(start: goaway.opaque_data, count: goaway.opaque_data_len)) : []
            events.append(.goAway(lastStreamID: goaway.last_stream_id, errorCode: HTTP2ErrorCode(rawValue: goaway.error_code), debugData: debug))
        case NGHTTP2_PING.rawValue:
            let opaque = withUnsafeBytes(of: frame.pointee.ping.opaque_data) { raw in
                raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            }
            events.append(.ping(opaqueData: opaque, ack: hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0))
        case NGHTTP2_SETTINGS.rawValue:
            let settings = frame.pointee.settings
            var values: [HTTP2Setting] = []
            if let iv = settings.iv {
                for entry in UnsafeBufferPointer(start: iv, count: settings.niv) {
                    values.append(HTTP2Setting(identifier: UInt16(truncatingIfNeeded: entry.settings_id), value: entry.value))
                }
            }
            events.append(.settings(ack: hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0, values: values))
        default:
            break
        }
        return 0
    }

    fileprivate func dataChunk(streamID: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        events.append(.data(streamID: streamID, bytes: Array(bytes), endStream: false))
        return 0
    }

    fileprivate func streamClosed(_ streamID: Int32, errorCode: UInt32) -> Int32 {
        if let stream = streams.removeValue(forKey: streamID) { totalQueuedOutbound -= stream.outbound.count }
        events.append(.streamClosed(streamID: streamID, errorCode: HTTP2ErrorCode(rawValue: errorCode)))
        return 0
    }

    fileprivate func frameSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let hd = frame.pointee.hd
        // W-52 (RFC 9113 §8.1): once the server's final HEADERS is out while the client is still sending, tell it to
        // stop with RST_STREAM(NO_ERROR). Submitting earlier would drop the queued HEADERS.
        if role == .server, UInt32(hd.type) == NGHTTP2_HEADERS.rawValue,
            hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
            nghttp2_session_get_stream_remote_close(session, hd.stream_id) == 0
        {
            _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), hd.stream_id, HTTP2ErrorCode.noError.rawValue)
        }
        return 0
    }

    /// nghttp2 dropped a frame it could not send (a header block over `max_send_header_block_length`, a stream
    /// closed meanwhile…). For response HEADERS or trailers the stream would otherwise stay open forever, its RPC
    /// never ending and holding one of the connection's stream slots: reset it with INTERNAL_ERROR, so the peer
    /// learns the call failed and `.streamClosed` reaches the application. Request HEADERS are closed by nghttp2
    /// itself (and the peer never saw the stream, so no RST_STREAM for them).
    fileprivate func frameNotSent(_ frame: UnsafePointer<nghttp2_frame>, libraryError: Int32) -> Int32 {
        let hd = frame.pointee.hd
        guard hd.stream_id > 0, UInt32(hd.type) == NGHTTP2_HEADERS.rawValue,
            frame.pointee.headers.cat != NGHTTP2_HCAT_REQUEST
        else { return 0 }
        framesNotSent += 1
        _ = nghttp2_submit_rst_stream(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), hd.stream_id, HTTP2ErrorCode.internalError.rawValue)
        return 0
    }

    /// The data provider: copies queued bytes, defers when there are none, and at the end sets EOF, with
    /// NO_END_STREAM plus `nghttp2_submit_trailer` when trailers follow.
    fileprivate func readData(streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[streamID] else { return Int(Self.temporalCallbackFailure) }
        let n = stream.outbound.read(into: buffer, capacity: length)
        totalQueuedOutbound -= n
        guard stream.outbound.isEmpty, stream.ending else {
            if n > 0 { return n }
            stream.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        if let trailers = stream.trailers {
            flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
            let rv = trailers.withNV { nva, count in
                guard let numbers = stream.trailerNumbers else { return nghttp2_submit_trailer(session, streamID, nva, count) }
                return withNumbers(nva, count, numbers, indexingAll: stream.enteringNames) { nva, count in
                    nghttp2_submit_trailer(session, streamID, nva, count)
                }
            }
            if rv != 0 {
                pendingError = HTTP2Error(libraryCode: Int(rv), message: "submit_trailer: \(Self.describe(rv))")
                return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
            }
        }
        return n
    }

    // MARK: Helpers

    private func resume(_ streamID: Int32, _ stream: StreamState) {
        guard stream.deferred else { return }
        stream.deferred = false
        // -501 when the stream is gone or not deferred: ignore it (nghttp2/nghttp2#399).
        _ = nghttp2_session_resume_data(session, streamID)
    }

    private func takeEvents() -> [HTTP2Event] {
        let taken = events
        // The next receive starts at the size of this one's events: one allocation, not one per doubling (a read
        // of 16 requests makes ~48 events).
        events = []
        events.reserveCapacity(min(taken.count, 1024))
        return taken
    }

    private func check(_ rv: Int32, _ operation: String) throws {
        if rv < 0 { throw HTTP2Error(libraryCode: Int(rv), message: "\(operation): \(Self.describe(rv))") }
    }

    /// Runs `body` on the session behind a callback's `user_data` without retaining it: nghttp2 calls back only from
    /// inside `receive`/`drainOutput`/`submit…`, which this session is running, so it is alive for the whole call.
    /// (`takeUnretainedValue()` made each of the ~17 callbacks of a unary RPC retain and release the session: two
    /// atomic operations each.)
    fileprivate static func with<R>(_ userData: UnsafeMutableRawPointer, _ body: (HTTP2Session) -> R) -> R {
        Unmanaged<HTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef(body)
    }

    private static func describe(_ code: Int32) -> String {
        guard let text = nghttp2_strerror(code) else { return "nghttp2 error \(code)" }
        return String(cString: text)
    }

    private static func setting(_ id: nghttp2_settings_id, _ value: UInt32) -> nghttp2_settings_entry {
        nghttp2_settings_entry(settings_id: Int32(id.rawValue), value: value)
    }

    private static let temporalCallbackFailure = NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue

    /// A data provider whose source is unused: the read callback finds the stream by id.
    private static var dataProvider: nghttp2_data_provider {
        nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readDataCallback)
    }
}

/// Per-stream state, owned by the session.
private final class StreamState {
    // Exclusivity checks off, as for the session's per-frame state: owned by the session's thread, and no access
    // is held across a call that could reach another.
    @exclusivity(unchecked) var outbound = OutboundQueue()
    /// A data provider is attached (request or response headers with a body to follow).
    @exclusivity(unchecked) var hasProvider = false
    /// Server: response headers (or Trailers-Only) submitted.
    @exclusivity(unchecked) var responded = false
    /// `finish` (or Trailers-Only) called: no more bytes will be queued.
    @exclusivity(unchecked) var ending = false
    /// The trailers, kept until the stream closes: a laid-out block's bytes are read by nghttp2 until the frame goes.
    @exclusivity(unchecked) var trailers: HeaderSource?
    /// The laid-out response HEADERS submitted, kept for the same reason.
    @exclusivity(unchecked) var responseBlock: HTTP2HeaderBlock?
    /// Fields with numeric values sent after `trailers` (kept apart, so that `HeaderSource` stays one reference).
    @exclusivity(unchecked) var trailerNumbers: NumericHeaderFields?
    /// Send `trailerNumbers` indexable this once (`finish(streamID:trailerBlock:appending:enteringNames:)`).
    @exclusivity(unchecked) var enteringNames = false
    /// The provider returned NGHTTP2_ERR_DEFERRED and awaits `nghttp2_session_resume_data`.
    @exclusivity(unchecked) var deferred = false
}

/// Lays out `headers` as an `nghttp2_nv` array over one byte buffer for the duration of `body`. nghttp2 copies names
/// and values (no NO_COPY flags), so the storage may be temporary: both live in scoped temporary allocations (on the
/// stack when small), not two heap arrays per header block.
private func withHeaderBlock<R>(_ headers: [HeaderField], _ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
    var byteCount = 1  // never empty, so the base address exists
    for header in headers { byteCount += header.name.utf8.count + header.value.utf8.count }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteCount) { storage -> R in
        withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: headers.count + 1) { nva -> R in
            guard let entries = nva.baseAddress, layOut(headers, storage: storage, entries: entries) else {
                return body(nil, 0)
            }
            return body(UnsafePointer(entries), headers.count)
        }
    }
}

/// Fills `entries` (room for `headers.count`) with `headers`, names and values copied into `storage` (room for all
/// their UTF-8 bytes). False only when `storage` has no base address.
private func layOut(
    _ headers: [HeaderField], storage: UnsafeMutableBufferPointer<UInt8>, entries: UnsafeMutablePointer<nghttp2_nv>
) -> Bool {
    guard let base = storage.baseAddress else { return false }
    var offset = 0
    for (index, header) in headers.enumerated() {
        let nameStart = offset
        offset = copyUTF8(header.name, into: storage, at: offset)
        let valueStart = offset
        offset = copyUTF8(header.value, into: storage, at: offset)
        (entries + index).initialize(
            to: nghttp2_nv(
                name: base + nameStart, value: base + valueStart, namelen: valueStart - nameStart,
                valuelen: offset - valueStart, flags: nvFlags(header)))
    }
    return true
}

/// nghttp2's flags for `header`: NO_INDEX (HPACK's never-indexed literal) for a value that changes every time.
private func nvFlags(_ header: HeaderField) -> UInt8 {
    UInt8(header.isIndexable ? NGHTTP2_NV_FLAG_NONE.rawValue : NGHTTP2_NV_FLAG_NO_INDEX.rawValue)
}

/// A header list laid out for nghttp2 once and submitted any number of times: for the response HEADERS and trailers
/// that every RPC on a connection repeats, which cost ~1K instructions per RPC to lay out again (callgrind). Its
/// entries carry nghttp2's NO_COPY flags (names lowercased here), so a submit copies neither names nor values: nghttp2
/// reads them until the frame is sent or dropped, and the session keeps the block alive for that long (in the
/// stream's state, until the stream closes). Immutable after init; used by its session's loop thread.
public final class HTTP2HeaderBlock {
    public let headers: [HeaderField]
    private let storage: UnsafeMutableBufferPointer<UInt8>
    private let entries: UnsafeMutableBufferPointer<nghttp2_nv>
    private let isLaidOut: Bool

    public init(_ headers: [HeaderField]) {
        self.headers = headers
        var byteCount = 1  // never empty, so the base address exists
        for header in headers { byteCount += header.name.utf8.count + header.value.utf8.count }
        storage = .allocate(capacity: byteCount)
        entries = .allocate(capacity: headers.count + 1)
        if let base = entries.baseAddress {
            isLaidOut = layOut(headers, storage: storage, entries: base)
        } else {
            isLaidOut = false
        }
        guard isLaidOut, let base = entries.baseAddress else { return }
        // nghttp2 lowercases the names it copies; with NO_COPY_NAME that is ours to do, once.
        let noCopy = UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue)
        for index in 0..<headers.count {
            let entry = base + index
            for offset in 0..<entry.pointee.namelen {
                let byte = entry.pointee.name[offset]
                if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { entry.pointee.name[offset] = byte | 0x20 }
            }
            entry.pointee.flags |= noCopy
        }
    }

    deinit {
        if isLaidOut, let base = entries.baseAddress { base.deinitialize(count: headers.count) }
        storage.deallocate()
        entries.deallocate()
    }

    fileprivate func withNV<R>(_ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
        guard isLaidOut, let base = entries.baseAddress else { return body(nil, 0) }
        return body(UnsafePointer(base), headers.count)
    }
}

/// Where a submission's header list comes from: laid out now, or laid out once before.
private enum HeaderSource {
    case list([HeaderField])
    case block(HTTP2HeaderBlock)

    func withNV<R>(_ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
        switch self {
        case .list(let headers): withHeaderBlock(headers, body)
        case .block(let block): block.withNV(body)
        }
    }
}

/// Runs `body` on `count` entries of `head` followed by `numbers`: their names pointed at in the names' fixed bytes
/// (NO_COPY: the stream's state holds the names until the stream closes), their values spelt as decimals in a scoped
/// temporary buffer that nghttp2 copies on submit; every one indexable when `indexingAll`.
private func withNumbers<R>(
    _ head: UnsafePointer<nghttp2_nv>?, _ count: Int, _ numbers: NumericHeaderFields, indexingAll: Bool,
    _ body: (UnsafePointer<nghttp2_nv>?, Int) -> R
) -> R {
    let names = numbers.names
    guard numbers.count > 0 else { return body(head, count) }
    let total = count + numbers.count
    let nameBase = names.fixedBytes
    return withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: total) { nva -> R in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: numbers.count * NumericHeaderFields.maxDigits) {
            digits -> R in
            guard let entries = nva.baseAddress, let digitBase = digits.baseAddress else { return body(nil, 0) }
            if let head, count > 0 { entries.initialize(from: head, count: count) }
            var offset = 0
            for index in 0..<numbers.count {
                let length = numbers.writeDecimal(at: index, to: digitBase + offset)
                let nameStart = names.offsets[index]
                // Lowercase already (`NumericHeaderNames.init`), as NO_COPY_NAME requires.
                let indexing = indexingAll || names.indexable[index] ? NGHTTP2_NV_FLAG_NONE : NGHTTP2_NV_FLAG_NO_INDEX
                let flags = indexing.rawValue | NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue
                (entries + count + index).initialize(
                    to: nghttp2_nv(
                        name: UnsafeMutablePointer(mutating: nameBase + nameStart), value: digitBase + offset,
                        namelen: names.offsets[index + 1] - nameStart, valuelen: length, flags: UInt8(flags)))
                offset += length
            }
            return body(UnsafePointer(entries), total)
        }
    }
}

/// Copies `text`'s UTF-8 into `storage` at `offset` (sized by the caller from the same strings); returns the end.
private func copyUTF8(_ text: String, into storage: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
    let (_, end) = UnsafeMutableBufferPointer(rebasing: storage[offset...]).initialize(from: text.utf8)
    return offset + end
}

// MARK: nghttp2 callbacks: file-scope functions, so no actor isolation reaches C; each recovers the session from
// user_data and forwards.

private let callbackFailure = NGHTTP2_ERR_CALLBACK_FAILURE.rawValue

private func onBeginHeaders(_: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let frame, let userData else { return callbackFailure }
    return HTTP2Session.with(userData) { $0.beginHeaders(frame) }
}

private func onHeader(
    _: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ name: UnsafePointer<UInt8>?, _ nameLength: Int,
    _ value: UnsafePointer<UInt8>?, _ valueLength: Int, _: UInt8, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    guard let frame, let userData else { return callbackFailure }
    return HTTP2Session.with(userData) {
        $0.header(
            frame, name: UnsafeBufferPointer(start: name, count: nameLength),
            value: UnsafeBufferPointer(start: value, count: valueLength))
    }
}

private func onFrameRecv(_: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let frame, let userData else { return callbackFailure }
    return HTTP2Session.with(userData) { $0.frameReceived(frame) }
}

private func onDataChunkRecv(
    _: OpaquePointer?, _: UInt8, _ streamID: Int32, _ data: UnsafePointer<UInt8>?, _ length: Int, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    guard let userData else { return callbackFailure }
    return HTTP2Session.with(userData) {
        $0.dataChunk(streamID: streamID, UnsafeBufferPointer(start: data, count: length))
    }
}

private func onStreamClose(_: OpaquePointer?, _ streamID: Int32, _ errorCode: UInt32, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let userData else { return callbackFailure }
    return HTTP2Session.with(userData) { $0.streamClosed(streamID, errorCode: errorCode) }
}

private func onFrameSend(_: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let frame, let userData else { return callbackFailure }
    return HTTP2Session.with(userData) { $0.frameSent(frame) }
}

private func onFrameNotSend(
    _: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ libraryError: Int32, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    guard let frame, let userData else { return callbackFailure }
    return HTTP2Session.with(userData) { $0.frameNotSent(frame, libraryError: libraryError) }
}

private func readDataCallback(
    _: OpaquePointer?, _ streamID: Int32, _ buffer: UnsafeMutablePointer<UInt8>?, _ length: Int,
    _ flags: UnsafeMutablePointer<UInt32>?, _: UnsafeMutablePointer<nghttp2_data_source>?, _ userData: UnsafeMutableRawPointer?
) -> Int {
    guard let buffer, let flags, let userData else { return Int(callbackFailure) }
    return HTTP2Session.with(userData) {
        $0.readData(streamID: streamID, into: buffer, length: length, flags: flags)
    }
}
