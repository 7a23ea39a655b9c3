"""The deployment files under deploy/ say only what the gateway understands: every command is a real
`session-gateway` subcommand with real options (the CLI's own parser decides), every GATEWAY_* variable is a real
setting with a value it accepts, every probe names a real route, and the pieces name each other consistently."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Match

from gateway.api.app import ROUTES
from gateway.cli import build_parser
from gateway.settings import Settings, env_name
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
COMPOSE = DEPLOY / "docker" / "docker-compose.yml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
SETTINGS = {env_name(item.name) for item in fields(Settings)}
GATEWAY_IMAGE = re.compile(r"(^|/)session-gateway(:|$)")


def _documents() -> list[dict[str, Any]]:
    found = [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert {doc["kind"] for doc in found} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "CronJob",
        "ConfigMap",
    }
    return found


def _named(kind: str, name: str) -> dict[str, Any]:
    return next(doc for doc in _documents() if doc["kind"] == kind and doc["metadata"]["name"] == name)


def _pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in _documents():
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]
        elif doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], spec["template"]["spec"]


def _gateway_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, pod in _pod_specs():
        for container in pod["containers"]:
            if GATEWAY_IMAGE.search(container["image"].split("@")[0]):
                yield name, container


def _assert_command(argv: list[str], where: str) -> None:
    """The CLI's parser takes `argv`: argparse exits on an unknown subcommand or option."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}: `session-gateway {shlex.join(argv)}` is refused by the CLI (exit {exc.code})")


def _assert_settings(variables: dict[str, str], where: str) -> None:
    unknown = sorted(name for name in variables if name.startswith("GATEWAY_") and name not in SETTINGS)
    assert unknown == [], f"{where}: not settings of the gateway: {unknown}"
    # The values too: Settings refuses what it cannot parse, naming the variable.
    Settings.from_env({name: str(value) for name, value in variables.items() if name.startswith("GATEWAY_")})


def _assert_route(path: str, where: str) -> None:
    scope = {"type": "http", "path": path, "method": "GET"}
    assert any(route.matches(scope)[0] == Match.FULL for route in ROUTES), f"{where}: GET {path} is no route"


def test_every_workload_runs_a_real_command_with_real_settings() -> None:
    config = _named("ConfigMap", "session-gateway")["data"]
    _assert_settings(config, "configmap.yaml")
    seen = set()
    for name, container in _gateway_containers():
        seen.add(name)
        assert "command" not in container, f"{name}: the image's entrypoint is session-gateway; give args"
        _assert_command([str(arg) for arg in container["args"]], name)
        env = {item["name"]: str(item.get("value", "")) for item in container.get("env", [])}
        refs = [ref["configMapRef"]["name"] for ref in container.get("envFrom", []) if "configMapRef" in ref]
        assert refs == ["session-gateway"], f"{name}: every workload reads the one ConfigMap"
        _assert_settings({**config, **env}, name)
        # The policy the janitor enforces is the one the gateway serves with.
        assert env.get("GATEWAY_POLICY_FILE") == "/etc/session-gateway/tiers.toml", name
    assert seen >= {"session-gateway", "session-gateway-janitor", "session-gateway-backup"}
    images = {container["image"] for _name, container in _gateway_containers()}
    assert len(images) == 1, f"one build of the gateway everywhere, not {images}"


def test_probes_name_real_routes_and_the_pieces_fit_together() -> None:
    config = _named("ConfigMap", "session-gateway")["data"]
    deployment = _named("Deployment", "session-gateway")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["http"] == int(config["GATEWAY_PORT"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container[kind]["httpGet"]
        _assert_route(probe["path"], kind)
        assert probe["port"] in ports
    _assert_route(pod["metadata"]["annotations"]["prometheus.io/path"], "scrape annotation")
    assert int(pod["metadata"]["annotations"]["prometheus.io/port"]) == ports["http"]
    # Shutdown: the pod is killed only after the drain and the graceful timeout.
    budget = float(config["GATEWAY_SHUTDOWN_DRAIN_SECONDS"]) + float(config["GATEWAY_SHUTDOWN_TIMEOUT_SECONDS"])
    assert pod["spec"]["terminationGracePeriodSeconds"] > budget
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]

    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = _named("Service", "session-gateway")
    assert service["spec"]["selector"].items() <= labels.items()
    assert all(port["targetPort"] in ports for port in service["spec"]["ports"])
    target = _named("HorizontalPodAutoscaler", "session-gateway")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "session-gateway")
    assert _named("HorizontalPodAutoscaler", "session-gateway")["spec"]["minReplicas"] >= 2


def test_compose_and_the_image_run_real_commands() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    gateway = compose["services"]["gateway"]
    assert gateway["build"]["dockerfile"] == str(DOCKERFILE.relative_to(ROOT))
    assert (COMPOSE.parent / gateway["build"]["context"]).resolve() == ROOT
    _assert_command(gateway["command"], "docker-compose gateway")
    _assert_settings(gateway["environment"], "docker-compose gateway")
    health = " ".join(gateway["healthcheck"]["test"])
    _assert_route(re.search(r"http://[^/]+(/[a-z]+)", health).group(1), "docker-compose healthcheck")  # type: ignore[union-attr]
    # The bucket gets versioning before the gateway starts (it refuses to start without).
    init = compose["services"]["minio-init"]
    assert "mc version enable local/" + gateway["environment"]["GATEWAY_BUCKET"] in " ".join(init["command"])
    assert gateway["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"

    dockerfile = DOCKERFILE.read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.+)$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    command = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    assert entrypoint == ["session-gateway"]
    _assert_command(command, "Dockerfile CMD")
    env = dict(re.findall(r"(GATEWAY_[A-Z0-9_]+)=(\S+)", dockerfile))
    _assert_settings(env, "Dockerfile ENV")
    assert (ROOT / env["GATEWAY_POLICY_FILE"].removeprefix("/app/")).is_file()


def test_systemd_units_run_real_commands() -> None:
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.removeprefix("ExecStart="))
                assert Path(argv[0]).name == "session-gateway"
                _assert_command(argv[1:], unit.name)
