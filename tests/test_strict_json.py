"""Strict JSON: what it refuses, where it says the trouble is, and a depth gauge that does not care where the
text is cut."""

from __future__ import annotations

import json
import random

import pytest

from gateway.errors import InvalidBody
from gateway.strict_json import MAX_DEPTH, DepthGauge, loads, printable_field


def _refused(text: bytes) -> list[tuple[str, str]]:
    with pytest.raises(InvalidBody) as caught:
        loads(text)
    return [(error.field, error.message) for error in caught.value.errors]


def test_plain_json_passes_unchanged() -> None:
    value = {"é": ["😀", 1, 2.5, -0.0, 1e308, None, True, {"k": 'a\\"b'}], "日本": {"x": "x"}}
    assert loads(json.dumps(value).encode()) == value
    assert loads(json.dumps(value, ensure_ascii=False).encode()) == value
    assert loads(b'{"pair": "\\ud83d\\ude00"}') == {"pair": "😀"}  # a surrogate pair is one character
    assert loads(b'{"text": "\\\\ud800"}') == {"text": "\\ud800"}  # an escaped backslash, then text
    assert loads(b'{"a": 1, "a": 2}') == {"a": 2}  # duplicate keys: the last one, as RFC 8259 leaves it


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (b"NaN", ""),
        (b'{"a": {"b": [0, Infinity]}}', "a.b.1"),
        (b'{"a": -Infinity}', "a"),
        (b'{"a": -1e400}', "a"),
        (b'["\\ud800"]', "0"),
        (b'{"x": "ok \\udc00 then"}', "x"),
        (b'{"\\ud83d": 1}', "\\ud83d"),
        (b'{"m": {"\\ude00\\ud83d": "reversed pair"}}', "m.\\ude00\\ud83d"),
        (b'{"upper": ["\\uDBFF"]}', "upper.0"),
        (b'{"both": ["\\\\ud800 is text", NaN]}', "both.1"),
    ],
)
def test_what_cannot_be_stored_or_rendered_is_refused_where_it_is(text: bytes, field: str) -> None:
    assert [found for found, _message in _refused(text)] == [field]


def test_every_refusal_is_reported_up_to_a_bound() -> None:
    text = json.dumps({f"k{i}": float("nan") for i in range(50)}).encode()
    refused = _refused(text)
    assert len(refused) == 20
    assert refused[0] == ("k0", "NaN is not a finite number; JSON has no NaN or Infinity")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"\xc3\x28", "the body is not valid UTF-8 (byte 0)"),
        (b"\xed\xa0\x80", "the body is not valid UTF-8 (byte 0)"),  # an encoded surrogate (CESU-8)
        (b'{"a": 1', "the body is not valid JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"),
        (b"1" * 5000, "the body holds a number with too many digits"),
    ],
)
def test_malformed_text(text: bytes, message: str) -> None:
    assert _refused(text) == [("", message)]


def test_depth_is_bounded_without_recursion() -> None:
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    for depth in (MAX_DEPTH + 1, 1000, 1_000_000):
        assert _refused(b"[" * depth + b"]" * depth) == [("", f"JSON nested deeper than {MAX_DEPTH} levels")]
    brackets_in_strings = json.dumps({"s": "[{" * 1000, "t": '\\"[[[[', "u": "\\" * 7}).encode()
    assert loads(brackets_in_strings) == json.loads(brackets_in_strings)


def test_the_gauge_gives_the_same_answer_however_the_text_is_cut() -> None:
    rng = random.Random(2026)
    texts = [
        json.dumps({"a": ['x\\"[[[', {"b": "\\\\"}, [[["deep"]]]], "c": "]]]}}}"}).encode(),
        b'{"q": "' + b'\\"' * 40 + b"[" * 40 + b'"}',
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    ]
    for text in texts:
        whole = DepthGauge()
        try:
            whole.feed(text)
            expected: str | int = whole.depth
        except InvalidBody:
            expected = "refused"
        for _ in range(200):
            cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 12))))
            pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
            gauge = DepthGauge()
            try:
                for piece in pieces:
                    gauge.feed(piece)
                found: str | int = gauge.depth
            except InvalidBody:
                found = "refused"
            assert found == expected, pieces


def test_fields_with_lone_surrogates_are_printable() -> None:
    assert printable_field("a\ud800b\udfff") == "a\\ud800b\\udfff"
    assert printable_field("été 😀") == "été 😀"
    assert printable_field("a\ud800").encode("utf-8")
