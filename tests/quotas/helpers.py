"""A gateway with quotas from a policy file, and what the bucket really holds, for the quota tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from gateway.api.app import create_app
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings

# One tenant per test that counts a tenant's figures: the gateway serves a whole module.
QUOTA_FILE = """
[tenants."t-session"]
session_bytes = 100
session_files = 3

[tenants."t-user"]
user_bytes = 150
user_files = 4

[tenants."t-tenant-bytes"]
tenant_bytes = 200

[tenants."t-tenant-files"]
tenant_files = 3

[tenants."t-usage"]
user_bytes = 1_000
tenant_files = 50

[tenants."t-deletes"]
user_bytes = 100
user_files = 3

[tenants."t-chunked"]
session_bytes = 100

[tenants."t-bulk"]
user_bytes = 100
user_files = 4

[tenants."t-unlimited"]
session_files = "unlimited"

[tenants."t-race"]
tenant_bytes = 1_000
tenant_files = 1_000

[no_tenant]
session_files = 1
"""
# Hostile names: non-ASCII, NFD (stored NFC), emoji and '%'.
NAMES = ["café/naïve.txt", "cafe\u0301-nfd.txt", "emoji-😀.bin", "100%-sure.txt", "日本語/ファイル.md"]


@contextmanager
def quota_gateway(backend: Backend, quota_file: str, bucket: str | None = None, **extra: str) -> Iterator[Gateway]:
    settings = gateway_settings(backend, bucket or backend.new_bucket(), GATEWAY_QUOTA_FILE=quota_file, **extra)
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def client(gateway: Gateway, tenant: str | None, user: str | None = None, **claims: Any) -> httpx.Client:
    extra = {"tenant": tenant} if tenant is not None else {}
    return gateway.client(user or f"user-{uuid.uuid4().hex[:12]}", **extra, **claims)


def new_session(api: httpx.Client) -> str:
    response = api.post("/v1/sessions", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def put(api: httpx.Client, session_id: str, path: str, data: bytes) -> httpx.Response:
    return api.put(f"/v1/sessions/{session_id}/files/{path}", content=data)


def versions_under(gateway: Gateway, prefix: str) -> list[str]:
    """Every version and delete marker under `prefix`, and every multipart upload left open."""
    s3 = gateway.backend.client()
    listing = s3.list_object_versions(Bucket=gateway.settings.bucket, Prefix=prefix)
    found = [f"{item['Key']}@{item['VersionId']}" for item in listing.get("Versions", [])]
    found += [f"{item['Key']}@marker" for item in listing.get("DeleteMarkers", [])]
    uploads = s3.list_multipart_uploads(Bucket=gateway.settings.bucket, Prefix=prefix)
    return found + [f"{item['Key']}@upload" for item in uploads.get("Uploads", [])]


def current_files(gateway: Gateway, prefix: str) -> tuple[int, int]:
    """The truth: (bytes, files) of the current objects under `prefix` that are session files."""
    s3 = gateway.backend.client()
    total, count = 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=gateway.settings.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if "/f/" in item["Key"]:
                total += item["Size"]
                count += 1
    return total, count
