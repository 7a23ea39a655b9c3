"""A gateway on a bucket of its own, a second bucket on the same S3 for its backups, and the backup commands."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from gateway.api.app import create_app
from gateway.auth.tokens import issue_token
from gateway.cli import main
from gateway.keys import Owner
from gateway.settings import Settings
from tests.conftest import KEY_ROOT, Backend, ServerThread, bucket_owner_key, gateway_settings

# NFD accents, CJK, emoji and '%' in every set of names.
NAMES = ["e\u0301te\u0301 re\u0301sume\u0301.txt", "数据/报告.md", "emoji/🎉 party.txt", "100%.txt"]


@dataclass
class Site:
    backend: Backend
    settings: Settings
    url: str

    @property
    def env(self) -> dict[str, str]:
        """What an operator sets for the backup commands: the gateway's settings and the backup bucket's."""
        return {
            "GATEWAY_S3_ENDPOINT_URL": self.backend.endpoint,
            "GATEWAY_BUCKET": self.settings.bucket,
            "GATEWAY_KEY_ROOT": KEY_ROOT,
            "GATEWAY_S3_MAX_ATTEMPTS": "2",
            "AWS_ACCESS_KEY_ID": self.backend.credentials[0],
            "AWS_SECRET_ACCESS_KEY": self.backend.credentials[1],
            "GATEWAY_BACKUP_BUCKET": self.settings.backup_bucket,
            "GATEWAY_BACKUP_ENDPOINT_URL": self.backend.endpoint,
            "GATEWAY_BACKUP_ACCESS_KEY_ID": self.backend.credentials[0],
            "GATEWAY_BACKUP_SECRET_ACCESS_KEY": self.backend.credentials[1],
        }

    def client(self, user: str, tenant: str | None = None) -> httpx.Client:
        token = issue_token(self.settings, sub=user, tenant=tenant)
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def owner(self, user: str) -> Owner:
        return Owner(self.settings.key_root, None, user, bucket_owner_key(self.backend, self.settings))

    def purge_source(self) -> None:
        """Remove every version and delete marker of the gateway's bucket: the owner key, the server key, all."""
        purge(self.backend, self.settings.bucket)


def purge(backend: Backend, bucket: str, prefix: str = "") -> int:
    s3 = backend.client()
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        found = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for name in ("Versions", "DeleteMarkers")
            for item in page.get(name, [])
        ]
        if found:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": found, "Quiet": True})
            removed += len(found)
    return removed


@pytest.fixture
def site(backend: Backend) -> Iterator[Site]:
    backups = backend.new_bucket()
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_BACKUP_BUCKET=backups,
        GATEWAY_BACKUP_ENDPOINT_URL=backend.endpoint,
        GATEWAY_BACKUP_ACCESS_KEY_ID=backend.credentials[0],
        GATEWAY_BACKUP_SECRET_ACCESS_KEY=backend.credentials[1],
    )
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Site(backend, settings, url)


Cli = Callable[..., tuple[int, dict[str, Any] | None]]


@pytest.fixture
def cli(site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`session-gateway backup ... --json` as a scheduler runs it: its exit code and its JSON summary."""
    for name in [name for name in os.environ if name.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    for name, value in site.env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, dict[str, Any] | None]:
        code = main(["backup", *args, "--json"])
        out = capsys.readouterr().out.strip()
        return code, (json.loads(out.splitlines()[-1]) if out else None)

    return run


def put(api: httpx.Client, sid: str, path: str, data: bytes, **headers: str) -> dict[str, Any]:
    response = api.put(f"/v1/sessions/{sid}/files/{quote(path)}", content=data, headers=headers)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def get(api: httpx.Client, sid: str, path: str) -> httpx.Response:
    return api.get(f"/v1/sessions/{sid}/files/{quote(path)}")


def history(api: httpx.Client, sid: str, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get(f"/v1/sessions/{sid}/history", params={"path": path}).json()["items"]
    return found
