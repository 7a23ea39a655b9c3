"""The operations of `session_gateway_client.calls` as methods of a client, sync or async.

`sync(build)` in a class body makes a method with `build`'s arguments that sends the call and returns its answer;
`pages(build)`, for a function of one listing page, makes a method returning an iterator over every item, which
follows `next_cursor` from page to page. `async_` and `async_pages` are the same for `AsyncClient`. So the two
clients cannot differ in what they offer or how an operation is spelled.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, ParamSpec, Protocol, Self, TypeVar, overload

from session_gateway_client.models import Page
from session_gateway_client.operations import Call

P = ParamSpec("P")
T = TypeVar("T")


class Sender(Protocol):
    def send(self, call: Call[T], /) -> T: ...


class AsyncSender(Protocol):
    def send(self, call: Call[T], /) -> Awaitable[T]: ...


class _Bound(Generic[P, T]):
    def __init__(self, build: Callable[P, Any]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    def _wrap(self, method: Callable[P, T]) -> Callable[P, T]:
        return functools.wraps(self.build)(method)


class sync(_Bound[P, T]):
    def __init__(self, build: Callable[P, Call[T]]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Sender, owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, client: Sender | None, owner: type[Any]) -> Self | Callable[P, T]:
        if client is None:
            return self
        build = self.build

        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            sent: T = client.send(build(*args, **kwargs))
            return sent

        return self._wrap(method)


class async_(_Bound[P, Awaitable[T]]):
    def __init__(self, build: Callable[P, Call[T]]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: AsyncSender, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: AsyncSender | None, owner: type[Any]) -> Self | Callable[P, Awaitable[T]]:
        if client is None:
            return self
        build = self.build

        async def method(*args: P.args, **kwargs: P.kwargs) -> T:
            sent: T = await client.send(build(*args, **kwargs))
            return sent

        return self._wrap(method)


class pages(_Bound[P, Iterator[T]]):
    """Every item of a listing: `cursor` (optional) is where to start, `limit` the size of each page."""

    def __init__(self, build: Callable[P, Call[Page[T]]]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Sender, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    def __get__(self, client: Sender | None, owner: type[Any]) -> Self | Callable[P, Iterator[T]]:
        if client is None:
            return self
        build: Callable[..., Call[Page[T]]] = self.build

        def method(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            options: dict[str, Any] = dict(kwargs)
            while True:
                page = client.send(build(*args, **options))
                yield from page.items
                if page.next_cursor is None:
                    return
                options["cursor"] = page.next_cursor

        return self._wrap(method)


class async_pages(_Bound[P, AsyncIterator[T]]):
    def __init__(self, build: Callable[P, Call[Page[T]]]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: AsyncSender, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: AsyncSender | None, owner: type[Any]) -> Self | Callable[P, AsyncIterator[T]]:
        if client is None:
            return self
        build: Callable[..., Call[Page[T]]] = self.build

        async def method(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
            options: dict[str, Any] = dict(kwargs)
            while True:
                page = await client.send(build(*args, **options))
                for item in page.items:
                    yield item
                if page.next_cursor is None:
                    return
                options["cursor"] = page.next_cursor

        return self._wrap(method)
