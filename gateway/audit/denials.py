"""Denied requests as audit records, at most so many per caller and minute.

Every 401, 403 and 404 problem the gateway answers is a denial: a 404 is what a session or file the caller cannot
reach answers, exactly like one that does not exist, and telling the two apart would cost S3 calls on the path of
every refusal. Someone probing ids or tokens could then fill the log; so each caller (the token's tenant and user,
or, without a valid token, the client's address) has a window of a minute in which at most `per_minute` denials
are recorded. The rest are counted, and one `denied.suppressed` record says how many once the window is over.
The number of windows kept is bounded too: callers beyond it share one window.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_MS = 60_000
MAX_CALLERS = 10_000
# The window every caller beyond `MAX_CALLERS` shares until older windows end.
_CROWD = ("crowd", "", "")


@dataclass(frozen=True)
class Denial:
    """A refused request, as the error handler saw it."""

    status: int
    problem: str
    operation: str  # the method and the route's template
    target: str  # the URL path asked for
    principal: str | None  # the token's `sub`, when the token was valid
    tenant: str | None
    owner: str | None  # the caller's own owner label (keys.owner_label)
    session: str | None  # the session id in the URL, if any
    client: str | None
    request_id: str | None

    @property
    def caller(self) -> tuple[str, str, str]:
        if self.principal is not None:
            return ("user", self.tenant or "", self.principal)
        return ("client", "", self.client or "")


@dataclass
class _Window:
    start: int
    recorded: int = 0
    suppressed: int = 0
    # The last denial left out, to say whose the suppressed ones were.
    example: Denial | None = None


class DenialLimiter:
    def __init__(self, per_minute: int, *, max_callers: int = MAX_CALLERS) -> None:
        self.per_minute = per_minute
        self._max_callers = max_callers
        self._windows: dict[tuple[str, str, str], _Window] = {}

    def admit(self, denial: Denial, now_ms: int) -> bool:
        """Whether to record this denial; if not, it is counted in its caller's window."""
        key = denial.caller
        if key not in self._windows and len(self._windows) >= self._max_callers:
            key = _CROWD
        window = self._windows.get(key)
        if window is None or now_ms - window.start >= WINDOW_MS:
            if window is not None and window.suppressed:
                # Not reported yet (no flush since it ended): keep the count going rather than lose it.
                window.start, window.recorded = now_ms, 0
            else:
                window = self._windows[key] = _Window(now_ms)
        if window.recorded < self.per_minute:
            window.recorded += 1
            return True
        window.suppressed += 1
        window.example = denial
        return False

    def ended(self, now_ms: int) -> list[tuple[Denial, int, int]]:
        """Windows over by `now_ms` that left denials out: (an example, how many, the window's start). Windows over
        are forgotten."""
        over = [(key, window) for key, window in self._windows.items() if now_ms - window.start >= WINDOW_MS]
        found = []
        for key, window in over:
            del self._windows[key]
            if window.suppressed and window.example is not None:
                found.append((window.example, window.suppressed, window.start))
        return found
