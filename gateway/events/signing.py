"""Webhook signatures: HMAC-SHA256 over the timestamp and the exact body, in one header.

    Gateway-Signature: t=1767225600,v1=5f0c...e2

`v1` is the lower-case hex HMAC-SHA256, under the operator's `GATEWAY_WEBHOOK_SECRET`, of the bytes
`{t}.` followed by the body exactly as received (before any JSON parsing). The time is in the signed bytes, so an old
delivery cannot be replayed later as new: receivers refuse a `t` too far from their own clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re

HEADER = "Gateway-Signature"
EVENT_ID_HEADER = "Gateway-Event-Id"
ATTEMPT_HEADER = "Gateway-Delivery-Attempt"
_SIGNATURE = re.compile(r"t=(\d{1,12}),v1=([0-9a-f]{64})")


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver checks: the header's form, the time within `tolerance` seconds, and the HMAC (compared in
    constant time)."""
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    timestamp = int(match.group(1))
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header.strip())
