// A session opened from the list: its folders as a tree, the files of the folder in view (size, tier, last change)
// with their actions, and the upload area. Names are text, always.

import { ApiError, getSession, type SessionSummary } from "./api";
import { h, replaceChildren } from "./dom";
import { deleteFile, download, type FileEntry, listFolder, moveFile, setTier, TIERS } from "./files";
import { formatBytes, formatCount, formatWhen } from "./format";
import { type RecoveryPanel, renderRecovery } from "./recovery";
import { openHistory } from "./history";
import { openPreview } from "./preview";
import { toast } from "./toast";
import { reason, renderUploads } from "./uploads";
import { grantedMeta, grantedSession, SharingPanel } from "./sharing";

const summary = (session: SessionSummary): string =>
  `${session.state} · ${formatCount(session.file_count)} · ${formatBytes(session.bytes)}`;

const leaf = (path: string): string => path.replace(/\/$/, "").split("/").pop() ?? path;

export function renderSession(main: HTMLElement, id: string): void {
  const back = h("a", { href: "./", class: "back" }, "← All sessions");
  replaceChildren(main, back, h("p", { role: "status" }, "Loading…"));
  // Not found among your own sessions, it may be one shared with you; any other failure is told as it is.
  getSession(id).catch((error: unknown) => {
    if (error instanceof ApiError && error.status === 404) return grantedSession(id);
    throw error;
  }).then(
    (session) => new SessionView(main, back, session).show(""),
    (error: unknown) => {
      const gone = !(error instanceof ApiError) || error.status === 404;
      const text = gone ? "This session does not exist." : `This session cannot be shown: ${reason(error)}`;
      replaceChildren(main, back, h("p", { role: "alert" }, text));
    },
  );
}

class SessionView {
  private folder = "";
  private readonly tree = h("ul", { class: "tree" });
  private readonly files = h("div", { class: "files" });
  // Focus comes back here when the row that held it is redrawn (a folder deleted or not), not to the page's top.
  private readonly heading = h("h3", { id: "folder-heading", class: "folder", tabindex: "-1" });
  private readonly sharing: SharingPanel;
  private readonly meta = h("p", { class: "meta" });
  private shown = false;
  // Restores, snapshots and exports are the owner's: a session shared with you has no recovery panel.
  private readonly recovery: RecoveryPanel | null;

  constructor(main: HTMLElement, back: HTMLElement, private readonly session: SessionSummary) {
    this.sharing = new SharingPanel(session);
    const granted = grantedMeta(session);
    this.recovery = granted === null ? renderRecovery(session.id, () => this.folder, () => this.show(this.folder)) : null;
    this.meta.textContent = granted ?? summary(session);
    replaceChildren(
      main,
      back,
      h("h2", { class: session.name === null ? "title untitled" : "title" }, session.name ?? "Untitled session"),
      this.meta,
      renderUploads(session.id, () => this.folder, () => this.show(this.folder)),
      h(
        "div",
        { class: "browser" },
        h("nav", { class: "card folders", "aria-label": "Folders" }, this.tree),
        h("section", { class: "card", "aria-labelledby": "folder-heading" }, this.heading, this.files),
      ),
      this.recovery?.element,
      this.sharing.element,
    );
  }

  /** Show a folder ('' is the session's top): its files, and the tree opened down to it. */
  show(folder: string): void {
    // Every later showing follows a change or a move between folders: the count and size may have changed too.
    if (this.shown && grantedMeta(this.session) === null) {
      getSession(this.session.id).then((now) => (this.meta.textContent = summary(now)), () => undefined);
    }
    this.shown = true;
    this.folder = folder;
    this.sharing.show(folder);
    this.recovery?.follow(folder);
    this.heading.textContent = folder ? `Folder ${folder}` : "All files";
    replaceChildren(this.files, h("p", { role: "status" }, "Loading…"));
    listFolder(this.session.id, folder).then(
      (page) => this.fill(page.prefixes, page.items),
      (error: unknown) => replaceChildren(this.files, h("p", { role: "alert", class: "error" }, reason(error))),
    );
    void this.renderTree();
  }

  private async renderTree(): Promise<void> {
    const branch = async (prefix: string): Promise<HTMLLIElement[]> => {
      const { prefixes } = await listFolder(this.session.id, prefix);
      return Promise.all(
        prefixes.map(async (sub) => {
          const open = this.folder.startsWith(sub);
          const button = h(
            "button",
            { type: "button", class: "link", "aria-current": this.folder === sub ? "true" : undefined },
            leaf(sub),
          );
          button.addEventListener("click", () => this.show(sub));
          const children = open ? await branch(sub) : [];
          return h("li", {}, button, children.length ? h("ul", {}, ...children) : null);
        }),
      );
    };
    const top = h("button", { type: "button", class: "link", "aria-current": this.folder ? undefined : "true" }, "All files");
    top.addEventListener("click", () => this.show(""));
    replaceChildren(this.tree, h("li", {}, top), ...(await branch("")));
  }

