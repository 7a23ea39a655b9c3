"""Strict JSON: the JSON text the gateway accepts, from clients and when it reads its own records back.

Python's `json` module accepts `NaN` and `Infinity`, reads `1e999` as infinity, decodes a lone surrogate
(`"\\ud800"`) into a string that cannot be encoded as UTF-8 again, and recurses once per level of nesting. Each of
these breaks something later: rendering a stored value, or the parser itself. They are refused here, before any
other code sees the value, with the field that holds them named.

Duplicate object keys are left to the parser (the last one wins), as RFC 8259 allows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.errors import FieldError, InvalidBody

MAX_DEPTH = 32
# Enough to show a client what to fix without echoing a hostile body back at length.
MAX_REPORTED_ERRORS = 20
_STRUCTURE = re.compile(rb'["\\\[\]{}]')
_SURROGATE = re.compile("[\ud800-\udfff]")
# Where a JSON text escapes a surrogate (may also match an escaped backslash before "ud8..": a walk for nothing).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENERS, _CLOSERS = frozenset(b"[{"), frozenset(b"]}")


class DepthGauge:
    """Follows the nesting depth of JSON text fed in pieces, without parsing it, and refuses text nested too deep.

    Only quotes, backslashes and brackets matter, and those bytes never occur inside a multi-byte UTF-8 sequence,
    so the text can be cut anywhere. Malformed text is the parser's business; this only bounds its recursion.
    """

    def __init__(self, limit: int = MAX_DEPTH) -> None:
        self.limit = limit
        self.depth = 0
        self._in_string = False
        self._escape_pending = False  # the previous piece ended with a backslash inside a string

    def feed(self, piece: bytes) -> None:
        escaped_at = 0 if self._escape_pending else -1
        self._escape_pending = False
        for match in _STRUCTURE.finditer(piece):
            at = match.start()
            if at == escaped_at:
                continue
            byte = piece[at]
            if self._in_string:
                if byte == _BACKSLASH:
                    escaped_at = at + 1
                    self._escape_pending = escaped_at == len(piece)
                elif byte == _QUOTE:
                    self._in_string = False
            elif byte == _QUOTE:
                self._in_string = True
            elif byte in _OPENERS:
                self.depth += 1
                if self.depth > self.limit:
                    raise InvalidBody.field("", f"JSON nested deeper than {self.limit} levels")
            elif byte in _CLOSERS:
                self.depth -= 1


@dataclass(frozen=True)
class _NonFinite:
    """Stands in for NaN, Infinity or an overflowing number until the walk can say which field held it."""

    text: str


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def loads(data: bytes) -> object:
    """Parse strict JSON; any refusal is an `InvalidBody` naming the fields at fault."""
    DepthGauge().feed(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBody.field("", f"the body is not valid UTF-8 (byte {exc.start})") from exc
    non_finite: list[_NonFinite] = []

    def constant(name: str) -> _NonFinite:
        non_finite.append(_NonFinite(name))
        return non_finite[-1]

    def number(digits: str) -> float | _NonFinite:
        parsed = _float(digits)
        if isinstance(parsed, _NonFinite):
            non_finite.append(parsed)
        return parsed

    try:
        value: object = json.loads(text, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as exc:
        raise InvalidBody.field("", f"the body is not valid JSON: {exc}") from exc
    except ValueError as exc:  # an integer beyond Python's conversion limit of 4,300 digits
        raise InvalidBody.field("", "the body holds a number with too many digits") from exc
    # Walking the value to name the fields at fault costs more than parsing it (a session index of 10,000 entries:
    # ten times more), so it is done only when there is something to find: a non-finite number the parser handed
    # over, or a surrogate, which valid UTF-8 cannot hold, so only a `\uD800`-`\uDFFF` escape can bring one.
    if not non_finite and _SURROGATE_ESCAPE.search(text) is None:
        return value
    errors = list(_refusals(value))
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        raise InvalidBody("; ".join(f"{e.field or 'the body'}: {e.message}" for e in shown), shown)
    return value


def printable_field(key: str) -> str:
    """A key as it can be shown in an error: lone surrogates spelled out as JSON escapes."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", key)


def _join(parent: str, key: str | int) -> str:
    name = printable_field(key) if isinstance(key, str) else str(key)
    return f"{parent}.{name}" if parent else name


def _refusals(value: object) -> Iterator[FieldError]:
    # A stack, not recursion: the depth is bounded already, but the walk should not depend on it.
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        field, item = stack.pop()
        if isinstance(item, _NonFinite):
            yield FieldError(field, f"{item.text} is not a finite number; JSON has no NaN or Infinity")
        elif isinstance(item, str):
            if _SURROGATE.search(item):
                yield FieldError(field, "the string contains a lone UTF-16 surrogate (not a Unicode character)")
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if _SURROGATE.search(key):
                    yield FieldError(_join(field, key), "the key contains a lone UTF-16 surrogate")
                stack.append((_join(field, key), child))
        elif isinstance(item, list):
            stack.extend((_join(field, index), child) for index, child in reversed(list(enumerate(item))))
