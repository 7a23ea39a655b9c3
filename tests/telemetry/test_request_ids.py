from __future__ import annotations

import re

from gateway.changes import SYSTEM_JANITOR, Change, ChangeHook
from gateway.telemetry.request_ids import current_request_id, request_id_from
from tests.conftest import Gateway


def test_a_safe_id_is_kept_and_anything_else_replaced() -> None:
    assert request_id_from("abc-123.x:y_z") == "abc-123.x:y_z"
    for unsafe in [None, "", "a b", "x" * 129, "é", "line\r\nX-Injected: 1", "100%", "🙂"]:
        made = request_id_from(unsafe)
        assert made != unsafe
        assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_outside_a_request_there_is_no_id() -> None:
    assert current_request_id() is None
    assert Change("file.written", SYSTEM_JANITOR, "k").request_id is None
    assert isinstance(ChangeHook(), ChangeHook)


def test_every_answer_carries_its_id(gateway: Gateway) -> None:
    with gateway.client("rid-user") as api:
        given = api.get("/v1/sessions", headers={"X-Request-Id": "trace-42"})
        assert given.status_code == 200
        assert given.headers["X-Request-Id"] == "trace-42"
        made = api.get("/v1/sessions/nope/files/a.txt", headers={"X-Request-Id": "caf%C3%A9 x"})
        assert made.status_code == 404
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
        assert api.get("/healthz").headers["X-Request-Id"] != api.get("/healthz").headers["X-Request-Id"]
