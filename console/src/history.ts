// A file's versions, newest first: when, how large, which tier; what changed in a text version (against the one
// before it, or against the current one); a preview of any version; and rollback, which copies an old version back
// as a new one (nothing is lost: the version rolled away from stays in the history).

import { call, sessionPath } from "./api";
import { decodeText, fetchBytes, kindOf, TEXT_LIMIT } from "./content";
import { openPanel } from "./dialog";
import { diffLines, type DiffLine } from "./diff";
import { h, replaceChildren, whileBusy } from "./dom";
import { formatBytes } from "./format";
import { openPreview } from "./preview";
import { toast } from "./toast";
import { reason } from "./uploads";

export interface Version {
  version_id: string;
  is_latest: boolean;
  is_delete_marker: boolean;
  size: number | null;
  etag: string | null;
  last_modified: string;
  tier: string | null;
  sha256: string | null;
}

interface HistoryPage {
  path: string;
  items: Version[];
  next_cursor: string | null;
}

/** Unchanged lines kept around each change; longer unchanged runs are folded into one line that says how many. */
const CONTEXT = 3;

const leaf = (path: string): string => path.split("/").pop() ?? path;
// To the second: versions are often minutes, or seconds, apart.
const when = (version: Version): string =>
  new Date(version.last_modified).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
const timeOf = (version: Version): HTMLElement =>
  h("time", { datetime: version.last_modified, "data-version": version.version_id }, when(version));

function readPage(sid: string, path: string, cursor: string | null): Promise<HistoryPage> {
  const params = new URLSearchParams({ path, limit: "50" });
  if (cursor) params.set("cursor", cursor);
  return call("GET", `${sessionPath(sid)}/history?${params}`);
}

