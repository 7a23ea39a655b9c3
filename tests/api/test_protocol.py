"""Requests the HTTP parser itself refuses are answered as problem documents, by either parser uvicorn may use."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.api.protocol import HttpProtocol, ProblemH11Protocol
from tests.conftest import Gateway, ServerThread

MALFORMED = {
    "request line": b"GARBAGE\r\n\r\n",
    "method": b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "header name": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    "header value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "content length": b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "chunk size": b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "non-ASCII target": "GET /caf\u00e9 \U0001f600 100% HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
}


def _exchange(url: str, request: bytes) -> bytes:
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok")


@pytest.fixture(scope="module", params=[HttpProtocol, ProblemH11Protocol], ids=["httptools", "h11"])
def plain_server(request: pytest.FixtureRequest) -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", _ok, methods=["GET", "PUT"])])
    with ServerThread(app, http=request.param) as url:
        yield url


def _problem(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:300]
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert headers[b"content-type"] == b"application/problem+json"
    assert int(headers[b"content-length"]) == len(body)
    found: dict[str, object] = json.loads(body)
    return found


@pytest.mark.parametrize("case", list(MALFORMED))
def test_requests_the_parser_refuses_are_problems(plain_server: str, case: str) -> None:
    problem = _problem(_exchange(plain_server, MALFORMED[case]))
    assert problem["type"] == "/problems/malformed-request"
    assert problem["status"] == 400 and problem["title"] == "Malformed request"
    assert str(problem["detail"]).startswith("the request could not be read as HTTP/1.1")
    assert str(problem["instance"]).startswith("urn:uuid:")
    # The server goes on serving.
    assert httpx.get(plain_server + "/after").text == "ok"


def test_each_parser_refuses_a_garbage_request_line(plain_server: str) -> None:
    first = _problem(_exchange(plain_server, MALFORMED["request line"]))
    second = _problem(_exchange(plain_server, MALFORMED["request line"]))
    assert first["instance"] != second["instance"]


def test_the_gateway_answers_malformed_requests_as_problems(gateway: Gateway) -> None:
    problem = _problem(_exchange(gateway.url, b"GET /v1/sessions HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"))
    assert problem["type"] == "/problems/malformed-request"
    assert httpx.get(gateway.url + "/healthz").status_code == 200
