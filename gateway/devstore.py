"""The embedded S3 of `serve --dev` (and of the test suite): moto's server, with a lean version listing.

moto answers `ListObjectVersions` by deep-copying every version in the bucket, data included, on every call: with
a few hundred versions a call took half a second and several megabytes that were never given back, and the gateway
lists one entry of a key's history on every write. The listing installed here walks the same versions without
copying them (each entry is a thin view that carries its own `is_latest`), and only those under the prefix, so
memory stays flat however long the server runs. Its answers are the same as moto's, but for a key marker given
without a version marker: moto skips the first entry after the marker too, S3 only the keys up to the marker.

moto's `ListObjects(V2)` also counts a key whose newest version is a delete marker when it makes folders
(`CommonPrefixes`): a folder whose files were all deleted would still be listed, where S3 and Ceph RGW list it no
more. The listing installed here makes folders of current objects only, as they do.
"""

from __future__ import annotations

import logging
from typing import Any

DEV_CREDENTIALS = ("dev", "dev-secret")


class _Listed:
    """A version as a listing shows it: the stored key or delete marker, plus whether it is the newest of its key."""

    __slots__ = ("_version", "is_latest")

    def __init__(self, version: Any, is_latest: bool) -> None:
        self._version = version
        self.is_latest = is_latest

    def __getattr__(self, name: str) -> Any:
        return getattr(self._version, name)


def _lean_list_object_versions(
    self: Any,
    bucket_name: str,
    delimiter: str | None = None,
    key_marker: str | None = None,
    max_keys: int | None = 1000,
    prefix: str = "",
    version_id_marker: str | None = None,
) -> tuple[list[Any], list[str], list[Any], str | None, str | None]:
    from moto.core.utils import unix_time_millis
    from moto.s3.models import FakeKey

    bucket = self.get_bucket(bucket_name)
    prefix = prefix or ""
    candidates = [
        version for name, versions in bucket.keys.iterlists() if name.startswith(prefix) for version in versions
    ]
    candidates.sort(key=lambda v: (v.name, -unix_time_millis(v.last_modified)))
    common_prefixes: set[str] = set()
    versions: list[Any] = []
    markers: list[Any] = []
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None
    last_name: str | None = None
    skipping = key_marker is not None
    last_added: Any = None
    for stored in candidates:
        name = stored.name
        is_latest = name != last_name
        if is_latest:
            last_name = name
        if skipping and not version_id_marker:
            # Keys after the marker, as S3 has it (moto also drops the first entry after the marker).
            skipping = name <= key_marker
        if skipping:
            if name == key_marker and stored.version_id == version_id_marker:
                skipping = False
            continue
        is_common = False
        if delimiter and delimiter in name[len(prefix) :]:
            end = len(prefix) + name[len(prefix) :].index(delimiter) + len(delimiter)
            name = name[:end]
            if name == key_marker:
                continue
            common_prefixes.add(name)
            is_common = True
        elif last_added is not None:
            name = last_added.name
        if max_keys is not None and len(versions) + len(markers) + len(common_prefixes) >= max_keys:
            next_key_marker = name
            next_version_id_marker = None if is_common or last_added is None else last_added.version_id
            break
        if not is_common:
            last_added = stored
            (versions if isinstance(stored, FakeKey) else markers).append(_Listed(stored, is_latest))
    return versions, sorted(common_prefixes), markers, next_key_marker, next_version_id_marker


def _current_list_objects(
    self: Any, bucket: Any, prefix: str | None, delimiter: str | None, marker: str | None, max_keys: int | None
) -> tuple[Any, Any, bool, str | None]:
    from moto.s3.models import FakeDeleteMarker

    prefix = prefix or ""
    objects: list[Any] = []
    folders: set[str] = set()
    for name, newest in bucket.keys.items():
        if not name.startswith(prefix) or isinstance(newest, FakeDeleteMarker):
            continue
        rest = name[len(prefix) :]
        if delimiter and delimiter in rest:
            folders.add(prefix + rest.split(delimiter)[0] + delimiter)
        else:
            objects.append(newest)
    objects.sort(key=lambda key: key.name)
    if marker:
        objects = self._get_results_from_token(objects, self._pagination_tokens.get(marker) or marker)
    if max_keys is None:
        return objects, sorted(folders), False, None
    page, truncated, next_marker = self._truncate_result(objects, max_keys)
    return page, sorted(folders), truncated, next_marker


def start_embedded_s3() -> tuple[Any, str]:
    """Start moto's S3 server on a free loopback port; returns the server (call `stop()`) and its endpoint URL."""
    try:
        from moto.s3.models import S3Backend
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto is an optional dependency
        raise SystemExit("the embedded S3 needs moto: pip install 'session-gateway[dev]'") from exc
    S3Backend.list_object_versions = _lean_list_object_versions  # type: ignore[method-assign]
    S3Backend.list_objects = _current_list_objects  # type: ignore[method-assign]
    # One access-log line per S3 call would drown the gateway's own log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
