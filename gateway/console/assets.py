"""Where the console's built assets are, and building them from the source tree when they are missing.

Built assets are never committed: `tests/run.sh` builds them, and `serve --dev` builds them on first use when the
source (`console/` beside the package, in a checkout) and npm are there. An installed wheel carries them as package
data. Without them the API serves as always, and `/console/` says how to build them.
"""

from __future__ import annotations

import hashlib
import mimetypes
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
SOURCE = Path(__file__).resolve().parents[2] / "console"
BUILD_HINT = "build it with `npm ci && npm run build` in the console/ folder of a source checkout (needs Node.js)"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    # Scripts and styles carry a content hash in their names: cached for good. The page names them: revalidated.
    immutable: bool


def load(folder: Path = STATIC) -> dict[str, Asset] | None:
    """Every built file by name (a few dozen KiB, read once at start-up), or None when the console is not built."""
    if not (folder / "index.html").is_file():
        return None
    found = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        body = path.read_bytes()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "text/javascript"):
            kind += "; charset=utf-8"
        found[path.name] = Asset(
            body=body,
            content_type=kind,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            immutable=path.name != "index.html",
        )
    return found


def build_if_missing(say: Callable[[str], None]) -> bool:
    """Build the console when its assets are missing and the source and npm are at hand; True when it is built."""
    if load() is not None:
        return True
    npm = shutil.which("npm")
    if not (SOURCE / "package.json").is_file() or npm is None:
        say(f"The console is not built: {BUILD_HINT}. The API serves regardless.")
        return False
    say("Building the console (npm, once) ...")
    try:
        lock = SOURCE / "package-lock.json"
        marker = SOURCE / "node_modules" / ".installed-lock.json"
        if not marker.is_file() or marker.read_bytes() != lock.read_bytes():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SOURCE, check=True)  # noqa: S603 -- npm found on PATH, fixed arguments
            shutil.copyfile(lock, marker)
        subprocess.run([npm, "run", "--silent", "build"], cwd=SOURCE, check=True)  # noqa: S603 -- as above
    except (OSError, subprocess.CalledProcessError) as exc:
        say(f"The console could not be built ({exc}): {BUILD_HINT}. The API serves regardless.")
        return False
    return load() is not None
