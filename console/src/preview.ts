// A file shown in a panel, never run: text in a sandboxed frame (a text/plain blob: the frame has no scripts and an
// origin of its own), images as <img> (an SVG there runs no script and loads nothing), PDFs drawn by pdf.js. What is
// shown is decided from the file's name, never from the type stored with it. Anything else: a download button.

import { h } from "./dom";
import { decodeText, fetchBytes, imageType, kindOf, BINARY_LIMIT, TEXT_LIMIT } from "./content";
import { openPanel, type Panel } from "./dialog";
import { download } from "./files";
import { formatBytes } from "./format";
import { renderPdf } from "./pdf";
import { toast } from "./toast";
import { reason } from "./uploads";

const leaf = (path: string): string => path.split("/").pop() ?? path;

export interface Shown {
  path: string;
  size: number;
  /** A version from the file's history; null: the current one. */
  versionId: string | null;
  /** How that version is named to people ("the version of 2 Mar 2026, 09:30"). */
  label?: string;
}

export function openPreview(sid: string, file: Shown, opener: HTMLElement): void {
  const name = leaf(file.path);
  const panel = openPanel(file.label ? `${name}, ${file.label}` : `Preview of ${name}`, opener);
  const area = h("div", { class: "preview-area" }, h("p", { role: "status" }, "Loading…"));
  const save = h("button", { type: "button", class: "quiet" }, "Download");
  save.addEventListener("click", () => void download(sid, file.path).catch((e: unknown) => toast(reason(e))));
  panel.body.append(h("div", { class: "panel-foot" }, file.versionId ? null : save), area);
  void fill(sid, file, panel, area).catch((error: unknown) =>
    area.replaceChildren(h("p", { role: "alert", class: "error" }, `Cannot show this file: ${reason(error)}`)),
  );
}

async function fill(sid: string, file: Shown, panel: Panel, area: HTMLElement): Promise<void> {
  const name = leaf(file.path);
  const kind = kindOf(file.path);
  if (kind === "none") {
    area.replaceChildren(h("p", {}, "No preview for this type of file. Download it to open it."));
    return;
  }
  if (kind !== "text" && file.size > BINARY_LIMIT) {
    area.replaceChildren(h("p", {}, `Too large to preview here (${formatBytes(file.size)}). Download it to open it.`));
    return;
  }
  const { bytes, total } = await fetchBytes(sid, file.path, file.versionId, kind === "text" ? TEXT_LIMIT : BINARY_LIMIT);
  const blobUrl = (blob: Blob): string => {
    const url = URL.createObjectURL(blob);
    panel.onClose(() => URL.revokeObjectURL(url));
    return url;
  };
  if (kind === "text") {
    // The frame gets plain text: markup in it (HTML, SVG, a <script>) is shown as the characters it is.
    const text = decodeText(bytes);
    const frame = h("iframe", {
      class: "preview-text",
      sandbox: true,
      referrerpolicy: "no-referrer",
      title: `Text of ${name}`,
      src: blobUrl(new Blob([text], { type: "text/plain;charset=utf-8" })),
    });
    const note =
      total !== null
        ? h("p", { class: "hint" }, `Showing the first ${formatBytes(bytes.byteLength)} of ${formatBytes(total)}.`)
        : null;
    area.replaceChildren(...(note ? [note] : []), frame);
    return;
  }
  if (kind === "image") {
    const source = URL.createObjectURL(new Blob([bytes], { type: imageType(file.path) }));
    const image = h("img", { class: "preview-image", alt: name, src: source });
    // Drawn once, the picture needs its URL no more: revoked at once, it cannot be opened as a page of the console's
    // origin ("open image in new tab"), where an SVG would be a document of its own.
    const revoke = (): void => URL.revokeObjectURL(source);
    image.addEventListener("load", revoke, { once: true });
    panel.onClose(revoke);
    image.addEventListener("error", () =>
      area.replaceChildren(h("p", { role: "alert", class: "error" }, "This image cannot be shown (it may be damaged).")),
    );
    area.replaceChildren(image);
    return;
  }
  const pages = h("div", { class: "pdf-pages" });
  area.replaceChildren(pages);
  await renderPdf(bytes, pages, name);
}
