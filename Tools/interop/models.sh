#!/usr/bin/env bash
# The models users export (issue 23), made fresh and served: Tools/interop/models/exports.py trains and exports
# scikit-learn trees and forests (skl2onnx, default options: ZipMap in), XGBoost and LightGBM (onnxmltools),
# scikit-learn models with double inputs (DoubleTensorType: computed and served in FP64), an MLP with nn.Embedding
# and torch.cat from PyTorch 2.13 (both the default dynamo exporter and the TorchScript one, dynamic batch), a
# two-input Keras 3 model (torch backend, model.export), and hand-made tree ensembles that reach every node mode,
# missing-value track, post_transform, base-value count and aggregate; then check_models.py sends random rows, rows
# on thresholds, edge values and NaN through tritonclient (KServe v2 gRPC) and compares every output with
# onnxruntime on the same file (1e-5 relative, floor 1e-6 × the batch's largest magnitude; FP64 outputs 1e-9 and
# 1e-12; labels exact, strings as BYTES). A two-input model, a ZipMap classifier and a model fed NaN also go
# through `tensorwire predict` with their inputs by name. Every model must load and match. Never asserts timings.
source "$(dirname "$0")/lib.sh"

status=0
repo=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$repo"' EXIT

echo "== models: exporting (scikit-learn, XGBoost, LightGBM, FP64 scikit-learn, PyTorch, Keras, hand-made ensembles)"
"$PYTHON" Tools/interop/models/exports.py --repository "$repo"
start_server --models "$repo"
echo "== models: every output against onnxruntime over KServe v2 gRPC"
"$PYTHON" Tools/interop/models/check_models.py --url "127.0.0.1:$SERVER_PORT" --repository "$repo" \
    --cli "${CLI_BIN:-.build/debug/tensorwire}" --cli-model ops_embedding_concat_layernorm \
    --cli-model skl_random_forest_3 --cli-model skl_hist_gradient_boosting_3_nan || status=1
if grep -q "FAILED" "$SERVER_LOG"; then
    echo "models: some models failed to load:"
    grep "FAILED" "$SERVER_LOG"
    status=1
fi
stop_server || { echo "models: the server did not drain cleanly"; status=1; }
exit $status
