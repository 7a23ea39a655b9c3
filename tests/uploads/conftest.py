"""One gateway per backend for the resumable upload tests, with parts of S3's smallest size (5 MiB) so that a few
MiB make several parts, a tenant with a small quota, and uploads that expire after two days (the policy's rule for
multipart uploads open too long says one: the janitor must leave a live upload's alone)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.api.app import create_app
from gateway.changes import Change, ChangeHook
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.uploads.helpers import EXPIRY_SECONDS, HEARD, PART, QUOTA_TENANT

QUOTAS = f"""
[tenants."{QUOTA_TENANT}"]
session_bytes = 1_000
"""


@pytest.fixture(scope="session")
def tus_gateway(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    quota_file = tmp_path_factory.mktemp("tus") / "quotas.toml"
    quota_file.write_text(QUOTAS)
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_MULTIPART_THRESHOLD_BYTES=str(PART),
        GATEWAY_QUOTA_FILE=str(quota_file),
        GATEWAY_UPLOAD_EXPIRY_SECONDS=str(EXPIRY_SECONDS),
    )
    hook = ChangeHook()
    heard: list[Change] = []
    hook.subscribe(heard.append)
    with ServerThread(create_app(settings, credentials=backend.credentials, hook=hook)) as url:
        HEARD[url] = heard
        yield Gateway(backend=backend, settings=settings, url=url)
