"""Protocol edges: ambiguous framing, OPTIONS and Allow, errors that escape a handler, clients that hang up."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.api.guard import Guard
from tests.conftest import Gateway, ServerThread


def _send_raw(url: str, request: bytes) -> bytes:
    """Send bytes as they are (clients refuse to frame a body twice) and read until the server closes."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


def test_content_length_with_transfer_encoding_is_refused(gateway: Gateway, session_id: str, api: httpx.Client) -> None:
    token = api.headers["authorization"]
    request = (
        f"PUT /v1/sessions/{session_id}/files/smuggled.txt HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    answer = _send_raw(gateway.url, request)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    # Refused by whichever layer sees it first: httptools' parser or, under h11, the guard; a problem either way.
    assert b"application/problem+json" in answer, answer[:400]
    assert api.get(f"/v1/sessions/{session_id}/files/smuggled.txt").status_code == 404


async def _echo(request: Request) -> Response:
    return PlainTextResponse((await request.body()).decode())


def test_the_guard_refuses_both_framings_whatever_the_parser_lets_through() -> None:
    app = Guard(Starlette(routes=[Route("/echo", _echo, methods=["PUT"])]))

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            framed = {"Content-Length": "5", "Transfer-Encoding": "chunked"}
            both = await client.put("/echo", content=b"hello", headers=framed)
            assert both.status_code == 400
            assert both.headers["content-type"] == "application/problem+json"
            assert "Transfer-Encoding" in both.json()["detail"]
            assert (await client.put("/echo", content=b"hello")).text == "hello"

    asyncio.run(main())


def test_options_and_405_name_every_method(api: httpx.Client, session_id: str) -> None:
    for url in (f"/v1/sessions/{session_id}/files/\u00e9t\u00e9 100%.txt", f"/v1/sessions/{session_id}"):
        options = api.options(url)
        assert options.status_code == 204
        allowed = {method.strip() for method in options.headers["allow"].split(",")}
        refused = api.post(url)
        assert refused.status_code == 405
        assert {method.strip() for method in refused.headers["allow"].split(",")} >= allowed - {"OPTIONS"}
    file_methods = {
        m.strip() for m in api.options(f"/v1/sessions/{session_id}/files/a.txt").headers["allow"].split(",")
    }
    assert file_methods == {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "PUT"}


async def _boom(request: Request) -> Response:
    raise RuntimeError("a bug")


async def _fine(request: Request) -> Response:
    return PlainTextResponse("fine")


async def _reads_body(request: Request) -> Response:
    await request.body()
    return PlainTextResponse("read")


@pytest.fixture(scope="module")
def guarded() -> str:
    app = Starlette(
        routes=[Route("/boom", _boom), Route("/fine", _fine), Route("/body", _reads_body, methods=["POST"])],
        middleware=[Middleware(Guard)],
    )
    with ServerThread(app) as url:
        yield url  # type: ignore[misc]


def test_an_escaped_error_is_a_problem_with_instance_and_keeps_the_connection(
    guarded: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway.api.guard"), httpx.Client(base_url=guarded) as client:
        broken = client.get("/boom")
        assert broken.status_code == 500
        assert broken.headers["content-type"] == "application/problem+json"
        assert broken.json()["instance"] == "/boom"
        assert broken.headers.get("connection") != "close"
        assert client.get("/fine").text == "fine"  # the same connection goes on
    assert "unhandled error on GET /boom" in caplog.text


def test_a_client_that_hangs_up_is_logged_as_such(guarded: str, caplog: pytest.LogCaptureFixture) -> None:
    host, port = httpx.URL(guarded).host, httpx.URL(guarded).port
    with caplog.at_level(logging.INFO, logger="gateway.api.guard"):
        with socket.create_connection((host, port), timeout=30) as sock:
            sock.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
        with httpx.Client(base_url=guarded) as client:  # the server goes on serving
            for _ in range(50):
                if "disconnected" in caplog.text:
                    break
                client.get("/fine")
    assert "the client disconnected before its request was read" in caplog.text
    assert "unhandled error" not in caplog.text
