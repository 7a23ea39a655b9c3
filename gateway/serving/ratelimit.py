"""A per-token rate limit: a token bucket for each bearer token, kept in this replica's memory.

Each token may send `GATEWAY_RATE_LIMIT_BURST` requests at once and `GATEWAY_RATE_LIMIT_PER_SECOND` on average;
one more is refused with 429 and `Retry-After` (the seconds until the bucket holds a request again) before its
token is even verified, so a flood costs neither a signature check nor an S3 call. Replicas do not share buckets:
behind N replicas a token may send up to N times the rate, as the load balancer spreads it.

Buckets are keyed by a digest of the token, never the token itself. A bucket that has refilled is the same as no
bucket, so buckets idle that long are dropped, and at most `MAX_BUCKETS` are kept (dropping the least recently used
only forgets how much of its burst a token had spent: it never refuses anyone wrongly).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import TooManyRequests

MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        assert per_second > 0 and burst >= 1
        self._rate = per_second
        self._burst = float(burst)
        self._clock = clock
        self._max = max_buckets
        # Least recently used first.
        self._buckets: OrderedDict[bytes, _Bucket] = OrderedDict()
        # An idle bucket is full again after this long, and then forgotten.
        self._refill_seconds = burst / per_second

    def __len__(self) -> int:
        return len(self._buckets)

    def wait_for(self, credential: str) -> int:
        """Take one request from `credential`'s bucket: 0 when it was there, else the whole seconds to wait."""
        now = self._clock()
        key = hashlib.blake2b(credential.encode("utf-8", "surrogateescape"), digest_size=16).digest()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        self._forget(now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / self._rate))

    def admit(self, authorization: str | None) -> None:
        """Refuse (429) a request whose bearer credential has no request left; requests without one pass (they are
        refused as unauthenticated anyway, or open share links, which have no token)."""
        if not authorization:
            return
        wait = self.wait_for(authorization)
        if wait:
            raise TooManyRequests(wait)

    def _forget(self, now: float) -> None:
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if len(self._buckets) <= self._max and now - oldest.updated < self._refill_seconds:
                return
            del self._buckets[key]
