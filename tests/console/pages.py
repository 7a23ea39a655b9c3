"""What console tests do again and again: make a session through the API, open the console on it signed in, name a
file's URL, and drop files on the upload area as a browser does for files dragged from the desktop."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, Route

from tests.conftest import Gateway

# Dispatches a drop of in-page files on the upload area. Each file is {name, text} or {name, size} (bytes i % 251);
# a name may hold folders ("a/b.txt"), carried as the relative path a dropped folder's files have.
DROP = """([files]) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const body = f.size ? new Uint8Array(f.size).map((_, i) => i % 251) : new TextEncoder().encode(f.text);
    const file = new File([body], f.name.split("/").pop(), { type: f.type ?? "text/plain" });
    if (f.name.includes("/")) Object.defineProperty(file, "webkitRelativePath", { value: f.name });
    transfer.items.add(file);
  }
  const zone = document.querySelector("section.drop");
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


def new_session(api: httpx.Client, name: str, **fields: object) -> str:
    response = api.post("/v1/sessions", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def file_url(sid: str, path: str) -> str:
    return f"/v1/sessions/{sid}/files/{quote(path, safe='/')}"


def open_session(page: Page, gateway: Gateway, token: str, sid: str) -> None:
    page.goto(f"{gateway.url}/console/?session={sid}#token={token}")


def axe_violations(page: Page) -> list[str]:
    """The serious and critical findings of axe-core (added to every page by the test browser) on the page now."""
    found = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)"
    )
    return [str(item) for item in found]


def drop_from_disk(page: Page, paths: list[Path]) -> None:
    """Drag files and folders from the disk onto the upload area and drop them, through the browser's own input
    pipeline (DevTools' Input.dispatchDragEvent): a dropped folder arrives as a directory entry, as from a desktop."""
    zone = page.locator("section.drop")
    zone.scroll_into_view_if_needed()
    box = zone.bounding_box()
    assert box is not None
    where = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
    devtools = page.context.new_cdp_session(page)
    for step in ("dragEnter", "dragOver", "drop"):
        devtools.send("Input.dispatchDragEvent", {"type": step, **where, "data": data})
    devtools.detach()


def fix_file_times(page: Page, moment: datetime) -> None:
    """Answer the page's file listings with every `last_modified` set to `moment`, for screenshots only: S3 stamps
    files with its own clock, which no test can fix, and the pictures in the docs must be the same on every run."""

    def rewrite(route: Route) -> None:
        answer = route.fetch()
        listing = answer.json()
        for item in listing.get("items", []):
            item["last_modified"] = moment.isoformat().replace("+00:00", "Z")
        route.fulfill(response=answer, body=json.dumps(listing))

    page.route(re.compile(r".*/v1/sessions/[^/]+/files\?.*"), rewrite)
