"""Bounded, ordered concurrency: results in the source's order, never more than `width` at work, failures where
they belong, and what was fetched ahead released when the consumer stops early."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from gateway.ordered import ordered


async def numbers(count: int, *, fail_at: int | None = None) -> AsyncIterator[int]:
    for number in range(count):
        if number == fail_at:
            raise ValueError(f"source failed at {number}")
        await asyncio.sleep(0)
        yield number


def test_results_keep_the_source_order_and_the_width_holds() -> None:
    busy, most = 0, 0

    async def work(number: int) -> int:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        await asyncio.sleep(random.uniform(0, 0.003))
        busy -= 1
        return number * 2

    async def main() -> list[int]:
        return [result async for result in ordered(numbers(200), work, width=5)]

    assert asyncio.run(main()) == [n * 2 for n in range(200)]
    # The queue holds `width` pieces of work; one more may start while the consumer holds the one it awaits.
    assert 2 <= most <= 7


def test_failures_arrive_in_order() -> None:
    async def work(number: int) -> int:
        if number == 7:
            raise KeyError(number)
        return number

    async def collect(source: AsyncIterator[int]) -> list[int]:
        seen: list[int] = []
        async for result in ordered(source, work, width=3):
            seen.append(result)
        return seen

    with pytest.raises(KeyError):
        asyncio.run(collect(numbers(20)))
    seen: list[int] = []

    async def until_source_fails() -> None:
        async for result in ordered(numbers(20, fail_at=4), work, width=3):
            seen.append(result)

    with pytest.raises(ValueError, match="source failed at 4"):
        asyncio.run(until_source_fails())
    assert seen == [0, 1, 2, 3]


def test_stopping_early_releases_what_was_fetched_ahead() -> None:
    opened: set[int] = set()
    released: set[int] = set()

    async def work(number: int) -> int:
        opened.add(number)
        if number < 10:  # the ones after are ready at once, waiting in the queue when the consumer stops
            await asyncio.sleep(0.001 * (number % 3))
        return number

    async def main() -> list[int]:
        taken = []
        stream = ordered(numbers(1000), work, width=4, discard=released.add)
        async for result in stream:
            taken.append(result)
            if len(taken) == 10:
                break
        await stream.aclose()
        await asyncio.sleep(0.01)
        return taken

    taken = asyncio.run(main())
    assert taken == list(range(10))
    assert len(opened) < 20  # bounded: the source was not read far ahead
    finished_but_unused = opened - set(taken)
    assert released and released <= finished_but_unused


def test_width_must_be_positive() -> None:
    async def main() -> None:
        async for _ in ordered(numbers(1), asyncio.sleep, width=0):
            pass

    with pytest.raises(ValueError, match="width"):
        asyncio.run(main())
