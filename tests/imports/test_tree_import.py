"""`session-gateway import-tree` on both backends: a generated store of 50 sessions, run as the command is run
(a process of its own, configured from the environment), then checked through the HTTP API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from gateway.api.app import create_app
from gateway.imports.disk import Layout, file_chunks
from tests.conftest import KEY_ROOT, Backend, Gateway, ServerThread, gateway_settings

USERS = 5
SESSIONS_PER_USER = 10
TOTAL = USERS * SESSIONS_PER_USER
# Every session gets these (the session's number is appended to the bytes); names as the test sets require.
FILES = {
    "notes/today.md": b"# today ",
    "rapports/e\u0301te\u0301 re\u0301sume\u0301.txt": b"NFD on disk ",  # NFC in the bucket
    "emoji/🎉 party.txt": b"party ",
    "100%.txt": b"percent ",
}


def _bucket_entries(backend: Backend, bucket: str) -> list[tuple[str, str]]:
    client = backend.client()
    found: list[tuple[str, str]] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for name in ("Versions", "DeleteMarkers"):
            found += [(entry["Key"], entry["VersionId"]) for entry in page.get(name, [])]
    return sorted(found)


def _run(backend: Backend, bucket: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_S3_ENDPOINT_URL=backend.endpoint,
        GATEWAY_BUCKET=bucket,
        GATEWAY_KEY_ROOT=KEY_ROOT,
        AWS_ACCESS_KEY_ID=backend.credentials[0],
        AWS_SECRET_ACCESS_KEY=backend.credentials[1],
    )
    command = [sys.executable, "-m", "gateway", "import-tree", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def _make_store(root: Path) -> None:
    for u in range(USERS):
        for s in range(SESSIONS_PER_USER):
            session = root / f"user-{u}" / f"session-{s:02}"
            for name, data in FILES.items():
                target = session / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data + str(s).encode())
    hostile = root / "user-0" / "session-00"
    (hostile / "link.txt").symlink_to("/etc/passwd")
    (hostile / "back\\slash.txt").write_bytes(b"backslash")
    (hostile / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name")
    (hostile / "bidi\u202etxt.exe").write_bytes(b"bidi")
    os.mkfifo(hostile / "pipe")
    (root / "user-1" / "linked-session").symlink_to(root / "user-2" / "session-00")
    (root / "stray-file.txt").write_bytes(b"not a user")


REFUSED = {
    "user-0/session-00/link.txt": "symlink",
    "user-0/session-00/back\\slash.txt": "backslash",
    "user-0/session-00/caf\\xe9.txt": "utf-8",
    "user-0/session-00/bidi\\u202etxt.exe": "bidi-control",  # printed escaped: it would reorder the line
    "user-0/session-00/pipe": "not-a-file",
    "user-1/linked-session": "symlink",
    "stray-file.txt": "not-a-directory",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sessions")
    _make_store(root)
    return root


@pytest.fixture(scope="module")
def bucket(backend: Backend) -> str:
    return backend.new_bucket()


@pytest.fixture(scope="module")
def served(backend: Backend, bucket: str) -> Iterator[Gateway]:
    """The gateway on the same bucket, started once the first import made the owner key."""
    settings = gateway_settings(backend, bucket)
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def _refusals(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        if line.startswith("refused "):
            where, _, rest = line.removeprefix("refused").strip().partition(": ")
            found[where] = rest.split(" ", 1)[0]
    return found


def test_a_dry_run_on_a_fresh_bucket_writes_nothing(backend: Backend, store: Path) -> None:
    bucket = backend.new_bucket()
    result = _run(backend, bucket, str(store), "--layout", "{user}/{session}/", "--dry-run")
    assert result.returncode == 3, result.stderr + result.stdout
    assert _refusals(result.stdout) == REFUSED
    files = len(FILES) * USERS * SESSIONS_PER_USER
    assert result.stdout.count("would create ") == USERS * SESSIONS_PER_USER
    assert f"{TOTAL} session(s): {TOTAL} would be created" in result.stdout
    assert f"{files} file(s) would be imported, 0 unchanged, {len(REFUSED)} refused, 0 failed" in result.stdout
    assert _bucket_entries(backend, bucket) == []  # not even an owner key or a probe object


def test_a_tree_of_sessions_is_imported_once(
    backend: Backend, bucket: str, store: Path, request: pytest.FixtureRequest
) -> None:
    first = _run(backend, bucket, str(store), "--layout", "{user}/{session}/", "--quiet")
    assert first.returncode == 3, first.stderr + first.stdout
    assert _refusals(first.stdout) == REFUSED
    files = len(FILES) * USERS * SESSIONS_PER_USER
    summary = f"{TOTAL} session(s): {TOTAL} created, 0 already imported; {files} file(s) imported, 0 unchanged"
    assert summary in first.stdout

    served: Gateway = request.getfixturevalue("served")
    for u in (0, USERS - 1):
        with served.client(f"user-{u}") as api:
            sessions = api.get("/v1/sessions", params={"limit": "1000"}).json()["items"]
            assert sorted(s["name"] for s in sessions) == [f"session-{s:02}" for s in range(SESSIONS_PER_USER)]
            for session in sessions:
                detail = api.get(f"/v1/sessions/{session['id']}").json()  # listings carry no metadata
                assert detail["metadata"] == {"imported_from": f"user-{u}/{session['name']}"}
                number = int(session["name"].removeprefix("session-"))
                listing = api.get(f"/v1/sessions/{session['id']}/files", params={"limit": "1000"}).json()
                assert sorted(item["path"] for item in listing["items"]) == sorted(
                    "rapports/été résumé.txt" if name.startswith("rapports/") else name for name in FILES
                )
                for name, data in FILES.items():
                    got = api.get(f"/v1/sessions/{session['id']}/files/{quote(name)}")
                    assert got.status_code == 200 and got.content == data + str(number).encode()
                    assert got.headers["repr-digest"]
    with served.client(f"user-{USERS - 1}", tenant="acme") as other_tenant:
        assert other_tenant.get("/v1/sessions").json()["items"] == []

    before = _bucket_entries(backend, bucket)
    again = _run(backend, bucket, str(store), "--layout", "{user}/{session}/")
    assert again.returncode == 3, again.stderr + again.stdout
    summary = f"{TOTAL} session(s): 0 created, {TOTAL} already imported; 0 file(s) imported, {files} unchanged"
    assert summary in again.stdout
    assert _bucket_entries(backend, bucket) == before  # the second run wrote nothing

    changed = store / "user-3" / "session-04" / "100%.txt"
    original = changed.read_bytes()
    changed.write_bytes(b"changed on disk")
    try:
        dry = _run(backend, bucket, str(store), "--layout", "{user}/{session}/", "--dry-run")
        assert dry.returncode == 3, dry.stderr + dry.stdout
        assert [line for line in dry.stdout.splitlines() if line.startswith("would ")] == [
            "would import user-3/session-04/100%.txt (15 bytes)"
        ]
        assert _bucket_entries(backend, bucket) == before
        third = _run(backend, bucket, str(store), "--layout", "{user}/{session}/", "--quiet")
        assert f"0 created, {TOTAL} already imported; 1 file(s) imported" in third.stdout
        with served.client("user-3") as api:
            sessions = api.get("/v1/sessions", params={"limit": "1000"}).json()["items"]
            sid = next(s["id"] for s in sessions if s["name"] == "session-04")
            assert api.get(f"/v1/sessions/{sid}/files/100%25.txt").content == b"changed on disk"
            history = api.get(f"/v1/sessions/{sid}/history", params={"path": "100%.txt"}).json()["items"]
            assert hashlib.sha256(original).hexdigest() in {item["sha256"] for item in history}
    finally:
        changed.write_bytes(original)


def test_tenants_and_literal_layout_segments(backend: Backend, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    bucket = backend.new_bucket()
    (tmp_path / "alice" / "sessions" / "chat-1").mkdir(parents=True)
    (tmp_path / "alice" / "sessions" / "chat-1" / "a.txt").write_bytes(b"a")
    (tmp_path / "alice" / "other" / "chat-2").mkdir(parents=True)
    result = _run(backend, bucket, str(tmp_path), "--layout", "{user}/sessions/{session}", "--tenant", "acme")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "1 session(s): 1 created" in result.stdout
    settings = gateway_settings(backend, bucket)
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        served = Gateway(backend=backend, settings=settings, url=url)
        with served.client("alice", tenant="acme") as api:
            sessions = [api.get(f"/v1/sessions/{s['id']}").json() for s in api.get("/v1/sessions").json()["items"]]
            assert [(s["name"], s["metadata"]) for s in sessions] == [
                ("chat-1", {"imported_from": "alice/sessions/chat-1"})
            ]
        with served.client("alice") as tenantless:
            assert tenantless.get("/v1/sessions").json()["items"] == []


@pytest.mark.parametrize("layout", ["{user}", "{user}/{session}/{session}", "{user}/../{session}", "{user}/{sesion}"])
def test_layouts_need_user_and_session_once_and_nothing_else(layout: str) -> None:
    with pytest.raises(ValueError, match="layout"):
        Layout.parse(layout)
    assert Layout.parse("/{user}/sessions/{session}/").segments == ("{user}", "sessions", "{session}")


def test_usage_errors_exit_2(backend: Backend, tmp_path: Path) -> None:
    result = _run(backend, "unused", str(tmp_path), "--layout", "{user}/{sesion}")
    assert result.returncode == 2 and "--layout" in result.stderr, result.stderr
    empty_tenant = _run(backend, "unused", str(tmp_path), "--layout", "{user}/{session}", "--tenant", "")
    assert empty_tenant.returncode == 2 and "--tenant" in empty_tenant.stderr
    missing = _run(backend, "unused", str(tmp_path / "missing"), "--layout", "{user}/{session}")
    assert missing.returncode == 2 and "not a directory" in missing.stderr


def test_a_file_swapped_for_a_link_after_the_walk_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"secret")
    (tmp_path / "file").symlink_to(tmp_path / "secret")

    async def read() -> bytes:
        return b"".join([chunk async for chunk in file_chunks(str(tmp_path / "file"))])

    with pytest.raises(OSError, match="links"):
        asyncio.run(read())
