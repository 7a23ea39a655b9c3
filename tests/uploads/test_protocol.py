"""The tus protocol on the wire: discovery, names, checksums, termination, refusals, preconditions, quotas, races."""

from __future__ import annotations

import os
import threading
import unicodedata
from urllib.parse import quote

import httpx

from tests.conftest import Gateway
from tests.uploads.helpers import (
    NAMED,
    OFFSET_TYPE,
    QUOTA_TENANT,
    TUS,
    MiB,
    b64,
    checksum,
    create,
    created,
    heard,
    keys_under,
    metadata,
    new_session,
    new_user,
    offset_of,
    patch,
    pending_uploads,
    upload_prefix,
)

NAMES = [NAMED, "数据/报告.md", "emoji/🎉 party.txt", "100%.txt", "cafe\u0301.txt"]


def _file(api: httpx.Client, sid: str, path: str) -> httpx.Response:
    return api.get(f"/v1/sessions/{sid}/files/{quote(unicodedata.normalize('NFC', path))}")


def test_discovery_and_the_version_header(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user) as api:
        sid = new_session(api)
        options = httpx.options(f"{tus_gateway.url}/v1/sessions/{sid}/uploads/")  # no token needed
        assert options.status_code == 204
        assert options.headers["tus-version"] == "1.0.0"
        assert set(options.headers["tus-extension"].split(",")) == {
            "creation",
            "creation-with-upload",
            "termination",
            "expiration",
            "checksum",
        }
        assert options.headers["tus-max-size"] == str(tus_gateway.settings.max_upload_bytes)
        assert options.headers["tus-checksum-algorithm"] == "sha256"
        for version in (None, "0.2.2"):
            headers = {"Upload-Length": "3", "Upload-Metadata": metadata("a.txt")}
            if version:
                headers["Tus-Resumable"] = version
            refused = api.post(f"/v1/sessions/{sid}/uploads/", headers=headers)
            assert refused.status_code == 412
            assert refused.headers["tus-version"] == "1.0.0"
            assert refused.headers["tus-resumable"] == "1.0.0"
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["header"] == "Tus-Resumable"
        deferred = api.post(
            f"/v1/sessions/{sid}/uploads/",
            headers={**TUS, "Upload-Defer-Length": "1", "Upload-Metadata": metadata("a.txt")},
        )
        assert deferred.status_code == 400 and deferred.json()["header"] == "Upload-Defer-Length"
        limit = tus_gateway.settings.max_upload_bytes
        too_large = create(api, sid, limit + 1, "big.bin")
        assert too_large.status_code == 413 and too_large.json()["limit_bytes"] == limit
        assert keys_under(tus_gateway, tus_gateway.owner(user).session(sid).uploads_prefix) == []


def test_names_with_data_in_the_creating_request(tus_gateway: Gateway) -> None:
    with tus_gateway.client(new_user()) as api:
        sid = new_session(api)
        for name in NAMES:
            data = name.encode() * 3
            response = api.post(
                f"/v1/sessions/{sid}/uploads/",
                content=data,
                headers={
                    **TUS,
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": metadata(name, content_type="text/plain; charset=utf-8"),
                    "Content-Type": OFFSET_TYPE,
                    "Upload-Checksum": checksum(data),
                },
            )
            assert response.status_code == 201, response.text
            assert response.headers["upload-offset"] == str(len(data))
            assert "upload-expires" not in response.headers  # complete: nothing left to expire
            read = _file(api, sid, name)
            assert read.status_code == 200 and read.content == data
            assert read.headers["content-type"] == "text/plain; charset=utf-8"
            head = api.head(response.headers["location"], headers=TUS)
            assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(data))
            assert head.headers["upload-metadata"] == metadata(name, content_type="text/plain; charset=utf-8")
            assert head.headers["cache-control"] == "no-store"
        listed = api.get(f"/v1/sessions/{sid}/files").json()["items"]
        assert sorted(item["path"] for item in listed) == sorted(unicodedata.normalize("NFC", n) for n in NAMES)
        written = heard(tus_gateway, "file.written", sid)
        assert len(written) == len(NAMES) and all(change.detail["upload"] for change in written)
        empty = created(api, sid, 0, "empty/nothing é.txt")
        assert offset_of(api, empty) == 0
        assert _file(api, sid, "empty/nothing é.txt").content == b""


BAD_METADATA = [
    (metadata(content_type="text/plain"), "path", None),
    ("path not*base64", "path", None),
    ("path " + b64("a/../b.txt"), "path", "dot-segment"),
    ("path " + b64("ünïcode/../😀 100%.txt"), "path", "dot-segment"),
    ("path " + "/w==", "path", "utf-8"),
    (metadata("a.txt", tier="no-such-tier"), "tier", None),
    (metadata("a.txt", content_type="no type"), "content_type", None),
    ("path " + b64("x") + ",path " + b64("y"), "path", None),
    ("path,,", "", None),
]


