from __future__ import annotations

import httpx

from gateway.api.app import ROUTES, create_app
from gateway.api.operations import OPERATIONS
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings


def test_health_and_readiness(gateway: Gateway) -> None:
    with gateway.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/readyz").json() == {"status": "ready"}


def test_readiness_fails_when_versioning_is_suspended(backend: Backend) -> None:
    bucket = backend.new_bucket()
    settings = gateway_settings(backend, bucket)
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        assert httpx.get(f"{url}/readyz").status_code == 200
        backend.client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        response = httpx.get(f"{url}/readyz")
        assert response.status_code == 503
        assert "Suspended" in response.json()["reason"]


def test_unknown_routes_and_methods_are_problems(gateway: Gateway) -> None:
    with gateway.client("someone") as api:
        missing = api.get("/v2/nothing")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["status"] == 404
        wrong = api.post("/healthz")
        assert wrong.status_code == 405
        assert wrong.json()["type"] == "/problems/method-not-allowed"


def test_openapi_matches_the_routes(gateway: Gateway) -> None:
    document = httpx.get(f"{gateway.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    # tus's own methods are operations of the API: OPTIONS is its discovery, HEAD an upload's offset.
    tus = {(path, method.lower()) for o in OPERATIONS if "/uploads/" in (path := o.path) for method in [o.method]}
    served = set()
    for route in ROUTES:
        if not route.include_in_schema:
            continue
        path = route.path.replace("{path:filepath}", "{path}")
        for method in route.methods or ():
            # Starlette answers HEAD on every GET route; only for files is it part of the documented API. OPTIONS
            # (which methods a path has) is answered on every path and is HTTP's, not an operation of the API.
            if (path, method.lower()) in tus or (
                method != "OPTIONS" and (method != "HEAD" or path.endswith("/files/{path}"))
            ):
                served.add((path, method.lower()))
    assert documented == served
    assert len(served) == len(OPERATIONS)
    for path, item in document["paths"].items():
        for operation in item.values():
            assert operation["responses"], (path, operation)
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(path.replace("}", "{").split("{")[1::2]), path
    refs = {ref.rsplit("/", 1)[-1] for ref in _refs(document)}
    assert refs <= set(document["components"]["schemas"])
    assert document["components"]["schemas"]["TierName"]["enum"] == ["ephemeral", "standard", "persistent", "permanent"]


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
