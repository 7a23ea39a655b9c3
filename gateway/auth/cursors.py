"""Pagination cursors that clients carry but can neither read nor forge.

A cursor holds where a listing stopped: an S3 continuation token, a version id. Handed out in the clear, it lets a
client choose where the gateway asks S3 to go on (a forged token answered 500, or 503 after S3's retries, and the
answer told whether another user's key exists) and shows internal keys. So a cursor is sealed: encrypted and
authenticated with AES-256-GCM under a key derived from the server secret, with a *binding* as associated data:
who asked (tenant and user), which session, which operation and the parameters that define the listing. A cursor
opens only under the same binding; another user, session, prefix or route, a changed byte, or anything this API
did not produce all get the same 400 `invalid-cursor`, decided here, before any S3 call.

Layout (base64url, unpadded): version byte, 16 random salt bytes, then the sealed JSON state and its 16-byte tag.
Each cursor is sealed under its own key, HMAC-SHA256(cursor key, salt), so that no number of cursors comes near
the limits of AES-GCM's random nonces; a key used once can take a fixed nonce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import InvalidCursor

MIN_SECRET_BYTES = 32
# Room for an S3 continuation token or version marker next to a 1,024-byte key, well inside a URL.
MAX_CURSOR_CHARS = 8192
FORMAT = b"\x01"
SALT_BYTES = 16
TAG_BYTES = 16
_NONCE = bytes(12)
_KEY_LABEL = b"session-gateway/cursor-key/v1"
_BINDING_LABEL = "session-gateway/cursor/v1"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


def _refused() -> InvalidCursor:
    # One answer for every failure, so that a prober learns nothing about which check failed.
    return InvalidCursor("the cursor is not one this API gave for this listing; start again without a cursor")


def _associated_data(binding: Sequence[str]) -> bytes:
    # JSON keeps the parts apart ("a", "b/c" never equals "a/b", "c"); ASCII escapes keep lone surrogates encodable.
    return json.dumps([_BINDING_LABEL, *binding], ensure_ascii=True).encode("ascii")


class CursorSealer:
    """Seals listing state into opaque cursors and opens them again, for one server secret."""

    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the server secret must be at least {MIN_SECRET_BYTES} bytes")
        # Derived, so the server secret can key other things later without one key serving two purposes.
        self._key = hmac.new(server_secret, _KEY_LABEL, hashlib.sha256).digest()

    def _cipher(self, salt: bytes) -> AESGCM:
        return AESGCM(hmac.new(self._key, salt, hashlib.sha256).digest())

    def seal(self, state: Mapping[str, str], binding: Sequence[str]) -> str:
        salt = os.urandom(SALT_BYTES)
        plaintext = json.dumps(dict(state), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        sealed = self._cipher(salt).encrypt(_NONCE, plaintext, _associated_data(binding))
        return base64.urlsafe_b64encode(FORMAT + salt + sealed).decode("ascii").rstrip("=")

    def open(self, token: str, binding: Sequence[str], *, expect: Collection[str] | None = None) -> dict[str, str]:
        """The state sealed in `token` under the same `binding`; `expect` names the fields it must have."""
        if len(token) > MAX_CURSOR_CHARS or not _ALPHABET.fullmatch(token):
            raise _refused()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise _refused() from exc
        if len(raw) < len(FORMAT) + SALT_BYTES + TAG_BYTES or not raw.startswith(FORMAT):
            raise _refused()
        salt, sealed = raw[len(FORMAT) : len(FORMAT) + SALT_BYTES], raw[len(FORMAT) + SALT_BYTES :]
        try:
            plaintext = self._cipher(salt).decrypt(_NONCE, sealed, _associated_data(binding))
        except InvalidTag as exc:
            raise _refused() from exc
        # Authentic, so made by a gateway with this secret; still checked, since an older version may have made it.
        try:
            state = json.loads(plaintext)
        except ValueError as exc:
            raise _refused() from exc
        if not isinstance(state, dict) or not all(isinstance(value, str) for value in state.values()):
            raise _refused()
        if expect is not None and set(state) != set(expect):
            raise _refused()
        return state
