"""A client of the package in `client/` for a fresh user of the running gateway, and the names every test uses."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from session_gateway_client import Client

from tests.conftest import Gateway

# Non-ASCII, NFD, emoji (with a ZWJ sequence), '%' (also before hex digits), and URL delimiters.
NAMES = (
    "café/naïve ☃.txt",
    unicodedata.normalize("NFD", "Résumé/école été.md"),
    "🎉/👩\u200d💻 notes.txt",
    "100% sure.txt",
    "%41 a b#c?d;e=f+g&h.txt",
    "日本語/ファイル.csv",
)


@pytest.fixture
def sgw(gateway: Gateway, user: str) -> Iterator[Client]:
    with Client(gateway.url, gateway.token(user)) as client:
        yield client
