"""A JWKS key cache that keeps the gateway up when the identity provider is not.

Keys are cached for a while; an unknown `kid` triggers a refetch (key rotation), but never more often than the
minimum interval, so a flood of forged `kid`s cannot turn the gateway into a traffic amplifier. When a fetch fails
the cached keys keep serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from gateway.errors import Unauthorized

log = logging.getLogger(__name__)
MAX_JWKS_BYTES = 1024 * 1024
FETCH_TIMEOUT_SECONDS = 5.0

Fetcher = Callable[[str], Awaitable[dict[str, Any]]]


async def fetch_jwks(url: str) -> dict[str, Any]:
    """GET a JWKS document over HTTP(S)."""

    def _get() -> dict[str, Any]:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (URL is validated)
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS document (no 'keys' list)")
        return document

    return await asyncio.to_thread(_get)


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        algorithms: tuple[str, ...],
        cache_seconds: float,
        min_refetch_seconds: float,
        fetch: Fetcher = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._algorithms = set(algorithms)
        self._cache_seconds = cache_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._cache_seconds
        if stale or kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            raise Unauthorized("the token's signing key is not known")
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refetch_seconds:
                return
            self._attempted_at = now
            self.fetch_count += 1
            try:
                document = await self._fetch(self._url)
            except Exception as exc:  # any failure: keep serving what we have
                log.warning("JWKS fetch from %s failed, keeping %d cached key(s): %s", self._url, len(self._keys), exc)
                return
            keys = self._usable_keys(document)
            if keys:
                self._keys = keys
                self._fetched_at = now
            else:
                log.warning("JWKS at %s has no usable signing key; keeping the cached ones", self._url)

    def _usable_keys(self, document: dict[str, Any]) -> dict[str | None, jwt.PyJWK]:
        keys: dict[str | None, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
                # Symmetric keys in a public JWKS would let anyone who reads it mint tokens.
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue
            if key.algorithm_name in self._algorithms or "alg" not in entry:
                kid = entry.get("kid")
                keys[kid if isinstance(kid, str) else None] = key
        return keys
