"""`serve --dev`: the gateway on an in-process S3 (moto), ready to try with curl."""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from gateway.auth.cursors import CursorSealer
from gateway.auth.server_key import load_owner_key, load_server_secret
from gateway.auth.tokens import issue_token
from gateway.console.assets import build_if_missing
from gateway.devstore import DEV_CREDENTIALS, start_embedded_s3
from gateway.keys import Owner
from gateway.policy.config import load_configured_policy
from gateway.services.assembly import assemble
from gateway.settings import Settings
from gateway.storage.store import Store

DEV_BUCKET = "session-gateway-dev"
DEV_USER = "dev"


@dataclass
class DevEnvironment:
    settings: Settings
    server: Any
    token: str
    session_id: str
    console_built: bool = False


def start(host: str, port: int) -> DevEnvironment:
    server, endpoint = start_embedded_s3()
    settings = Settings.from_env(
        defaults={
            "GATEWAY_JWT_SECRET": secrets.token_urlsafe(32),
            "GATEWAY_BUCKET": DEV_BUCKET,
            "GATEWAY_CONSOLE": "true",
        },
        overrides={
            "GATEWAY_S3_ENDPOINT_URL": endpoint,
            # Probed at start-up like any backend, whatever flavor the shell names for another S3.
            "GATEWAY_S3_FLAVOR": "auto",
            "GATEWAY_HOST": host,
            "GATEWAY_PORT": str(port),
        },
    )
    session_id = asyncio.run(_prepare(settings))
    token = issue_token(settings, sub=DEV_USER, ttl_seconds=7 * 24 * 3600)
    built = settings.console and build_if_missing(lambda line: print(line, file=sys.stderr, flush=True))
    return DevEnvironment(settings=settings, server=server, token=token, session_id=session_id, console_built=built)


async def _prepare(settings: Settings) -> str:
    async with Store(settings, credentials=DEV_CREDENTIALS) as store:
        await store.create_versioned_bucket()
        # The server key exists before the app starts, so its first load already finds it.
        cursors = CursorSealer(await load_server_secret(store, settings))
        owner = Owner(
            root=settings.key_root, tenant=None, user=DEV_USER, owner_key=await load_owner_key(store, settings)
        )
        core = assemble(store, settings, load_configured_policy(settings), cursors=cursors)
        async with core.recorders.running():  # its creation is in the audit log like any other
            record = await core.sessions.create(owner, name="dev session")
        return record.id


def banner(env: DevEnvironment) -> str:
    base = f"http://{env.settings.host}:{env.settings.port}"
    files = f"{base}/v1/sessions/{env.session_id}/files"
    return f"""
Session Gateway (development mode)
  URL:      {base}      (OpenAPI: {base}/openapi.json)
  S3:       {env.settings.s3_endpoint_url}  bucket {env.settings.bucket} (moto, in this process)
  Data lives in memory and is LOST when this process exits.

A token for user "{DEV_USER}" (valid 7 days) and a session made for you:
  export TOKEN={env.token}
  export SESSION={env.session_id}
{_console_line(base, env)}
Try:
  curl -sS -X PUT "{files}/notes/hello.txt" -H "Authorization: Bearer $TOKEN" \\
       -H "Content-Type: text/plain" --data-binary "hello, world"
  curl -sS "{files}/notes/hello.txt" -H "Authorization: Bearer $TOKEN"
"""


def _console_line(base: str, env: DevEnvironment) -> str:
    """The console link signs in with the dev token: it rides in the fragment, which browsers never send to a
    server, and the console moves it into the tab's storage and off the address bar at once."""
    if not env.settings.console:
        return ""
    if not env.console_built:
        return "\nThe web console is not built (see above); the API works without it.\n"
    return f"\nThe web console, signed in as {DEV_USER!r}:\n  {base}/console/#token={env.token}\n"
