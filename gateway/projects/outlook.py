"""When a project is cleaned up, and when it is warned about: one pure judgement for the API and the janitor.

- The *target* is when inactivity alone would end it: its last activity (the later of its own last change and
  its sessions' last activity) plus `cleanup_after_days`, or `keep_until` (set by `extend`) when that is later.
  A pinned project, or one whose `cleanup_after_days` is null, has none.
- Warnings are promised for `warning_days` before a cleanup. The janitor records when it first warned for a
  target; the cleanup comes no earlier than `warning_days` after that. So a janitor that did not run for a while
  (or a target that moved into the past when the days were shortened) warns first and cleans up later, never at
  once; until the janitor has warned, `cleanup_at` is `warning_days` from now.
- The janitor announces a warning once a day: when the whole days left change, or the target does.

Days are `GATEWAY_DAY_SECONDS` long (a day, unless tests shorten it), like the tiers' retention days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.index.summaries import canonical_time
from gateway.projects.records import ProjectRecord


@dataclass(frozen=True)
class Outlook:
    last_activity_at: datetime
    target: datetime | None  # None: never cleaned up for inactivity
    cleanup_at: datetime | None
    warning: bool  # within `warning_days` of `cleanup_at`
    days_left: int | None
    due: bool  # the janitor cleans it up now: warned for this target for long enough
    announce: bool  # the janitor announces a warning now (the first for this target, or a new day)

    @property
    def target_text(self) -> str | None:
        return None if self.target is None else canonical_time(self.target)


def last_activity(record: ProjectRecord, sessions_last: str | None) -> datetime:
    times = [canonical_time(record.touched_at)] + ([canonical_time(sessions_last)] if sessions_last else [])
    return datetime.fromisoformat(max(times))


def judge(record: ProjectRecord, sessions_last: str | None, now: datetime, day_seconds: int) -> Outlook:
    active = last_activity(record, sessions_last)
    if record.pinned or record.cleanup_after_days is None:
        return Outlook(active, None, None, warning=False, days_left=None, due=False, announce=False)
    day = timedelta(seconds=day_seconds)
    target = active + record.cleanup_after_days * day
    if record.keep_until is not None:
        target = max(target, datetime.fromisoformat(record.keep_until))
    notice = record.warning_days * day
    warned = record.warned if record.warned is not None and record.warned.target == canonical_time(target) else None
    if warned is not None:
        cleanup_at = max(target, datetime.fromisoformat(warned.since) + notice)
    elif now < target - notice:
        cleanup_at = target
    else:
        cleanup_at = max(target, now + notice)
    warning = now >= cleanup_at - notice
    days_left = max(0, math.ceil((cleanup_at - now) / day))
    due = warned is not None and now >= cleanup_at
    announce = warning and not due and (warned is None or warned.days_left != days_left)
    return Outlook(active, target, cleanup_at, warning, days_left, due, announce)
