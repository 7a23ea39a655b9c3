"""A TCP proxy between a gateway and its S3, which a test can cut, make answer `SlowDown`, and restore."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit

PASS = "pass"
DOWN = "down"
SLOW_DOWN = "slowdown"
_SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
SLOW_DOWN_ANSWER = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    + f"Content-Length: {len(_SLOW_DOWN_BODY)}\r\n\r\n".encode()
    + _SLOW_DOWN_BODY
)


def _reset(sock: socket.socket) -> None:
    """Close at once, as a backend that went away does (a pump blocked reading it wakes up: a bare close would
    wait for that read)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Proxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.mode = PASS
        self._lock = threading.Condition()
        self._open: set[socket.socket] = set()
        # Bytes passed from the gateway to S3, for tests that wait until part of an upload went through.
        self.upstream_bytes = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """The backend is unreachable: connections under way are reset, new ones refused."""
        self._switch(DOWN)

    def slow_down(self) -> None:
        """Every request on a new connection is answered 503 SlowDown."""
        self._switch(SLOW_DOWN)

    def restore(self) -> None:
        self._switch(PASS)

    def wait_upstream(self, at_least: int, timeout: float = 30) -> None:
        with self._lock:
            assert self._lock.wait_for(lambda: self.upstream_bytes >= at_least, timeout), "no bytes went through"

    def close(self) -> None:
        self._closed = True
        self._switch(DOWN)
        self._listener.close()

    def _switch(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            doomed, self._open = self._open, set()
        for sock in doomed:
            _reset(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            mode = self.mode
            if mode == DOWN:
                _reset(client)
            elif mode == SLOW_DOWN:
                threading.Thread(target=self._slow_down, args=(client,), daemon=True).start()
            else:
                self._pipe(client)

    def _slow_down(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = client.recv(65536)
                if not piece:
                    return
                head += piece
            client.sendall(SLOW_DOWN_ANSWER)

    def _pipe(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self._upstream)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._open |= {client, server}
        pumps = [2]  # the second pump to end closes both sockets
        threading.Thread(target=self._pump, args=(client, server, True, pumps), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, False, pumps), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool, pumps: list[int]) -> None:
        try:
            while piece := source.recv(65536):
                target.sendall(piece)
                if upstream:
                    with self._lock:
                        self.upstream_bytes += len(piece)
                        self._lock.notify_all()
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            pumps[0] -= 1
            last = pumps[0] == 0
            if last:
                self._open -= {source, target}
        if last:
            source.close()
            target.close()
