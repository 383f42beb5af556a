#!/usr/bin/env bash
# The tensorwire CLI and the Python example client against a live tensorwire-server: every subcommand, its output
# and its exit code, an unknown model, a model that failed to load, bad addresses and an unreachable server; the
# same commands over HTTP/1.1 + JSON (--http), and bench over both protocols on digits (both throughputs printed).
# No timing is asserted.
#   CLI_BIN     the CLI (default .build/debug/tensorwire)
#   SERVER_BIN  the server (default .build/debug/tensorwire-server, see lib.sh)
source Tools/interop/lib.sh
CLI_BIN=${CLI_BIN:-.build/debug/tensorwire}
WORK=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$WORK"' EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# run NAME EXPECTED_RC CLI-ARGS...: runs the CLI, keeps stdout/stderr in $WORK/NAME.{out,err}, checks the exit code.
run() {
    local name=$1 expected=$2
    shift 2
    local rc=0
    "$CLI_BIN" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || rc=$?
    if [ "$rc" != "$expected" ]; then
        fail "$name: exit $rc, expected $expected ($*)"
        sed 's/^/    /' "$WORK/$name.err" >&2
    else
        echo "ok   $name (exit $rc)"
    fi
}
# has NAME PATTERN [out|err]: the output matches an extended regex.
has() {
    local file="$WORK/$1.${3:-out}"
    grep -Eq -- "$2" "$file" || { fail "$1: ${3:-out} lacks /$2/"; sed 's/^/    /' "$file" >&2; }
}
# json NAME PYTHON-EXPR: the output parses as JSON (as `d`) and the expression holds.
json() {
    "$PYTHON" - "$WORK/$1.out" "$2" <<'PY' || fail "$1: JSON check failed: $2"
import json, sys
text = open(sys.argv[1]).read()
d = json.loads(text)
assert eval(sys.argv[2]), text[:400]
PY
}

start_server
export TENSORWIRE_SERVER=127.0.0.1:$SERVER_PORT
echo "server on $TENSORWIRE_SERVER; CLI $CLI_BIN"

# Help on every subcommand, and usage errors.
for command in "" list info health predict stream bench; do
    run "help-${command:-top}" 0 $command --help
    has "help-${command:-top}" "usage: tensorwire"
done
has help-top "Exit codes"
run no-command 2
run unknown-command 2 frobnicate
run bad-option 2 list --nope
run bad-server 2 --server "host:notaport" list
run server-url 2 --server grpc://localhost:50051 list
has server-url "no other scheme: use localhost:50051" err
run server-https 2 --server https://localhost:50051 list
has server-https "https:// is not supported yet" err
run server-url-path 2 --server http://localhost:50051/v1 list
run server-unresolvable 4 --server nosuchhost.invalid:50051 list
has server-unresolvable "^tensorwire: cannot resolve host nosuchhost.invalid" err
run list-extra 2 list extra
has list-extra "list takes no arguments" err
run predict-no-input 2 predict digits

# list / info / health
run list 0 list
has list "^digits +1 +READY +X:float32\[-1,64\]"
run list-json 0 list --json
json list-json 'd[0]["name"] == "digits" and d[0]["inputs"][0]["shape"] == [-1, 64]'
run info 0 info digits
has info "output +probabilities:float32\[-1,10\]"
run info-json 0 info digits --json
json info-json 'd["batching"]["max_batch_size"] >= 1 and d["outputs"][0]["name"] == "label"'
[ "$(wc -l < "$WORK/info-json.out")" = 1 ] && echo "ok   info-json (one line)" || fail "info-json: expected one line"
run info-pretty 0 info digits --json --pretty
json info-pretty 'd["name"] == "digits"'
has info-pretty '^  "name": "digits",$'
run info-unknown 5 info no-such-model
has info-unknown "NOT_FOUND" err
run health 0 health
has health "^SERVING$"
run health-service 0 health tensorwire.v1.Inference
run health-unknown 5 health no.such.Service
run health-metadata 0 -H "x-probe: cli" --timeout 5s health

