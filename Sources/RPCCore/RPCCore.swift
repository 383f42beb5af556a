/// gRPC semantics without I/O: status codes, metadata, framing and the stream state machine live here.
public enum RPCCore {}
