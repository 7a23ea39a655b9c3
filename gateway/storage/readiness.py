"""Whether the configured bucket can hold sessions: it must exist and keep versions."""

from __future__ import annotations

from gateway.storage.store import Store


async def bucket_problem(store: Store) -> str | None:
    """A sentence saying why the bucket is unusable, or None when it is ready."""
    state = await store.bucket_state()
    if not state.exists:
        return f"bucket {store.bucket!r} does not exist (start with --create-bucket to create it with versioning on)"
    if state.versioning != "Enabled":
        shown = state.versioning or "never enabled"
        return (
            f"bucket {store.bucket!r} has versioning {shown}; the gateway needs it Enabled so that no write or delete "
            "loses data (aws s3api put-bucket-versioning --versioning-configuration Status=Enabled)"
        )
    return None
