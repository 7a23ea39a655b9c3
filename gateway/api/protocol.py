"""The HTTP/1.1 protocol the gateway is served with: uvicorn's, except that the requests its parser refuses are
answered as problem documents too.

A request line or header block that the parser cannot read (a bad method, a malformed target, an invalid header,
ambiguous framing the parser itself rejects) never reaches the app, so the app's one error handler cannot answer
it; uvicorn would send its own `text/plain` 400. Clients get the same shape for every error, so here that answer
is an RFC 9457 document as well: `/problems/malformed-request`, with an `instance` the log line repeats (the
request target may be what could not be parsed, so the instance is an id of the occurrence, not a path).
"""

from __future__ import annotations

import json
import logging
import uuid

from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.api.problems import PROBLEM_MEDIA_TYPE, TYPE_BASE

log = logging.getLogger(__name__)


def malformed_request_answer(reason: str) -> bytes:
    """The whole 400 response, headers and body, for a request the parser refused for `reason`."""
    instance = f"urn:uuid:{uuid.uuid4()}"
    log.info("malformed request refused (%s): %s", instance, reason)
    body = json.dumps(
        {
            "type": TYPE_BASE + "malformed-request",
            "title": "Malformed request",
            "status": 400,
            "detail": f"the request could not be read as HTTP/1.1: {reason}",
            "instance": instance,
        }
    ).encode("utf-8")
    head = (
        "HTTP/1.1 400 Bad Request\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        # h11 refuses to send after a protocol error on its side, so the answer is written as raw bytes.
        self.transport.write(malformed_request_answer(msg))
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; h11 is uvicorn's own fallback
    HttpProtocol: type = ProblemH11Protocol
else:

    class ProblemHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(malformed_request_answer(msg))
            self.transport.close()

    HttpProtocol = ProblemHttpToolsProtocol