# predict: inline JSON, object form, @file, stdin, .npy, --top-k, --pretty, errors
ROW=$("$PYTHON" -c 'print([[float(i % 16) for i in range(64)]])')
run predict 0 predict digits --input "$ROW"
json predict 'len(d["outputs"]["label"]) == 1 and len(d["outputs"]["probabilities"][0]) == 10 and d["batch"]["batch_size"] >= 1'
run predict-object 0 predict digits --input "{\"X\": $ROW}" --output label
json predict-object 'list(d["outputs"]) == ["label"]'
"$PYTHON" -c "import json; r=json.loads('$ROW')[0]; json.dump([r, r, r], open('$WORK/three.json', 'w'))"
run predict-file 0 predict digits --input "@$WORK/three.json" --top-k 2
json predict-file 'len(d["outputs"]["label"]) == 3 and len(d["top_k"]) == 3 and len(d["top_k"][0]) == 2 and d["top_k"][0][0]["class"] == d["outputs"]["label"][0]'
rc=0
"$CLI_BIN" predict digits --input - --pretty < "$WORK/three.json" > "$WORK/predict-stdin.out" || rc=$?
[ "$rc" = 0 ] && echo "ok   predict-stdin (exit 0)" || fail "predict-stdin: exit $rc"
json predict-stdin 'len(d["outputs"]["label"]) == 3'
has predict-stdin '^  "outputs": \{$'
"$PYTHON" -c "import numpy as np; np.save('$WORK/x.npy', (np.arange(128).reshape(2, 64) % 16).astype('<f8'))"
run predict-npy 0 predict digits --input "@$WORK/x.npy"
json predict-npy 'len(d["outputs"]["label"]) == 2'
"$PYTHON" -c "import numpy as np; np.save('$WORK/x32.npy', (np.arange(64).reshape(1, 64) % 16).astype('<f4'))"
run predict-npy32 0 predict digits --input "@$WORK/x32.npy"
json predict-npy32 'len(d["outputs"]["label"]) == 1'
"$PYTHON" -c "import numpy as np; np.save('$WORK/x8.npy', (np.arange(128).reshape(2, 64) % 16).astype(np.uint8))"
run predict-npy-uint8 0 predict digits --input "@$WORK/x8.npy"
"$PYTHON" -c "import numpy as np; np.save('$WORK/x16.npy', (np.arange(128).reshape(2, 64) % 16).astype(np.float16))"
run predict-npy-float16 0 predict digits --input "@$WORK/x16.npy"
"$PYTHON" - "$WORK" <<'PY' || fail "predict-npy: uint8 and float16 answers differ from float64"
import json, sys
out = [json.load(open(f"{sys.argv[1]}/predict-{name}.out"))["outputs"] for name in ("npy", "npy-uint8", "npy-float16")]
assert out[0] == out[1] == out[2], out
PY
"$PYTHON" -c "import numpy as np; a = np.zeros((1, 64), '<f4'); a[0, 3] = np.nan; np.save('$WORK/nan.npy', a)"
# NaN is a float input's value (trees read it as missing): sent, and answered.
run predict-npy-nan 0 predict digits --input "@$WORK/nan.npy"
json predict-npy-nan 'len(d["outputs"]["label"]) == 1'
run predict-infinite 3 predict digits --input "[[1e400$(printf ', 0%.0s' $(seq 63))]]"
has predict-infinite "element \[0, 0\] is infinite" err
run predict-unknown-model 5 predict no-such-model --input "$ROW"
has predict-unknown-model 'NOT_FOUND.*no-such-model' err
run predict-bad-shape 1 predict digits --input '[[1, 2, 3]]'
has predict-bad-shape "INVALID_ARGUMENT" err
run predict-bad-json 3 predict digits --input '[[1, 2'
run predict-ragged 3 predict digits --input '[[1, 2], [3]]'
run predict-missing-file 3 predict digits --input "@$WORK/nope.json"
run predict-wrong-input-name 3 predict digits --input '{"Y": [[1]]}'

