"""Work on a stream's (or a list's) items a few at a time, handing the results on in their order.

Exports read tags and open file downloads ahead of the one being written: each is an S3 round trip, and doing a
handful at once is what makes a zip of a thousand small files start quickly and move at a steady pace. The source
is read by a task of its own, so results that are ready flow on while the source waits for its next page; at most
`width` pieces of work are under way or waiting, so memory stays bounded whatever the stream's length.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
# S3 calls in flight for one request's batch of independent reads or writes.
CONCURRENCY = 16


async def bounded(items: Sequence[T], work: Callable[[T], Awaitable[R]], limit: int = CONCURRENCY) -> list[R]:
    """`work` on every item, at most `limit` at a time, results in the items' order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def ordered(
    source: AsyncIterator[T],
    work: Callable[[T], Awaitable[R]],
    *,
    width: int,
    discard: Callable[[R], None] | None = None,
) -> AsyncGenerator[R, None]:
    """`work(item)` for every item of `source`, up to `width` at once, results in the source's order.

    A failure of the source or of any work is raised where its result would have come. When the consumer stops
    early (it closes this generator, fails or is cancelled), the work under way is cancelled and `discard` is called
    on the results that were ready but never handed on (to release what they hold, such as open downloads).
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[asyncio.Future[R] | None] = asyncio.Queue(maxsize=width)
    # Work started but not yet queued when the producer was cancelled.
    orphans: list[asyncio.Future[R]] = []

    async def produce() -> None:
        try:
            async for item in source:
                future = asyncio.ensure_future(work(item))
                try:
                    await queue.put(future)
                except BaseException:
                    orphans.append(future)
                    raise
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed on in order, after the results before it
            failed: asyncio.Future[R] = loop.create_future()
            failed.set_exception(exc)
            await queue.put(failed)
            return
        finally:
            closing = getattr(source, "aclose", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()
        await queue.put(None)

    producer = asyncio.ensure_future(produce())
    current: asyncio.Future[R] | None = None
    try:
        while True:
            current = await queue.get()
            if current is None:
                return
            result = await current
            current = None
            yield result
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
        left = [current] if current is not None else []
        while not queue.empty():
            waiting = queue.get_nowait()
            if waiting is not None:
                left.append(waiting)
        left += orphans
        for future in left:
            future.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        for future in left:
            if discard is not None and not future.cancelled() and future.exception() is None:
                discard(future.result())
