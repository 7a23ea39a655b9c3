// A modal panel (native <dialog>): Escape or Close shuts it, and focus goes back to the button that opened it.

import { h } from "./dom";

export interface Panel {
  dialog: HTMLDialogElement;
  body: HTMLElement;
  close: () => void;
  /** Runs when the panel closes (to free blob: URLs, or refresh what it changed). */
  onClose: (run: () => void) => void;
}

let opened = 0;

export function openPanel(title: string, opener: HTMLElement, refocus: () => HTMLElement | null = () => null): Panel {
  opened += 1;
  const titleId = `panel-title-${opened}`;
  const closeButton = h("button", { type: "button", class: "quiet", "aria-label": "Close" }, "Close");
  const body = h("div", { class: "panel-body" });
  const dialog = h(
    "dialog",
    { class: "panel", "aria-labelledby": titleId },
    h("header", { class: "panel-head" }, h("h2", { id: titleId, class: "panel-title" }, title), closeButton),
    body,
  );
  const closers: (() => void)[] = [];
  closeButton.addEventListener("click", () => dialog.close());
  // Escape fires 'cancel' then 'close'; both ways end here once.
  dialog.addEventListener("close", () => {
    for (const run of closers) run();
    dialog.remove();
    // The opener may have been drawn again meanwhile (the list refreshed): then its successor takes the focus.
    (opener.isConnected ? opener : refocus())?.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  closeButton.focus();
  return { dialog, body, close: () => dialog.close(), onClose: (run) => closers.push(run) };
}