# stream: JSON lines in, JSON lines out in order, a bad line answered in-stream
{ for i in 1 2 3 4 5; do echo "$ROW"; done; echo '[[1, 2]]'; echo "$ROW"; } > "$WORK/lines.jsonl"
rc=0
"$CLI_BIN" stream digits --top-k 1 < "$WORK/lines.jsonl" > "$WORK/stream.out" 2> "$WORK/stream.err" || rc=$?
[ "$rc" = 8 ] && echo "ok   stream (exit 8: one bad line)" || fail "stream: exit $rc, expected 8"
"$PYTHON" - "$WORK/stream.out" <<'PY' || fail "stream: output check failed"
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
assert [l["id"] for l in lines] == [str(i) for i in range(1, 8)], lines
assert "error" in lines[5] and lines[5]["error"]["code"] == 3, lines[5]
assert all("top_k" in l for i, l in enumerate(lines) if i != 5)
PY
# A line the CLI cannot send (not JSON) gets an error line of its own; the answers before and after it print.
{ head -2 "$WORK/lines.jsonl"; echo 'not json'; head -1 "$WORK/lines.jsonl"; } > "$WORK/bad-line.jsonl"
rc=0
"$CLI_BIN" stream digits < "$WORK/bad-line.jsonl" > "$WORK/stream-bad-line.out" 2> "$WORK/stream-bad-line.err" || rc=$?
[ "$rc" = 8 ] && echo "ok   stream-bad-line (exit 8)" || fail "stream-bad-line: exit $rc, expected 8"
"$PYTHON" - "$WORK/stream-bad-line.out" <<'PY' || fail "stream-bad-line: output check failed"
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
assert [l["id"] for l in lines] == ["1", "2", "3", "4"], lines
assert lines[2]["error"]["code"] == 3 and "invalid JSON" in lines[2]["error"]["message"], lines[2]
assert all("outputs" in lines[i] for i in (0, 1, 3)), lines
PY
head -3 "$WORK/lines.jsonl" | "$CLI_BIN" stream digits > "$WORK/stream-ok.out" || fail "stream-ok: non-zero exit"
[ "$(wc -l < "$WORK/stream-ok.out")" = 3 ] && echo "ok   stream-ok (3 lines)" || fail "stream-ok: expected 3 lines"
rc=0
echo "$ROW" | "$CLI_BIN" stream no-such-model > /dev/null 2>&1 || rc=$?
[ "$rc" = 5 ] && echo "ok   stream-unknown-model (exit 5)" || fail "stream-unknown-model: exit $rc, expected 5"

