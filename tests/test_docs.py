"""The user docs keep up with the code."""

from __future__ import annotations

from gateway.errors import GatewayError
from gateway.settings import describe
from tests.conftest import ROOT


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name, _default, _help in describe() if f"`{name}`" not in readme]
    assert missing == []


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "session-gateway serve --dev" in readme
    assert "\nbash tests/run.sh\n" in readme
    assert "bash tests/run.sh" in (ROOT / ".ci" / "run").read_text()


def _problem_classes(cls: type[GatewayError]) -> list[type[GatewayError]]:
    return [cls] + [sub for direct in cls.__subclasses__() for sub in _problem_classes(direct)]


def test_errors_doc_lists_every_problem_type() -> None:
    doc = (ROOT / "docs" / "errors.md").read_text()
    missing = sorted({c.slug for c in _problem_classes(GatewayError) if f"`/problems/{c.slug}`" not in doc})
    assert missing == []
