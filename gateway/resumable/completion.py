"""The end of an upload's bytes: the file made from its parts, through the files' own admission and write step (the
content `Assembled`), and the record of the finished upload.

Of two requests racing to finish an upload, one decides first, by a change of the record (the other gets 409),
before anything is completed; the offset moves only once the file exists, so an upload never says it is done
without its file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from gateway.changes import Actor
from gateway.errors import GatewayError
from gateway.keys import SessionKeys, UploadKeys
from gateway.resumable import state as states
from gateway.resumable.state import Part, UploadState
from gateway.services.files import Files
from gateway.storage.digests import multipart_etag
from gateway.storage.store import Store
from gateway.storage.writes import Assembled, VersionWriter
from gateway.wire import iso

log = logging.getLogger(__name__)


class Refused(Exception):
    """The completion was refused or failed once the upload was the one completing: `state` is the record then."""

    def __init__(self, error: GatewayError, state: UploadState) -> None:
        super().__init__(error.detail)
        self.error = error
        self.state = state


class Completion:
    def __init__(
        self,
        store: Store,
        writer: VersionWriter,
        files: Files,
        clock: Callable[[], datetime],
        expiry: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._writer = writer
        self._files = files
        self._clock = clock
        self._expiry = expiry

    async def complete(
        self,
        actor: Actor,
        keys: SessionKeys,
        upload: UploadKeys,
        found: UploadState,
        offset: int,
        sent: list[Part],
        sha256: str | None,
    ) -> UploadState:
        """Make the file from every part (the ones before and `sent`), and record the upload as finished."""

        def assembling(current: UploadState) -> UploadState:
            states.check_position(current, offset)
            return replace(current, parts=current.parts + tuple(sent), assembling_since=iso(self._clock()))

        found = await states.change(self._store, self._writer, upload, assembling, known=found)
        assert found.multipart is not None
        assembled = Assembled(
            found.multipart,
            tuple((part.number, part.etag) for part in found.parts),
            found.length,
            found.base,
            sha256=sha256,
            expected_etag=multipart_etag([bytes.fromhex(part.md5) for part in found.parts]),
        )
        try:
            written = await self._files.admitted_write(
                actor,
                keys,
                keys.file(found.path),
                lambda _charge, _replacing: assembled,
                size=found.length,
                content_type=found.content_type,
                precondition=found.precondition,
                tier=found.tier,
                detail={"upload": upload.upload_id},
            )
        except GatewayError as exc:
            raise Refused(exc, found) from exc
        done = replace(
            found,
            offset=found.length,
            tail=None,
            assembling_since=None,
            complete=True,
            version_id=written.file.version_id,
            expires_at=iso(self._expiry()),
        )
        try:
            await states.change(self._store, self._writer, upload, lambda _current: done)
            await self._tidy(upload)
        except GatewayError as exc:
            # The file is in place and announced; only the record of the finished upload lags.
            log.warning("upload %s completed, but its record was not updated: %s", upload.prefix, exc.detail)
        return done

    async def _tidy(self, upload: UploadKeys) -> None:
        """What a finished upload no longer needs: its tails, and its record's old versions (the newest two stay:
        the record is written by the conditional-write protocol, which judges a version by the one under it)."""
        old: list[tuple[str, str]] = []
        async for page in self._store.version_pages(upload.state):
            old += [(entry.key, entry.version_id) for entry in page if entry.key == upload.state]
        await asyncio.gather(
            self._store.purge(upload.tails_prefix), self._store.delete_versions(upload.prefix, old[2:])
        )