# bench: closed loop, open loop (constant and Poisson), stream mode, several connections, file input, JSON report
run bench-closed 0 bench digits -c 4 --requests 200 --warmup 0
has bench-closed "^requests +200 \(200 ok, 0 errors\)"
has bench-closed "^latency ms +p50 [0-9.]+ +p90 [0-9.]+ +p99 [0-9.]+ +p99.9 [0-9.]+ +max [0-9.]+"
has bench-closed "^server batch size"
run bench-json 0 bench digits -c 2 --duration 1s --warmup 200ms --json
json bench-json 'd["requests"] > 0 and d["errors"] == 0 and d["throughput_rps"] > 0 and all(k in d["latency_ms"] for k in ("p50", "p90", "p99", "p999", "max")) and d["latency_ms"]["p50"] <= d["latency_ms"]["max"] and sum(d["batch_sizes"].values()) == d["requests"]'
run bench-rate 0 bench digits --rate 100 --requests 50 --warmup 0 --json
json bench-rate 'd["requests"] == 50 and d["errors"] == 0'
run bench-poisson 0 bench digits --rate 100 --poisson --duration 500ms --warmup 0
has bench-poisson "open loop, Poisson"
run bench-stream 0 bench digits -c 8 --stream --connections 2 --requests 300 --warmup 0 --json
json bench-stream 'd["requests"] == 300 and d["transport"] == "stream" and d["connections"] == 2'
run bench-file 0 bench digits -c 2 --requests 20 --warmup 0 --input "@$WORK/three.json" --json
json bench-file 'd["requests"] == 20 and all(int(k) >= 3 for k in d["batch_sizes"])'
run bench-rows 0 bench digits -c 2 --rows 4 --requests 50 --warmup 0 --json
json bench-rows 'd["rows_per_request"] == 4 and abs(d["throughput_rows_per_s"] - 4 * d["throughput_rps"]) <= 0.5'
run bench-bad-args 2 bench digits -c 2 --rate 10
run bench-unknown-model 5 bench no-such-model --requests 1
# Every request fails (a 3-column row for a 64-column model): the run stops after its first second, not after 60.
run bench-all-fail 1 bench digits --input '[[1, 2, 3]]' --duration 60s --warmup 0
has bench-all-fail "INVALID_ARGUMENT: .*requests of the first second failed" err

# The same over HTTP/1.1 + JSON (the server's REST API on its gRPC port): an http:// address, or --http.
HTTP_SERVER=http://$TENSORWIRE_SERVER
run http-list 0 --server "$HTTP_SERVER" list
cmp -s "$WORK/list.out" "$WORK/http-list.out" && echo "ok   http-list (as over gRPC)" || fail "http-list: output differs from gRPC"
run http-info-json 0 --http info digits --json
cmp -s "$WORK/info-json.out" "$WORK/http-info-json.out" && echo "ok   http-info-json (as over gRPC)" \
    || fail "http-info-json: output differs from gRPC"
run http-info-unknown 5 --http info no-such-model
has http-info-unknown "NOT_FOUND" err
run http-health 0 --server "$HTTP_SERVER" health
has http-health "^SERVING$"
run http-health-service 2 --http health tensorwire.v1.Inference
run http-predict 0 --http predict digits --input "$ROW"
"$PYTHON" - "$WORK" <<'PY' || fail "http-predict: outputs differ from gRPC's"
import json, sys
grpc, http = (json.load(open(f"{sys.argv[1]}/{name}.out")) for name in ("predict", "http-predict"))
assert grpc["outputs"] == http["outputs"], (grpc, http)
assert http["batch"]["batch_size"] >= 1
PY
run http-predict-unknown-model 5 --http predict no-such-model --input "$ROW"
run http-predict-bad-shape 1 --http predict digits --input '[[1, 2, 3]]'
has http-predict-bad-shape "INVALID_ARGUMENT" err
run http-stream 2 --http stream digits
run http-bench-stream 2 --http bench digits --stream --requests 1
run http-bench-json 0 --http bench digits -c 2 --requests 200 --warmup 0 --json
json http-bench-json 'd["transport"] == "http" and d["connections"] == 2 and d["requests"] == 200 and d["errors"] == 0 and sum(d["batch_sizes"].values()) == 200'
run http-bench-rate 0 --http bench digits --rate 100 --connections 2 --requests 50 --warmup 0 --json
json http-bench-rate 'd["requests"] == 50 and d["errors"] == 0'
run http-bench-unknown-model 5 --http bench no-such-model --requests 1

