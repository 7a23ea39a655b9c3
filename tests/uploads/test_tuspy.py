"""Resumable uploads with tuspy, the tus project's Python client: parts, tails, resuming from another client at
another replica."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import unicodedata
from urllib.parse import quote

import httpx
from tusclient.client import TusClient

from gateway.api.app import create_app
from tests.conftest import Gateway, ServerThread
from tests.uploads.helpers import NAMED, TUS, MiB, new_session, new_user, pending_uploads


def test_a_file_in_small_chunks_resumed_by_another_client_on_another_replica(tus_gateway: Gateway) -> None:
    """12 MiB in 2 MiB chunks: parts of 5 MiB cut across chunks, tails kept between requests; half sent by one
    client to one replica, the rest by another client (from the stored URL) to another replica."""
    user = new_user()
    data = os.urandom(12 * MiB)
    with tus_gateway.client(user) as source:
        _whole_story(tus_gateway, user, source, data)


def _whole_story(tus_gateway: Gateway, user: str, source: httpx.Client, data: bytes) -> None:
    sid = new_session(source)
    auth = {"Authorization": source.headers["authorization"]}
    first = TusClient(f"{tus_gateway.url}/v1/sessions/{sid}/uploads/", headers=auth)
    uploader = first.uploader(
        file_stream=io.BytesIO(data), chunk_size=2 * MiB, metadata={"path": NAMED, "content_type": "application/x-test"}
    )
    uploader.upload(stop_at=6 * MiB)
    assert uploader.offset == 6 * MiB
    url = uploader.url
    assert url is not None
    # Nothing of the file is visible while the upload runs.
    path = unicodedata.normalize("NFC", NAMED)
    assert source.head(f"/v1/sessions/{sid}/files/{quote(path)}").status_code == 404

    replica = create_app(tus_gateway.settings, credentials=tus_gateway.backend.credentials)
    with ServerThread(replica) as other:
        moved = url.replace(tus_gateway.url, other)
        second = TusClient(f"{other}/v1/sessions/{sid}/uploads/", headers=auth)
        resumed = second.uploader(file_stream=io.BytesIO(data), chunk_size=2 * MiB, url=moved)
        assert resumed.offset == 6 * MiB  # it asked the server (HEAD) where to go on from
        resumed.upload()
    assert resumed.offset == len(data)

    read = source.get(f"/v1/sessions/{sid}/files/{quote(path)}")
    assert read.status_code == 200
    assert read.content == data
    assert read.headers["content-type"] == "application/x-test"
    head = source.head(f"/v1/sessions/{sid}/files/{quote(path)}")
    # The other replica saw half the bytes: the digest was read back from the completed object.
    assert head.headers["repr-digest"] == "sha-256=:" + _b64(hashlib.sha256(data).digest()) + ":"
    assert head.headers["x-tier"] == "standard"
    history = source.get(f"/v1/sessions/{sid}/history", params={"path": path}).json()["items"]
    assert len(history) == 1
    session_prefix = tus_gateway.owner(user).session(sid).prefix
    assert pending_uploads(tus_gateway, session_prefix) == []
    after = source.head(url.replace(tus_gateway.url, ""), headers=TUS)
    assert after.status_code == 200 and after.headers["upload-offset"] == str(len(data))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
