// Sources/Server/RequestAnnotations+Server.swift: what an inference handler adds to its request's summary.

public import Transport
public import TensorwireProto

extension RequestAnnotations {
    /// The model, version, request id and batch facts of one inference request (`api`: native or kserve).
    public init(api: String, model: String, version: String, requestID: String, batch: TensorwireV1.BatchInfo?) {
        self.init()
        self.api = api
        self.model = model
        self.version = version
        self.requestID = requestID
        if let batch {
            batchSize = Int(batch.batchSize)
            queueMicroseconds = Int(clamping: batch.queueUs)
            computeMicroseconds = Int(clamping: batch.computeUs)
        }
    }
}
