"""Hooks for the schemathesis run in `test_schemathesis.py` (loaded by name from its configuration).

Some rules of the API are stated in the OpenAPI document's words but cannot be written as a JSON schema: they tie
two parameters together or depend on state. A request that is valid by the schema but breaks one of them is
rightly refused with 400, which schemathesis reports as "schema-valid request rejected". Only that failure is
waived, only when the request breaks one of these rules, and only when the answer is the 400 problem naming it.
Every other check (server errors, response schemas, status codes, content types, headers, ...) stays as it is.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import unicodedata
from datetime import UTC, datetime
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.transport.serialization import serialize_json

from gateway.wire import moment

# Every few JSON bodies, one field's value is replaced by a shape the adversarial run found breaking the gateway:
# NaN, Infinity, a lone surrogate (in a value and in a key), nesting far past the limit. Each such request must be
# refused with 400 `invalid-body` and store nothing; the answers are written to GATEWAY_HOSTILE_LOG for the test.
HOSTILE_EVERY = 2
DEEP = 100
_HOSTILE_SHAPES: list[Any] = [
    [[[]]],  # replaced by nesting DEEP levels below
    math.nan,
    math.inf,
    -math.inf,
    "lone \ud800 surrogate",
    {"\udfff": "key"},
]
_bodies = itertools.count()


def _deep() -> Any:
    value: Any = []
    for _ in range(DEEP):
        value = [value]
    return value


def hostile_kind(value: Any, depth: int = 0) -> str | None:
    """Which hostile shape `value` carries, if any."""
    if depth > 32:
        return "deep nesting"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return "lone surrogate" if any(0xD800 <= ord(char) <= 0xDFFF for char in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if hostile_kind(key, depth):
                return "lone surrogate in a key"
            found = hostile_kind(item, depth + 1)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = hostile_kind(item, depth + 1)
            if found:
                return found
    return None


def is_hostile(value: Any) -> bool:
    return hostile_kind(value) is not None


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    if not isinstance(body, dict) or not body:
        return body
    count = next(_bodies)
    if count % HOSTILE_EVERY:
        return body
    shape = _HOSTILE_SHAPES[(count // HOSTILE_EVERY) % len(_HOSTILE_SHAPES)]
    field = sorted(body)[count % len(body)]
    return {**body, field: _deep() if shape == [[[]]] else shape}


@schemathesis.serializer("application/json")
def _json_as_is(context: Any, value: Any) -> bytes:
    # The stock sending refuses NaN and Infinity; the point here is to send them (JSON text as Python writes it).
    # Everything else (raw bytes, null, binary) goes out as schemathesis' own serializer has it.
    stock = serialize_json(value)
    if "json" in stock:
        return json.dumps(stock["json"], allow_nan=True).encode()
    data: bytes = stock["data"]
    return data


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    log = os.environ.get("GATEWAY_HOSTILE_LOG")
    if log and is_hostile(case.body):
        with open(log, "a", encoding="utf-8") as out:
            entry = {"operation": f"{case.method} {case.operation.path}", "status": response.status_code}
            entry["shape"] = hostile_kind(case.body)
            entry["type"] = _problem(response).get("type")
            out.write(json.dumps(entry) + "\n")


FILE_OPERATION = "/v1/sessions/{sid}/files/{path}"
# Path rules about what a code point is (its Unicode category, assignment, place in an emoji sequence) and the key's
# byte length, which depends on the caller: stated in the document's words, beyond what a portable pattern says.
RULES_IN_WORDS = frozenset(
    {
        "bidi-control",
        "zero-width",
        "line-separator",
        "format-character",
        "noncharacter",
        "private-use",
        "unassigned",
        "too-long",
    }
)


def _in_the_past(value: Any) -> bool:
    try:
        return moment(value) <= datetime.now(UTC)
    except ValueError:
        return False


TRANSFER_OPERATIONS = frozenset({"/v1/sessions/{sid}/copy", "/v1/sessions/{sid}/move"})
FORK_OPERATION = "/v1/sessions/{sid}/fork"


def _nested(body: dict[str, Any], sid: object) -> bool:
    """Whether `from` and `to` (in one session) are the same, or one lies inside the other: a file onto itself, a
    folder into itself, or into a parent where a target would be one of the sources."""
    if body.get("to_session") not in (None, sid):
        return False
    source, target = (unicodedata.normalize("NFC", str(body.get(name, ""))).rstrip("/") for name in ("from", "to"))
    return source == target or target.startswith(source + "/") or source.startswith(target + "/")


def _in_future(value: object) -> bool:
    try:
        return moment(value) > datetime.now(UTC)
    except ValueError:
        return False


def _problem(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _fields(problem: dict[str, Any]) -> set[str]:
    return {error.get("field") for error in problem.get("errors") or [] if isinstance(error, dict)}


def breaks_a_rule_in_words(case: Any, problem: dict[str, Any]) -> bool:
    """Whether the request breaks a rule the document states in words, and the problem is the one for that rule."""
    kind = problem.get("type")
    query = case.query or {}
    headers = {name.lower(): value for name, value in (case.headers or {}).items()}
    body = case.body if isinstance(case.body, dict) else {}
    path = str((case.path_parameters or {}).get("path", ""))
    folder = path.endswith("/")
    if kind == "/problems/invalid-path":
        return problem.get("rule") in RULES_IN_WORDS
    if _future_at(case, kind, problem):
        # `at` must not be in the future: a moment, not a format, so no schema can say it.
        return True
    if kind == "/problems/invalid-cursor":
        # A cursor is opaque: only one a listing returned is valid, and no schema can tell which strings those are.
        return "cursor" in query
    if case.operation.path.endswith("/shares") and case.method == "POST" and kind == "/problems/invalid-body":
        # Exactly one of `path` and `prefix`, and a version only with a path: stated in words.
        one_of = (body.get("path") is None) == (body.get("prefix") is None)
        return (_fields(problem) == {"path"} and one_of) or (
            _fields(problem) == {"version_id"} and body.get("prefix") is not None and body.get("version_id") is not None
        )
    if case.operation.path.endswith("/grants") and case.method == "POST" and kind == "/problems/invalid-body":
        # A grant's end must lie in the future: no schema can say "after now".
        return _fields(problem) == {"expires_at"} and _in_the_past(body.get("expires_at"))
    if case.operation.path in TRANSFER_OPERATIONS and kind == "/problems/invalid-body":
        return _fields(problem) == {"to"} and _nested(body, (case.path_parameters or {}).get("sid"))
    if case.operation.path == FORK_OPERATION and kind == "/problems/invalid-body":
        # A moment in the future has no files yet.
        return _fields(problem) == {"at"} and _in_future(body.get("at"))
    if case.operation.path != FILE_OPERATION:
        return False
    if case.method == "PUT" and kind == "/problems/bad-request":
        # X-Tier and ?tier= must agree when both are sent.
        tiers = {headers.get("x-tier"), query.get("tier")} - {None}
        return len(tiers) > 1
    if case.method == "DELETE" and kind == "/problems/bad-request":
        # A folder path (ending in '/') is deleted only with recursive=true.
        return folder and str(query.get("recursive", "false")).lower() not in {"true", "1"}
    if case.method == "PATCH" and kind == "/problems/invalid-body":
        fields = _fields(problem)
        recursive = body.get("recursive") is True
        return (
            ("default_tier" in fields and "default_tier" in body and not folder)
            or ("recursive" in fields and body.get("tier") is not None and folder and not recursive)
            or ("tier" in fields and body.get("tier") is None and "default_tier" not in body)
        )
    return False


def _future_at(case: Any, kind: object, problem: dict[str, Any]) -> bool:
    if kind == "/problems/invalid-parameter" and problem.get("parameter") == "at":
        raw = (case.query or {}).get("at")
    elif kind == "/problems/invalid-body" and _fields(problem) == {"at"} and isinstance(case.body, dict):
        raw = case.body.get("at")
    else:
        return False
    try:
        return isinstance(raw, str) and moment(raw) > datetime.now(UTC)
    except ValueError:
        return False


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if isinstance(failure, RejectedPositiveData) and response.status_code == 400:
        problem = _problem(response)
        if is_hostile(case.body):
            # Made hostile here on purpose: refusing it is right, and the test checks every such answer.
            return problem.get("type") != "/problems/invalid-body"
        return not breaks_a_rule_in_words(case, problem)
    return True
