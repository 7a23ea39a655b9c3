"""The console's file preview and history in headless Chromium (both backends): text, HTML and SVG shown and never
run, an image, a PDF drawn page by page, a type without preview, a long text cut with a note; a file's versions,
their line diff, and one-click rollback checked through the API."""

from __future__ import annotations

import struct
import unicodedata
import uuid
import zlib

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Gateway
from tests.console.conftest import screenshot
from tests.console.pages import axe_violations, file_url, new_session, open_session

NFD = unicodedata.normalize("NFD", "Café crème")
NFC = unicodedata.normalize("NFC", NFD)
SCRIPT_TEXT = b"<script>window.pwned=1</script>"
HTML = b"<!doctype html><h1>Hello</h1><script>window.pwned=1; parent.pwned=1</script><img src=x onerror=parent.pwned=1>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" onload="parent.pwned=1">'
    b'<script>parent.pwned=1</script><rect width="40" height="20" fill="#0b57d0"/></svg>'
)
# Text longer than what the preview fetches (256 KiB): the first part is shown, with a note.
LONG = b"line of a long log\n" * (300 * 1024 // 19 + 1)

# Times in the panels come from S3 (when each version was written): for the pictures in docs/images they are replaced
# by fixed moments of FIXED_NOW's morning, so the image is the same on every run. A version's time (data-version) is
# a minute per version in the order of the history, newest last; other times a minute each, in page order.
FIX_TIMES = """() => {
  const base = Date.parse("2026-03-02T09:00:00Z");
  const ids = [...document.querySelectorAll("li.version")].map((li) => li.dataset.version).reverse();
  const others = [...document.querySelectorAll("time:not([data-version])")];
  for (const t of document.querySelectorAll("time")) {
    const versioned = t.dataset.version !== undefined;
    const minute = versioned ? 10 + ids.indexOf(t.dataset.version) * 7 : others.indexOf(t);
    const style = { dateStyle: "medium", timeStyle: versioned ? "medium" : "short" };
    t.textContent = new Date(base + minute * 60000).toLocaleString(undefined, style);
  }
}"""
# How many pixels of the first PDF page are dark (drawn text), read from its canvas.
DARK_PIXELS = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let dark = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && data[i] + data[i + 1] + data[i + 2] < 200) dark++;
  return dark;
}"""


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text in Helvetica, written object by object with its cross-reference table."""
    stream = f"BT /F1 24 Tf 20 60 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def tiny_png(width: int, height: int) -> bytes:
    """An RGB PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xd0\x57\x0b" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def put(api: httpx.Client, sid: str, path: str, body: bytes) -> str:
    answer = api.put(file_url(sid, path), content=body)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["version_id"])


def open_preview(page: Page, name: str) -> None:
    page.locator("tr.file", has_text=name).get_by_role("button", name=f"Preview {name}").click()
    expect(page.get_by_role("dialog", name=f"Preview of {name}")).to_be_visible()


def close_panel(page: Page, opener_name: str) -> None:
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name=opener_name)).to_be_focused()


def test_previews_show_text_markup_images_and_pdfs_and_run_nothing(clocked_gateway: Gateway, page: Page) -> None:
    gateway = clocked_gateway
    # Previews need blob: for images and sandboxed frames, and nothing more.
    policy = httpx.get(f"{gateway.url}/console/").headers["content-security-policy"]
    assert "img-src 'self' data: blob:;" in policy and "frame-src blob:;" in policy
    assert "script-src 'self';" in policy and "object-src 'none'" in policy and "unsafe" not in policy

    user = f"console-{uuid.uuid4().hex[:10]}"
    text_name, html_name, svg_name = "script 100% 🎉.txt", f"{NFD}.html", "logo ✓.svg"
    with gateway.client(user) as api:
        sid = new_session(api, "Previews")
        for path, body in [
            (text_name, SCRIPT_TEXT),
            (html_name, HTML),
            (svg_name, SVG),
            ("pixel.png", tiny_png(3, 2)),
            ("report 50%.pdf", minimal_pdf("Hello PDF 42")),
            ("data.bin", b"\x00\x01"),
            ("long.log", LONG),
        ]:
            put(api, sid, path, body)
        open_session(page, gateway, gateway.token(user), sid)

        # Text whose content is markup: shown as the characters it is, in a frame that can run nothing.
        open_preview(page, text_name)
        frame = page.locator("iframe.preview-text")
        assert frame.get_attribute("sandbox") == ""
        expect(page.frame_locator("iframe.preview-text").locator("body")).to_have_text(SCRIPT_TEXT.decode())
        close_panel(page, f"Preview {text_name}")

        # An HTML file (its name in NFD, stored NFC) is text too: its tags are visible, its script never ran.
        open_preview(page, NFC + ".html")
        inner = page.frame_locator("iframe.preview-text")
        expect(inner.locator("body")).to_contain_text("<script>window.pwned=1; parent.pwned=1</script>")
        expect(inner.locator("h1, img, script")).to_have_count(0)
        shown = next(f for f in page.frames if f.url.startswith("blob:"))
        assert shown.evaluate("() => [window.pwned, document.scripts.length]") == [None, 0]
        assert axe_violations(page) == []
        close_panel(page, f"Preview {NFC}.html")

        # An SVG with a script is an inert picture; a PNG shows at its size.
        open_preview(page, svg_name)
        image = page.get_by_role("img", name=svg_name)
        expect(image).to_be_visible()
        assert image.evaluate("img => img.naturalWidth") == 40
        close_panel(page, f"Preview {svg_name}")
        open_preview(page, "pixel.png")
        png = page.get_by_role("img", name="pixel.png")
        expect(png).to_be_visible()
        assert png.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [3, 2]
        close_panel(page, "Preview pixel.png")

        # A PDF: its page drawn on a canvas (dark pixels where the text is), its words readable as text.
        open_preview(page, "report 50%.pdf")
        canvas = page.get_by_role("img", name="Page 1 of 1 of report 50%.pdf")
        expect(canvas).to_be_visible()
        expect(page.locator("details.pdf-text pre")).to_contain_text("Hello PDF 42")
        assert canvas.evaluate(DARK_PIXELS) > 100
        assert axe_violations(page) == []
        close_panel(page, "Preview report 50%.pdf")

        # No preview for other types, but a download; a long text shows its first 256 KiB, and says so.
        open_preview(page, "data.bin")
        dialog = page.get_by_role("dialog", name="Preview of data.bin")
        expect(dialog).to_contain_text("No preview for this type of file")
        expect(dialog.get_by_role("button", name="Download")).to_be_visible()
        close_panel(page, "Preview data.bin")
        open_preview(page, "long.log")
        expect(page.get_by_role("dialog")).to_contain_text(f"Showing the first 256 KiB of {len(LONG) // 1024} KiB.")
        close_panel(page, "Preview long.log")

        # Nothing ran in the page either.
        assert page.evaluate("window.pwned") is None


def test_history_diff_and_one_click_rollback(clocked_gateway: Gateway, page: Page) -> None:
    gateway = clocked_gateway
    user = f"console-{uuid.uuid4().hex[:10]}"
    name = f"{NFD} 100% ✍️.md"
    shown = unicodedata.normalize("NFC", name)
    versions = [b"alpha\nbeta\ngamma\n", b"alpha\nBETA\ngamma\ndelta\n", b"alpha\nBETA\ndelta\n"]
    with gateway.client(user) as api:
        sid = new_session(api, "History")
        written = [put(api, sid, name, body) for body in versions]
        put(api, sid, "page 🎉.html", HTML)
        open_session(page, gateway, gateway.token(user), sid)

        # The picture of a preview for the docs: an HTML file, shown as its text. Opened from the keyboard, so that
        # the pointer is over no button (drawn hovered on one run and not on the next).
        page.get_by_role("button", name="Preview page 🎉.html").focus()
        page.keyboard.press("Enter")
        expect(page.frame_locator("iframe.preview-text").locator("body")).to_contain_text("<h1>Hello</h1>")
        page.evaluate(FIX_TIMES)
        # The frame is drawn by a process of its own: two frames of the page let everything around it settle.
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        screenshot(page, "console-preview.png", full_page=False)
        close_panel(page, "Preview page 🎉.html")

        page.locator("tr.file", has_text=shown).get_by_role("button", name=f"History {shown}").click()
        dialog = page.get_by_role("dialog", name=f"History of {shown}")
        rows = dialog.locator("li.version")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text("current")
        expect(rows.first).to_contain_text("17 bytes")

        # What the newest version changed: one line removed, marked in words and by a sign, not by colour alone.
        rows.first.get_by_role("button", name="Changes").click()
        diff = dialog.get_by_role("list", name="Changed lines")
        expect(dialog.locator(".changes")).to_contain_text("0 lines added, 1 line removed")
        expect(diff.locator("li.removed")).to_have_text(["\N{MINUS SIGN}Removed: gamma"])
        expect(diff.locator("li.added")).to_have_count(0)

        # The oldest against the current one.
        rows.last.get_by_role("button", name="with the current one").click()
        expect(dialog.locator(".changes")).to_contain_text("2 lines added, 2 lines removed")
        expect(diff.locator("li.removed .line-text")).to_have_text(["beta", "gamma"])
        expect(diff.locator("li.added .line-text")).to_have_text(["BETA", "delta"])
        assert axe_violations(page) == []
        page.evaluate(FIX_TIMES)
        page.mouse.move(0, 0)
        screenshot(page, "console-history.png", full_page=False)

        # One click rolls back: the oldest content becomes the head, as a new version; the list says so.
        rows.last.get_by_role("button", name="Roll back").click()
        expect(page.locator("#toast")).to_contain_text(f"{shown}: rolled back to the version of")
        expect(rows).to_have_count(4)
        expect(rows.first).to_contain_text("current")
        head = api.get(file_url(sid, name))
        assert head.content == versions[0]
        assert head.headers["x-version-id"] not in written
        history = api.get(f"/v1/sessions/{sid}/history", params={"path": name}).json()["items"]
        assert [item["is_latest"] for item in history] == [True, False, False, False]
        close_panel(page, f"History {shown}")
