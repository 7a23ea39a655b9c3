"""The sync client against a real gateway: every operation round-trips, names arrive byte for byte, errors carry
the problem, and listings follow their cursors."""

from __future__ import annotations

import hashlib
import io
import unicodedata
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from session_gateway_client import (
    BadRequest,
    Client,
    Conflict,
    FileVersion,
    FolderChange,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    SessionGatewayError,
    paths,
)

from tests.client.conftest import NAMES
from tests.conftest import Gateway


def nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def test_files_round_trip_with_any_name(sgw: Client) -> None:
    sid = sgw.create_session("names").id
    for index, name in enumerate(NAMES):
        data = f"{index}:{name}".encode()
        written = sgw.upload(sid, name, data, content_type="text/plain; charset=utf-8", tier="persistent")
        assert (written.path, written.size, written.tier) == (nfc(name), len(data), "persistent")
        assert written.sha256 == hashlib.sha256(data).hexdigest()
        assert sgw.download(sid, name) == data
        info = sgw.file_info(sid, name)
        assert (info.path, info.size, info.etag, info.version_id) == (
            nfc(name),
            len(data),
            written.etag,
            written.version_id,
        )
        assert (info.content_type, info.tier) == ("text/plain; charset=utf-8", "persistent")
        assert info.sha256 == written.sha256
        assert sgw.read_range(sid, name, 1, 4) == data[1:4]
        with sgw.stream_file(sid, name, start=2) as download:
            assert b"".join(download.iter_bytes()) == data[2:]
            assert download.info.size == len(data)
    # The other Unicode form names the same file; a range may count from the end.
    assert sgw.read_range(sid, unicodedata.normalize("NFD", NAMES[1]), -3) == f"1:{NAMES[1]}".encode()[-3:]
    listed = {entry.path: entry.size for entry in sgw.list_files(sid)}
    assert listed == {nfc(name): len(f"{index}:{name}".encode()) for index, name in enumerate(NAMES)}
    top = sgw.list_files_page(sid, delimiter="/")
    assert set(top.prefixes) == {"café/", "Résumé/", "🎉/", "日本語/"}
    assert {item.path for item in top.items} == {"100% sure.txt", "%41 a b#c?d;e=f+g&h.txt"}
    assert [e.path for e in sgw.list_files(sid, prefix=unicodedata.normalize("NFD", "Résumé/"))] == [nfc(NAMES[1])]
    for name in NAMES:
        sgw.delete_file(sid, name)
    assert list(sgw.list_files(sid)) == []


def test_uploads_stream_from_file_objects_and_chunks_with_preconditions(sgw: Client) -> None:
    sid = sgw.create_session().id
    source = io.BytesIO(b"skip:" + b"x" * 300_000)
    source.seek(5)  # only what is left from the position is sent
    first = sgw.upload(sid, "big/été.bin", source, if_none_match="*")
    assert (first.size, first.content_type) == (300_000, "application/octet-stream")
    with pytest.raises(PreconditionFailed) as refused:
        sgw.upload(sid, "big/été.bin", b"again", if_none_match="*")
    assert (refused.value.status, refused.value.type) == (412, "/problems/precondition-failed")
    second = sgw.upload(sid, "big/été.bin", iter([b"chunk one, ", b"chunk two"]), if_match=first.etag)
    assert sgw.download(sid, "big/été.bin") == b"chunk one, chunk two"
    with pytest.raises(PreconditionFailed) as stale:
        sgw.upload(sid, "big/été.bin", b"stale", if_match=first.etag)
    assert stale.value.problem.instance is not None and stale.value.request_id
    assert sgw.download(sid, "big/été.bin", version_id=first.version_id) == b"x" * 300_000
    target = io.BytesIO()
    assert sgw.download_to(sid, "big/été.bin", target).etag == second.etag
    assert target.getvalue() == b"chunk one, chunk two"
    with pytest.raises(RangeNotSatisfiable):
        sgw.read_range(sid, "big/été.bin", 10_000)
    with pytest.raises(TypeError, match="binary mode"):
        sgw.upload(sid, "text.txt", io.StringIO("text"))  # type: ignore[arg-type]


