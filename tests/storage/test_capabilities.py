"""Probing what the backend honours: the facts found on moto and on Ceph RGW, a bucket left as it was, overrides."""

from __future__ import annotations

import asyncio
import logging
import os
import unicodedata
from dataclasses import replace
from typing import Any

import pytest

from gateway.api.app import create_app
from gateway.errors import SettingsError
from gateway.keys import owner_key_name, probe_key, server_key_name, session_prefix_of
from gateway.settings import FLAVORS, Settings
from gateway.storage.capabilities import LEAST, Capabilities, discover, for_flavor, probe
from gateway.storage.store import Store
from tests.conftest import KEY_ROOT, Backend, ServerThread, gateway_settings

# What each backend does, found with boto3 and written down before the probe existed.
EXPECTED = {
    "moto": Capabilities(
        tags_on_multipart=True,
        tags_on_copy=True,
        copy_reports_version=True,
        multipart_reports_etag=True,
        conditional_put=True,
        etag_is_md5=True,
    ),
    # Ceph RGW 16: tags given to multipart uploads and copies are dropped, copies do not report their version,
    # completions carry an empty ETag, and If-None-Match is ignored on a versioned bucket. Its ETags are MD5s.
    "rgw": replace(LEAST, etag_is_md5=True),
}
# Names that exercise the key layout: non-ASCII, decomposed (NFD), emoji and a percent sign.
NAMES = ["café.txt", unicodedata.normalize("NFD", "résumé.md"), "🚀 launch.bin", "100% done.txt"]


def _bucket_contents(backend: Backend, bucket: str) -> dict[str, Any]:
    s3 = backend.client()
    versions = s3.list_object_versions(Bucket=bucket)
    return {
        "versions": sorted((item["Key"], item["VersionId"]) for item in versions.get("Versions", [])),
        "markers": sorted((item["Key"], item["VersionId"]) for item in versions.get("DeleteMarkers", [])),
        "uploads": [upload["Key"] for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])],
    }


def _probe(settings: Settings, backend: Backend, observed: list[tuple[str, str]] | None = None) -> Capabilities:
    def observe(operation: str, key: str) -> None:
        if observed is not None:
            observed.append((operation, key))

    async def main() -> Capabilities:
        async with Store(settings, credentials=backend.credentials, observer=observe) as store:
            return await probe(store, settings)

    return asyncio.run(main())


def test_probe_finds_what_the_backend_honours_and_leaves_the_bucket_as_it_was(backend: Backend) -> None:
    bucket = backend.new_bucket()
    s3 = backend.client()
    for name in NAMES:
        s3.put_object(Bucket=bucket, Key=f"{KEY_ROOT}/{name}", Body=name.encode())
    before = _bucket_contents(backend, bucket)
    observed: list[tuple[str, str]] = []

    found = _probe(gateway_settings(backend, bucket), backend, observed)

    assert found == EXPECTED[backend.name]
    assert _bucket_contents(backend, bucket) == before
    # Every call stays on one probe key under the key root's probe prefix, and there are few of them.
    keys = {key for _operation, key in observed}
    assert len(keys) == 1
    (key,) = keys
    assert key.startswith(probe_key(KEY_ROOT, "")) and key != probe_key(KEY_ROOT, "")
    # 15 on moto (every condition tried), 13 on Ceph RGW (the second If-None-Match shows it is ignored).
    assert len(observed) == {"moto": 15, "rgw": 13}[backend.name]
    deletes = [operation for operation, _key in observed if operation == "delete_object"]
    assert len(deletes) == 4  # one per version written


def test_probe_without_a_key_root(backend: Backend) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket, GATEWAY_KEY_ROOT="")
    assert _probe(settings, backend) == EXPECTED[backend.name]
    assert _bucket_contents(backend, bucket) == {"versions": [], "markers": [], "uploads": []}


