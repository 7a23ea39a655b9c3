from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.api.app import create_app
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings


@pytest.fixture(scope="module")
def own_gateway(backend: Backend) -> Iterator[Gateway]:
    """A bucket of its own, for what walks every owner (the janitor, `index rebuild`)."""
    settings = gateway_settings(backend, backend.new_bucket())
    with ServerThread(create_app(settings, credentials=backend.credentials)) as url:
        yield Gateway(backend=backend, settings=settings, url=url)
