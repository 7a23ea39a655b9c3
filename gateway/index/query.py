"""The filters, sort orders and cursor positions of a session listing.

A listing is keyset-paginated: a cursor holds the sort key of the last session shown (its time and id), and the
next page starts strictly after it. Sessions that do not change never appear twice or go missing while others are
created, renamed or deleted; one whose sort time moves (new activity) may move past the cursor, which is what
sorting by activity means.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field

from gateway.index.summaries import SessionSummary

CREATED, LAST_ACTIVITY = "created", "last_activity"
SORTS = (CREATED, LAST_ACTIVITY)
MAX_QUERY_CHARS = 256


@dataclass(frozen=True)
class SessionQuery:
    """Which sessions, in which order. Times are canonical (`summaries.canonical_time`); every bound is exclusive:
    created_after < created_at < created_before."""

    states: frozenset[str] = frozenset()
    tags: tuple[str, ...] = ()
    project: str | None = None
    text: str | None = None  # already folded
    external_id: str | None = None
    created_after: str | None = None
    created_before: str | None = None
    active_after: str | None = None
    active_before: str | None = None
    sort: str = CREATED
    descending: bool = False
    _tags: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tags", frozenset(self.tags))

    def binding(self) -> str:
        """The query in a cursor's binding: a cursor only continues the listing it came from."""
        return json.dumps(
            [
                sorted(self.states),
                sorted(self.tags),
                self.project,
                self.text,
                self.external_id,
                self.created_after,
                self.created_before,
                self.active_after,
                self.active_before,
                self.sort,
                self.descending,
            ],
            ensure_ascii=True,
        )

    def key(self, summary: SessionSummary) -> tuple[str, str]:
        return (summary.created_at if self.sort == CREATED else summary.last_activity_at, summary.id)

    def matches(self, summary: SessionSummary, folded_name: str) -> bool:
        if self.states and summary.state not in self.states:
            return False
        if self.project is not None and summary.project != self.project:
            return False
        if self._tags and not self._tags.issubset(summary.tags):
            return False
        if self.external_id is not None and self.external_id not in summary.external_ids:
            return False
        if self.text is not None and self.text not in folded_name:
            return False
        created, active = summary.created_at, summary.last_activity_at
        return (
            (self.created_after is None or created > self.created_after)
            and (self.created_before is None or created < self.created_before)
            and (self.active_after is None or active > self.active_after)
            and (self.active_before is None or active < self.active_before)
        )

    def page(
        self, summaries: dict[str, tuple[SessionSummary, str]], limit: int, after: tuple[str, str] | None
    ) -> tuple[list[SessionSummary], tuple[str, str] | None]:
        """The `limit` sessions after position `after` in this order, and the position to go on from (None: the
        end). `summaries` maps ids to a summary and its folded name."""
        chosen = [s for s, name in summaries.values() if self.matches(s, name)]
        if after is not None:
            chosen = [s for s in chosen if (self.key(s) < after if self.descending else self.key(s) > after)]
        pick = heapq.nlargest if self.descending else heapq.nsmallest
        first = pick(limit + 1, chosen, key=self.key)  # a page of 10,000 need not sort them all
        items = first[:limit]
        return items, (self.key(items[-1]) if len(first) > limit else None)