def test_bad_metadata_is_refused_naming_the_field(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user) as api:
        sid = new_session(api)
        for upload_metadata, field, rule in BAD_METADATA:
            response = api.post(
                f"/v1/sessions/{sid}/uploads/",
                headers={**TUS, "Upload-Length": "10", "Upload-Metadata": upload_metadata},
            )
            assert response.status_code == 400, (upload_metadata, response.text)
            problem = response.json()
            assert problem["type"] == "/problems/invalid-upload-metadata"
            assert (problem["field"], problem.get("rule")) == (field, rule), upload_metadata
            assert response.headers["tus-resumable"] == "1.0.0"
        assert api.get(f"/v1/sessions/{sid}/files").json()["items"] == []
        assert keys_under(tus_gateway, tus_gateway.owner(user).session(sid).uploads_prefix) == []


def test_checksum_mismatch_takes_nothing(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user) as api:
        sid = new_session(api)
        data = os.urandom(3 * MiB)
        location = created(api, sid, len(data), NAMED)
        first = patch(api, location, 0, data[:MiB], **{"Upload-Checksum": checksum(data[:MiB])})
        assert first.status_code == 204 and first.headers["upload-offset"] == str(MiB)
        assert "upload-expires" in first.headers
        wrong = patch(api, location, MiB, data[MiB : 2 * MiB], **{"Upload-Checksum": checksum(b"other bytes")})
        assert wrong.status_code == 460, wrong.text
        assert wrong.json()["type"] == "/problems/checksum-mismatch"
        assert wrong.headers["tus-resumable"] == "1.0.0"
        assert offset_of(api, location) == MiB
        unknown = patch(api, location, MiB, data[MiB:], **{"Upload-Checksum": "sha1 " + b64("x" * 20)})
        assert unknown.status_code == 400 and unknown.json()["header"] == "Upload-Checksum"
        stale = patch(api, location, 0, data)
        assert stale.status_code == 409 and stale.json()["upload_offset"] == MiB
        assert patch(api, location, MiB, data[MiB:] + b"x").status_code == 413
        assert patch(api, location, MiB, data[MiB:], **{"Upload-Checksum": checksum(data[MiB:])}).status_code == 204
        assert _file(api, sid, NAMED).content == data


def test_termination_leaves_nothing(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user) as api:
        sid = new_session(api)
        data = os.urandom(6 * MiB)
        location = created(api, sid, 8 * MiB, NAMED)
        assert patch(api, location, 0, data).status_code == 204  # one part sent, a tail kept
        prefix = upload_prefix(tus_gateway, user, sid, location)
        session = tus_gateway.owner(user).session(sid)
        assert len(pending_uploads(tus_gateway, session.prefix)) == 1
        assert any("/tail/" in key for key in keys_under(tus_gateway, prefix))
        ended = api.delete(location, headers=TUS)
        assert ended.status_code == 204 and ended.headers["tus-resumable"] == "1.0.0"
        assert api.head(location, headers=TUS).status_code == 404
        assert api.delete(location, headers=TUS).status_code == 404
        assert patch(api, location, 6 * MiB, b"x").status_code == 404
        assert pending_uploads(tus_gateway, session.prefix) == []
        assert keys_under(tus_gateway, prefix) == []
        assert _file(api, sid, NAMED).status_code == 404
        (aborted,) = heard(tus_gateway, "upload.aborted", sid)
        assert aborted.actor.user == user and aborted.path == unicodedata.normalize("NFC", NAMED)
        assert heard(tus_gateway, "file.written", sid) == []


def test_preconditions_hold_at_creation_and_at_completion(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user) as api:
        sid = new_session(api)
        url = f"/v1/sessions/{sid}/files/{quote(unicodedata.normalize('NFC', NAMED))}"
        assert api.put(url, content=b"first").status_code == 201
        refused = create(api, sid, 4, NAMED, **{"If-None-Match": "*"})
        assert refused.status_code == 412 and refused.headers["tus-resumable"] == "1.0.0"
        etag = api.head(url).headers["etag"]
        matched = created(api, sid, 4, NAMED, **{"If-Match": etag})
        other = "elsewhere/ñ.txt"
        waiting = created(api, sid, 4, other, **{"If-None-Match": "*"})
        # Meanwhile the files change: both uploads' preconditions fail when they complete.
        assert api.put(url, content=b"second").status_code == 200
        other_url = f"/v1/sessions/{sid}/files/{quote(other)}"
        assert api.put(other_url, content=b"theirs").status_code == 201
        for location in (matched, waiting):
            late = patch(api, location, 0, b"mine")
            assert late.status_code == 412, late.text
            assert api.head(location, headers=TUS).status_code == 404  # the upload ended
        assert len(heard(tus_gateway, "upload.aborted", sid)) == 2
        assert api.get(url).content == b"second"
        assert api.get(other_url).content == b"theirs"
        assert pending_uploads(tus_gateway, tus_gateway.owner(user).session(sid).prefix) == []
        fresh = created(api, sid, 4, "new/ü.txt", **{"If-None-Match": "*"})
        assert patch(api, fresh, 0, b"mine").status_code == 204
        assert _file(api, sid, "new/ü.txt").content == b"mine"


