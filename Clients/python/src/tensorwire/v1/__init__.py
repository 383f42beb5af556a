"""Generated protobuf and gRPC stubs of `tensorwire.v1.Inference` (Proto/tensorwire/v1/inference.proto).

`inference_pb2` holds the messages; `inference_pb2_grpc` the raw grpcio stub. Both are written by
Clients/python/generate_stubs.py and never edited by hand; `tensorwire.Client` is the friendlier way in.
"""
