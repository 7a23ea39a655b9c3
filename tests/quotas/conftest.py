"""One gateway with quotas per backend, shared by the quota tests (each test has tenants or users of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Backend, Gateway
from tests.quotas.helpers import QUOTA_FILE, quota_gateway


@pytest.fixture(scope="session")
def quotas(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    path = tmp_path_factory.mktemp("quotas") / "quotas.toml"
    path.write_text(QUOTA_FILE)
    with quota_gateway(backend, str(path)) as gateway:
        yield gateway
