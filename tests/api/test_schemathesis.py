"""The live API against its own OpenAPI document, fuzzed by schemathesis on both backends.

Schemathesis reads `/openapi.json` from a running gateway and sends requests made from it: boundary cases, then
random ones, valid and invalid, with every check it has (no server errors; status codes, content types, headers
and bodies as documented; valid data accepted, invalid data refused; authentication enforced; unsupported methods
refused with 405). The session and file paths are real: a session made for the run, files with non-ASCII, NFD,
emoji and '%' in their names, mixed with generated paths.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx

from gateway.api.operations import OPERATIONS
from tests.conftest import ROOT, Gateway

SEEDED = [
    "rapports/e\u0301te\u0301 2026 re\u0301sume\u0301.txt",
    "数据/报告.md",
    "emoji/🎉 party.txt",
    "100%.txt",
    "a%2Fb",
    "rapports/",
]
# Per operation and backend; both backends run it, so each operation meets ten generated requests in all.
EXAMPLES_PER_OPERATION = 5
# Schemathesis' answers to invalid data, and 412: tus's answer to a missing or other protocol version.
TUS_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "428", "429", "5xx"]
# NaN, Infinity, -Infinity, a lone surrogate in a value and in a key, deep nesting: each sent at least once.
HOSTILE_SHAPES_SENT = 6


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # TOML basic strings and arrays read JSON's forms


def _configuration(gateway: Gateway, api: httpx.Client, token: str) -> str:
    def new_session(name: str) -> str:
        response = api.post("/v1/sessions", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    sid, doomed, ending = new_session("fuzzed"), new_session("to delete"), new_session("to end")
    project, doomed_project = (str(api.post("/v1/projects", json={"name": n}).json()["id"]) for n in ("p", "gone"))
    for path in SEEDED:
        if not path.endswith("/"):
            response = api.put(f"/v1/sessions/{sid}/files/{quote(path)}", content=b"seeded")
            assert response.status_code == 201, response.text
    return f"""
hooks = "tests.api.schemathesis_hooks"

[generation]
max-examples = {EXAMPLES_PER_OPERATION}
database = "none"

[phases.stateful]
# Stateful links infer that a session made by POST /v1/sessions must make its files' URLs answer, but a file that
# was never written is rightly 404 (schemathesis would report "created resource not found").
enabled = false

[checks.positive_data_acceptance]
# Schemathesis' defaults, plus the answers that depend on the file's state rather than on the request's form:
# a well-formed precondition that does not hold (412) and a well-formed range outside the file (416).
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "416", "429", "5xx"]

[auth.openapi.bearer]
bearer = {_toml(token)}

[dictionaries.files]
values = {_toml(SEEDED)}

[parameters]
"path.sid" = {_toml(sid)}
"path.pid" = {_toml(project)}
"path.path" = {{ dictionary = "files", probability = 0.5 }}
"query.path" = {{ dictionary = "files", probability = 0.5 }}
"query.prefix" = {{ dictionary = "files", probability = 0.3 }}

[[operations]]
include-name = "DELETE /v1/sessions/{{sid}}"
parameters = {{ "path.sid" = {_toml(doomed)} }}

[[operations]]
include-name = "DELETE /v1/projects/{{pid}}"
parameters = {{ "path.pid" = {_toml(doomed_project)} }}

[[operations]]
include-name = "POST /v1/sessions/{{sid}}/end"
parameters = {{ "path.sid" = {_toml(ending)} }}

[[operations]]
# tus answers a request without `Tus-Resumable: 1.0.0` (or with another version) with 412 and Tus-Version.
include-path-regex = "/uploads/"
checks.negative_data_rejection.expected-statuses = {_toml(TUS_REFUSALS)}
checks.missing_required_header.expected-statuses = {_toml(TUS_REFUSALS)}
"""


def test_the_live_api_keeps_its_openapi_promises(gateway: Gateway, user: str, tmp_path: Path) -> None:
    token = gateway.token(user)
    with gateway.client(token=token) as api:
        config = tmp_path / "schemathesis.toml"
        config.write_text(_configuration(gateway, api, token))
        command = [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config)]
        command += ["run", f"{gateway.url}/openapi.json", "--checks", "all", "--seed", "20260101"]
        hostile_log = tmp_path / "hostile.jsonl"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_TELEMETRY": "false",
            "GATEWAY_HOSTILE_LOG": str(hostile_log),
        }
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        report = result.stdout + result.stderr
        assert result.returncode == 0, report[-30000:]
        counts = re.search(r"(\d+) generated, (\d+) passed", report)
        assert counts is not None, report[-30000:]
        assert int(counts[1]) == int(counts[2]) >= 10 * EXAMPLES_PER_OPERATION, report[-30000:]
        assert f"Tested: {len(OPERATIONS)}" in report, report[-30000:]
        assert api.get("/v1/sessions", params={"limit": "1000"}).status_code == 200
        # The run also sent the hostile shapes of the adversarial run (NaN, Infinity, lone surrogates in values and
        # keys, deep nesting) inside otherwise valid bodies: each was refused before anything was stored.
        hostile = [json.loads(line) for line in hostile_log.read_text().splitlines()] if hostile_log.exists() else []
        assert len(hostile) >= 10, hostile
        assert {entry["operation"].split()[0] for entry in hostile} >= {"POST", "PATCH"}, hostile
        refused = {(400, "/problems/invalid-body"), (401, "/problems/unauthorized")}  # 401: the auth checks' requests
        assert [e for e in hostile if (e["status"], e["type"]) not in refused] == [], hostile
        # Every shape went out; where authentication let it through, the body reader refused it (each shape is
        # also refused explicitly, on every JSON route, in test_bodies.py).
        assert len({e["shape"] for e in hostile}) == HOSTILE_SHAPES_SENT, hostile
        assert len({e["shape"] for e in hostile if e["status"] == 400}) >= HOSTILE_SHAPES_SENT - 2, hostile
