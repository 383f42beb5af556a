"""Slow HTTP/1.1 clients against a server started with --http-head-timeout-seconds 1 --http-body-timeout-seconds 1:
a head that never completes and a body that stalls are each answered 408 and closed, and a normal client is served
while they hang. Waits for the server's close (bounded by a 15 s guard), never sleeps to decide. Exits non-zero on
failure.

  slow_clients.py --url 127.0.0.1:PORT
"""
import argparse
import socket
import sys
import time

import requests

failures = []


def check(condition, what):
    print(f"  {'ok  ' if condition else 'FAIL'} {what}")
    if not condition:
        failures.append(what)


def wait_for_close(sock):
    """Reads until the server closes; returns (bytes, seconds waited). The socket timeout is the failure guard."""
    started = time.monotonic()
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    host, port = args.url.rsplit(":", 1)
    port = int(port)
    head = socket.create_connection((host, port), timeout=15)
    head.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    body = socket.create_connection((host, port), timeout=15)
    body.sendall(b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
    # Served while both hang.
    check(requests.get(f"http://{args.url}/v2/health/live", timeout=10).status_code == 200, "others are served")
    data, waited = wait_for_close(head)
    check(data.startswith(b"HTTP/1.1 408") and waited < 14, f"an unfinished head: 408 and closed ({waited:.1f} s)")
    data, waited = wait_for_close(body)
    check(data.startswith(b"HTTP/1.1 408") and waited < 14, f"a stalled body: 408 and closed ({waited:.1f} s)")
    head.close()
    body.close()
    if failures:
        print(f"slow_clients: {len(failures)} FAILED")
        return 1
    print("slow_clients: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
