#!/usr/bin/env bash
# Sealed models and pinned digests (docs/sealed-models.md) against a live tensorwire-server:
#   - every engine-test export sealed with `tensorwire seal` serves outputs equal to the plain model's (a second
#     server) and to onnxruntime's recorded outputs, over grpcio; `tensorwire unseal` gives the file back
#   - digits sealed in Python by the sealer printed in docs/sealed-models.md (the `cryptography` package, another
#     key, 4 KiB chunks) loads, with its digest pinned in config.json
#   - GetModel reports sealed and sha256; a missing key, a flipped byte and a wrong pin fail only their model, with
#     the cause named; no key byte appears in the log
#   - nothing is created or opened for writing while the models load (strace of every open, creat, rename, link,
#     unlink, mkdir and truncate of the server and its threads)
#   - the process is non-dumpable: its /proc/PID/ files belong to root, and a process of its own user cannot read
#     /proc/PID/environ (run as nobody when this script runs as root)
#   CLI_BIN     the CLI (default .build/debug/tensorwire)
#   SERVER_BIN  the server (default .build/debug/tensorwire-server, see lib.sh)
source Tools/interop/lib.sh
CLI_BIN=${CLI_BIN:-.build/debug/tensorwire}
CHECK=Tools/interop/sealed/sealed_check.py
FIXTURES=Tests/InferenceTests/Fixtures
WORK=$(mktemp -d)
chmod 755 "$WORK"
trap 'cleanup_servers; rm -rf "$WORK"' EXIT
command -v strace >/dev/null || { echo "sealed.sh: strace is missing (Tools/setup installs it)" >&2; exit 2; }
strace -qq -o /dev/null true || { echo "sealed.sh: strace cannot trace here (ptrace not permitted?)" >&2; exit 2; }

failures=0
fail() { echo "  FAIL $*" >&2; failures=$((failures + 1)); }
ok() { echo "  ok   $*"; }

# The exports of the engine tests (InferenceTests.ConformanceTests).
models=(torch_mlp torch_gelu_batchnorm torch_image_flatten odd_sizes_b1 odd_sizes_b3 keras_mlp keras_nhwc_image
        preprocessing_ops sklearn_logreg_iris sklearn_pipeline_strings sklearn_logreg_binary sklearn_linreg
        sklearn_mlp_regressor digits)

echo "== sealing"
mkdir -p "$WORK/keys" "$WORK/other"
"$CLI_BIN" seal --new-key "$WORK/keys/a.key" > /dev/null
"$PYTHON" -c 'import os, sys; open(sys.argv[1], "wb").write(os.urandom(32))' "$WORK/keys/b.key"
other_id=$("$CLI_BIN" seal --new-key "$WORK/other/c.key" | sed -n 's/.*key id \([0-9a-f]*\).*/\1/p')
[ "$(stat -c %a "$WORK/keys/a.key")" = 600 ] && ok "seal --new-key writes mode 0600" || fail "key file mode"
for m in "${models[@]}"; do
    mkdir -p "$WORK/plain/$m/1" "$WORK/sealed/$m/1"
    cp "$FIXTURES/$m.onnx" "$WORK/plain/$m/1/model.onnx"
    "$CLI_BIN" seal --key-file "$WORK/keys/a.key" "$FIXTURES/$m.onnx" -o "$WORK/sealed/$m/1/model.onnx.sealed" > /dev/null
done
"$CLI_BIN" unseal --key-file "$WORK/keys" "$WORK/sealed/digits/1/model.onnx.sealed" -o "$WORK/unsealed.onnx" > /dev/null
cmp -s "$WORK/unsealed.onnx" "$FIXTURES/digits.onnx" && ok "unseal gives back the model" || fail "unseal differs"

# digits sealed by the document's Python sealer, with key b and 4 KiB chunks (five of them), its digest pinned.
mkdir -p "$WORK/sealed/pydigits/1"
digest=$("$PYTHON" "$CHECK" seal-from-doc docs/sealed-models.md "$FIXTURES/digits.onnx" "$WORK/keys/b.key" \
    "$WORK/sealed/pydigits/1/model.onnx.sealed" 4096)
echo "{\"sha256\": \"$digest\"}" > "$WORK/sealed/pydigits/config.json"
# Failures: another key, a flipped byte in chunk 3 of 1 KiB chunks, a wrong pin.
mkdir -p "$WORK/sealed/nokey/1" "$WORK/sealed/tampered/1" "$WORK/sealed/badpin/1"
"$CLI_BIN" seal --key-file "$WORK/other/c.key" "$FIXTURES/digits.onnx" -o "$WORK/sealed/nokey/1/model.onnx.sealed" > /dev/null
"$CLI_BIN" seal --key-file "$WORK/keys/a.key" --chunk-bytes 1024 "$FIXTURES/digits.onnx" \
    -o "$WORK/sealed/tampered/1/model.onnx.sealed" > /dev/null
"$PYTHON" - "$WORK/sealed/tampered/1/model.onnx.sealed" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[44 + 3 * (1024 + 16) + 10] ^= 0x01
open(sys.argv[1], "wb").write(data)
PY
cp "$WORK/sealed/digits/1/model.onnx.sealed" "$WORK/sealed/badpin/1/"
echo "{\"sha256\": \"$(printf '0%.0s' $(seq 64))\"}" > "$WORK/sealed/badpin/config.json"