def test_quota_refuses_at_creation_before_any_byte(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user, tenant=QUOTA_TENANT) as api:
        sid = new_session(api)
        refused = create(api, sid, 5_000, NAMED)
        assert refused.status_code == 413, refused.text
        assert refused.json()["type"] == "/problems/quota-exceeded"
        assert refused.json()["quota"] == "session.bytes"
        session = tus_gateway.owner(user, QUOTA_TENANT).session(sid)
        assert keys_under(tus_gateway, session.uploads_prefix) == []
        assert pending_uploads(tus_gateway, session.prefix) == []
        small = created(api, sid, 500, NAMED)
        assert patch(api, small, 0, b"q" * 500).status_code == 204
        assert api.get("/v1/usage", params={"session": sid}).json()["session"]["bytes"]["used"] == 500


def test_only_the_creator_reaches_an_upload(tus_gateway: Gateway) -> None:
    tenant = "t-tus-grants"
    owner_user, grantee_user, stranger_user = new_user(), new_user(), new_user()
    with (
        tus_gateway.client(owner_user, tenant=tenant) as owner,
        tus_gateway.client(grantee_user, tenant=tenant) as grantee,
        tus_gateway.client(stranger_user, tenant=tenant) as stranger,
    ):
        sid = new_session(owner)
        granted = owner.post(f"/v1/sessions/{sid}/grants", json={"user": grantee_user, "access": "write"})
        assert granted.status_code == 201, granted.text
        mine = created(owner, sid, 10, NAMED)
        missing = mine[: -len("a" * 26)] + "a" * 26
        for client in (grantee, stranger):
            for method in ("HEAD", "DELETE", "PATCH"):
                headers = {**TUS, "Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
                answer = client.request(method, mine, headers=headers, content=b"x" if method == "PATCH" else None)
                none = client.request(method, missing, headers=headers, content=b"x" if method == "PATCH" else None)
                assert answer.status_code == none.status_code == 404, (method, answer.text)
                if method != "HEAD":
                    strip = {"instance"}
                    assert {k: v for k, v in answer.json().items() if k not in strip} == {
                        k: v for k, v in none.json().items() if k not in strip
                    }
        # A grantee makes uploads of their own in the session, which the owner does not see either.
        theirs = created(grantee, sid, 3, "from grantee/ö.txt")
        assert owner.head(theirs, headers=TUS).status_code == 404
        assert patch(grantee, theirs, 0, b"abc").status_code == 204
        assert owner.get(f"/v1/sessions/{sid}/files/{quote('from grantee/ö.txt')}").content == b"abc"
        assert create(stranger, sid, 1, "s.txt").status_code == 404
        assert offset_of(owner, mine) == 0


def test_two_requests_racing_at_one_offset_move_it_once(tus_gateway: Gateway) -> None:
    user = new_user()
    with tus_gateway.client(user) as api:
        sid = new_session(api)
        location = created(api, sid, 7 * MiB, NAMED)
        # Different bytes under a part each: each request keeps its own tail, and only the winner's counts.
        bodies = [os.urandom(3 * MiB), os.urandom(3 * MiB)]
        answers: list[httpx.Response | None] = [None, None]
        start = threading.Barrier(2)

        def send(index: int) -> None:
            with tus_gateway.client(user) as own:
                start.wait()
                answers[index] = patch(own, location, 0, bodies[index])

        threads = [threading.Thread(target=send, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(answer.status_code for answer in answers if answer is not None)
        assert statuses == [204, 409], [a.text for a in answers if a is not None]
        winner = next(i for i, answer in enumerate(answers) if answer is not None and answer.status_code == 204)
        assert offset_of(api, location) == 3 * MiB
        rest = os.urandom(4 * MiB)
        finished = patch(api, location, 3 * MiB, rest)
        assert finished.status_code == 204, finished.text
        assert _file(api, sid, NAMED).content == bodies[winner] + rest
