// PDF pages drawn on canvases by pdf.js, loaded only when a PDF is shown. Chromium will not run its own PDF viewer in
// a sandboxed frame, and an unsandboxed one would be the viewer plus whatever the PDF asks of it. pdf.js here parses
// in a worker, runs none of the PDF's scripts (scripting is a separate viewer feature, not loaded), compiles no code
// from fonts (isEvalSupported: false; the page's policy has no 'unsafe-eval' either) and draws pixels: links, forms
// and attachments are not made live.

import { h } from "./dom";

declare const PDF_WORKER: string; // the worker's hashed file name, given by the build

/** More pages than this are left to the download. */
export const MAX_PAGES = 20;

export async function renderPdf(bytes: ArrayBuffer, into: HTMLElement, name: string): Promise<void> {
  const pdfjs = await import("pdfjs-dist");
  pdfjs.GlobalWorkerOptions.workerSrc = new URL(PDF_WORKER, import.meta.url).href;
  const document = await pdfjs.getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    enableXfa: false,
    stopAtErrors: false,
  }).promise;
  try {
    const shown = Math.min(document.numPages, MAX_PAGES);
    const texts: string[] = [];
    for (let number = 1; number <= shown; number += 1) {
      const page = await document.getPage(number);
      const viewport = page.getViewport({ scale: 1.5 });
      const canvas = h("canvas", {
        class: "pdf-page",
        role: "img",
        "aria-label": `Page ${number} of ${document.numPages} of ${name}`,
        width: String(Math.ceil(viewport.width)),
        height: String(Math.ceil(viewport.height)),
      });
      into.append(canvas);
      const context = canvas.getContext("2d");
      if (!context) throw new Error("this browser cannot draw the page");
      await page.render({ canvasContext: context, viewport }).promise;
      const content = await page.getTextContent();
      texts.push(content.items.map((item) => ("str" in item ? item.str : "")).join(" "));
    }
    if (document.numPages > shown) {
      into.append(h("p", { class: "hint" }, `The first ${shown} of ${document.numPages} pages are shown.`));
    }
    // The words of the pages, for screen readers and for copying (as text, never markup).
    into.append(
      h("details", { class: "pdf-text" }, h("summary", {}, "Text of the pages"), h("pre", {}, texts.join("\n\n"))),
    );
  } finally {
    await document.destroy();
  }
}
