#!/usr/bin/env bash
# TLS with real peers (issue 19, point 1), against tensorwire-server with --tls-cert/--tls-key:
#  1. A throwaway CA, a server certificate for localhost/127.0.0.1 and client certificates (one from another CA),
#     made here with the openssl CLI.
#  2. grpcio over ssl_channel_credentials; grpcurl -cacert (reflection, health); curl --cacert over HTTP/2 and HTTP/1.1; `openssl s_client -alpn h2` shows
#     ALPN h2; `-tls1_1` is refused.
#  3. Mutual TLS (--tls-client-ca): a good certificate passes, a missing and a wrong one are refused.
#  4. Reload: new files and SIGHUP, then files replaced without a signal (the one-second watcher); a new connection
#     sees the new certificate each time.
#  5. Hostile bytes: plaintext HTTP, garbage before and inside the handshake, handshakes that stall (closed by
#     --handshake-timeout-seconds 1), clients stalled mid-record after the handshake; the server serves meanwhile.
#  6. API keys over TLS: tritonclient gRPC (ssl=True) and HTTP (ssl=True) with and without a key; then the key
#     file (in place, by rename, malformed) and the certificate pair (SIGHUP, file change) reloaded under four
#     grpcio callers: 0 failed calls (Tools/interop/tls/reload_under_load.py).
# Run from the repository root after the debug build and `Tools/setup --python`. Never asserts timings.
source "$(dirname "$0")/lib.sh"

status=0
pki=$(mktemp -d)
trap 'cleanup_servers; rm -rf "$pki"' EXIT
ok() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; status=1; }

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
make_ca() {
    openssl req -x509 "${ec[@]}" -keyout "$pki/$1.key" -out "$pki/$1.pem" -days 2 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
issue() { # name ca subject extensions
    printf '%b' "$4" > "$pki/$1.ext"
    openssl req "${ec[@]}" -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$3" 2>/dev/null
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.pem" -CAkey "$pki/$2.key" -CAcreateserial \
        -out "$pki/$1.pem" -days 2 -extfile "$pki/$1.ext" 2>/dev/null
}
make_ca ca "Tensorwire Interop CA"
make_ca other-ca "Other CA"
issue server ca /CN=localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
issue server2 ca /CN=reloaded 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
issue client ca /CN=etl-job 'subjectAltName=URI:spiffe://interop/etl-job\nextendedKeyUsage=clientAuth\n'
issue intruder other-ca /CN=intruder 'extendedKeyUsage=clientAuth\n'
cp "$pki/server.pem" "$pki/live.pem"
cp "$pki/server.key" "$pki/live.key"

subject_seen() { # the server certificate's subject a new connection sees
    openssl s_client -connect "127.0.0.1:$SERVER_PORT" -CAfile "$pki/ca.pem" </dev/null 2>/dev/null \
        | sed -n 's/^subject=//p' | head -1
}

echo "== tls: grpcio, curl and openssl s_client against --tls-cert/--tls-key"
start_server --tls-cert "$pki/live.pem" --tls-key "$pki/live.key" --handshake-timeout-seconds 1
"$PYTHON" Tools/interop/tls/check_tls.py --target "localhost:$SERVER_PORT" --ca "$pki/ca.pem" || status=1
for version in --http2 --http1.1; do
    if curl -sSf "$version" --cacert "$pki/ca.pem" "https://localhost:$SERVER_PORT/v2/health/ready" -o /dev/null \
        -w '%{http_version}\n' > "$pki/curl.out" 2>&1; then
        ok "curl $version over TLS (HTTP $(cat "$pki/curl.out"))"
    else
        fail "curl $version over TLS: $(cat "$pki/curl.out")"
    fi
done
if "$VENV_BIN/grpcurl" -cacert "$pki/ca.pem" -d '{}' "localhost:$SERVER_PORT" grpc.health.v1.Health/Check 2>&1 \
    | grep -q SERVING; then
    ok "grpcurl -cacert: health Check SERVING (reflection over TLS)"
else
    fail "grpcurl -cacert health Check"
fi
alpn=$(openssl s_client -connect "127.0.0.1:$SERVER_PORT" -alpn h2 -CAfile "$pki/ca.pem" </dev/null 2>/dev/null \
    | grep -m1 'ALPN protocol' || true)
[ "$alpn" = "ALPN protocol: h2" ] && ok "openssl s_client -alpn h2: $alpn" || fail "s_client ALPN: '$alpn'"
# SECLEVEL=0 lets OpenSSL 3's client really offer TLS 1.1 (its default refuses before asking): the server must.
tls11=$(openssl s_client -connect "127.0.0.1:$SERVER_PORT" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1 || true)
if echo "$tls11" | grep -q 'alert protocol version'; then
    ok "openssl s_client -tls1_1 refused by the server (alert protocol version)"
else
    fail "TLS 1.1: $(echo "$tls11" | grep -iE 'error|Protocol' | head -2)"
fi

echo "== tls: hostile bytes, then the server still serves"
"$PYTHON" - "$SERVER_PORT" "$pki/ca.pem" <<'PY' && ok "plaintext, garbage before and inside the handshake, stalled handshakes and records" \
    || status=1
import os, socket, sys, time
port = int(sys.argv[1])
def closed_after(payload, wait=5.0):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(wait)
    s.sendall(payload)
    try:
        while s.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
cases = {
    "plaintext HTTP/1.1 on the TLS port": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "the plaintext HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "garbage before the handshake": os.urandom(512),
    "a TLS record header, then garbage": b"\x16\x03\x01\x02\x00" + os.urandom(512),
    "a stalled handshake (half a record header)": b"\x16\x03",
    "a ClientHello record cut short (512 bytes announced, 100 sent)": b"\x16\x03\x01\x02\x00" + os.urandom(100),
}
ok = True
for name, payload in cases.items():
    if not closed_after(payload):
        print("  FAIL %s: still open" % name); ok = False
# Clients that finish the handshake and then stall inside a record (a header announcing 4 KiB, 20 bytes sent),
# held open while another client is served.
import ssl
import grpc
context = ssl.create_default_context(cafile=sys.argv[2])
context.set_alpn_protocols(["h2"])
stalled = []
for _ in range(4):
    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    os.write(tls.fileno(), b"\x17\x03\x03\x10\x00" + os.urandom(20))
    stalled.append(tls)
with open(sys.argv[2], "rb") as f:
    credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
with grpc.secure_channel("localhost:%d" % port, credentials) as channel:
    reply = channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=10)
