#!/usr/bin/env bash
# API keys with scopes (issue 19) with unmodified clients: a server with --auth-keys and three keys made by
# `tensorwire keys new` (ops: admin; etl: infer:digit*, read:*; reader: read:digits).
#  1. curl: 401 with `www-authenticate: Bearer` without a key, 403 naming the scope, 200 with the right one; the
#     health routes answer without a key; /metrics needs one.
#  2. grpcurl with `-H 'authorization: Bearer …'`: Unauthenticated, PermissionDenied, then OK (reflection is public here:
#     --auth-public health,reflection); the gRPC health check needs none.
#  3. tritonclient (gRPC and HTTP, headers=): is_server_live without a key, model metadata and inference with the
#     etl key, InferenceServerException with the reader key, load_model refused for non-admin keys.
# Run from the repository root after the debug build and `Tools/setup --python`.
source "$(dirname "$0")/lib.sh"

CLI=${CLI_BIN:-.build/debug/tensorwire}
work=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$work"' EXIT
status=0

new_key() {  # new_key NAME SCOPE...: prints the key, appends the entry to $work/entries
    local name=$1; shift
    local args=()
    for scope in "$@"; do args+=(--scope "$scope"); done
    local out
    out=$("$CLI" keys new "$name" "${args[@]}")
    sed -n 3p <<< "$out" >> "$work/entries"
    sed -n '1s/.* //p' <<< "$out"
}
OPS=$(new_key ops admin)
ETL=$(new_key etl 'infer:digit*' 'read:*')
READER=$(new_key reader read:digits)
{ echo '{"keys": ['; paste -sd, "$work/entries"; echo ']}'; } > "$work/keys.json"

expect() {  # expect WHAT WANT GOT
    if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: want $2, got $3"; status=1; fi
}

start_server --auth-keys "$work/keys.json" --auth-public health,reflection --model-control explicit --load-model digits
URL="http://127.0.0.1:$SERVER_PORT"

echo "== auth: curl"
code() { curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' "$@"; }
expect "infer without a key" 401 "$(code -X POST "$URL/v2/models/digits/infer" -d '{}')"
grep -qi '^www-authenticate: Bearer' "$work/head" || { echo "FAIL no www-authenticate: Bearer"; status=1; }
expect "infer with the reader key" 403 "$(code -H "authorization: Bearer $READER" -X POST "$URL/v2/models/digits/infer" -d '{}')"
grep -q 'infer:digits' "$work/body" || { echo "FAIL the 403 does not name infer:digits"; status=1; }
expect "metadata with the reader key" 200 "$(code -H "authorization: Bearer $READER" "$URL/v2/models/digits")"
expect "load with the etl key" 403 "$(code -H "authorization: Bearer $ETL" -X POST "$URL/v2/repository/models/digits/load")"
expect "load with the ops key" 200 "$(code -H "authorization: Bearer $OPS" -X POST "$URL/v2/repository/models/digits/load")"
expect "health/ready without a key" 200 "$(code "$URL/v2/health/ready")"
expect "metrics without a key" 401 "$(code "$URL/metrics")"

echo "== auth: grpcurl"
if command -v grpcurl > /dev/null; then
    target="127.0.0.1:$SERVER_PORT"
    grpc_code() { grpcurl -plaintext "$@" 2>&1 | sed -n 's/.*[Cc]ode[:=] *\([A-Za-z]*\).*/\1/p' | head -1; }
    expect "ListModels without a key" Unauthenticated "$(grpc_code "$target" tensorwire.v1.Inference/ListModels)"
    expect "ListModels with the reader key" PermissionDenied \
        "$(grpc_code -H "authorization: Bearer $READER" "$target" tensorwire.v1.Inference/ListModels)"
    grpcurl -plaintext -H "authorization: Bearer $ETL" "$target" tensorwire.v1.Inference/ListModels > /dev/null \
        && echo "ok   ListModels with the etl key" || { echo "FAIL ListModels with the etl key"; status=1; }
    grpcurl -plaintext -import-path Proto -proto grpc/health/v1/health.proto "$target" grpc.health.v1.Health/Check \
        > /dev/null && echo "ok   health without a key" || { echo "FAIL health without a key"; status=1; }
else
    echo "skip grpcurl: not installed (Tools/setup)"
fi

echo "== auth: tritonclient"
if [ -x "$PYTHON" ] && "$PYTHON" -c 'import tritonclient.grpc, tritonclient.http' 2> /dev/null; then
    "$PYTHON" - "$SERVER_PORT" "$ETL" "$READER" <<'PY' || status=1
import sys
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

port, etl, reader = sys.argv[1], sys.argv[2], sys.argv[3]
failed = False
for name, module, url in (("grpc", grpcclient, f"127.0.0.1:{port}"), ("http", httpclient, f"127.0.0.1:{port}")):
    client = module.InferenceServerClient(url=url)
    assert client.is_server_live(), "live without a key"
    good = {"authorization": f"Bearer {etl}"}
    bad = {"authorization": f"Bearer {reader}"}
    client.get_model_metadata("digits", headers=good)
    x = module.InferInput("X", [1, 64], "FP32")
    x.set_data_from_numpy(np.zeros((1, 64), dtype=np.float32))
    client.infer("digits", [x], headers=good)
    for what, headers in (("no key", None), ("reader key", bad)):
        try:
            client.infer("digits", [x], headers=headers)
            print(f"FAIL {name}: infer with {what} succeeded"); failed = True
        except InferenceServerException as error:
            print(f"ok   {name}: infer with {what} refused: {error.status()}")
    try:
        client.load_model("digits", headers=good)
        print(f"FAIL {name}: load_model with the etl key succeeded"); failed = True
    except InferenceServerException as error:
        print(f"ok   {name}: load_model with the etl key refused: {error.status()}")
sys.exit(1 if failed else 0)
PY
else
    echo "skip tritonclient: no .venv with tritonclient (Tools/setup --python)"
fi
stop_server || { echo "auth: the server did not drain cleanly"; status=1; }

if [ "$status" -eq 0 ]; then echo "auth: all checks passed"; else echo "auth: FAILED"; fi
exit $status
