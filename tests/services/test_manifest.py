"""Zip entry names: the file paths, made safe for every unzip tool and kept unique."""

from __future__ import annotations

import pytest

from gateway.services.manifest import Names, entry_name


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("a/b.txt", "a/b.txt"),
        ("été/🎉 100%.txt", "été/🎉 100%.txt"),
        ("C:/x.txt", "C_/x.txt"),
        ("c:evil.txt", "c_evil.txt"),
        ("a/C:/x", "a/C:/x"),  # a drive only matters at the start
        ("../../etc/passwd", "etc/passwd"),  # keys written around the gateway
        ("/abs/path", "abs/path"),
        ("a\\..\\b", "a/b"),
        ("a//./b/", "a/b"),
    ],
)
def test_entry_names_never_leave_the_target_folder(path: str, name: str) -> None:
    assert entry_name(path) == name


@pytest.mark.parametrize("path", ["", "..", "./..", "/", "\\"])
def test_nothing_left_is_no_name(path: str) -> None:
    assert entry_name(path) is None


def test_names_stay_unique() -> None:
    names = Names()
    claimed = [names.claim(n) for n in ["a.txt", "a.txt", "d/a.txt", "a.txt", ".env", ".env", "x", "x"]]
    assert claimed == ["a.txt", "a (2).txt", "d/a.txt", "a (3).txt", ".env", ".env (2)", "x", "x (2)"]
    assert names.claim("a (2).txt") == "a (2) (2).txt"
