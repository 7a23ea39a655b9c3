"""Secrets in text files replaced by `[REDACTED:{kind}]` for exports with `redact=true`. Pure: no I/O.

Built-in kinds, applied in this order (a later pattern never sees what an earlier one replaced, so a JWT after
`Bearer` counts once, as a JWT):

| kind | what |
|---|---|
| `private-key` | PEM private-key blocks (RSA, EC, DSA, OpenSSH, PKCS #8, encrypted), BEGIN to END |
| `jwt` | JSON Web Tokens: three base64url parts, the first two starting with `eyJ` |
| `aws-access-key-id` | AWS access key ids (`AKIA`, `ASIA`, ... and 16 characters) |
| `aws-secret-access-key` | 40-character secrets assigned to a name that says AWS and secret |
| `github-token` | GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`) |
| `slack-token` | Slack tokens (`xoxb-`, `xoxp-`, ...) and incoming-webhook URLs |
| `stripe-key` | Stripe secret and restricted keys (`sk_live_`, `rk_test_`, ...) |
| `google-api-key` | Google API keys (`AIza` and 35 characters) |
| `sk-api-key` | `sk-` keys as OpenAI, Anthropic and others make them |
| `bearer-token` | the credential after `Bearer` (an `Authorization` header, say) |

Operators add kinds with `GATEWAY_REDACT_PATTERNS`, applied after these. A pattern with a group named `secret`
has only that group replaced (the name it is assigned to stays readable); otherwise the whole match.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

REPLACEMENT = "[REDACTED:{kind}]"
SECRET_GROUP = "secret"  # noqa: S105 (the name of a regex group, not a password)


@dataclass(frozen=True)
class SecretPattern:
    kind: str
    regex: re.Pattern[str]


def _pattern(kind: str, regex: str, flags: int = 0) -> SecretPattern:
    return SecretPattern(kind, re.compile(regex, flags))


BUILT_IN: tuple[SecretPattern, ...] = (
    _pattern(
        "private-key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    ),
    _pattern("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    _pattern("aws-access-key-id", r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AGPA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b"),
    _pattern(
        "aws-secret-access-key",
        r"(?i:aws)[A-Za-z0-9_.-]{0,32}(?i:secret|private)[A-Za-z0-9_.-]{0,32}[\"']?\s*(?:=|:|=>|:=)\s*[\"']?"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
    ),
    _pattern("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})\b"),
    _pattern(
        "slack-token",
        r"\bxox[abposre]-[A-Za-z0-9-]{10,250}|https://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/"
        r"[A-Za-z0-9]+",
    ),
    _pattern("stripe-key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}\b"),
    _pattern("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    _pattern("sk-api-key", r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}"),
    _pattern("bearer-token", r"\b[Bb]earer\s+(?P<secret>[A-Za-z0-9._~+/-]{12,}=*)"),
)


@dataclass(frozen=True)
class Redacted:
    text: str
    replaced: dict[str, int]  # kind -> how many, only kinds that were found


class Redactor:
    """The built-in patterns followed by the operator's, ready to apply."""

    def __init__(self, extra: Iterable[tuple[str, str]] = ()) -> None:
        self.patterns = BUILT_IN + tuple(_pattern(kind, regex) for kind, regex in extra)

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(pattern.kind for pattern in self.patterns))

    def redact(self, text: str) -> Redacted:
        counts: Counter[str] = Counter()
        for pattern in self.patterns:
            text = pattern.regex.sub(_replacer(pattern, counts), text)
        return Redacted(text, dict(counts))


def _replacer(pattern: SecretPattern, counts: Counter[str]) -> Callable[[re.Match[str]], str]:
    marker = REPLACEMENT.format(kind=pattern.kind)
    only_group = SECRET_GROUP in pattern.regex.groupindex

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if not only_group:
            counts[pattern.kind] += 1
            return marker
        start, end = match.span(SECRET_GROUP)
        if start < 0:  # the group took no part in this match: nothing to hide
            return whole
        counts[pattern.kind] += 1
        offset = match.start()
        return whole[: start - offset] + marker + whole[end - offset :]

    return replace


def as_text(data: bytes) -> str | None:
    """`data` as text when it is UTF-8 without NUL characters; None for what is taken to be binary."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
