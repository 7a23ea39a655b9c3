"""How times look in the API: RFC 3339 date-times read strictly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.wire import iso
from gateway.wire import moment as parse_moment


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31t12:00:00z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31 12:00:00+02:30", datetime(2026, 1, 31, 9, 30, tzinfo=UTC)),
        ("2026-01-31T12:00:00.123456789-01:00", datetime(2026, 1, 31, 13, 0, 0, 123456, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:59:59-01:00", datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_rfc3339_date_times_are_read(text: str, moment: datetime) -> None:
    assert parse_moment(text) == moment


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-01-31",
        "2026-01-31T12:00:00",  # no zone
        "2026-01-31T12:00Z",  # no seconds
        "2026-W05-1T12:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-31T24:00:00Z",
        "2026-01-31T12:00:00+24:00",
        "٢٠٢٦-01-31T12:00:00Z",  # digits of another script
        " 2026-01-31T12:00:00Z",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_moment(text)


def test_times_are_written_as_they_are_read() -> None:
    moment = datetime(2026, 5, 1, 8, 30, 15, 250000, tzinfo=UTC)
    assert parse_moment(iso(moment)) == moment
