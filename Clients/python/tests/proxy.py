"""A loopback TCP proxy that cuts one connection mid-way: the failure a retrying client must survive.

`DroppingProxy(target_port, drop_after=N)` listens on an ephemeral port and forwards each connection to the
target; the first connection to carry more than N bytes from the client to the server is closed there (both
sides, with a TCP reset), so a stream dies with requests sent and not answered. Only one connection is ever cut.
Threads, bounded: everything stops with `close()`.
"""
from __future__ import annotations

import socket
import struct
import threading
from typing import List


class DroppingProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target_port; cuts the first connection that sends more than
    `drop_after` bytes upstream. `connections` counts accepted connections, `dropped` the ones cut (0 or 1)."""

    def __init__(self, target_port: int, *, drop_after: int = 0) -> None:
        self.target_port = target_port
        self.drop_after = drop_after
        self.connections = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._sockets: List[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                _close(s)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.connections += 1
                self._sockets += [client, upstream]
            pair = _Pair(self, client, upstream)
            threading.Thread(target=pair.pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=pair.pump, args=(upstream, client, False), daemon=True).start()


class _Pair:
    def __init__(self, proxy: DroppingProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.sent_up = 0

    def _cut_now(self, more: int) -> bool:
        with self.proxy._lock:
            if self.proxy.dropped or self.sent_up + more <= self.proxy.drop_after:
                return False
            self.proxy.dropped += 1
            return True

    def pump(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upward and self._cut_now(len(data)):
                    break
                sink.sendall(data)
                if upward:
                    self.sent_up += len(data)
        except OSError:
            pass
        _close(self.client)
        _close(self.upstream)


def _close(s: socket.socket) -> None:
    try:  # SO_LINGER 0: close with a reset, as a crashed peer or a cut cable looks to the other side
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
