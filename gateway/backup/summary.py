"""What a backup command did, for people and for schedulers: counts, bytes, seconds and errors.

`--json` prints `Summary.document()` as one JSON object; otherwise `describe()` gives a few lines. Counting goes
through `count` and `fail`, which also move the progress display when there is one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import GatewayError

# Shown at most this many errors in a human summary; the JSON holds them all.
SHOWN_ERRORS = 20


@dataclass
class Summary:
    command: str
    counts: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    # Called after every change (the progress display).
    changed: Callable[[Summary], None] = field(default=lambda summary: None, repr=False)

    def count(self, what: str, n: int = 1, *, size: int = 0) -> None:
        self.counts[what] += n
        self.bytes += size
        self.changed(self)

    def fail(self, what: str, detail: str, **where: str | None) -> None:
        """A problem with one item: the command goes on and exits non-zero at the end."""
        self.errors.append({"problem": what, "detail": detail, **{k: v for k, v in where.items() if v is not None}})
        self.changed(self)

    def failed_on(self, what: str, exc: Exception, **where: str | None) -> None:
        self.fail(what, exc.detail if isinstance(exc, GatewayError) else str(exc), **where)

    def finish(self) -> Summary:
        self.seconds = round(time.monotonic() - self.started, 3)
        return self

    @property
    def ok(self) -> bool:
        return not self.errors

    def document(self) -> dict[str, Any]:
        seconds = self.seconds if self.seconds is not None else round(time.monotonic() - self.started, 3)
        return {
            "command": self.command,
            "ok": self.ok,
            "counts": dict(sorted(self.counts.items())),
            "bytes": self.bytes,
            "seconds": seconds,
            "errors": self.errors,
        }

    def line(self) -> str:
        counts = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in sorted(self.counts.items()))
        return f"{counts or 'nothing counted'}; {self.bytes:,} bytes"

    def describe(self) -> str:
        document = self.document()
        lines = [f"{self.command}: {self.line()} in {document['seconds']:.1f} s"]
        for error in self.errors[:SHOWN_ERRORS]:
            where = " ".join(f"{k}={v}" for k, v in error.items() if k not in {"problem", "detail"})
            lines.append(f"  {error['problem']}: {error['detail']} {where}".rstrip())
        if len(self.errors) > SHOWN_ERRORS:
            lines.append(f"  ... and {len(self.errors) - SHOWN_ERRORS} more (--json lists them all)")
        return "\n".join(lines)
