"""Importing a zip archive into a session: every entry that may be a file becomes one, or none does.

The steps, in order (nothing is written before step 4):

1. The body is spooled to disk (`gateway.imports.spool`); a zip archive lists its entries at its end.
2. The archive's directory and declared sizes are checked against the limits (`gateway.imports.zipread`): 413
   naming the limit, nothing written.
3. Each entry is judged (`plan`): symlinks, devices, encrypted entries, compression methods other than stored and
   deflate, names that break a rule (`gateway.imports.names`, then the path rules of `gateway.keys`), and names
   that become the same path as another entry's after NFC normalisation (all of them: none can be told to be the
   real one) are *refused*, listed with their rule, and not written. Folders are passed over without a word. An
   export's `manifest.json` is read, not imported (*skipped*), and gives entries their tier and SHA-256.
4. The entries are written, a few at a time, each as a new version through the files service and its one write
   step (`Files.write_version`), without being announced yet. Bytes are decompressed as they are uploaded and
   counted against the same limits, since an archive's declared sizes may lie. An entry whose bytes do not have
   its manifest's SHA-256 is refused: the write step checks the digest before the version becomes visible.
5. If all went well, each new version is announced through the change hook, and the report lists what was
   imported, refused and skipped (unchanged content, with `if_content_differs`).

**All or nothing.** S3 has no transactions, and a bucket of files cannot be switched over at once: a staging
prefix copied into place afterwards would double the S3 calls and still make the files appear one by one. So the
import writes every entry as a new version of its key and, when anything fails half-way (a limit reached while
decompressing, a damaged entry, a store error), it *withdraws* the versions it wrote: those exact versions are
deleted (`VersionWriter.withdraw`, one call per 1,000), so each key's history is as it was before, and any
version another client wrote meanwhile stays. Entries still being read when the failure happens stop at their
next chunk, before their upload completes (an unfinished upload never becomes visible); uploads already sending
their last bytes complete and are withdrawn with the rest. The new versions are announced only once all of them
are in place, so the change hook never hears of a file that was withdrawn.

What this does not cover: while an import runs, its first files are visible to readers before its last ones
exist, and a reader may see a file that is withdrawn a moment later. If the gateway process dies half-way, the
versions it wrote stay (complete files, each one; never a partial file). Importing the same archive again with
`if_content_differs=true` then writes only what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from dataclasses import dataclass, field

from gateway.changes import Actor
from gateway.errors import DigestMismatch, GatewayError, StoreError
from gateway.imports.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Listed, parse_manifest
from gateway.imports.names import Refusal, place
from gateway.imports.spool import Spooled
from gateway.imports.zipread import (
    DEFLATED,
    STORED,
    Archive,
    Budget,
    Entry,
    Limits,
    Stopped,
    entry_chunks,
    read_archive,
    read_small,
)
from gateway.keys import SessionKeys
from gateway.policy.tiers import Policy
from gateway.quotas.gate import charging
from gateway.quotas.ledger import ZERO, Figures
from gateway.recovery.records import BEFORE_IMPORT
from gateway.recovery.snapshots import SessionSnapshots
from gateway.services.downloads import content_type_for_name
from gateway.services.files import Files, Written, require_active
from gateway.services.session_records import SessionRecord
from gateway.services.sessions import OpenSession
from gateway.services.snapshot import Selection
from gateway.storage.digests import Expected
from gateway.storage.writes import Streamed, VersionWriter

log = logging.getLogger(__name__)
# Entries uploaded at once: each holds at most a part (the multipart threshold) in memory.
CONCURRENCY = 4
SHOWN_DUPLICATES = 3


@dataclass(frozen=True)
class Imported:
    path: str
    version_id: str | None
    size: int
    tier: str | None
    sha256: str | None


@dataclass(frozen=True)
class Refused:
    name: str
    rule: str
    detail: str


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str
    detail: str


@dataclass(frozen=True)
class ImportReport:
    imported: list[Imported] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Planned:
    index: int
    entry: Entry
    path: str
    key: str
    tier: str | None
    sha256: str | None


@dataclass
class _Plan:
    items: list[_Planned] = field(default_factory=list)
    refused: list[tuple[int, Refused]] = field(default_factory=list)
    skipped: list[tuple[int, Skipped]] = field(default_factory=list)


class ArchiveImports:
    def __init__(
        self,
        files: Files,
        writer: VersionWriter,
        policy: Policy,
        limits: Limits,
        snapshots: SessionSnapshots | None = None,
    ) -> None:
        self._snapshots = snapshots
        self._files = files
        self._writer = writer
        self._policy = policy
        self._limits = limits

    async def run(
        self, actor: Actor, session: OpenSession, spooled: Spooled, *, folder: str, if_content_differs: bool
    ) -> ImportReport:
        """Import the spooled archive into `session` under `folder` ('' or a path ending in '/')."""
        require_active(session.record)
        archive = await read_archive(spooled, self._limits)
        manifest = await self._manifest(archive)
        plan = self._plan(session.keys, archive, folder, manifest)
        # Room for every entry as a new file, as the archive declares it (what is decompressed is held to that);
        # what the import really added is counted once every file is in place.
        reserve = Figures(sum(item.entry.file_size for item in plan.items), len(plan.items))
        scopes = self._files.scopes(actor, session.keys) if plan.items else None
        async with charging(self._files.quotas, scopes, reserve) as charge:
            report = await self._run(
                actor, session, archive, plan, folder=folder, if_content_differs=if_content_differs
            )
            charge.add(sum((added for added in report[1]), ZERO))
        return report[0]

    async def _run(
        self,
        actor: Actor,
        session: OpenSession,
        archive: Archive,
        plan: _Plan,
        *,
        folder: str,
        if_content_differs: bool,
    ) -> tuple[ImportReport, list[Figures]]:
        taken = None
        if self._snapshots is not None and plan.items:
            # What the import may replace stays recoverable, even from versions retention would remove.
            taken = await self._snapshots.before(actor, session.keys, Selection(folder), BEFORE_IMPORT)
        try:
            written = await self._write_all(session.keys, session.record, archive, plan, if_content_differs)
        except BaseException:
            if taken is not None and self._snapshots is not None:
                # Nothing of a failed import remains, the snapshot taken for it neither.
                await self._snapshots.discard(actor, session.keys, taken.name)
            raise
        imported: list[tuple[int, Imported]] = []
        added = [result.added for _, result in written]
        for item, result in sorted(written, key=lambda pair: pair[0].index):
            file = result.file
            if result.unchanged:
                plan.skipped.append((item.index, Skipped(item.entry.name, "unchanged", "the file already holds it")))
                continue
            await self._files.announce_written(actor, session.keys, result, via="import")
            imported.append((item.index, Imported(file.path, file.version_id, file.size, file.tier, file.sha256)))
        report = ImportReport(
            imported=[found for _, found in imported],
            refused=[found for _, found in sorted(plan.refused, key=lambda pair: pair[0])],
            skipped=[found for _, found in sorted(plan.skipped, key=lambda pair: pair[0])],
        )
        return report, added

    async def _manifest(self, archive: Archive) -> tuple[Entry, dict[str, Listed]] | None:
        """The export manifest and what it lists, when the archive has exactly one that can be read."""
        named = [entry for entry in archive.entries if entry.name == MANIFEST_NAME]
        if len(named) != 1 or _unreadable(named[0]) is not None:
            return None
        data = await read_small(archive, named[0], Budget(self._limits), limit=MAX_MANIFEST_BYTES, what="manifest")
        listed = parse_manifest(data)
        return None if listed is None else (named[0], listed)

    def _plan(
        self,
        keys: SessionKeys,
        archive: Archive,
        folder: str,
        manifest: tuple[Entry, dict[str, Listed]] | None,
    ) -> _Plan:
        plan = _Plan()
        candidates: list[_Planned] = []
        for index, entry in enumerate(archive.entries):
            if manifest is not None and entry is manifest[0]:
                plan.skipped.append((index, Skipped(entry.name, "manifest", "read for tiers and digests")))
                continue
            if entry.is_directory and not entry.is_symlink:
                continue  # folders exist through their files
            judged = self._judge(keys, folder, entry, manifest[1] if manifest else {})
            if isinstance(judged, Refusal):
                plan.refused.append((index, Refused(entry.name, judged.rule, judged.detail)))
            else:
                path, listed = judged
                candidates.append(_Planned(index, entry, path, keys.file(path), listed.tier, listed.sha256))
        by_path: dict[str, list[_Planned]] = {}
        for item in candidates:
            by_path.setdefault(item.path, []).append(item)
        for path, items in by_path.items():
            if len(items) == 1:
                plan.items.append(items[0])
                continue
            # A few names, not all: thousands of entries with one name must not make a report of millions.
            names = ", ".join(repr(item.entry.name) for item in items[:SHOWN_DUPLICATES])
            more = f" and {len(items) - SHOWN_DUPLICATES} more" if len(items) > SHOWN_DUPLICATES else ""
            detail = (
                f"{len(items)} entries ({names}{more}) become {path!r} (after Unicode normalisation, NFC); none was "
                "imported"
            )
            for item in items:
                plan.refused.append((item.index, Refused(item.entry.name, "duplicate", detail)))
        plan.items.sort(key=lambda item: item.index)
        return plan

    def _judge(
        self, keys: SessionKeys, folder: str, entry: Entry, manifest: dict[str, Listed]
    ) -> tuple[str, Listed] | Refusal:
        refused = _unreadable(entry)
        if refused is not None:
            return refused
        placed = place(keys, folder, entry.name)
        if isinstance(placed, Refusal):
            return placed
        listed = manifest.get(unicodedata.normalize("NFC", entry.name), Listed())
        if listed.problem is not None:
            return Refusal("manifest", listed.problem)
        if listed.tier is not None and listed.tier not in self._policy.tiers:
            valid = ", ".join(self._policy.names)
            return Refusal("unknown-tier", f"manifest.json gives it the tier {listed.tier!r}; valid tiers: {valid}")
        return placed, listed

    async def _write_all(
        self,
        keys: SessionKeys,
        record: SessionRecord,
        archive: Archive,
        plan: _Plan,
        if_content_differs: bool,
    ) -> list[tuple[_Planned, Written]]:
        """Write every planned entry, or, when anything fails, withdraw what was written and raise the failure."""
        budget = Budget(self._limits)
        written: list[tuple[_Planned, Written]] = []
        failures: list[BaseException] = []
        pending = iter(plan.items)

        async def write(item: _Planned) -> None:
            expected = Expected(sha256=bytes.fromhex(item.sha256)) if item.sha256 else Expected()
            chunks = entry_chunks(archive, item.entry, budget, stopped=lambda: bool(failures))
            try:
                result = await self._files.write_version(
                    keys,
                    record,
                    item.key,
                    Streamed(chunks, None, expected),
                    content_type=content_type_for_name(item.path),
                    tier=item.tier,
                    if_content_differs=if_content_differs,
                )
            except DigestMismatch:
                detail = "its bytes do not have the SHA-256 that manifest.json lists; it was not imported"
                plan.refused.append((item.index, Refused(item.entry.name, "sha256-mismatch", detail)))
            else:
                written.append((item, result))

        async def worker() -> None:
            for item in pending:
                if failures:
                    return
                try:
                    await write(item)
                except Stopped:
                    return
                except BaseException as exc:  # also a cancellation: what was written is withdrawn either way
                    failures.append(exc)
                    return

        try:
            await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(plan.items)))))
        except BaseException as exc:
            failures.append(exc)
        if failures:
            await self._withdraw(keys, written, failures[0])
            raise failures[0]
        return written

    async def _withdraw(self, keys: SessionKeys, written: list[tuple[_Planned, Written]], cause: BaseException) -> None:
        versions = [
            (item.key, result.file.version_id)
            for item, result in written
            if not result.unchanged and result.file.version_id is not None
        ]
        if not versions:
            return
        try:
            # Shielded: a request cancelled now still withdraws what it wrote.
            await asyncio.shield(self._writer.withdraw(keys.files_prefix, versions))
        except asyncio.CancelledError:
            log.warning("an import was cancelled while %d of its versions were being withdrawn", len(versions))
            raise
        except GatewayError as exc:
            log.error("an import failed and %d of its versions could not be withdrawn: %s", len(versions), versions)
            what = cause.detail if isinstance(cause, GatewayError) else "it was interrupted"
            raise StoreError(
                f"the import failed ({what}), and withdrawing the {len(versions)} files it had written failed too; "
                "the gateway's log lists them"
            ) from exc


def _unreadable(entry: Entry) -> Refusal | None:
    """Why an entry cannot be a file, whatever its name."""
    if entry.is_symlink:
        return Refusal("symlink", "the entry is a symbolic link; links are not imported")
    if entry.is_special:
        return Refusal("not-a-file", "the entry is a device, pipe or socket, not a file")
    if entry.encrypted:
        return Refusal("encrypted", "the entry is encrypted; the gateway cannot read it")
    if entry.method not in (STORED, DEFLATED):
        return Refusal(
            "compression-method", f"the entry uses compression method {entry.method}; only stored and deflate are read"
        )
    return None
