"""Hooks for the schemathesis run in `test_schemathesis.py` (loaded by name from its configuration).

Some rules of the API are stated in the OpenAPI document's words but cannot be written as a JSON schema: they tie
two parameters together or depend on state. A request that is valid by the schema but breaks one of them is
rightly refused with 400, which schemathesis reports as "schema-valid request rejected". Only that failure is
waived, only when the request breaks one of these rules, and only when the answer is the 400 problem naming it.
Every other check (server errors, response schemas, status codes, content types, headers, ...) stays as it is.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

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
    if kind == "/problems/invalid-cursor":
        # A cursor is opaque: only one a listing returned is valid, and no schema can tell which strings those are.
        return "cursor" in query
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


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if isinstance(failure, RejectedPositiveData) and response.status_code == 400:
        return not breaks_a_rule_in_words(case, _problem(response))
    return True
