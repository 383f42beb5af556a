"""Times Python's protobuf (upb backend) on the messages tensorwire-codec-bench wrote, for the side-by-side table.

Usage: codec_python.py DESCRIPTOR_SET MESSAGES_DIR
Prints the same tab-separated columns as the Swift benchmark.
"""
import glob
import os
import sys
import time

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal import api_implementation

ITERATIONS = {"small": 200_000, "large": 400}
REPEATS = 7


def measure(iterations, body):
    rates = []
    for repeat in range(REPEATS + 1):
        start = time.perf_counter()
        for _ in range(iterations):
            body()
        elapsed = time.perf_counter() - start
        if repeat > 0:
            rates.append(iterations / elapsed)
    return sorted(rates)


def main():
    descriptor_set, messages_dir = sys.argv[1], sys.argv[2]
    file_set = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set, "rb") as f:
        file_set.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in file_set.file:
        pool.Add(file_proto)
    request_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorwire.v1.PredictRequest"))
    print(f"# python protobuf backend: {api_implementation.Type()}", file=sys.stderr)
    for path in sorted(glob.glob(os.path.join(messages_dir, "*.bin"))):
        name = os.path.basename(path)[:-4]
        with open(path, "rb") as f:
            data = f.read()
        message = request_class()
        message.ParseFromString(data)
        iterations = ITERATIONS["small" if name.startswith("small") else "large"]
        encode = measure(iterations, message.SerializeToString)

        def decode():
            request_class().ParseFromString(data)

        decode_rates = measure(iterations, decode)
        for op, rates in (("encode", encode), ("decode", decode_rates)):
            median = rates[len(rates) // 2]
            print(f"{name}\t{op}\t{median:.0f}\t{median * len(data) / 1e9:.3f}\t{rates[0]:.0f}\t{rates[-1]:.0f}\t{len(data)}")


if __name__ == "__main__":
    main()
