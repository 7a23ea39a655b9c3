"""tus-js-client under Node: an upload cut off by the network, resumed from its URL by a second run."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from tests.conftest import Gateway
from tests.uploads.helpers import NAMED, TUS, MiB, new_session, new_user, pending_uploads

CLIENT = Path(__file__).parent / "js"


class CuttingProxy:
    """A TCP proxy to the gateway that cuts the first connection to carry more than `cut_after` bytes from the
    client, once; later connections pass untouched."""

    def __init__(self, target: str, cut_after: int) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._cut_after = cut_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.cut = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._start(self._pump, client, upstream, not self.cut.is_set())
            self._start(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, cutting: bool) -> None:
        sent = 0
        try:
            while data := source.recv(256 * 1024):
                if cutting and sent + len(data) > self._cut_after:
                    sink.sendall(data[: self._cut_after - sent])
                    self.cut.set()
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()


def _node(proxy: CuttingProxy, sid: str, token: str, file: Path, *more: str, retries: int = 0) -> list[dict[str, Any]]:
    assert (CLIENT / "node_modules" / "tus-js-client").is_dir(), "run tests/run.sh once: it installs tus-js-client"
    result = subprocess.run(
        ["node", str(CLIENT / "upload.js"), f"{proxy.url}/v1/sessions/{sid}/uploads/", str(file), NAMED, *more],
        env={**os.environ, "GATEWAY_TOKEN": token, "RETRIES": str(retries)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not result.stderr.strip(), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_an_upload_cut_by_the_network_resumes_from_its_url(tus_gateway: Gateway, tmp_path: Path) -> None:
    user = new_user()
    data = os.urandom(12 * MiB)
    file = tmp_path / "upload.bin"
    file.write_bytes(data)
    token = tus_gateway.token(user)
    proxy = CuttingProxy(tus_gateway.url, cut_after=9 * MiB)
    try:
        with tus_gateway.client(token=token) as api:
            sid = new_session(api)
            first = _node(proxy, sid, token, file)
            assert proxy.cut.is_set()
            assert "error" in first[-1], first
            url = next(event["url"] for event in first if "url" in event)
            location = urlsplit(url).path
            path = f"/v1/sessions/{sid}/files/{quote(unicodedata.normalize('NFC', NAMED))}"
            # The gateway keeps what arrived before the cut (tus asks it to): a part and a tail. The client gave up
            # before the gateway had noted them, so the offset is awaited here.
            deadline = time.monotonic() + 30
            while (offset := int(api.head(location, headers=TUS).headers["upload-offset"])) == 0:
                assert time.monotonic() < deadline, "the bytes before the cut were not kept"
                time.sleep(0.05)
            assert 5 * MiB <= offset < 9 * MiB
            assert api.get(path).status_code == 404  # nothing visible in between

            second = _node(proxy, sid, token, file, url, retries=3)
            assert second[-1] == {"done": url}, second
            resumed = next(event for event in second if event.get("method") == "HEAD")
            assert int(resumed["offset"]) == offset
            assert api.get(path).content == data
            assert pending_uploads(tus_gateway, tus_gateway.owner(user).session(sid).prefix) == []
    finally:
        proxy.close()
