#!/usr/bin/env bash
# KServe v2 / Open Inference Protocol with unmodified Triton clients (issue 7):
#  1. tritonclient (gRPC) against the built-in `digits` model and against a model repository made here from
#     committed fixtures: health, metadata, config, unary / async / streamed inference compared with onnxruntime
#     (1e-5), every datatype conversion, typed contents, and the error cases (Tools/interop/kserve/check_clients.py).
#     get_inference_statistics counts are checked against the requests made.
#  2. Model control (tritonclient load_model / unload_model / get_model_repository_index) against a server started with
#     --model-control explicit (Tools/interop/kserve/model_control.py); without the flag it is refused (step 1).
#  3. perf_analyzer 2.41 in sync, --async and --streaming modes at concurrency 1 and 4 against digits, on a short
#     count-based window; each run must exit 0, report a throughput and print the server-side statistics it reads
#     from ModelStatistics (queue and compute times).
# Run from the repository root after the debug build and `Tools/setup --python`. Never asserts timings.
source "$(dirname "$0")/lib.sh"

FIXTURES=Tests/InferenceTests/Fixtures
status=0

echo "== kserve: tritonclient against the built-in digits model"
start_server
"$PYTHON" Tools/interop/kserve/check_clients.py --url "127.0.0.1:$SERVER_PORT" \
    --model "digits=$FIXTURES/digits.onnx" || status=1
stop_server || { echo "kserve: the built-in server did not drain cleanly"; status=1; }

echo "== kserve: tritonclient against a model repository"
repo=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$repo"' EXIT
for spec in mlp=torch_mlp strings=sklearn_pipeline_strings image=torch_image_flatten; do
    name=${spec%%=*}
    mkdir -p "$repo/$name/1"
    cp "$FIXTURES/${spec#*=}.onnx" "$repo/$name/1/model.onnx"
done
start_server --models "$repo"
"$PYTHON" Tools/interop/kserve/check_clients.py --url "127.0.0.1:$SERVER_PORT" \
    --model "mlp=$FIXTURES/torch_mlp.onnx" --model "strings=$FIXTURES/sklearn_pipeline_strings.onnx" \
    --model "image=$FIXTURES/torch_image_flatten.onnx" || status=1
stop_server || { echo "kserve: the repository server did not drain cleanly"; status=1; }

echo "== kserve: tritonclient model control (--model-control explicit)"
control=$(mktemp -d /tmp/mc-kserve-XXXXXX)
trap 'cleanup_servers; rm -rf "$repo" "$control"' EXIT
mkdir -p "$control/mlp/1" "$control/preloaded/1" "$control/broken/1"
cp "$FIXTURES/torch_mlp.onnx" "$control/mlp/1/model.onnx"
cp "$FIXTURES/torch_mlp.onnx" "$control/preloaded/1/model.onnx"
head -c 64 "$FIXTURES/torch_mlp.onnx" > "$control/broken/1/model.onnx"
start_server --models "$control" --model-control explicit --load-model preloaded
"$PYTHON" Tools/interop/kserve/model_control.py --url "127.0.0.1:$SERVER_PORT" \
    --model "mlp=$FIXTURES/torch_mlp.onnx" --broken broken --preloaded preloaded || status=1
stop_server || { echo "kserve: the model-control server did not drain cleanly"; status=1; }

echo "== kserve: perf_analyzer (sync, --async, --streaming) against digits"
start_server
for mode in sync --async --streaming; do
    for concurrency in 1 4; do
        perf_analyzer_check grpc digits "$mode" "$concurrency" || status=1
    done
done
stop_server || { echo "kserve: the perf_analyzer server did not drain cleanly"; status=1; }

if [ "$status" -eq 0 ]; then echo "kserve: all checks passed"; else echo "kserve: FAILED"; fi
exit $status