export function openHistory(sid: string, path: string, opener: HTMLElement, changed: () => void): void {
  const name = leaf(path);
  const refocus = (): HTMLElement | null =>
    document.querySelector<HTMLElement>(`tr.file[data-path="${CSS.escape(path)}"] button.history`);
  const panel = openPanel(`History of ${name}`, opener, refocus);
  const list = h("ol", { class: "versions", "aria-label": "Versions, newest first" });
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "Older versions");
  const status = h("p", { class: "status", role: "status" });
  const changes = h("section", { class: "changes", "aria-label": "Changes" });
  panel.body.append(status, list, more, changes);

  let versions: Version[] = [];
  let cursor: string | null = null;

  const load = async (reset: boolean): Promise<void> => {
    const page = await readPage(sid, path, reset ? null : cursor);
    versions = reset ? page.items : [...versions, ...page.items];
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    replaceChildren(list, ...versions.map((version, index) => row(version, index)));
  };
  const fail = (error: unknown): void => {
    status.textContent = reason(error);
  };
  more.addEventListener("click", () => void load(false).catch(fail));

  const row = (version: Version, index: number): HTMLLIElement => {
    const label = `the version of ${when(version)}`;
    const facts = version.is_delete_marker
      ? "deleted"
      : [formatBytes(version.size ?? 0), version.tier ?? "standard"].join(" · ");
    const button = (text: string, aria: string, run: () => void, extra = ""): HTMLButtonElement => {
      const made = h("button", { type: "button", class: `quiet ${extra}`, "aria-label": aria }, text);
      made.addEventListener("click", run);
      return made;
    };
    const actions = h("div", { class: "actions" });
    if (!version.is_delete_marker) {
      const previewButton: HTMLButtonElement = button("Preview", `Preview ${label}`, () =>
        openPreview(sid, { path, size: version.size ?? 0, versionId: version.version_id, label }, previewButton),
      );
      actions.append(previewButton);
      if (kindOf(path) === "text") {
        const before = versions.slice(index + 1).find((older) => !older.is_delete_marker) ?? null;
        actions.append(
          button("Changes", `Changes in ${label}`, () => void compare(before, version).catch(fail)),
        );
        const current = versions.find((item) => item.is_latest && !item.is_delete_marker);
        if (current && !version.is_latest) {
          actions.append(
            button("Compare with current", `Compare ${label} with the current one`, () =>
              void compare(version, current).catch(fail),
            ),
          );
        }
      }
      if (!version.is_latest) {
        const back: HTMLButtonElement = button(
          "Roll back",
          `Roll back to ${label}`,
          () => void whileBusy(back, () => rollback(version)).catch(fail),
          "primary",
        );
        actions.append(back);
      }
    }
    return h(
      "li",
      { class: version.is_latest ? "version latest" : "version", "data-version": version.version_id },
      h(
        "div",
        { class: "version-facts" },
        timeOf(version),
        h("span", { class: "meta" }, ` ${facts}`),
        version.is_latest ? h("span", { class: "badge" }, version.is_delete_marker ? "deleted now" : "current") : null,
      ),
      actions,
    );
  };

  const text = async (version: Version): Promise<{ text: string; cut: boolean }> => {
    const { bytes, total } = await fetchBytes(sid, path, version.version_id, TEXT_LIMIT);
    return { text: decodeText(bytes), cut: total !== null };
  };

  let comparing = 0;
  const compare = async (older: Version | null, newer: Version): Promise<void> => {
    // Only the last comparison asked for is shown, whichever answer comes back last.
    const mine = ++comparing;
    replaceChildren(changes, h("p", { role: "status" }, "Comparing…"));
    let a: { text: string; cut: boolean };
    let b: { text: string; cut: boolean };
    try {
      [a, b] = await Promise.all([older ? text(older) : { text: "", cut: false }, text(newer)]);
    } catch (error) {
      if (mine === comparing) replaceChildren(changes, h("p", { role: "alert", class: "error" }, `Not compared: ${reason(error)}`));
      return;
    }
    if (mine !== comparing) return;
    const title = (): HTMLElement =>
      older
        ? h("h3", {}, "From the version of ", timeOf(older), " to the version of ", timeOf(newer))
        : h("h3", {}, "The first version, of ", timeOf(newer));
    const lines = diffLines(a.text, b.text);
    const cutNote = a.cut || b.cut ? h("p", { class: "hint" }, `Only the first ${formatBytes(TEXT_LIMIT)} are compared.`) : null;
    if (lines === null) {
      replaceChildren(changes, title(), h("p", {}, "Too many changes to show line by line."), cutNote);
      return;
    }
    const added = lines.filter((line) => line.kind === "added").length;
    const removed = lines.filter((line) => line.kind === "removed").length;
    const summary = added || removed ? `${plural(added, "line")} added, ${plural(removed, "line")} removed` : "No changes";
    replaceChildren(
      changes,
      title(),
      h("p", { class: "meta" }, summary),
      cutNote,
      added || removed ? renderDiff(lines) : null,
    );
    changes.querySelector("h3")?.setAttribute("tabindex", "-1");
    changes.querySelector<HTMLElement>("h3")?.focus();
  };

  const rollback = async (version: Version): Promise<void> => {
    await call("POST", `${sessionPath(sid)}/rollback`, { path, version_id: version.version_id });
    const message = `${name}: rolled back to the version of ${when(version)}, as a new version`;
    status.textContent = message;
    toast(message);
    replaceChildren(changes);
    await load(true);
    changed();
  };

  status.textContent = "Loading…";
  load(true).then(() => (status.textContent = ""), fail);
}

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? "" : "s"}`;

/** Lines as text, each marked in words (for screen readers) and by a sign, not by colour alone. */
function renderDiff(lines: DiffLine[]): HTMLElement {
  const items: HTMLLIElement[] = [];
  const words = { added: "Added", removed: "Removed", same: "Unchanged" } as const;
  const signs = { added: "+", removed: "−", same: " " } as const;
  const near = lines.map(() => false);
  lines.forEach((line, index) => {
    if (line.kind === "same") return;
    for (let at = Math.max(0, index - CONTEXT); at <= Math.min(lines.length - 1, index + CONTEXT); at += 1) near[at] = true;
  });
  let folded = 0;
  const fold = (): void => {
    if (folded) items.push(h("li", { class: "diff-line folded" }, `… ${plural(folded, "unchanged line")}`));
    folded = 0;
  };
  lines.forEach((line, index) => {
    if (!near[index]) {
      folded += 1;
      return;
    }
    fold();
    items.push(
      h(
        "li",
        { class: `diff-line ${line.kind}` },
        h("span", { class: "sign", "aria-hidden": "true" }, signs[line.kind]),
        h("span", { class: "sr-only" }, `${words[line.kind]}: `),
        h("span", { class: "line-text" }, line.text),
      ),
    );
  });
  fold();
  return h("ol", { class: "diff", "aria-label": "Changed lines" }, ...items);
}
