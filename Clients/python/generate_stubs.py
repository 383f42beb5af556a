#!/usr/bin/env python3
"""Writes the tensorwire.v1 protobuf and gRPC stubs of the Python package from Proto/ (grpcio-tools' protoc).

The stubs are committed so that `pip install ./Clients/python` needs neither protoc nor grpcio-tools; this script
is how they are made, and `--check` (run by Tools/check-fixtures) regenerates them into a temporary folder and fails
when the committed files differ, so they never go stale. Run from anywhere with the pinned grpcio-tools
(Tools/requirements.txt, in .venv):

    .venv/bin/python Clients/python/generate_stubs.py          # rewrite src/tensorwire/v1/inference_pb2*.py*
    .venv/bin/python Clients/python/generate_stubs.py --check  # exit 1 and show the difference when stale
"""
import argparse
import difflib
import os
import sys
import tempfile

from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "Proto"))
PACKAGE_V1 = os.path.join(HERE, "src", "tensorwire", "v1")
PROTO = "tensorwire/v1/inference.proto"
GENERATED = ["inference_pb2.py", "inference_pb2.pyi", "inference_pb2_grpc.py"]


def generate(out_dir):
    """Runs protoc on PROTO into out_dir; the files land in out_dir/tensorwire/v1."""
    args = ["protoc", f"-I{PROTO_ROOT}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", PROTO]
    if protoc.main(args) != 0:
        raise SystemExit("generate_stubs: protoc failed on " + PROTO)
    return os.path.join(out_dir, "tensorwire", "v1")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed stubs instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(tmp)
        stale = []
        for name in GENERATED:
            with open(os.path.join(fresh, name), encoding="utf-8") as f:
                new = f.read()
            path = os.path.join(PACKAGE_V1, name)
            old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
            if new == old:
                continue
            if args.check:
                stale.append(name)
                sys.stderr.writelines(list(difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), f"committed/{name}", f"regenerated/{name}"))[:40])
            else:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
                print("generate_stubs: wrote", os.path.relpath(path))
        if stale:
            print(f"generate_stubs: {', '.join(stale)} out of date with {PROTO}; run "
                  "`.venv/bin/python Clients/python/generate_stubs.py` and commit", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
