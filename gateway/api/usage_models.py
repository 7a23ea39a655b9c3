"""The JSON body of `GET /v1/usage`: what the caller's tenant, the caller and one session hold, and their limits."""

from __future__ import annotations

from pydantic import Field

from gateway.api.models import SESSION_ID_PATTERN, ResponseBody
from gateway.quotas.ledger import Figures
from gateway.quotas.limits import Limits


class Measure(ResponseBody):
    used: int = Field(description="In use now, writes under way included")
    limit: int | None = Field(description="The quota; null: none")


class ScopeUsage(ResponseBody):
    bytes: Measure = Field(description="Bytes of current files")
    files: Measure = Field(description="Current files")

    @classmethod
    def of(cls, scope: str, figures: Figures, limits: Limits) -> ScopeUsage:
        return cls(
            bytes=Measure(used=figures.bytes, limit=limits.of(scope, "bytes")),
            files=Measure(used=figures.files, limit=limits.of(scope, "files")),
        )


class Usage(ResponseBody):
    """Only current files count (under `files/` of each session): old versions, snapshots and exports do not."""

    tenant: ScopeUsage | None = Field(
        description="null when the tenant has no limit: its figures are not kept, and counting them would list the "
        "files of every user of the tenant"
    )
    user: ScopeUsage
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN)
    session: ScopeUsage | None = None


RESPONSE_MODELS: tuple[type[ResponseBody], ...] = (Usage,)
