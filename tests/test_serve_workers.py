"""`serve --workers N`: several processes on one port, each building its app from the environment."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.auth.tokens import issue_token
from tests.conftest import KEY_ROOT, Backend, gateway_settings
from tests.test_cli import _env, _run, _serving


def _worker_pids(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_workers_serve_the_same_bucket(backend: Backend) -> None:
    bucket = backend.new_bucket()
    env = _env(backend, GATEWAY_BUCKET=bucket, GATEWAY_KEY_ROOT=KEY_ROOT)
    token = issue_token(gateway_settings(backend, bucket), sub="wörker 🛠 100%")
    with _serving("--workers", "2", env=env) as (process, url):
        assert len(_worker_pids(process.pid)) >= 2
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
            sid = api.post("/v1/sessions", json={}).json()["id"]
            names = ["naïve.txt", unicodedata.normalize("NFD", "crème.txt"), "🚀/launch.txt", "100% sure.txt"]
            for name in names:
                url_path = f"/v1/sessions/{sid}/files/{quote(name)}"
                assert api.put(url_path, content=name.encode()).status_code == 201
                # Fresh connections land on either process: all of them see every file.
                for _ in range(4):
                    with httpx.Client(base_url=url, headers=api.headers) as fresh:
                        assert fresh.get(url_path).content == name.encode()
        # Whichever process answers /metrics counts what every process served (prometheus multiprocess mode).
        for _ in range(3):
            assert _file_requests(httpx.get(f"{url}/metrics").text) == {
                ("PUT", "201"): len(names),
                ("GET", "200"): 4 * len(names),
            }


def _file_requests(text: str) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "gateway_http_requests_total" and labels["route"] == "/v1/sessions/{sid}/files/{path}":
                key = (labels["method"], labels["status"])
                found[key] = found.get(key, 0) + sample.value
    return found


def test_workers_are_refused_in_dev_mode_and_must_be_positive() -> None:
    dev = _run("serve", "--dev", "--workers", "2", env=_env())
    assert dev.returncode == 2
    assert "single process" in dev.stderr and "--workers" in dev.stderr
    for wrong in ("0", "-1", "two"):
        refused = _run("serve", "--workers", wrong, env=_env(GATEWAY_BUCKET="b"))
        assert refused.returncode == 2
        assert "--workers" in refused.stderr and "at least 1" in refused.stderr