def test_errors_carry_the_problem(gateway: Gateway, sgw: Client) -> None:
    sid = sgw.create_session().id
    with pytest.raises(NotFound) as missing:
        sgw.get_session("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert (missing.value.status, missing.value.type, missing.value.title) == (404, "/problems/not-found", "Not found")
    assert isinstance(missing.value, FileNotFoundError) and isinstance(missing.value, SessionGatewayError)
    with pytest.raises(FileNotFoundError):
        sgw.download(sid, "100% missing.txt")
    with pytest.raises(BadRequest) as body:
        sgw.create_session("x", default_tier="no-such-tier")
    assert (body.value.field, body.value.type) == ("default_tier", "/problems/invalid-body")
    assert "valid_tiers" in body.value.problem.extra and "default_tier" in str(body.value)
    with pytest.raises(BadRequest) as path:
        sgw.upload(sid, "a/../b.txt", b"x")
    assert (path.value.type, path.value.problem.rule) == ("/problems/invalid-path", "dot-segment")
    with pytest.raises(BadRequest) as parameter:
        sgw.download(sid, "x.txt", at=datetime.now(UTC) + timedelta(days=1))
    assert (parameter.value.field, parameter.value.type) == ("at", "/problems/invalid-parameter")
    sgw.end_session(sid)
    with pytest.raises(Conflict):
        sgw.upload(sid, "after.txt", b"x")
    # Another user's session answers as one that does not exist.
    with Client(gateway.url, gateway.token("someone-else")) as other, pytest.raises(NotFound):
        other.list_files_page(sid)


def test_listings_follow_their_cursors(sgw: Client) -> None:
    tag = "été-🎉"
    made = [sgw.create_session(f"s{i}", tags=[tag]).id for i in range(3)]
    pages = sgw.list_sessions_page(tags=[tag], limit=2)
    assert len(pages.items) == 2 and pages.next_cursor is not None
    assert [s.id for s in sgw.list_sessions(tags=[tag], limit=2)] == made
    assert [s.id for s in sgw.list_sessions(tags=[tag], limit=2, order="desc")] == made[::-1]
    sid = made[0]
    for name in NAMES[:5]:
        sgw.upload(sid, name, b"x")
    assert [e.path for e in sgw.list_files(sid, limit=2)] == sorted(nfc(n) for n in NAMES[:5])
    for content in (b"two", b"three"):
        sgw.upload(sid, NAMES[3], content)
    versions = list(sgw.history(sid, NAMES[3], limit=1))
    assert [v.size for v in versions] == [5, 3, 1] and versions[0].is_latest


def test_sessions_change_state_and_are_found(sgw: Client) -> None:
    created = sgw.create_session(
        unicodedata.normalize("NFD", "Rapport été 🎉"),
        metadata={"k": "v", "n": 1},
        tags=["q3"],
        external_ids=["agent:%41/1"],
        default_tier="persistent",
    )
    assert (created.state, created.default_tier, created.metadata) == ("active", "persistent", {"k": "v", "n": 1})
    assert sgw.get_session(created.id) == created
    found = list(sgw.list_sessions(external_id="agent:%41/1"))
    assert [s.id for s in found] == [created.id]
    assert [s.id for s in sgw.list_sessions(q="RAPPORT ETE", state="active")] == [created.id]
    changed = sgw.update_session(created.id, name=None, metadata={"k": None, "m": [1]}, tags=["a", "b"])
    assert (changed.name, changed.metadata, changed.tags, changed.default_tier) == (
        None,
        {"n": 1, "m": [1]},
        ("a", "b"),
        "persistent",
    )
    assert sgw.end_session(created.id).state == "ended"
    assert sgw.archive_session(created.id).state == "archived"
    assert [s.id for s in sgw.list_sessions(state=["archived"], tags=["a"])] == [created.id]
    assert sgw.reactivate_session(created.id).state == "active"
    sgw.upload(created.id, "kept.txt", b"kept")
    fork = sgw.fork_session(created.id, name="copy ✓")
    assert (fork.name, sgw.download(fork.id, "kept.txt")) == ("copy ✓", b"kept")
    sgw.delete_session(fork.id, purge=True)
    sgw.delete_session(created.id)
    with pytest.raises(NotFound):
        sgw.get_session(created.id)


def test_versions_copies_links_shares_and_exports(gateway: Gateway, sgw: Client) -> None:
    sid, other = sgw.create_session().id, sgw.create_session().id
    name = NAMES[0]
    first = sgw.upload(sid, name, b"first")
    sgw.upload(sid, name, b"second")
    restored = sgw.rollback(sid, name, first.version_id or "")
    assert isinstance(restored, FileVersion) and sgw.download(sid, name) == b"first"
    copied = sgw.copy(sid, "café/", "copie/")
    assert [(t.source, t.to) for t in copied.copied] == [(name, "copie/naïve ☃.txt")]
    moved = sgw.move(sid, "copie/naïve ☃.txt", "ailleurs/100%.txt", to_session=other)
    assert moved.to_session == other and sgw.download(other, "ailleurs/100%.txt") == b"first"
    retagged = sgw.set_tier(sid, name, "permanent")
    assert isinstance(retagged, FileVersion) and retagged.tier == "permanent"
    folder = sgw.set_folder_tier(sid, "café", "ephemeral")
    assert isinstance(folder, FolderChange) and folder.folder_tiers == {"café/": "ephemeral"}
    link = sgw.create_link(sid, name, expires_in=60)
    assert link.path == name and link.expires_at > datetime.now(UTC)
    share = sgw.create_share(sid, path=name, max_downloads=1)
    assert [s.id for s in sgw.list_shares(sid)] == [share.id]
    assert httpx.get(share.url).status_code == 303
    sgw.revoke_share(sid, share.id)
    assert sgw.list_shares(sid) == ()
    with sgw.stream_export(sid) as download:
        archive = zipfile.ZipFile(io.BytesIO(download.read()))
    assert sorted(archive.namelist()) == [name, "manifest.json"]
    started = sgw.start_export(sid, prefix="café/")
    assert sgw.get_export(sid, started.id).id == started.id
    grant = sgw.create_grant(sid, "friend", "read", prefix="café/")
    assert [g.id for g in sgw.list_grants(sid)] == [grant.id]
    with Client(gateway.url, gateway.token("friend")) as friend:
        assert [g.session_id for g in friend.list_shared()] == [sid]
        assert friend.download(sid, name) == b"first"
    sgw.revoke_grant(sid, grant.id)


def test_the_gateway_unreachable_is_one_error() -> None:
    with Client("http://127.0.0.1:9", "token") as nowhere, pytest.raises(SessionGatewayError):
        nowhere.get_session("01ARZ3NDEKTSV4RRFFQ69G5FAV")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, gateway: Gateway, user: str) -> Iterator[None]:
    monkeypatch.setenv("SGW_URL", gateway.url + "/")
    monkeypatch.setenv("SGW_TOKEN", gateway.token(user))
    yield


@pytest.mark.usefixtures("environment")
def test_the_environment_configures_a_client(user: str) -> None:
    with Client() as client:
        assert client.create_session("from the environment").name == "from the environment"


def test_path_segments_are_encoded_byte_for_byte() -> None:
    assert paths.file_path("a b/%41#?;/é") == "a%20b/%2541%23%3F%3B/%C3%A9"
    assert paths.file_path(unicodedata.normalize("NFD", "é")) == "e%CC%81"
    assert paths.file_path("🎉/x+y") == "%F0%9F%8E%89/x%2By"
    # Dot segments are kept for the gateway to refuse, not resolved away by the HTTP client.
    assert paths.file_path("a/../b/.") == "a/%2E%2E/b/%2E"
    assert paths.segment("a/b") == "a%2Fb"