if reply == b"\x08\x01":
    print("  ok   4 clients stalled mid-record after the handshake; another is served meanwhile")
else:
    print("  FAIL health Check beside the stalled clients: %r" % reply); ok = False
for tls in stalled:
    tls.close()
sys.exit(0 if ok else 1)
PY
"$PYTHON" Tools/interop/tls/check_tls.py --target "localhost:$SERVER_PORT" --ca "$pki/ca.pem" || status=1

echo "== tls: reload on SIGHUP"
before=$(subject_seen)
cp "$pki/server2.pem" "$pki/live.pem.new" && mv "$pki/live.pem.new" "$pki/live.pem"
cp "$pki/server2.key" "$pki/live.key.new" && mv "$pki/live.key.new" "$pki/live.key"
kill -HUP "$SERVER_PID"
after=""
for _ in $(seq 1 100); do
    after=$(subject_seen)
    [ "$after" = "CN = reloaded" ] && break
    sleep 0.05
done
[ "$after" = "CN = reloaded" ] && ok "new connections see the new certificate ($before → $after)" \
    || fail "after SIGHUP the certificate is '$after' (was '$before')"
"$PYTHON" Tools/interop/tls/check_tls.py --target "localhost:$SERVER_PORT" --ca "$pki/ca.pem" || status=1

echo "== tls: reload when the files change (no signal)"
cp "$pki/server.key" "$pki/live.key.new" && mv "$pki/live.key.new" "$pki/live.key"
cp "$pki/server.pem" "$pki/live.pem.new" && mv "$pki/live.pem.new" "$pki/live.pem"
for _ in $(seq 1 200); do
    after=$(subject_seen)
    [ "$after" = "CN = localhost" ] && break
    sleep 0.05
done
[ "$after" = "CN = localhost" ] && ok "the watcher reloaded the replaced files (now $after)" \
    || fail "after replacing the files the certificate is '$after'"
"$PYTHON" Tools/interop/tls/check_tls.py --target "localhost:$SERVER_PORT" --ca "$pki/ca.pem" || status=1
stop_server || { echo "tls: the server did not drain cleanly"; status=1; }

echo "== tls: API keys over TLS (tritonclient), then key file and certificate reload under load"
steady=twk_steady_$RANDOM$RANDOM$RANDOM; added=twk_added_$RANDOM$RANDOM; retired=twk_retired_$RANDOM$RANDOM
"$PYTHON" - "$pki/keys.json" "$steady" "$retired" <<'PY'
import hashlib, json, sys
keys = [{"id": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": ["infer:digits", "read:digits"]}
        for name, key in (("steady", sys.argv[2]), ("retired", sys.argv[3]))]
open(sys.argv[1], "w").write(json.dumps({"keys": keys}) + "\n")
PY
start_server --tls-cert "$pki/live.pem" --tls-key "$pki/live.key" --auth-keys "$pki/keys.json"
"$PYTHON" Tools/interop/tls/check_tritonclient_tls.py --port "$SERVER_PORT" --ca "$pki/ca.pem" --key "$steady" \
    || status=1
"$PYTHON" Tools/interop/tls/reload_under_load.py --port "$SERVER_PORT" --pid "$SERVER_PID" --ca "$pki/ca.pem" \
    --live "$pki/live" --pki "$pki" --keys "$pki/keys.json" --log "$SERVER_LOG" \
    --steady "$steady" --added "$added" --retired "$retired" || status=1
stop_server || { echo "tls: the keyed server did not drain cleanly"; status=1; }

echo "== tls: mutual TLS (--tls-client-ca, required)"
start_server --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" --tls-client-ca "$pki/ca.pem"
"$PYTHON" Tools/interop/tls/check_tls.py --target "localhost:$SERVER_PORT" --ca "$pki/ca.pem" \
    --cert "$pki/client.pem" --key "$pki/client.key" || status=1
"$PYTHON" Tools/interop/tls/check_tls.py --target "localhost:$SERVER_PORT" --ca "$pki/ca.pem" --expect fail || status=1
"$PYTHON" Tools/interop/tls/check_tls.py --target "localhost:$SERVER_PORT" --ca "$pki/ca.pem" \
    --cert "$pki/intruder.pem" --key "$pki/intruder.key" --expect fail || status=1
if curl -sSf --cacert "$pki/ca.pem" --cert "$pki/client.pem" --key "$pki/client.key" \
    "https://localhost:$SERVER_PORT/v2/health/ready" -o /dev/null 2>/dev/null; then
    ok "curl with the client certificate"
else
    fail "curl with the client certificate"
fi
stop_server || { echo "tls: the mTLS server did not drain cleanly"; status=1; }

exit $status
