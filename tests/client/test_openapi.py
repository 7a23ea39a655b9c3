"""The client checked against a live gateway's `/openapi.json`: every operation it can send exists there with the
same method, path and parameters; every model has the members of the schema of its name, with compatible types;
and real answers to the client's own requests validate against the document and decode into its models."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from session_gateway_client import Client, UnexpectedAnswer, models
from session_gateway_client.decoding import decode, json_name
from session_gateway_client.operations import ENDPOINTS, Endpoint

from tests.client.conftest import NAMES
from tests.conftest import Gateway

MODELS = [cls for cls in vars(models).values() if dataclasses.is_dataclass(cls) and cls.__module__ == models.__name__]


@pytest.fixture(scope="module")
def document(gateway: Gateway) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{gateway.url}/openapi.json").json()
    return found


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _refs(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        own = {schema["$ref"].rsplit("/", 1)[1]} if "$ref" in schema else set()
        return own.union(*(_refs(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_refs(item) for item in schema))
    return set()


@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
def test_every_operation_is_in_the_document(document: dict[str, Any], endpoint: Endpoint) -> None:
    operation = document["paths"][endpoint.template][endpoint.method.lower()]
    assert operation["operationId"] == endpoint.name
    params = operation.get("parameters", [])
    where = {location: {p["name"] for p in params if p["in"] == location} for location in ("path", "query", "header")}
    assert where["path"] == endpoint.path_params
    assert endpoint.query <= where["query"]
    assert endpoint.headers <= where["header"]
    sent = endpoint.path_params | endpoint.query | endpoint.headers
    assert {p["name"] for p in params if p.get("required")} <= sent
    body = operation.get("requestBody", {}).get("content", {})
    if endpoint.json is not None:
        properties = _resolve(document, body["application/json"]["schema"])["properties"]
        assert endpoint.json <= set(properties)
    else:
        assert "application/json" not in body
    assert endpoint.binary_body == bool(body and "application/json" not in body)
    answered = {
        name
        for status, reply in operation["responses"].items()
        if status.startswith("2")
        for name in _refs(reply.get("content", {}).get("application/json", {}))
    }
    assert answered == {model.__name__ for model in endpoint.returns}


def _nullable(hint: Any) -> bool:
    return typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in typing.get_args(hint)


def _compatible(document: dict[str, Any], hint: Any, schema: dict[str, Any]) -> bool:
    """Whether every value `schema` allows decodes as `hint` (as far as the schemas of the document go)."""
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return all(_compatible(document, hint, option) for option in options)
    if schema.get("type") == "null":
        return _nullable(hint)
    if _nullable(hint):
        hint = typing.Union[tuple(arg for arg in typing.get_args(hint) if arg is not type(None))]  # noqa: UP007
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return getattr(hint, "__name__", None) == name or _compatible(document, hint, _resolve(document, schema))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if "enum" in schema:
        return (origin is typing.Literal and set(schema["enum"]) <= set(args)) or hint is str
    kind = schema.get("type")
    if kind == "string":
        return hint is (datetime if schema.get("format") == "date-time" else str)
    if kind == "integer":
        return hint is int
    if kind == "boolean":
        return hint is bool
    if kind == "array":
        return origin is tuple and _compatible(document, args[0], schema.get("items", {}))
    if kind == "object" or kind is None:
        return origin is dict or hint is Any
    return False


@pytest.mark.parametrize("model", MODELS, ids=[cls.__name__ for cls in MODELS])
def test_models_accept_what_the_document_describes(document: dict[str, Any], model: type) -> None:
    schema = document["components"]["schemas"][model.__name__]
    hints = typing.get_type_hints(model)
    fields = {json_name(item): item for item in dataclasses.fields(model)}
    assert set(fields) == set(schema["properties"])
    for name, item in fields.items():
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            assert name in schema.get("required", []), (model.__name__, name, "may be left out of answers")
        assert _compatible(document, hints[item.name], schema["properties"][name]), (model.__name__, name)


def _pattern(template: str) -> re.Pattern[str]:
    """The URL paths of a template: a file path may hold '/', other parameters may not."""
    return re.compile(re.sub(r"\\{(\w+)\\}", lambda m: ".+" if m[1] == "path" else "[^/]+", re.escape(template)))


class Recorder:
    """Every JSON answer a client receives, with the endpoint it answered."""

    def __init__(self) -> None:
        self.answers: list[tuple[Endpoint, int, Any]] = []
        self.patterns = [(_pattern(e.template), e) for e in ENDPOINTS.values()]

    def __call__(self, response: httpx.Response) -> None:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return
        response.read()
        request = response.request
        path = request.url.path
        found = [e for pattern, e in self.patterns if e.method == request.method and pattern.fullmatch(path)]
        assert len(found) == 1, (request.method, request.url.path, found)
        self.answers.append((found[0], response.status_code, response.json()))


@pytest.fixture
def recorded(gateway: Gateway, user: str) -> Iterator[tuple[Client, Recorder]]:
    recorder = Recorder()
    with (
        httpx.Client(event_hooks={"response": [recorder]}, timeout=60) as http,
        Client(gateway.url, gateway.token(user), http=http) as client,
    ):
        yield client, recorder


def test_real_answers_validate_and_decode(
    document: dict[str, Any], gateway: Gateway, user: str, recorded: tuple[Client, Recorder]
) -> None:
    sgw, recorder = recorded
    with gateway.client(user) as api:
        project = api.post("/v1/projects", json={}).json()["id"]
    sid = sgw.create_session("openapi ✓", tags=["t"], project=project).id
    other = sgw.create_session().id
    name = NAMES[1]
    first = sgw.upload(sid, name, b"one", content_type="text/markdown")
    sgw.upload(sid, name, b"two", tier="persistent")
    list(sgw.list_sessions(limit=1))
    sgw.get_session(sid)
    sgw.update_session(sid, metadata={"k": [1, None]})
    list(sgw.list_files(sid, limit=1))
    list(sgw.history(sid, name, limit=1))
    sgw.rollback(sid, name, first.version_id or "")
    sgw.set_tier(sid, name, "permanent")
    sgw.set_tier(sid, "Résumé/", "standard", recursive=True)
    sgw.copy(sid, name, "copie/")
    sgw.move(sid, "copie/", "ailleurs/", to_session=other)
    sgw.create_link(sid, name)
    sgw.create_share(sid, prefix="Résumé/")
    sgw.list_shares(sid)
    sgw.create_grant(sid, "a friend", "read")
    sgw.list_grants(sid)
    sgw.list_shared()
    sgw.get_export(sid, sgw.start_export(sid).id)
    sgw.fork_session(sid)
    sgw.end_session(sid)
    sgw.archive_session(sid)
    sgw.reactivate_session(sid)
    seen = set()
    for endpoint, status, body in recorder.answers:
        reply = document["paths"][endpoint.template][endpoint.method.lower()]["responses"][str(status)]
        schema = {**reply["content"]["application/json"]["schema"], "components": document["components"]}
        errors = [e.message for e in Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(body)]
        assert errors == [], (endpoint.name, status, body)
        decoded = [model for model in endpoint.returns if _decodes(model, body)]
        assert decoded, (endpoint.name, body)
        seen.add(endpoint.name)
    assert seen == {name for name, endpoint in ENDPOINTS.items() if endpoint.returns}


def _decodes(model: type, body: Any) -> bool:
    try:
        decode(model, body)
    except UnexpectedAnswer:
        return False
    return True
