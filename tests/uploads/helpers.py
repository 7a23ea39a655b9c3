"""The raw tus protocol over httpx, and what the bucket holds, for the resumable upload tests."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import httpx

from gateway.changes import Change
from tests.conftest import Gateway

MiB = 1024 * 1024
PART = 5 * MiB
QUOTA_TENANT = "t-tus-tiny"
EXPIRY_SECONDS = 2 * 86_400
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
# Non-ASCII, NFD (stored as NFC), an emoji and '%' in one path.
NAMED = "re\u0301sume\u0301s/été 😀 100%.bin"


# What each test gateway's change hook heard, by the gateway's URL.
HEARD: dict[str, list[Change]] = {}


def heard(gateway: Gateway, action: str, session_id: str) -> list[Change]:
    return [change for change in HEARD[gateway.url] if change.action == action and change.session_id == session_id]


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def metadata(path: str | None = None, **more: str) -> str:
    pairs = {"path": path, **more} if path is not None else more
    return ",".join(f"{key} {b64(value)}" for key, value in pairs.items())


def new_user() -> str:
    return f"usér-{uuid.uuid4().hex[:10]} 😀"


def new_session(api: httpx.Client) -> str:
    response = api.post("/v1/sessions", json={"name": "uploads"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create(api: httpx.Client, sid: str, length: int, path: str, **headers: str) -> httpx.Response:
    return api.post(
        f"/v1/sessions/{sid}/uploads/",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(path), **headers},
    )


def created(api: httpx.Client, sid: str, length: int, path: str, **headers: str) -> str:
    response = create(api, sid, length, path, **headers)
    assert response.status_code == 201, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    return response.headers["location"]


def patch(api: httpx.Client, location: str, offset: int, data: bytes, **headers: str) -> httpx.Response:
    return api.patch(
        location, content=data, headers={**TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE, **headers}
    )


def checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def offset_of(api: httpx.Client, location: str) -> int:
    response = api.head(location, headers=TUS)
    assert response.status_code == 200, response.status_code
    return int(response.headers["upload-offset"])


def pending_uploads(gateway: Gateway, prefix: str) -> list[dict[str, Any]]:
    """S3 multipart uploads still open under `prefix` (a session's)."""
    listed = gateway.backend.client().list_multipart_uploads(Bucket=gateway.settings.bucket, Prefix=prefix)
    return list(listed.get("Uploads", []))


def keys_under(gateway: Gateway, prefix: str) -> list[str]:
    listed = gateway.backend.client().list_object_versions(Bucket=gateway.settings.bucket, Prefix=prefix)
    return [item["Key"] for name in ("Versions", "DeleteMarkers") for item in listed.get(name, [])]


def upload_prefix(gateway: Gateway, user: str, sid: str, location: str, tenant: str | None = None) -> str:
    return gateway.owner(user, tenant).session(sid).upload(location.rsplit("/", 1)[-1]).prefix
