"""Where the gateway is and who the caller is: given, or from the environment (SGW_URL, SGW_TOKEN)."""

from __future__ import annotations

import os
import ssl
from functools import cache

import httpx

URL_VARIABLE = "SGW_URL"
TOKEN_VARIABLE = "SGW_TOKEN"  # noqa: S105 - the name of a variable, not a secret


def resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    """The gateway's base URL (without a trailing '/') and the bearer token (None: no Authorization header)."""
    found_url = url or os.environ.get(URL_VARIABLE)
    if not found_url:
        raise ValueError(f"no gateway URL: pass url= or set {URL_VARIABLE}")
    return found_url.rstrip("/"), token or os.environ.get(TOKEN_VARIABLE) or None


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's defaults) for every client of the process: loading the CA bundle takes a tenth of
    a second, which a program making a client per token (as the fsspec filesystem does) would pay each time."""
    return httpx.create_ssl_context()