# bench on digits over both protocols, same load (4 in flight, 2 s): both throughputs, for the record only.
run compare-grpc 0 bench digits -c 4 --duration 2s --warmup 500ms --json
run compare-http 0 --http bench digits -c 4 --duration 2s --warmup 500ms --json
"$PYTHON" - "$WORK" <<'PY' || fail "bench comparison: reports unreadable"
import json, sys
grpc, http = (json.load(open(f"{sys.argv[1]}/compare-{name}.out")) for name in ("grpc", "http"))
for name, d in (("gRPC (unary, 1 HTTP/2 connection)", grpc), ("HTTP/1.1 + JSON (4 connections)", http)):
    print(f"     bench digits -c 4: {name}: {d['throughput_rps']} req/s, p50 {d['latency_ms']['p50']} ms, p99 {d['latency_ms']['p99']} ms")
print(f"     HTTP/gRPC throughput ratio: {http['throughput_rps'] / max(grpc['throughput_rps'], 1e-9):.2f}")
PY

# The Python package's example client (the package from the source tree).
rc=0
PYTHONPATH=Clients/python/src "$PYTHON" Clients/python/examples/client_tour.py --server "$TENSORWIRE_SERVER" \
    > "$WORK/python.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && echo "ok   python example client" || { fail "python client: exit $rc"; sed 's/^/    /' "$WORK/python.out" >&2; }
has python "stream: 32 responses, in order: True"

# An unreachable server: the port of a server that has just stopped.
DEAD_PORT=$SERVER_PORT
stop_server || fail "server did not drain cleanly"
export TENSORWIRE_SERVER=127.0.0.1:$DEAD_PORT
run unreachable-list 4 list
has unreachable-list "^tensorwire: nothing listens on 127.0.0.1:$DEAD_PORT \(connection refused\)$" err
run unreachable-health 4 health
run unreachable-predict 4 predict digits --input "$ROW"
run unreachable-bench 4 bench digits --requests 5 --warmup 0
run unreachable-http-list 4 --http list
has unreachable-http-list "^tensorwire: nothing listens on 127.0.0.1:$DEAD_PORT \(connection refused\)$" err
run unreachable-http-bench 4 --http bench digits --requests 5 --warmup 0

# A model that failed to load: predict, stream and bench name its state and the server's reason (exit 7).
mkdir -p "$WORK/repo/broken/1"
printf 'not onnx' > "$WORK/repo/broken/1/model.onnx"
start_server --models "$WORK/repo"
export TENSORWIRE_SERVER=127.0.0.1:$SERVER_PORT
run failed-info 0 info broken
has failed-info "^state +FAILED"
run failed-predict 7 predict broken --input '[[1]]'
has failed-predict "^tensorwire: model 'broken' is FAILED: " err
run failed-bench 7 bench broken --requests 1 --warmup 0
stop_server || fail "server (failed model) did not drain cleanly"

# bench --stream honours --timeout per request: a 2 s batching delay answers every request late. (With 300 ms a
# loaded machine, whose 50 ms timeouts fired every ~100 ms, let the fourth request into the batch in time.)
start_server --max-queue-delay-us 2000000
export TENSORWIRE_SERVER=127.0.0.1:$SERVER_PORT
rc=0
"$CLI_BIN" bench digits --stream -c 1 --requests 4 --warmup 0 --timeout 50ms --json > "$WORK/bench-stream-timeout.out" \
    2> "$WORK/bench-stream-timeout.err" || rc=$?
if [ "$rc" = 8 ]; then
    json bench-stream-timeout 'd["errors_by_code"] == {"DEADLINE_EXCEEDED": 4}'
    echo "ok   bench-stream-timeout (exit 8)"
elif [ "$rc" = 6 ]; then  # a slow machine: the run spanned its first second and stopped there
    has bench-stream-timeout "DEADLINE_EXCEEDED" err
    echo "ok   bench-stream-timeout (exit 6)"
else
    fail "bench-stream-timeout: exit $rc, expected 8 (or 6)"
fi
stop_server || fail "server (queue delay) did not drain cleanly"

if [ "$failures" -gt 0 ]; then
    echo "cli.sh: $failures check(s) failed" >&2
    exit 1
fi
echo "cli.sh: all checks passed"
