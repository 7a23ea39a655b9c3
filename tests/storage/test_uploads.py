from __future__ import annotations

from gateway.settings import GiB, MiB
from gateway.storage.uploads import MAX_PARTS, part_size_for


def test_part_size_stays_at_the_threshold_for_ordinary_files() -> None:
    assert part_size_for(100 * MiB, 8 * MiB) == 8 * MiB


def test_part_size_grows_so_huge_files_fit_in_ten_thousand_parts() -> None:
    for size in (80 * GiB, 200 * GiB, 5 * 1024 * GiB):
        part = part_size_for(size, 8 * MiB)
        assert part >= 8 * MiB
        assert -(-size // part) <= MAX_PARTS
