"""An audit record: one committed change or one denied request, as a JSON line in a batch.

A record names the time, who (`principal`: the token's `sub`; `actor`: user, janitor or restore; `tenant`), whose
(`owner`: the opaque segments of the session's owner), what (`operation`: a change's action, or a denied request's
method and route), where (`session`, `path`), which versions (`version_id`, `previous_version_id`) and the request
(`request_id`). `id` stays the same wherever the record is written (a batch written twice holds the same ids), so
readers drop duplicates by it; `pos` is where the record stands in its stream: the milliseconds of the replica's
clock when it was logged, or of a re-write (see `gateway.audit.log`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from gateway.changes import USER, Change

log = logging.getLogger(__name__)

CHANGE = "change"
DENIAL = "denial"
# A denial record that stands for the denials of one caller left out by the rate limit (`detail.suppressed`).
SUPPRESSED = "denied.suppressed"
# Sorts after every record id (ids are `{replica}-{number}`: base32 letters, digits and '-').
AFTER_EVERY_ID = "~"
BATCH_CONTENT_TYPE = "application/x-ndjson"


def iso_ms(moment: datetime) -> str:
    """A time as records show it: UTC, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_of(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, order=True)
class Position:
    """Where a record stands in a stream: its `pos`, then its `id` (so records of one millisecond keep an order)."""

    pos: int
    id: str

    @classmethod
    def before(cls, ms: int) -> Position:
        """Before every record at `ms` or later."""
        return cls(ms - 1, AFTER_EVERY_ID)

    @classmethod
    def through(cls, ms: int) -> Position:
        """After every record at `ms` or earlier."""
        return cls(ms, AFTER_EVERY_ID)


@dataclass(frozen=True)
class Record:
    id: str
    pos: int
    at: str
    kind: str
    operation: str
    actor: str
    principal: str | None = None
    tenant: str | None = None
    owner: str | None = None
    session: str | None = None
    path: str | None = None
    version_id: str | None = None
    previous_version_id: str | None = None
    request_id: str | None = None
    # Denials: the answer's status and problem type, the URL path asked for, and the caller's address.
    status: int | None = None
    problem: str | None = None
    target: str | None = None
    client: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def position(self) -> Position:
        return Position(self.pos, self.id)

    def at_position(self, pos: int) -> Record:
        return replace(self, pos=pos)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["detail"] = dict(self.detail)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        record = cls(**known)
        if not isinstance(record.id, str) or not isinstance(record.pos, int) or not isinstance(record.detail, dict):
            raise ValueError("a record needs a text id, a whole-number pos and an object of detail")
        return record


def change_record(change: Change, *, record_id: str, pos: int, owner: str | None) -> Record:
    actor = change.actor
    return Record(
        id=record_id,
        pos=pos,
        at=iso_ms(change.at),
        kind=CHANGE,
        operation=change.action,
        actor=actor.kind,
        principal=actor.user if actor.kind == USER else None,
        tenant=actor.tenant,
        owner=owner,
        session=change.session_id,
        path=change.path,
        version_id=change.version_id,
        previous_version_id=change.previous_version_id,
        request_id=change.request_id,
        detail=_plain(change.detail),
    )


def _plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The change's detail as JSON can hold it (times and other values as their text)."""
    text = json.dumps(dict(detail), default=lambda value: iso_ms(value) if isinstance(value, datetime) else str(value))
    plain: dict[str, Any] = json.loads(text)
    return plain


def encode_batch(records: Iterable[Record]) -> bytes:
    """One JSON line per record. Non-ASCII stays as it is (UTF-8); JSON escapes every control character, so a name
    cannot start a line of its own."""
    lines = (json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":")) for record in records)
    return ("\n".join(lines) + "\n").encode("utf-8")


def decode_batch(data: bytes, key: str) -> Iterator[Record]:
    """The records of a batch; a line that cannot be read is logged and left out (the rest still counts)."""
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield Record.from_json(json.loads(line))
        except (ValueError, TypeError) as exc:
            log.warning("audit batch %s line %d cannot be read: %s", key, number, exc)


# What others are shown of a change (the webhook body; the API's models pick from it): not its place in a stream,
# nor the fields only denials have.
_INTERNAL = ("pos", "kind", "status", "problem", "target", "client")


def public_json(record: Record) -> dict[str, Any]:
    data = record.to_json()
    for name in _INTERNAL:
        data.pop(name, None)
    return data
