"""Which code points a file path may hold.

Paths are shown to people: in listings, consoles, download dialogs and bucket browsers. A path must look like what
it is, so characters that are invisible, that reorder the text around them or that no font can honestly show are
refused, each with a named rule: 'invoice', U+202E, 'fdp.exe' displays as 'invoiceexe.pdf', and 'report', U+200B,
'.txt' as 'report.txt' although it is another file. Everything that displays as itself stays allowed: every script, CJK,
combining marks (paths are NFC-normalised first), spaces, `%`, and emoji, including ZWJ sequences (family emoji)
and flag tag sequences.

"Assigned" means assigned in the Unicode version of this Python's `unicodedata`. Pure: no I/O.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Bidirectional controls reorder what follows them on screen: a name can display as a different name.
BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
# Zero-width characters show nothing: two names that look the same would be two different files.
ZERO_WIDTH = frozenset({0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF})
# Line and paragraph separators break a name over lines in consoles and logs, like a newline does.
LINE_SEPARATORS = frozenset({0x2028, 0x2029})
# Format characters (category Cf) that do have a glyph: the prepended concatenation marks, such as the Arabic
# number sign, drawn across the digits that follow. Every other format character is invisible.
VISIBLE_FORMAT = frozenset({*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD})

ZWJ = 0x200D
EMOJI_PRESENTATION = 0xFE0F
BLACK_FLAG = 0x1F3F4
TAG_CHARACTERS = range(0xE0020, 0xE007F)
CANCEL_TAG = 0xE007F
# Blocks of pictographic symbols: the code points emoji ZWJ sequences are made of (arrows, technical symbols,
# dingbats and the supplementary emoji blocks; U+2194 'left right arrow' is in one since Unicode 15.1).
PICTOGRAPHIC_BLOCKS = ((0x2190, 0x21FF), (0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF))
# Unicode reserves the unassigned code points of these blocks for future emoji (Extended_Pictographic). A phone
# may send an emoji newer than this Python knows; such code points are never combining, so NFC stays stable.
EMOJI_RESERVED_BLOCKS = ((0x1F000, 0x1FAFF), (0x1FC00, 0x1FFFD))


@dataclass(frozen=True)
class Refusal:
    """A broken rule: its name and what is wrong, as a phrase to follow 'the path' or 'the prefix'."""

    rule: str
    detail: str


def _within(code: int, blocks: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in blocks)


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def is_noncharacter(code: int) -> bool:
    """The 66 code points Unicode keeps out of interchange for good: U+FDD0-U+FDEF and U+xFFFE, U+xFFFF."""
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _joins_emoji(text: str, index: int) -> bool:
    """Whether the ZWJ at `index` sits between two pictographs (a variation selector may follow the first)."""
    before = index - 1
    if before >= 0 and ord(text[before]) == EMOJI_PRESENTATION:
        before -= 1
    after = index + 1
    return (
        before >= 0
        and after < len(text)
        and _within(ord(text[before]), PICTOGRAPHIC_BLOCKS)
        and _within(ord(text[after]), PICTOGRAPHIC_BLOCKS)
    )


def _flag_tags(text: str) -> set[int]:
    """Indices of tag characters that belong to a flag tag sequence: U+1F3F4, tags, then U+E007F (England's flag)."""
    inside: set[int] = set()
    for start, char in enumerate(text):
        if ord(char) != BLACK_FLAG:
            continue
        end = start + 1
        while end < len(text) and ord(text[end]) in TAG_CHARACTERS:
            end += 1
        if end > start + 1 and end < len(text) and ord(text[end]) == CANCEL_TAG:
            inside.update(range(start + 1, end + 1))
    return inside


def refusal(text: str) -> Refusal | None:
    """The first rule `text` (already NFC) breaks, or None when every code point may be in a path."""
    flag_tags: set[int] | None = None
    for index, char in enumerate(text):
        code = ord(char)
        category = unicodedata.category(char)
        if 0xD800 <= code <= 0xDFFF:
            return Refusal("utf-8", "is not valid UTF-8")
        if category == "Cc":
            return Refusal("control-character", f"contains the control character U+{code:04X}")
        if char == "\\":
            return Refusal("backslash", "contains a backslash; use '/' to separate folders")
        if code in BIDI_CONTROLS:
            return Refusal(
                "bidi-control", f"contains the bidirectional control {_describe(char)}, which reorders text on screen"
            )
        if code in LINE_SEPARATORS:
            return Refusal("line-separator", f"contains the line or paragraph separator {_describe(char)}")
        if code in ZERO_WIDTH:
            if code == ZWJ and _joins_emoji(text, index):
                continue
            hint = "; between two emoji a zero width joiner is allowed" if code == ZWJ else ""
            return Refusal("zero-width", f"contains the invisible character {_describe(char)}{hint}")
        if is_noncharacter(code):
            return Refusal("noncharacter", f"contains the noncharacter U+{code:04X}, which Unicode keeps out of text")
        if category == "Co":
            return Refusal(
                "private-use", f"contains the private-use character U+{code:04X}, which means nothing outside one font"
            )
        if category == "Cn" and not _within(code, EMOJI_RESERVED_BLOCKS):
            return Refusal(
                "unassigned",
                f"contains U+{code:04X}, which is not assigned in Unicode {unicodedata.unidata_version}",
            )
        if category == "Cf" and code not in VISIBLE_FORMAT:
            if flag_tags is None:
                flag_tags = _flag_tags(text)
            if index not in flag_tags:
                return Refusal("format-character", f"contains the invisible format character {_describe(char)}")
    return None
