// One short message at a time, announced to screen readers, with an optional action (Undo).

import { byId, h, replaceChildren } from "./dom";

let timer: number | undefined;

export function toast(message: string, action?: { label: string; run: () => void }): void {
  const box = byId<HTMLDivElement>("toast");
  window.clearTimeout(timer);
  const button = action
    ? h("button", { type: "button", class: "link" }, action.label)
    : null;
  button?.addEventListener("click", () => {
    box.classList.remove("shown");
    action?.run();
  });
  replaceChildren(box, h("span", {}, message), button);
  box.classList.add("shown");
  timer = window.setTimeout(() => box.classList.remove("shown"), action ? 10_000 : 4_000);
}