  private fill(prefixes: string[], items: FileEntry[]): void {
    if (!prefixes.length && !items.length) {
      replaceChildren(this.files, h("p", { class: "hint" }, "No files here yet."));
      return;
    }
    const head = h(
      "tr",
      {},
      ...["Name", "Size", "Tier", "Last change", "Actions"].map((label) => h("th", { scope: "col" }, label)),
    );
    const rows = [
      ...prefixes.map((prefix) => {
        const open = h("button", { type: "button", class: "link name" }, `${leaf(prefix)}/`);
        open.addEventListener("click", () => this.show(prefix));
        const label = `Delete folder ${leaf(prefix)}`;
        const remove = h("button", { type: "button", class: "quiet danger", "aria-label": label }, "Delete");
        const actions = h("td", { class: "file-actions" }, h("div", { class: "actions" }, remove));
        remove.addEventListener("click", () => this.confirmFolderDelete(actions, prefix));
        return h("tr", { class: "folder-row" }, h("td", {}, open), h("td", {}, "folder"), h("td"), h("td"), actions);
      }),
      ...items.map((item) => this.fileRow(item)),
    ];
    replaceChildren(
      this.files,
      h("table", { class: "file-table" }, h("thead", {}, head), h("tbody", {}, ...rows)),
    );
  }

  private fileRow(item: FileEntry): HTMLTableRowElement {
    const name = leaf(item.path);
    const tier = h("select", { "aria-label": `Tier of ${name}` }, ...TIERS.map((t) => h("option", { value: t }, t)));
    tier.value = item.tier ?? "standard";
    tier.addEventListener("change", () => {
      setTier(this.session.id, item.path, tier.value).then(
        () => toast(`${name}: ${tier.value}`),
        (error: unknown) => toast(`${name}: ${reason(error)}`),
      );
    });
    const act = (label: string, run: () => void, extra = ""): HTMLButtonElement => {
      const button = h("button", { type: "button", class: `quiet ${extra}`, "aria-label": `${label} ${name}` }, label);
      button.addEventListener("click", run);
      return button;
    };
    const row = h("tr", { class: "file", "data-path": item.path });
    const file = { path: item.path, size: item.size, versionId: null };
    const preview: HTMLButtonElement = act("Preview", () => openPreview(this.session.id, file, preview));
    const refresh = (): void => this.show(this.folder);
    const history: HTMLButtonElement = act("History", () => openHistory(this.session.id, item.path, history, refresh), "history");
    const cells = (): HTMLElement[] => [
      h("td", {}, h("span", { class: "name" }, name)),
      h("td", {}, formatBytes(item.size)),
      h("td", {}, tier),
      h("td", {}, h("time", { datetime: item.last_modified }, formatWhen(new Date(item.last_modified)))),
      h(
        "td",
        { class: "file-actions" },
        h(
          "div",
          { class: "actions" },
          preview,
          history,
          act("Download", () => void download(this.session.id, item.path).catch((e: unknown) => toast(reason(e)))),
          act("Move", () => this.startMove(row, item)),
          act("Delete", () => this.remove(item), "danger"),
        ),
      ),
    ];
    replaceChildren(row, ...cells());
    return row;
  }

  private startMove(row: HTMLTableRowElement, item: FileEntry): void {
    const field = h("input", { type: "text", value: item.path, "aria-label": `New path of ${leaf(item.path)}` });
    const form = h(
      "form",
      { class: "rename-form" },
      field,
      h("button", { type: "submit", class: "primary" }, "Save"),
    );
    const cancel = h("button", { type: "button", class: "quiet" }, "Cancel");
    form.append(cancel);
    cancel.addEventListener("click", () => this.show(this.folder));
    field.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.show(this.folder);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const to = field.value.trim();
      if (!to || to === item.path) return this.show(this.folder);
      moveFile(this.session.id, item.path, to).then(
        () => {
          toast(`Moved to ${to}`);
          this.show(this.folder);
        },
        (error: unknown) => toast(`Not moved: ${reason(error)}`),
      );
    });
    replaceChildren(row, h("td", { colspan: "5" }, form));
    field.focus();
    field.select();
  }

  /** A folder goes only after a second, explicit choice: everything under it is deleted (its history is kept). */
  private confirmFolderDelete(cell: HTMLElement, prefix: string): void {
    const yes = h("button", { type: "button", class: "quiet danger" }, "Delete all");
    const no = h("button", { type: "button", class: "quiet" }, "Cancel");
    const question = h("p", { class: "confirm", role: "alert" }, `Delete everything in ${prefix}?`);
    no.addEventListener("click", () => {
      this.show(this.folder);
      this.heading.focus();
    });
    yes.addEventListener("click", () => {
      deleteFile(this.session.id, prefix).then(
        () => {
          toast(`Deleted ${prefix} (the files' history is kept)`);
          this.show(this.folder);
          this.heading.focus();
        },
        (error: unknown) => toast(`Not deleted: ${reason(error)}`),
      );
    });
    replaceChildren(cell, question, h("div", { class: "actions" }, yes, no));
    no.focus();
  }

  private remove(item: FileEntry): void {
    deleteFile(this.session.id, item.path).then(
      () => {
        toast(`Deleted ${leaf(item.path)} (its history is kept)`);
        this.show(this.folder);
      },
      (error: unknown) => toast(`Not deleted: ${reason(error)}`),
    );
  }
}
