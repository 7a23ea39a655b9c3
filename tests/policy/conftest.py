"""Fixtures for the tier policy tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Backend


@pytest.fixture
def lifecycle_bucket(backend: Backend) -> Iterator[str]:
    """A fresh bucket whose lifecycle rules go again afterwards: Ceph RGW's lifecycle worker visits every bucket
    with rules, one at a time, so rules left behind slow down every test that waits for it."""
    bucket = backend.new_bucket()
    yield bucket
    backend.client().delete_bucket_lifecycle(Bucket=bucket)
