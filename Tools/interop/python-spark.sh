#!/usr/bin/env bash
# The Python package and Spark (issue 24): `pip install` of Clients/python from a clean copy (no network: the stubs
# are committed, setuptools comes from .venv), then its pytest suite against live debug servers, with the installed
# copy on the path:
#  - test_units.py      the tensor codec and the retry schedule (no server)
#  - test_client.py     Client and AsyncClient: every call, errors, retries (a dead address, a dropped stream), TLS,
#                       mutual TLS, API keys
#  - test_spark.py      tensorwire.spark.predict on local[2]: 200k rows equal onnxruntime in order, a connection cut
#                       mid-partition, several servers, vector columns; every method (mapInArrow, the Arrow UDF,
#                       mapInPandas, the pandas UDF), the Arrow ones equal to the pandas ones
#  - test_sparkml.py    Spark ML pipelines exported with onnxmltools: prediction equals Spark's transform
#  - test_example.py    Clients/python/examples/spark_pipeline.py end to end
# One SparkSession serves every Spark case (JVM start-up is the slow part). Run from the repository root after the
# debug build and `Tools/setup --python` (which installs Java and pyspark).
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$work"' EXIT

echo "== python: pip install ./Clients/python (from a clean copy, offline)"
mkdir -p "$work/src"
tar -C Clients/python --exclude build --exclude '*.egg-info' --exclude __pycache__ -cf - . | tar -C "$work/src" -xf -
started=$SECONDS
"$VENV_BIN/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation --no-index \
    --target "$work/site" "$work/src" > "$work/pip.log" 2>&1 || { cat "$work/pip.log"; exit 1; }
PYTHONPATH="$work/site" "$PYTHON" -c 'import os, sys, tensorwire
here = os.path.dirname(tensorwire.__file__)
missing = [f for f in ("py.typed", "v1/inference_pb2.py", "v1/inference_pb2.pyi") if not os.path.exists(os.path.join(here, f))]
sys.exit(f"installed package lacks {missing}" if missing else 0)' || exit 1
echo "  ok   installed in $((SECONDS - started)) s with py.typed and the tensorwire.v1 stubs"

echo "== python: pytest Clients/python/tests (installed package, live servers, Spark local[2])"
export TENSORWIRE_SERVER_BIN=$SERVER_BIN TENSORWIRE_CLI_BIN=${CLI_BIN:-.build/debug/tensorwire}
case $PYTHON in /*) export PYSPARK_PYTHON=$PYTHON ;; *) export PYSPARK_PYTHON=$PWD/$PYTHON ;; esac
PYTHONPATH="$work/site" "$PYTHON" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
    --durations=5 Clients/python/tests
