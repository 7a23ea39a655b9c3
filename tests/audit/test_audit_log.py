"""The audit log: changes and denials recorded with who, what, which versions and which request; a session's
records for its owner only; the operators' export by time and tenant; nothing lost at a clean shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest

from gateway.audit.commands import export
from gateway.audit.log import AuditLog
from gateway.audit.records import CHANGE, DENIAL, SUPPRESSED, Record, ms_of
from gateway.changes import FILE_WRITTEN, Actor, Change
from gateway.keys import AUDIT_LOG_DIR, AUDIT_OWNERS_DIR, Owner, encode_session_id
from gateway.storage.store import Store
from tests.audit.harness import NFC_NAME, NFD_NAME, Clock, Replica, audit_settings, bucket_records, replica
from tests.conftest import Backend

TENANT = "acmé 😀%"


@pytest.fixture(scope="module")
def bucket(backend: Backend) -> str:
    return backend.new_bucket()


def _file(sid: str, path: str) -> str:
    return f"/v1/sessions/{sid}/files/{quote(path, safe='/')}"


async def _all_pages(gw: Replica, url: str, headers: dict[str, str], limit: int) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        answer = await gw.client.get(url, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        records += body["records"]
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def test_changes_are_recorded_with_who_what_versions_and_request(backend: Backend, bucket: str, user: str) -> None:
    clock = Clock()
    settings = audit_settings(backend, bucket)

    async def main() -> None:
        async with replica(backend, settings, clock) as gw:
            own = gw.headers(user, tenant=TENANT)

            def asked(request_id: str) -> dict[str, str]:
                return {**own, "X-Request-Id": request_id}

            created = await gw.client.post("/v1/sessions", json={"name": "audit"}, headers=asked("req-create"))
            sid = created.json()["id"]
            first = await gw.client.put(_file(sid, NFD_NAME), content=b"one", headers=asked("req-put-1"))
            second = await gw.client.put(_file(sid, NFD_NAME), content=b"two", headers=asked("req-put-2"))
            v1, v2 = first.json()["version_id"], second.json()["version_id"]
            back = await gw.client.post(
                f"/v1/sessions/{sid}/rollback", json={"path": NFC_NAME, "version_id": v1}, headers=asked("req-back")
            )
            assert back.status_code in (200, 201), back.text
            v3 = back.json()["version_id"]
            deleted = await gw.client.delete(_file(sid, NFD_NAME), headers=asked("req-delete"))
            assert deleted.status_code == 204, deleted.text
            renamed = await gw.client.patch(f"/v1/sessions/{sid}", json={"name": "renamed"}, headers=asked("req-patch"))
            assert renamed.status_code == 200, renamed.text
            # Nothing is written per change; the flush writes one batch for the operators and one for the owner.
            assert gw.recorders.log.pending >= 6
            assert await gw.recorders.log.flush() >= 6
            records = await _all_pages(gw, f"/v1/sessions/{sid}/audit", own, limit=2)

            wanted = [
                ("session.created", "req-create", None, None),
                ("file.written", "req-put-1", v1, None),
                ("file.written", "req-put-2", v2, v1),
                ("file.rolled_back", "req-back", v3, v2),
                ("file.deleted", "req-delete", None, v3),
                ("session.updated", "req-patch", None, None),
            ]
            seen = [(r["operation"], r["request_id"], r["version_id"], r["previous_version_id"]) for r in records]
            # Versions of the session record are not the files': compare those of files only.
            assert [(op, rid) for op, rid, _v, _p in seen] == [(op, rid) for op, rid, _v, _p in wanted]
            for (op, _rid, version, previous), record in zip(wanted, records, strict=True):
                assert (record["principal"], record["tenant"], record["session"], record["actor"]) == (
                    user,
                    TENANT,
                    sid,
                    "user",
                )
                if op.startswith("file."):
                    assert record["path"] == NFC_NAME  # the name as stored: NFC
                    if op != "file.deleted":
                        assert record["version_id"] == version
                    assert record["previous_version_id"] == previous
            assert records[4]["version_id"] is not None  # the delete marker

            # The same records in the operators' stream, with the owner's opaque id; none under a session's keys.
            logged = [r for r in bucket_records(backend, bucket, f"{settings.key_root}/{AUDIT_LOG_DIR}")]
            ids = {str(r["id"]) for r in records}
            mine = [r for r in logged if r.id in ids]
            assert len(mine) == 6 and all(r.kind == CHANGE and r.owner for r in mine)
            owner_batches = bucket_records(backend, bucket, f"{settings.key_root}/{AUDIT_OWNERS_DIR}")
            assert ids <= {r.id for r in owner_batches}

    asyncio.run(main())


def test_the_audit_of_a_session_is_its_owners_alone(backend: Backend, bucket: str, user: str) -> None:
    clock = Clock()
    settings = audit_settings(backend, bucket)

    async def main() -> None:
        async with replica(backend, settings, clock) as gw:
            own = gw.headers(user)
            sid = (await gw.client.post("/v1/sessions", json={}, headers=own)).json()["id"]
            other_sid = (await gw.client.post("/v1/sessions", json={}, headers=own)).json()["id"]
            start = clock.now
            for n in range(3):
                await gw.client.put(_file(sid, f"é/{n}😀%.txt"), content=b"x", headers=own)
                clock.advance(10)
            grant = await gw.client.post(
                f"/v1/sessions/{sid}/grants", json={"user": user + "-friend", "access": "write"}, headers=own
            )
            assert grant.status_code == 201, grant.text
            await gw.recorders.log.flush()
            url = f"/v1/sessions/{sid}/audit"

            answers = {
                "owner": await gw.client.get(url, headers=own),
                "bound to it": await gw.client.get(url, headers=gw.headers(user, session_id=sid)),
                "other user": await gw.client.get(url, headers=gw.headers(user + "-other")),
                "grantee": await gw.client.get(url, headers=gw.headers(user + "-friend")),
                "bound elsewhere": await gw.client.get(url, headers=gw.headers(user, session_id=other_sid)),
            }
            assert {name: a.status_code for name, a in answers.items()} == {
                "owner": 200,
                "bound to it": 200,
                "other user": 404,
                "grantee": 404,
                "bound elsewhere": 404,
            }
            assert answers["other user"].json() == answers["bound elsewhere"].json() | {
                "instance": answers["other user"].json()["instance"]
            }
            everything = answers["owner"].json()["records"]
            assert [r["operation"] for r in everything] == ["session.created", *["file.written"] * 3, "grant.created"]
            # since and until select by time; a cursor holds to its session and range.
            since = (start + timedelta(seconds=10)).isoformat()
            until = (start + timedelta(seconds=15)).isoformat()
            ranged = await gw.client.get(url, params={"since": since, "until": until}, headers=own)
            assert [r["path"] for r in ranged.json()["records"]] == ["é/1😀%.txt"]
            first = await gw.client.get(url, params={"limit": "1"}, headers=own)
            cursor = first.json()["next_cursor"]
            assert cursor
            elsewhere = await gw.client.get(f"/v1/sessions/{other_sid}/audit", params={"cursor": cursor}, headers=own)
            assert elsewhere.status_code == 400 and elsewhere.json()["type"] == "/problems/invalid-cursor"
            backwards = await gw.client.get(url, params={"since": until, "until": since}, headers=own)
            assert backwards.status_code == 400 and backwards.json()["parameter"] == "until"

    asyncio.run(main())


def test_denials_are_recorded_a_few_per_caller_and_minute(backend: Backend, bucket: str, user: str) -> None:
    clock = Clock()
    settings = audit_settings(backend, bucket, GATEWAY_AUDIT_DENIALS_PER_MINUTE="3")

    async def main() -> tuple[str, list[Record]]:
        async with replica(backend, settings, clock, client_address="198.51.100.23") as gw:
            owner = gw.headers(user)
            sid = (await gw.client.post("/v1/sessions", json={}, headers=owner)).json()["id"]
            prober = user + "-prober"
            for n in range(5):
                await gw.client.get(_file(sid, NFD_NAME), headers={"X-Request-Id": f"anon-{n}"})
                await gw.client.get(_file(sid, NFD_NAME), headers=gw.headers(prober, request_id=f"probe-{n}"))
            read_only = gw.headers(user, scope="files:read", request_id="scope-1")
            refused = await gw.client.put(_file(sid, "x"), content=b"x", headers=read_only)
            assert refused.status_code == 403
            # A tool call of an agent is refused like the route it stands for, and recorded the same way.
            call = {"name": "read_file", "arguments": {"session_id": sid, "path": NFD_NAME}}
            agent = await gw.client.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call},
                headers={**gw.headers(user + "-agent", request_id="agent-1"), "Accept": "application/json"},
            )
            assert agent.status_code == 200, agent.text
            assert agent.json()["result"]["isError"] is True
            await gw.recorders.log.flush()
            clock.advance(61)  # the minute is over: the denials left out are counted in one record each
            await gw.recorders.log.flush()
        return sid, bucket_records(backend, bucket, f"{settings.key_root}/{AUDIT_LOG_DIR}")

    sid, records = asyncio.run(main())
    denials = [r for r in records if r.kind == DENIAL and r.client == "198.51.100.23"]
    anonymous = [r for r in denials if r.principal is None]
    probes = [r for r in denials if r.principal == user + "-prober"]
    assert [(r.status, r.request_id) for r in anonymous if r.operation != SUPPRESSED] == [
        (401, "anon-0"),
        (401, "anon-1"),
        (401, "anon-2"),
    ]
    assert [(r.status, r.request_id) for r in probes if r.operation != SUPPRESSED] == [
        (404, "probe-0"),
        (404, "probe-1"),
        (404, "probe-2"),
    ]
    assert [r.detail["suppressed"] for r in anonymous + probes if r.operation == SUPPRESSED] == [2, 2]
    probe = probes[0]
    assert probe.operation == "GET /v1/sessions/{sid}/files/{path}"
    assert (probe.session, probe.problem, probe.target) == (sid, "not-found", f"/v1/sessions/{sid}/files/{NFD_NAME}")
    assert probe.owner is not None  # the prober's own owner id: whose tenant it was
    scope = [r for r in denials if r.status == 403]
    assert [(r.principal, r.problem, r.request_id) for r in scope] == [(user, "insufficient-scope", "scope-1")]
    by_agent = [r for r in denials if r.principal == user + "-agent"]
    assert [(r.status, r.operation, r.session, r.request_id) for r in by_agent] == [
        (404, "mcp read_file", sid, "agent-1")
    ]


def test_export_by_time_and_tenant_after_a_clean_shutdown(
    backend: Backend, user: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    bucket = backend.new_bucket()
    settings = audit_settings(backend, bucket)
    start = clock.now

    async def main() -> None:
        # No flush is asked for: the shutdown at the end of the block writes everything.
        async with replica(backend, settings, clock) as gw:
            for tenant in ("t-one", TENANT):
                headers = gw.headers(user, tenant=tenant)
                sid = (await gw.client.post("/v1/sessions", json={}, headers=headers)).json()["id"]
                for n in range(10):
                    written = await gw.client.put(_file(sid, f"{n}-{NFD_NAME}"), content=b"x", headers=headers)
                    assert written.status_code == 201
                clock.advance(3600)  # the second tenant's changes an hour later, in the next hour's folder
            assert gw.recorders.log.pending == 22

    asyncio.run(main())

    async def exports() -> list[list[dict[str, object]]]:
        asked = [(0, 7200, None), (0, 7200, TENANT), (0, 7200, "nobody"), (3000, 7200, None)]
        found = []
        async with Store(settings, credentials=backend.credentials) as store:
            for since_s, until_s, tenant in asked:
                out = io.StringIO()
                since, until = start + timedelta(seconds=since_s), start + timedelta(seconds=until_s)
                await export(store, settings, since, until, tenant, out)
                found.append([json.loads(line) for line in out.getvalue().splitlines()])
        return found

    everything, of_tenant, of_nobody, later = asyncio.run(exports())
    assert len(everything) == 22  # nothing lost at the clean shutdown
    assert [r["tenant"] for r in everything] == ["t-one"] * 11 + [TENANT] * 11
    assert [r["at"] for r in everything] == sorted(str(r["at"]) for r in everything)
    assert everything[13]["path"] == f"1-{NFC_NAME}"  # after the session and file 0
    assert [r["tenant"] for r in of_tenant] == [TENANT] * 11
    assert of_nobody == []
    assert len(later) == 11

    # The command itself: JSON lines on stdout, the count on stderr.
    env = {
        "GATEWAY_S3_ENDPOINT_URL": backend.endpoint,
        "GATEWAY_BUCKET": bucket,
        "GATEWAY_KEY_ROOT": settings.key_root,
        "AWS_ACCESS_KEY_ID": backend.credentials[0],
        "AWS_SECRET_ACCESS_KEY": backend.credentials[1],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from gateway.cli import main as cli

    since, until = start.isoformat(), (start + timedelta(seconds=60)).isoformat()
    assert cli(["audit", "export", "--since", since, "--until", until, "--tenant", "t-one"]) == 0
    lines = capsys.readouterr()
    assert [json.loads(line)["tenant"] for line in lines.out.splitlines()] == ["t-one"] * 11
    assert "11 record(s)" in lines.err
    assert cli(["audit", "export", "--since", until, "--until", since]) == 2


def test_a_batch_that_could_not_be_written_is_written_once_later(backend: Backend) -> None:
    clock = Clock()
    bucket = f"test-later-{uuid.uuid4().hex[:12]}"  # made only after the first flush has failed
    settings = audit_settings(backend, bucket)
    owner = Owner(settings.key_root, "t-later", "u-later", b"k" * 32)
    sid = encode_session_id(ms_of(clock.now), bytes(10))
    change = Change(
        action=FILE_WRITTEN,
        actor=Actor.user_of(owner.tenant, owner.user),
        key=owner.session(sid).file(NFD_NAME),
        session_id=sid,
        path=NFC_NAME,
        version_id="v1",
        at=clock.now,
    )

    async def main() -> None:
        async with Store(settings, credentials=backend.credentials) as store:
            log = AuditLog(
                store,
                root=settings.key_root,
                flush_seconds=1,
                write_timeout_seconds=5,
                denials_per_minute=30,
                clock=clock,
            )
            log.listener(change)
            assert await log.flush() == 0 and log.pending == 1  # no bucket: kept for the next flush
            client = backend.client()
            client.create_bucket(Bucket=bucket)
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            clock.advance(30)  # long after its flush: the owner's copy goes where readers have not passed yet
            assert await log.flush() == 1 and log.pending == 0
            assert await log.flush() == 0

    asyncio.run(main())
    logged = bucket_records(backend, bucket, f"{settings.key_root}/{AUDIT_LOG_DIR}")
    owned = bucket_records(backend, bucket, f"{settings.key_root}/{AUDIT_OWNERS_DIR}")
    assert [(r.operation, r.path, r.pos) for r in logged] == [("file.written", NFC_NAME, ms_of(change.at))]
    assert [(r.id, r.pos) for r in owned] == [(logged[0].id, ms_of(clock.now))]
