"""grpcio's own health and reflection clients against a running tensorwire-server (health-reflection.md).

Run by Tools/interop/grpcurl-health-reflection.sh; usable on its own:

    grpcio_peers.py check   --port P [--proto-dir Proto]   every grpcio check below; exit 1 on the first failure
    grpcio_peers.py symbols --port P                       every service, method, message and enum reachable from
                                                           the listed services, one per line (for grpcurl describe)
    grpcio_peers.py watch   --port P [--service S]         health Watch: prints each status as it arrives, then
                                                           "END <code>" when the stream ends

`check` covers:
  * grpc_health.v1 (grpcio-health-checking): Check of "" and of every listed service is SERVING, of an unknown name
    NOT_FOUND; Watch sends SERVING first, and SERVICE_UNKNOWN for an unknown name with the stream left open.
  * grpc_reflection (grpcio-reflection) ProtoReflectionDescriptorDatabase over v1alpha and over v1: the same
    service list; each service resolves on its own (a fresh database per service, so the server answers it);
    a descriptor pool built from the server alone gives message classes for every method, and a Predict made
    with those classes returns label and probabilities.
  * the listed services are exactly the served ones: every service declared under Proto/ is probed on the wire
    with a method name nobody defines; the router's answer ("unknown service" vs "unknown method") says whether
    it serves the service. Every method of a listed service is routed.
"""

import argparse
import pathlib
import re
import sys
import time

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

RPC_TIMEOUT = 30.0
CORE_SERVICES = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "tensorwire.v1.Inference",
}
# sklearn's digits.data[0], an 8x8 image of a zero (pixel values 0..16).
DIGIT_ZERO = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
              0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]


class Failure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


def ok(message):
    print(f"  ok: {message}", flush=True)


class ReflectionV1Stub:
    """The v1 stub grpcio-reflection 1.85 lacks (it ships only the v1alpha client). v1 and v1alpha are
    wire-identical (same messages and field numbers, health-reflection.md section 2), so the v1alpha message classes
    serve; only the :path differs."""

    def __init__(self, channel):
        self.ServerReflectionInfo = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )


def reflection_database(channel, version):
    database = ProtoReflectionDescriptorDatabase(channel)
    if version == "v1":
        # The database's only I/O is through this stub; swapping it points grpcio's client at the v1 service.
        database._stub = ReflectionV1Stub(channel)
    return database


def listed_services(channel, version):
    return reflection_database(channel, version).get_services()


def reachable_symbols(pool, services):
    """Services, their methods, and every message and enum reachable from them through method types, fields and
    nested declarations, in a stable order."""
    symbols = []
    seen = set()
    pending = []

    def add(name):
        if name not in seen:
            seen.add(name)
            symbols.append(name)
            return True
        return False

    for service_name in services:
        service = pool.FindServiceByName(service_name)
        add(service.full_name)
        for method in service.methods:
            add(method.full_name)
            pending += [method.input_type, method.output_type]
    while pending:
        message = pending.pop(0)
        if not add(message.full_name):
            continue
        for field in message.fields:
            if field.message_type is not None:
                pending.append(field.message_type)
            if field.enum_type is not None:
                add(field.enum_type.full_name)
        pending += list(message.nested_types)
        for enum in message.enum_types:
            add(enum.full_name)
    return symbols


def check_health(channel, services):
    stub = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in [""] + services:
        response = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=RPC_TIMEOUT)
        expect(response.status == serving, f"Check({name!r}) = {response.status}, want SERVING")
    ok(f"grpc_health Check of \"\" and of the {len(services)} listed services: SERVING")
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT)
        raise Failure("Check of an unknown service succeeded")
    except grpc.RpcError as error:
        expect(error.code() == grpc.StatusCode.NOT_FOUND, f"Check of an unknown service: {error.code()}")
    ok("grpc_health Check of an unknown service: NOT_FOUND")

    for name in ["", "tensorwire.v1.Inference"]:
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=name), timeout=RPC_TIMEOUT)
        first = next(stream)
        stream.cancel()
        expect(first.status == serving, f"Watch({name!r}) first message {first.status}, want SERVING")
    ok("grpc_health Watch of \"\" and tensorwire.v1.Inference: first message SERVING")

    stream = stub.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT)
    first = next(stream)
    expect(first.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN,
           f"Watch of an unknown service: {first.status}, want SERVICE_UNKNOWN")
    # A wrongly closed stream could only be missed here, never reported falsely.
    time.sleep(0.3)
    expect(stream.is_active(), "Watch of an unknown service ended; it must stay open")
    stream.cancel()
    ok("grpc_health Watch of an unknown service: SERVICE_UNKNOWN, stream stays open")


