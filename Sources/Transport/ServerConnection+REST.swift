// Sources/Transport/ServerConnection+REST.swift: REST requests on HTTP/2 streams (h2c with prior knowledge).

internal import EventLoop
internal import HTTP2
internal import HTTPTypes
internal import RPCCore
internal import Synchronization

/// One REST request on an HTTP/2 stream: a stream whose `content-type` is not `application/grpc…`, on a server
/// with an `HTTPRequestHandler`. It collects the body (bounded by `maxReceiveMessageBytes` and the buffered-bytes
/// budgets), hands the complete request to the handler, and sends its answer as HEADERS + DATA with END_STREAM.
/// Owned by its `ServerConnection`; loop thread only.
final class RESTStream {
    let id: Int32
    let method: String
    let target: String
    let headers: [HeaderField]
    var body: [UInt8] = []
    /// Set once the request went to the handler.
    var responder: HTTPResponder?
    /// Answered before the request was complete (body too large, budget full): later DATA is dropped.
    var answeredEarly = false
    /// Body bytes charged to the connection's and the server's buffered-bytes budgets.
    var chargedBytes = 0

    init(id: Int32, method: String, target: String, headers: [HeaderField]) {
        self.id = id
        self.method = method
        self.target = target
        self.headers = headers
    }
}

extension ServerConnection {
    /// A request stream is REST when the server has a REST handler, its `content-type` is not gRPC's (absent
    /// counts as not gRPC: `curl --http2-prior-knowledge` sends none on a GET) and its path is not a gRPC method of
    /// the router (a gRPC method with a wrong content-type still gets gRPC's 415, W-14).
    func isRESTRequest(_ headers: [HeaderField]) -> Bool {
        guard server.httpHandler != nil else { return false }
        var path = ""
        // Dispatched on the name's length first, as `RPCStreamStateMachine.receiveRequestHead` does: two string
        // compares per field cost every gRPC request ~350 instructions (callgrind).
        for field in headers {
            switch field.name.utf8.count {
            case 5:
                if field.name == ":path" { path = field.value }
            case 12:
                if field.name == "content-type", field.value.hasPrefix("application/grpc") { return false }
            default:
                break
            }
        }
        if case .success = server.router.lookup(path: path) { return false }
        return true
    }

    func openRESTStream(id: Int32, headers: [HeaderField], endStream: Bool) {
        var method = ""
        var path = ""
        var fields: [HeaderField] = []
        fields.reserveCapacity(headers.count)
        for field in headers {
            switch field.name {
            case ":method": method = field.value
            case ":path": path = field.value
            case ":authority": fields.append(HeaderField("host", field.value))
            case _ where field.name.hasPrefix(":"): break
            default: fields.append(field)
            }
        }
        let stream = RESTStream(id: id, method: method, target: path, headers: fields)
        restStreams[id] = stream
        apply(management.streamOpened())
        if method.isEmpty || !path.hasPrefix("/") {
            // nghttp2 checks the pseudo-headers of a request; a CONNECT or an asterisk form would land here.
            answerEarly(stream, transportErrorResponse(status: 400, message: "the request has no :method or no path"))
            return
        }
        if endStream { dispatchREST(stream) }
    }

    /// DATA (or the END_STREAM of trailers) on a REST stream; the caller has returned the flow-control credit.
    func receiveRESTData(_ stream: RESTStream, _ bytes: [UInt8], endStream: Bool) {
        guard !stream.answeredEarly, stream.responder == nil else { return }
        if !bytes.isEmpty {
            let limit = server.configuration.maxReceiveMessageBytes
            guard stream.body.count + bytes.count <= limit else {
                answerEarly(stream, transportErrorResponse(
                    status: 413, message: "the request body is larger than --max-receive-message-bytes (\(limit))"))
                return
            }
            stream.body.append(contentsOf: bytes)
            chargeREST(stream, bytes.count)
            let configuration = server.configuration
            let total = server.bufferedRequestBytes.load(ordering: .relaxed)
            if total > configuration.maxBufferedRequestBytes
                || (bufferedRequestBytes > configuration.maxBufferedRequestBytesPerConnection && bufferingStreams > 1)
            {
                server.bufferBudgetRefusals.wrappingAdd(1, ordering: .relaxed)
                answerEarly(stream, transportErrorResponse(
                    status: 503, message: "too many bytes of unfinished requests buffered; retry later"))
                return
            }
        }
        if endStream { dispatchREST(stream) }
    }

    private func chargeREST(_ stream: RESTStream, _ count: Int) {
        if stream.chargedBytes == 0 { bufferingStreams += 1 }
        stream.chargedBytes += count
        bufferedRequestBytes += count
        server.bufferedRequestBytes.wrappingAdd(count, ordering: .relaxed)
    }

    /// The stream's body leaves the budgets (it went to the handler, or the stream is gone).
    func releaseREST(_ stream: RESTStream) {
        guard stream.chargedBytes > 0 else { return }
        bufferingStreams -= 1
        bufferedRequestBytes -= stream.chargedBytes
        server.bufferedRequestBytes.wrappingSubtract(stream.chargedBytes, ordering: .relaxed)
        stream.chargedBytes = 0
    }

    private func answerEarly(_ stream: RESTStream, _ response: HTTPResponse) {
        stream.answeredEarly = true
        server.configuration.onRequestEnd?(.refusedHTTP(
            peer: peer, route: stream.method + " " + String(stream.target.prefix(256)), httpStatus: response.status))
        releaseREST(stream)
        stream.body = []
        sendRESTResponse(streamID: stream.id, method: stream.method, response)
    }

    private func dispatchREST(_ stream: RESTStream) {
        guard let handler = server.httpHandler else { return }
        let request = HTTPRequest(
            method: stream.method, target: stream.target, headers: stream.headers, body: stream.body, version: .http2,
            peer: peer, peerIdentity: tls?.peerIdentity)
        releaseREST(stream)
        stream.body = []
        let responder = HTTPResponder(
            context: boundContext, connectionID: id, target: .http2(streamID: stream.id), request: request,
            report: server.configuration.onRequestEnd, counts: server)
        stream.responder = responder
        handler.handle(request, responder)
    }

    /// From `HTTPResponder` (loop thread).
    func respondREST(streamID: Int32, _ response: HTTPResponse) {
        guard let stream = restStreams[streamID], !stream.answeredEarly else { return }
        stream.answeredEarly = true
        sendRESTResponse(streamID: streamID, method: stream.method, response)
    }

    private func sendRESTResponse(streamID: Int32, method: String, _ response: HTTPResponse) {
        var headers: [HeaderField] = [HeaderField(":status", String(response.status))]
        headers.reserveCapacity(response.headers.count + 2)
        for field in response.headers { headers.append(HeaderField(field.name.lowercased(), field.value)) }
        headers.append(HeaderField("content-length", String(response.body.count)))
        do {
            if response.body.isEmpty || method == "HEAD" {
                try session.sendTrailersOnly(streamID: streamID, headers: headers)
            } else {
                try session.sendResponseHeaders(streamID: streamID, headers: headers)
                try session.sendData(streamID: streamID, response.body)
                try session.finish(streamID: streamID)
            }
        } catch {
            session.resetStream(streamID: streamID, errorCode: .internalError)
        }
        management.framesSent()
        markDirty()
    }

    /// The REST stream `id` closed (answered, or reset by the client).
    func closeRESTStream(_ stream: RESTStream) {
        releaseREST(stream)
        stream.responder?.markCancelled()
    }
}
