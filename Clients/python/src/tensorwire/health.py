"""grpc.health.v1 Check messages without grpcio-health-checking.

The two messages are built from a descriptor in a private pool: importing generated `grpc.health.v1` stubs would
register the same message names in protobuf's default pool, and a process that also imports
grpcio-health-checking (as many services do) would then fail with a duplicate-symbol error. On the wire they are
the messages of Proto/grpc/health/v1/health.proto; the status enum is read as its number.
"""
from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

CHECK = "/grpc.health.v1.Health/Check"
_STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _messages() -> Any:
    file = descriptor_pb2.FileDescriptorProto(name="tensorwire_client/health.proto", package="grpc.health.v1",
                                              syntax="proto3")
    field = descriptor_pb2.FieldDescriptorProto
    request = file.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    response = file.message_type.add(name="HealthCheckResponse")
    # An enum on the wire is a varint: int32 reads the same bytes and keeps unknown future states as numbers.
    response.field.add(name="status", number=1, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")))


_Request, _Response = _messages()


def request(service: str) -> Any:
    """A HealthCheckRequest for `service` ("" is the whole server)."""
    return _Request(service=service)


def serialize(message: Any) -> bytes:
    return message.SerializeToString()


def deserialize(data: bytes) -> Any:
    return _Response.FromString(data)


def status_name(response: Any) -> str:
    """The response's ServingStatus name ("SERVING", ...); an unknown number as "STATUS_<n>"."""
    return _STATUS_NAMES.get(response.status, f"STATUS_{response.status}")
