"""Two gateway replicas on one bucket, uploading at once near a tenant's limit: what they admit together never
passes it (the bound stated in docs/quotas.md: no overshoot for uploads of declared length to distinct paths)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.api.app import create_app
from tests.conftest import Backend, Gateway, ServerThread, gateway_settings
from tests.quotas.helpers import QUOTA_FILE, current_files, new_session, put

LIMIT = 1_000  # t-race: tenant_bytes and tenant_files
SIZE = 150
UPLOADS = 12  # 1,800 bytes asked for against 1,000: at most six fit


def test_concurrent_uploads_on_two_replicas_never_pass_the_limit(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("quotas") / "quotas.toml"
    path.write_text(QUOTA_FILE)
    settings = gateway_settings(backend, backend.new_bucket(), GATEWAY_QUOTA_FILE=str(path))
    with (
        ServerThread(create_app(settings, credentials=backend.credentials)) as first,
        ServerThread(create_app(settings, credentials=backend.credentials)) as second,
    ):
        replicas = [Gateway(backend, settings, first), Gateway(backend, settings, second)]
        # Four users (the tenant's limit binds, not theirs), a session each, on alternate replicas.
        users = [f"racer-{n}" for n in range(4)]
        clients = [replicas[n % 2].client(user, tenant="t-race") for n, user in enumerate(users)]
        try:
            sessions = [new_session(api) for api in clients]

            def upload(n: int) -> int:
                api = clients[n % len(clients)]
                return put(api, sessions[n % len(clients)], f"é😀%/{n}.bin", bytes([n]) * SIZE).status_code

            with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
                statuses = list(pool.map(upload, range(UPLOADS)))
            admitted = statuses.count(201) * SIZE
            truth = current_files(replicas[0], f"{settings.key_root}/o/")
            overshoot = max(0, truth[0] - LIMIT)
            print(
                f"\n{backend.name}: admitted {admitted} of {UPLOADS * SIZE} bytes asked, limit {LIMIT}, "
                f"stored {truth[0]}, overshoot {overshoot}"
            )
            assert set(statuses) <= {201, 413}
            assert admitted == truth[0] and overshoot == 0
            assert statuses.count(201) >= 1
            usage = clients[0].get("/v1/usage").json()["tenant"]
            assert (usage["bytes"]["used"], usage["files"]["used"]) == truth
        finally:
            for api in clients:
                api.close()