def test_two_probes_at_once_do_not_disturb_each_other(backend: Backend) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)

    async def main() -> list[Capabilities]:
        async with Store(settings, credentials=backend.credentials) as store:
            return list(await asyncio.gather(probe(store, settings), probe(store, settings)))

    assert asyncio.run(main()) == [EXPECTED[backend.name]] * 2
    assert _bucket_contents(backend, bucket) == {"versions": [], "markers": [], "uploads": []}


def test_the_app_probes_once_at_start_up(backend: Backend) -> None:
    settings = gateway_settings(backend, backend.new_bucket())
    touched: list[tuple[str, str]] = []
    app = create_app(settings, credentials=backend.credentials, observer=lambda *call: touched.append(call))
    with ServerThread(app):
        assert app.state.services.capabilities == EXPECTED[backend.name]
    probed = {key for _operation, key in touched if key.startswith(probe_key(KEY_ROOT, ""))}
    assert len(probed) == 1  # one probe, not a fallback after a failed one
    assert ("complete_multipart_upload", next(iter(probed))) in touched
    # The probe leaves nothing; the server and owner keys the app also keeps there are its only objects.
    kept = [key for key, _version in _bucket_contents(backend, settings.bucket)["versions"]]
    assert sorted(kept) == [owner_key_name(KEY_ROOT), server_key_name(KEY_ROOT)]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_flavor_overrides_the_probe_without_any_s3_call(backend: Backend, flavor: str) -> None:
    settings = gateway_settings(backend, backend.new_bucket(), GATEWAY_S3_FLAVOR=flavor)
    observed: list[tuple[str, str]] = []

    async def main() -> Capabilities:
        async with Store(settings, credentials=backend.credentials, observer=lambda *call: observed.append(call)) as s:
            return await discover(s, settings)

    assert asyncio.run(main()) == for_flavor(flavor)
    assert observed == []


def test_flavors_stand_for_fixed_capabilities() -> None:
    assert for_flavor("aws") == Capabilities(True, True, True, True, True, etag_is_md5=False)
    assert for_flavor("ceph") == EXPECTED["rgw"]  # what the probe finds on Ceph RGW 16
    assert for_flavor("generic") == LEAST
    with pytest.raises(ValueError, match="minio"):
        for_flavor("minio")


def test_an_unreachable_bucket_leaves_the_least(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    settings = gateway_settings(backend, "no-such-bucket-" + os.urandom(4).hex())

    async def main() -> Capabilities:
        async with Store(settings, credentials=backend.credentials) as store:
            return await discover(store, settings)

    with caplog.at_level(logging.WARNING, logger="gateway.storage.capabilities"):
        assert asyncio.run(main()) == LEAST
    assert "could not probe the storage backend" in caplog.text


@pytest.mark.parametrize("root", ["", "gw", "prod/gw"])
def test_probe_keys_lie_outside_every_session(root: str) -> None:
    key = probe_key(root, "0123abcd")
    assert key == (f"{root}/" if root else "") + "_gateway/probe/0123abcd"
    assert session_prefix_of(root, key) is None
    assert probe_key(root, "").endswith("_gateway/probe/")
    assert key.startswith(probe_key(root, ""))


@pytest.mark.parametrize("token", [*NAMES, "a/b", "..", "x y", "%41", "é"])
def test_probe_tokens_are_plain_ascii(token: str) -> None:
    with pytest.raises(ValueError, match="probe token"):
        probe_key("gw", token)


def test_probe_keys_refuse_a_bad_root() -> None:
    with pytest.raises(ValueError, match="key root"):
        probe_key("gw/../x", "t")


@pytest.mark.parametrize(
    ("raw", "flavor"), [(None, None), ("", None), ("auto", None), (" ceph ", "ceph"), ("aws", "aws")]
)
def test_the_flavor_is_an_optional_override(raw: str | None, flavor: str | None) -> None:
    environ = {} if raw is None else {"GATEWAY_S3_FLAVOR": raw}
    assert Settings.from_env(environ).s3_flavor == flavor


def test_an_unknown_flavor_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_S3_FLAVOR: must be one of aws, ceph, generic, or auto"):
        Settings.from_env({"GATEWAY_S3_FLAVOR": "minio"})