echo "== serving (the sealed server under strace)"
start_server --models "$WORK/plain"
plain_port=$SERVER_PORT
strace -f -qq -o "$WORK/strace.log" \
    -e trace=open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,mkdir,mkdirat,truncate,ftruncate \
    "$SERVER_BIN" --port 0 --models "$WORK/sealed" --model-keys "$WORK/keys" > "$WORK/sealed.log" 2>&1 &
tracer=$!
SERVER_PIDS+=("$tracer")
for _ in $(seq 1 600); do
    grep -q 'listening on' "$WORK/sealed.log" && break
    kill -0 "$tracer" 2>/dev/null || break
    sleep 0.05
done
# strace detaches when it is killed and leaves its tracee running: the server itself is stopped too.
traced=$(pgrep -P "$tracer" | head -1 || true)
[ -n "$traced" ] && SERVER_PIDS+=("$traced")
sealed_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$WORK/sealed.log" | head -1)
[ -n "$sealed_port" ] || { cat "$WORK/sealed.log" >&2; echo "sealed server did not start" >&2; exit 1; }
writes=$(grep -E 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|^[0-9]+ +(creat|rename|link|symlink|unlink|mkdir|truncate|ftruncate)' \
    "$WORK/strace.log" || true)
opened=$(grep -c 'model.onnx.sealed' "$WORK/strace.log" || true)
if [ -z "$writes" ] && [ "$opened" -gt 0 ]; then
    ok "start-up opened $(grep -cE 'open' "$WORK/strace.log") files ($opened sealed models), none for writing"
else
    fail "files written during start-up (or no sealed model opened):"
    echo "$writes" | head -20 >&2
fi

names=("${models[@]}" pydigits=digits)
"$PYTHON" "$CHECK" compare "$plain_port" "$sealed_port" "$FIXTURES" "${names[@]}" || fail "sealed outputs"
specs=()
for m in "${models[@]}"; do specs+=("$m=$(sha256sum "$FIXTURES/$m.onnx" | cut -d' ' -f1)"); done
"$PYTHON" "$CHECK" getmodel "$sealed_port" "${specs[@]}" "pydigits=$digest" | tail -3 || fail "GetModel sealed/sha256"
"$PYTHON" "$CHECK" failed "$sealed_port" "nokey=no key with id $other_id" "tampered=authentication failed at chunk 3" \
    "badpin=but config.json pins $(printf '0%.0s' $(seq 64))" || fail "failed models"
"$CLI_BIN" --server "127.0.0.1:$sealed_port" info pydigits > "$WORK/info.txt"
grep -q '^versions  1 (default) READY sealed$' "$WORK/info.txt" && grep -q "^sha256    1: $digest\$" "$WORK/info.txt" \
    && ok "tensorwire info: READY sealed, sha256" || { fail "tensorwire info"; cat "$WORK/info.txt" >&2; }
grep -q "model pydigits version 1: READY (sealed sha256=$digest" "$WORK/sealed.log" \
    && ok "start-up log: READY (sealed sha256=…)" || fail "no sealed READY line"
for key in "$WORK"/keys/*.key "$WORK/other/c.key"; do
    hex=$(od -An -tx1 "$key" | tr -d ' \n')
    if grep -qi "$hex" "$WORK/sealed.log" "$WORK/strace.log"; then fail "a key's bytes appear in the log"; fi
done
ok "no key bytes in the log"

echo "== non-dumpable"
grep -q 'the process is non-dumpable (PR_GET_DUMPABLE=0)' "$WORK/sealed.log" && ok "start-up log says non-dumpable" \
    || fail "no non-dumpable line"
# Run one server as an unprivileged user (this script's own when not root), and read its /proc entries as that user.
as_user=()
if [ "$(id -u)" = 0 ]; then
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    mkdir -p "$WORK/nobody/keys" && cp -r "$WORK/sealed/digits" "$WORK/nobody/" && cp "$WORK/keys/a.key" "$WORK/nobody/keys/"
    chown -R 65534:65534 "$WORK/nobody"
else
    mkdir -p "$WORK/nobody/keys" && cp -r "$WORK/sealed/digits" "$WORK/nobody/" && cp "$WORK/keys/a.key" "$WORK/nobody/keys/"
fi
for mode in keys plain; do
    args=(--port 0 --models "$WORK/nobody")
    [ "$mode" = keys ] && args+=(--model-keys "$WORK/nobody/keys")
    "${as_user[@]}" "$SERVER_BIN" "${args[@]}" > "$WORK/$mode-user.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for _ in $(seq 1 200); do grep -q 'listening on' "$WORK/$mode-user.log" && break; sleep 0.05; done
    owner=$(stat -c %u "/proc/$pid/status")
    if "${as_user[@]}" cat "/proc/$pid/environ" > /dev/null 2>&1; then readable=yes; else readable=no; fi
    kill "$pid"
    wait "$pid" || true
    echo "       $mode: server uid $( [ "${#as_user[@]}" -gt 0 ] && echo 65534 || id -u ), /proc/$pid/status owner $owner, environ readable by that uid: $readable"
    if [ "$mode" = keys ]; then
        [ "$owner" = 0 ] && [ "$readable" = no ] && ok "with --model-keys: /proc/PID/ is root's, environ unreadable" \
            || fail "the server with keys is dumpable"
    else
        [ "$readable" = yes ] && ok "without keys the same check reads environ (the check can fail)" \
            || fail "without keys environ should be readable by its own user"
    fi
done

stop_server || true
[ "$failures" -eq 0 ] || { echo "sealed.sh: $failures failure(s)" >&2; exit 1; }
echo "sealed.sh: all checks passed"
