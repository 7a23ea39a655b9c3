// One session in the list: its name (renamed in place), what it holds, and its quick actions.

import { ApiError, deleteSession, moveSession, renameSession, type SessionSummary, undeleteSession } from "./api";
import { h, replaceChildren } from "./dom";
import { exportSessionNow } from "./exporting";
import { formatBytes, formatCount, formatWhen } from "./format";
import { toast } from "./toast";

export interface RowHooks {
  changed: () => void;
}

const displayName = (session: SessionSummary): string => session.name ?? "Untitled session";

export function renderRow(session: SessionSummary, hooks: RowHooks): HTMLLIElement {
  const row = h("li", { class: "session", "data-id": session.id });
  fill(row, session, hooks);
  return row;
}

function fill(row: HTMLLIElement, session: SessionSummary, hooks: RowHooks): void {
  const label = displayName(session);
  const name = h(
    "a",
    { class: session.name === null ? "name untitled" : "name", href: `?session=${encodeURIComponent(session.id)}` },
    label,
  );
  const rename = h("button", { type: "button", class: "quiet", "aria-label": `Rename ${label}` }, "Rename");
  rename.addEventListener("click", () => startRename(row, session, hooks));
  const actions = h("div", { class: "actions" }, rename);
  const step = session.state === "active" ? "end" : session.state === "ended" ? "archive" : "reactivate";
  const stepLabel = { end: "End", archive: "Archive", reactivate: "Reactivate" }[step];
  const move = h("button", { type: "button", class: "quiet", "aria-label": `${stepLabel} ${label}` }, stepLabel);
  move.addEventListener("click", () => {
    moveSession(session.id, step).then((changed) => {
      fill(row, changed, hooks);
      toast(`${displayName(changed)}: ${changed.state}`);
    }, report);
  });
  const remove = h("button", { type: "button", class: "quiet danger", "aria-label": `Delete ${label}` }, "Delete");
  remove.addEventListener("click", () => removeSession(row, session, hooks));
  const zip = h("button", { type: "button", class: "quiet", "aria-label": `Export ${label}` }, "Export");
  zip.addEventListener("click", () => exportSessionNow(session.id, label));
  actions.append(move, zip, remove);
  replaceChildren(
    row,
    h(
      "div",
      { class: "summary" },
      name,
      h(
        "p",
        { class: "meta" },
        h("span", { class: `state ${session.state}` }, session.state),
        ` · ${formatCount(session.file_count)} · ${formatBytes(session.bytes)} · `,
        h("time", { datetime: session.last_activity_at }, formatWhen(new Date(session.last_activity_at))),
      ),
      session.tags.length
        ? h("ul", { class: "tags", "aria-label": "Session tags" }, ...session.tags.map((tag) => h("li", {}, tag)))
        : null,
    ),
    actions,
  );
}

function startRename(row: HTMLLIElement, session: SessionSummary, hooks: RowHooks): void {
  const input = h("input", {
    type: "text",
    class: "rename",
    value: session.name ?? "",
    maxlength: "256",
    "aria-label": `New name for ${displayName(session)}`,
  });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const cancel = h("button", { type: "button", class: "quiet" }, "Cancel");
  const form = h("form", { class: "rename-form" }, input, save, cancel);
  const back = (shown: SessionSummary): void => {
    fill(row, shown, hooks);
    row.querySelector<HTMLButtonElement>(".actions button")?.focus();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    renameSession(session.id, input.value).then((changed) => back(changed), report);
  });
  cancel.addEventListener("click", () => back(session));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") back(session);
  });
  replaceChildren(row, form);
  input.focus();
  input.select();
}

function removeSession(row: HTMLLIElement, session: SessionSummary, hooks: RowHooks): void {
  deleteSession(session.id).then(() => {
    row.remove();
    toast(`Deleted ${displayName(session)}`, {
      label: "Undo",
      run: () =>
        undeleteSession(session.id).then(() => {
          toast(`Restored ${displayName(session)}`);
          hooks.changed();
        }, report),
    });
  }, report);
}

function report(error: unknown): void {
  toast(error instanceof ApiError || error instanceof Error ? error.message : "Something went wrong");
}