def check_reflection(channel):
    by_version = {version: listed_services(channel, version) for version in ("v1alpha", "v1")}
    expect(sorted(by_version["v1alpha"]) == sorted(by_version["v1"]),
           f"v1alpha lists {by_version['v1alpha']}, v1 lists {by_version['v1']}")
    services = by_version["v1"]
    expect(len(services) == len(set(services)), f"a service is listed twice: {services}")
    missing = CORE_SERVICES - set(services)
    expect(not missing, f"not listed: {sorted(missing)}")
    ok(f"grpc_reflection list_services over v1alpha and v1 agree: {', '.join(sorted(services))}")

    for version in ("v1alpha", "v1"):
        for service in services:
            file = reflection_database(channel, version).FindFileContainingSymbol(service)
            package = file.package + "." if file.package else ""
            expect(any(package + s.name == service for s in file.service),
                   f"{version}: file {file.name} returned for {service} does not define it")
        pool = descriptor_pool.DescriptorPool(reflection_database(channel, version))
        symbols = reachable_symbols(pool, services)
        classes = 0
        for service in services:
            for method in pool.FindServiceByName(service).methods:
                message_factory.GetMessageClass(method.input_type)
                message_factory.GetMessageClass(method.output_type)
                classes += 2
        ok(f"grpc_reflection {version}: every service resolves on a fresh database; the pool built from the server "
           f"alone reaches {len(symbols)} symbols and makes {classes} method message classes")
        predict_with_pool(channel, pool, version)
    return services


def predict_with_pool(channel, pool, version):
    request_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorwire.v1.PredictRequest"))
    response_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorwire.v1.PredictResponse"))
    request = json_format.ParseDict(
        {"model": "digits", "inputs": [{"name": "X", "shape": [1, 64], "floatData": DIGIT_ZERO}]}, request_class())
    predict = channel.unary_unary("/tensorwire.v1.Inference/Predict",
                                  request_serializer=request_class.SerializeToString,
                                  response_deserializer=response_class.FromString)
    response = predict(request, timeout=RPC_TIMEOUT)
    outputs = {tensor.name: tensor for tensor in response.outputs}
    expect(set(outputs) == {"label", "probabilities"}, f"outputs {sorted(outputs)}")
    expect(list(outputs["label"].int64_data) == [0], f"label {list(outputs['label'].int64_data)}, want [0]")
    probabilities = list(outputs["probabilities"].float_data)
    expect(len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-3, f"probabilities {probabilities}")
    ok(f"Predict with message classes from the {version} pool: label 0, 10 probabilities summing to 1")


def declared_services(proto_dir):
    services = set()
    for path in sorted(pathlib.Path(proto_dir).rglob("*.proto")):
        text = re.sub(r"//[^\n]*", "", path.read_text())
        package = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.MULTILINE)
        prefix = package.group(1) + "." if package else ""
        services |= {prefix + name for name in re.findall(r"^\s*service\s+(\w+)", text, re.MULTILINE)}
    return services


def probe(channel, path):
    """Calls `path` with one empty request message; returns None when the call was routed (any answer but the
    router's UNIMPLEMENTED), else the router's message."""
    call = channel.stream_stream(path)(iter([b""]), timeout=RPC_TIMEOUT)
    try:
        next(call, None)
        return None
    except grpc.RpcError as error:
        details = error.details() or ""
        if error.code() == grpc.StatusCode.UNIMPLEMENTED and details.startswith(("unknown service", "unknown method")):
            return details
        return None
    finally:
        call.cancel()


def check_served_exactly(channel, services, proto_dir):
    declared = declared_services(proto_dir)
    expect(set(services) <= declared, f"listed but not declared under {proto_dir}: {sorted(set(services) - declared)}")
    pool = descriptor_pool.DescriptorPool(reflection_database(channel, "v1alpha"))
    for service in sorted(declared):
        answer = probe(channel, f"/{service}/NoSuchMethodForProbing")
        routed = answer is not None and answer.startswith("unknown method")
        expect(routed == (service in services),
               f"{service}: {'served' if routed else 'not served'} ({answer}) but "
               f"{'listed' if service in services else 'not listed'}")
    for service in services:
        for method in pool.FindServiceByName(service).methods:
            answer = probe(channel, f"/{service}/{method.name}")
            expect(answer is None, f"/{service}/{method.name} is described but not routed: {answer}")
    ok(f"list equals the served services: {len(declared)} services declared under {proto_dir} probed on the wire, "
       f"every method of the {len(services)} listed ones is routed")


def command_check(arguments):
    with grpc.insecure_channel(f"127.0.0.1:{arguments.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=RPC_TIMEOUT)
        services = check_reflection(channel)
        check_health(channel, services)
        check_served_exactly(channel, services, arguments.proto_dir)


def command_symbols(arguments):
    with grpc.insecure_channel(f"127.0.0.1:{arguments.port}") as channel:
        services = listed_services(channel, "v1alpha")
        pool = descriptor_pool.DescriptorPool(reflection_database(channel, "v1alpha"))
        for symbol in reachable_symbols(pool, services):
            print(symbol)


def command_watch(arguments):
    with grpc.insecure_channel(f"127.0.0.1:{arguments.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            for response in stub.Watch(health_pb2.HealthCheckRequest(service=arguments.service)):
                print(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status), flush=True)
            print("END OK", flush=True)
        except grpc.RpcError as error:
            print(f"END {error.code().name}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check")
    check.add_argument("--port", type=int, required=True)
    check.add_argument("--proto-dir", default="Proto")
    check.set_defaults(run=command_check)
    symbols = commands.add_parser("symbols")
    symbols.add_argument("--port", type=int, required=True)
    symbols.set_defaults(run=command_symbols)
    watch = commands.add_parser("watch")
    watch.add_argument("--port", type=int, required=True)
    watch.add_argument("--service", default="")
    watch.set_defaults(run=command_watch)
    arguments = parser.parse_args()
    try:
        arguments.run(arguments)
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
