"""Uploads in the console, dropped from the disk (both backends): a folder of files and a 50 MiB file over tus in one
drop, then the refusals a person must understand: too large, over quota, already there."""

from __future__ import annotations

import hashlib
import os
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gateway.api.app import create_app
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.console.pages import drop_from_disk, file_url, new_session, open_session

MiB = 1024 * 1024
# Names as people make them on their disks: a folder with accents and emoji, a file in NFD, a percent sign.
FOLDER = "Dossier été 🎉"
NFD_NAME = unicodedata.normalize("NFD", "Café crème 100%.txt")


def _nfc(path: str) -> str:
    return unicodedata.normalize("NFC", path)


def _sha256(api: object, sid: str, path: str) -> str:
    digest = hashlib.sha256()
    with api.stream("GET", file_url(sid, path)) as answer:  # type: ignore[attr-defined]
        assert answer.status_code == 200
        for chunk in answer.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def test_a_dropped_folder_and_a_50_mib_file_arrive_whole(gateway: Gateway, page: Page, tmp_path: Path) -> None:
    tree = tmp_path / FOLDER
    (tree / "sous dossier 50%").mkdir(parents=True)
    (tree / NFD_NAME).write_text("crème")
    (tree / "sous dossier 50%" / "notes 🎉.md").write_text("# notes")
    (tree / "sous dossier 50%" / "empty.txt").write_bytes(b"")
    large = tmp_path / "modèle 50 MiB.bin"
    large.write_bytes(os.urandom(50 * MiB))
    expected = {
        _nfc(f"{FOLDER}/{NFD_NAME}"): hashlib.sha256("crème".encode()).hexdigest(),
        f"{FOLDER}/sous dossier 50%/notes 🎉.md": hashlib.sha256(b"# notes").hexdigest(),
        f"{FOLDER}/sous dossier 50%/empty.txt": hashlib.sha256(b"").hexdigest(),
        "modèle 50 MiB.bin": hashlib.sha256(large.read_bytes()).hexdigest(),
    }

    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        sid = new_session(api, "Téléversement 🎉")
        open_session(page, gateway, gateway.token(user), sid)
        expect(page.get_by_role("region", name="Upload files")).to_be_visible()
        sent: list[str] = []
        page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))

        drop_from_disk(page, [tree, large])

        # One line per file, each done; the large one went over tus in chunks, the small ones as plain PUTs.
        expect(page.locator("li.upload")).to_have_count(4)
        expect(page.locator("li.upload.done")).to_have_count(4, timeout=120_000)
        expect(page.locator("li.upload.failed")).to_have_count(0)
        patches = [line for line in sent if line.startswith("PATCH") and "/uploads/" in line]
        assert len(patches) >= 50 // 4
        assert not [line for line in sent if line.startswith("PUT") and "50%20MiB" in line]

        listed = api.get(f"/v1/sessions/{sid}/files").json()["items"]
        assert {item["path"] for item in listed} == set(expected)
        assert {path: _sha256(api, sid, path) for path in expected} == expected

        # The session's count and size follow the uploads; the view shows the folder made, and the large file's size.
        expect(page.locator("p.meta")).to_have_text("active · 4 files · 50 MiB")
        expect(page.locator("tr.folder-row")).to_contain_text(f"{FOLDER}/")
        expect(page.locator("tr.file", has_text="modèle 50 MiB.bin")).to_contain_text("50 MiB")


@pytest.fixture(scope="module")
def limited_gateway(backend: Backend) -> Iterator[Gateway]:
    """A gateway refusing files over 10 MiB and holding at most 3 MiB per session."""
    settings = gateway_settings(
        backend,
        backend.new_bucket(),
        GATEWAY_MAX_UPLOAD_BYTES=str(10 * MiB),
        GATEWAY_QUOTA_SESSION_BYTES=str(3 * MiB),
    )
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)


def test_refusals_are_told_per_file_and_store_nothing(limited_gateway: Gateway, page: Page, tmp_path: Path) -> None:
    gateway = limited_gateway
    too_large = tmp_path / "vidéo trop grande 🎬.bin"  # over the 10 MiB limit: refused before any byte (tus)
    too_large.write_bytes(b"\0" * (11 * MiB))
    over_quota = tmp_path / unicodedata.normalize("NFD", "données 100%.bin")  # fits the limit, not the quota
    over_quota.write_bytes(b"\1" * (2 * MiB))
    taken = tmp_path / "déjà là.txt"  # a file of this name is there already
    taken.write_text("new")
    fits = tmp_path / "petit 🎉.txt"
    fits.write_text("ok")

    user = f"console-{uuid.uuid4().hex[:10]}"
    with gateway.client(user) as api:
        sid = new_session(api, "Limites %")
        assert api.put(file_url(sid, "déjà là.txt"), content=b"old").status_code == 201
        assert api.put(file_url(sid, "base.bin"), content=b"\2" * (2 * MiB)).status_code == 201
        open_session(page, gateway, gateway.token(user), sid)
        expect(page.get_by_role("region", name="Upload files")).to_be_visible()

        drop_from_disk(page, [too_large, over_quota, taken, fits])

        line = page.locator("li.upload")
        expect(line.filter(has_text="vidéo trop grande")).to_contain_text(
            "too large: this gateway takes files up to 10 MiB"
        )
        expect(line.filter(has_text="données 100%")).to_contain_text(
            "over this session's storage quota: 2.0 MiB of 3.0 MiB in use"
        )
        expect(line.filter(has_text="déjà là.txt")).to_contain_text("a file with this name is already there")
        expect(line.filter(has_text="petit 🎉.txt")).to_contain_text("uploaded")
        # Each refusal is an alert, read out as it appears.
        expect(page.get_by_role("alert")).to_have_count(3)

        # Only the file that fitted is stored; the refused ones left nothing, and the old file is untouched.
        listed = sorted(item["path"] for item in api.get(f"/v1/sessions/{sid}/files").json()["items"])
        assert listed == sorted(["base.bin", "déjà là.txt", "petit 🎉.txt"])
        assert api.get(file_url(sid, "déjà là.txt")).content == b"old"
        assert api.get(f"/v1/sessions/{sid}/uploads/").status_code in (404, 405)
