// TEMPORARY: replaced by TensorwireJSON's KServeHTTP when it lands (not to be committed).
internal import JSONWire
internal import RPCCore
internal import TensorwireProto

struct KServeHTTPError: Error { var message: String }

enum KServeHTTP {
    static func liveJSON(_ live: Bool) -> [UInt8] { Array("{\"live\":\(live)}".utf8) }
    static func readyJSON(_ ready: Bool) -> [UInt8] { Array("{\"ready\":\(ready)}".utf8) }
    static func serverMetadataJSON(_ m: KServe.ServerMetadataResponse) -> [UInt8] { Array("{\"name\":\"\(m.name)\",\"extensions\":[]}".utf8) }
    static func modelMetadataJSON(_ m: KServe.ModelMetadataResponse) -> [UInt8] { Array("{}".utf8) }
    static func modelConfigJSON(_ m: KServe.ModelConfigResponse) -> [UInt8] { Array("{}".utf8) }
    static func modelStatisticsJSON(_ m: KServe.ModelStatisticsResponse) -> [UInt8] { Array("{}".utf8) }
    static func decodeRepositoryIndexRequest(_ b: [UInt8]) throws(RPCErrorShim) -> KServe.RepositoryIndexRequest { KServe.RepositoryIndexRequest() }
    static func repositoryIndexJSON(_ m: KServe.RepositoryIndexResponse) -> [UInt8] { Array("[]".utf8) }
    static func decodeRepositoryParameters(_ b: [UInt8]) throws(KServeHTTPError) -> [KServe.RepositoryParameterEntry] { [] }
    static func decodeInferRequest(body: [UInt8], jsonLength: Int?, modelName: String, modelVersion: String) throws(KServeHTTPError) -> KServe.ModelInferRequest { throw KServeHTTPError(message: "not yet") }
    static func encodeInferResponse(_ r: KServe.ModelInferResponse, request: KServe.ModelInferRequest) -> (bytes: [UInt8], jsonLength: Int?) { ([], nil) }
    static func errorJSON(_ message: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject(); w.key("error"); w.string(message); w.endObject()
        return w.bytes
    }
}
typealias RPCErrorShim = RPCError
