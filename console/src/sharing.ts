// The session view's sharing panel: share links (a file, or the folder in view as a zip) and grants to other users
// of the tenant, each listed with its state and revocable. Both are the owner's alone: to anyone else the routes
// answer 404, and the panel says so instead of failing.

import { ApiError, call, sessionPath, type SessionSummary } from "./api";
import { h, labelled, replaceChildren, whileBusy } from "./dom";
import { type FileEntry, listFolder } from "./files";
import { formatWhen } from "./format";
import { toast } from "./toast";
import { reason } from "./uploads";

export interface Share {
  id: string;
  url: string;
  path: string | null;
  prefix: string | null;
  created_at: string;
  expires_at: string | null;
  max_downloads: number | null;
  downloads: number;
}

export interface Grant {
  id: string;
  session_id: string;
  owner: string;
  user: string;
  access: "read" | "write";
  prefix: string;
  expires_at: string | null;
}

const OWNER_ONLY = "Only the owner of this session can share it or see who it is shared with.";
const LIFETIMES: readonly [string, number | null][] = [
  ["Never", null],
  ["1 hour", 3600],
  ["1 day", 86_400],
  ["7 days", 7 * 86_400],
  ["30 days", 30 * 86_400],
];

const expired = (at: string | null): boolean => at !== null && new Date(at).getTime() <= Date.now();
const until = (at: string | null): string => (at === null ? "never" : formatWhen(new Date(at)));
const folderName = (prefix: string): string => (prefix ? `folder ${prefix}` : "all files");

/** The state of a link as its holder would find it; revoked links are gone from the list. */
export function shareState(share: Share): "active" | "expired" | "used up" {
  if (expired(share.expires_at)) return "expired";
  if (share.max_downloads !== null && share.downloads >= share.max_downloads) return "used up";
  return "active";
}

// The session a grant opened to this user, for the session view: its record is the owner's alone (404 here).
const grants = new WeakMap<SessionSummary, Grant>();

/** A session another user granted to the caller, as the session view shows it; rejects when there is none. */
export async function grantedSession(id: string): Promise<SessionSummary> {
  const { items } = await call<{ items: Grant[] }>("GET", "/v1/shared");
  const grant = items.find((item) => item.session_id === id);
  if (!grant) throw new Error("no such session");
  const session: SessionSummary = {
    id,
    name: `Shared by ${grant.owner}`,
    state: "active",
    created_at: "",
    last_activity_at: "",
    file_count: 0,
    bytes: 0,
    tags: [],
    project: null,
  };
  grants.set(session, grant);
  return session;
}

/** The meta line of a session opened through a grant (null for one's own session). */
export function grantedMeta(session: SessionSummary): string | null {
  const grant = grants.get(session);
  if (!grant) return null;
  const access = grant.access === "write" ? "read and write" : "read";
  return `shared with you · ${access} access · ${folderName(grant.prefix)} · until ${until(grant.expires_at)}`;
}

/** Copies a link; where the clipboard is refused, the link is selected in a read-only field to copy by hand. */
async function copy(url: string, field: HTMLInputElement, note: HTMLElement): Promise<void> {
  field.value = url;
  try {
    await navigator.clipboard.writeText(url);
    note.textContent = "Copied to the clipboard.";
  } catch {
    note.textContent = "The browser did not allow copying: the link is selected, press Ctrl+C (⌘C) to copy it.";
    field.focus();
    field.select();
  }
}

export class SharingPanel {
  readonly element: HTMLDetailsElement;
  private folder = "";
  private readonly body = h("div", { class: "sharing-body" });
  private readonly target = h("select", { id: "share-target", name: "target" });
  private readonly links = h("div", { class: "share-links" });
  private readonly people = h("div", { class: "grants" });
  private readonly made = h("div", { class: "share-made", hidden: true });
  private readonly madeField = h("input", {
    id: "share-url",
    type: "text",
    readonly: true,
  });
  private readonly madeNote = h("p", { class: "hint", role: "status" });
  private readonly grantFolder = h("select", { id: "grant-folder", name: "prefix" });
  private readonly createButton = h("button", { type: "submit", class: "primary", disabled: true }, "Create link");

  constructor(private readonly session: SessionSummary) {
    this.element = h(
      "details",
      { class: "card sharing" },
      h("summary", { class: "panel-title" }, "Sharing"),
      this.body,
    );
    this.element.addEventListener("toggle", () => {
      if (this.element.open) this.load();
    });
  }

  /** The folder in view changed: what can be shared follows it. */
  show(folder: string): void {
    this.folder = folder;
    if (this.element.open) void this.fillTargets();
  }

  private load(): void {
    replaceChildren(this.body, h("p", { role: "status" }, "Loading…"));
    Promise.all([this.listShares(), this.listGrants()]).then(
      ([shares, granted]) => {
        replaceChildren(
          this.body,
          h(
            "section",
            { class: "share-section", "aria-labelledby": "links-heading" },
            h("h4", { id: "links-heading" }, "Share links"),
            h("p", { class: "hint" }, "Anyone holding a link can download what it points to, without signing in."),
            this.shareForm(),
            this.made,
            this.links,
          ),
          h(
            "section",
            { class: "share-section", "aria-labelledby": "grants-heading" },
            h("h4", { id: "grants-heading" }, "People"),
            h("p", { class: "hint" }, "Another user of your organisation uses this session with their own sign-in."),
            this.grantForm(),
            this.people,
          ),
        );
        this.showShares(shares);
        this.showGrants(granted);
        void this.fillTargets();
      },
      (error: unknown) => {
        const text = error instanceof ApiError && error.status === 404 ? OWNER_ONLY : reason(error);
        replaceChildren(this.body, h("p", { class: "hint owner-only", role: "status" }, text));
      },
    );
  }

  private listShares = (): Promise<Share[]> =>
    call<{ items: Share[] }>("GET", `${sessionPath(this.session.id)}/shares`).then((page) => page.items);
  private listGrants = (): Promise<Grant[]> =>
    call<{ items: Grant[] }>("GET", `${sessionPath(this.session.id)}/grants`).then((page) => page.items);

  private refreshShares(): void {
    this.listShares().then((items) => this.showShares(items), (error: unknown) => toast(reason(error)));
  }

  private refreshGrants(): void {
    this.listGrants().then((items) => this.showGrants(items), (error: unknown) => toast(reason(error)));
  }

  /** The files of the folder in view, and the folder itself (as a zip). */
  private async fillTargets(): Promise<void> {
    const folder = this.folder;
    // Until the choices are in, nothing can be shared: an empty choice must never become the whole session.
    this.createButton.disabled = true;
    let items: FileEntry[];
    try {
      ({ items } = await listFolder(this.session.id, folder));
    } catch (error) {
      toast(`Cannot list what to share: ${reason(error)}`);
      return;
    }
    if (folder !== this.folder) return;
    this.createButton.disabled = false;
    // Filled again (the panel reopened, the folder listed afresh), a choice already made is kept where it is still
    // offered: it must never fall back silently to a wider one, such as the whole session.
    const chosenTarget = this.target.options.length ? this.target.value : null;
    const chosenFolder = this.grantFolder.options.length ? this.grantFolder.value : null;
    replaceChildren(
      this.target,
      h("option", { value: `folder:${folder}` }, folder ? `This folder, ${folder} (as a zip)` : "All files (as a zip)"),
      ...items.map((item) => h("option", { value: `file:${item.path}` }, item.path)),
    );
    if (items.length) this.target.value = `file:${items[0]!.path}`;
    replaceChildren(
      this.grantFolder,
      h("option", { value: "" }, "The whole session"),
      folder ? h("option", { value: folder }, `This folder, ${folder}`) : null,
    );
    const offered = (select: HTMLSelectElement, value: string | null): boolean =>
      value !== null && [...select.options].some((option) => option.value === value);
    if (offered(this.target, chosenTarget)) this.target.value = chosenTarget!;
    if (offered(this.grantFolder, chosenFolder)) this.grantFolder.value = chosenFolder!;
  }

  private shareForm(): HTMLFormElement {
    const lifetime = h(
      "select",
      { id: "share-expiry", name: "expires_in" },
      ...LIFETIMES.map(([label, seconds]) => h("option", { value: seconds === null ? "" : String(seconds) }, label)),
    );
    lifetime.value = String(7 * 86_400);
    const limit = h("input", {
      id: "share-limit",
      type: "number",
      name: "max_downloads",
      min: "1",
      inputmode: "numeric",
      placeholder: "no limit",
    });
    const form = h(
      "form",
      { class: "share-form", "aria-label": "New share link" },
      labelled("share-target", "What", this.target),
      labelled("share-expiry", "Expires after", lifetime),
      labelled("share-limit", "Most downloads", limit),
      this.createButton,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const [kind, ...rest] = this.target.value.split(":");
      const chosen = rest.join(":");
      if (kind !== "file" && kind !== "folder") return;
      const body: Record<string, unknown> = kind === "file" ? { path: chosen } : { prefix: chosen };
      if (lifetime.value) body["expires_in"] = Number(lifetime.value);
      if (limit.value) body["max_downloads"] = Number(limit.value);
      whileBusy(this.createButton, () => call<Share>("POST", `${sessionPath(this.session.id)}/shares`, body)).then(
        (share) => {
          this.showMade(share);
          this.refreshShares();
        },
        (error: unknown) => toast(`No link made: ${reason(error)}`),
      );
    });
    return form;
  }

  /** The link just made, in a read-only field with Copy, until Done. */
  private showMade(share: Share): void {
    const copyButton = h("button", { type: "button", class: "primary" }, "Copy");
    copyButton.addEventListener("click", () => void copy(share.url, this.madeField, this.madeNote));
    const done = h("button", { type: "button", class: "quiet" }, "Done");
    done.addEventListener("click", () => {
      this.made.hidden = true;
      this.madeField.value = "";
    });
    this.madeField.value = share.url;
    this.madeNote.textContent = "";
    replaceChildren(
      this.made,
      h("label", { for: "share-url" }, `Link to ${share.path ?? folderName(share.prefix ?? "")}`),
      h("div", { class: "share-url-row" }, this.madeField, copyButton, done),
      this.madeNote,
    );
    this.made.hidden = false;
    this.madeField.select();
  }

  private showShares(shares: Share[]): void {
    if (!shares.length) {
      replaceChildren(this.links, h("p", { class: "hint" }, "No share links."));
      return;
    }
    const head = h("tr", {}, ...["Link to", "Downloads", "Expires", "State", "Actions"].map((l) => h("th", { scope: "col" }, l)));
    const rows = shares.map((share) => {
      const what = share.path ?? `${folderName(share.prefix ?? "")} (zip)`;
      const state = shareState(share);
      const copyButton = h("button", { type: "button", class: "quiet", "aria-label": `Copy link to ${what}` }, "Copy link");
      copyButton.addEventListener("click", () => {
        this.showMade(share);
        void copy(share.url, this.madeField, this.madeNote);
      });
      const revoke = h("button", { type: "button", class: "quiet danger", "aria-label": `Revoke link to ${what}` }, "Revoke");
      revoke.addEventListener("click", () => {
        call("DELETE", `${sessionPath(this.session.id)}/shares/${encodeURIComponent(share.id)}`).then(
          () => {
            toast(`Link to ${what} revoked`);
            if (this.madeField.value === share.url) this.made.hidden = true;
            this.refreshShares();
          },
          (error: unknown) => toast(`Not revoked: ${reason(error)}`),
        );
      });
      const downloads =
        share.max_downloads === null ? String(share.downloads) : `${share.downloads} of ${share.max_downloads}`;
      return h(
        "tr",
        { class: `share ${state.replace(" ", "-")}` },
        h("td", {}, h("span", { class: "name" }, what)),
        h("td", { "data-label": "Downloads" }, downloads),
        h("td", { "data-label": "Expires" }, until(share.expires_at)),
        h("td", { "data-label": "State" }, h("span", { class: "share-state" }, state)),
        h("td", {}, h("div", { class: "actions" }, state === "active" ? copyButton : null, revoke)),
      );
    });
    replaceChildren(
      this.links,
      h("table", { class: "file-table share-table" }, h("thead", {}, head), h("tbody", {}, ...rows)),
    );
  }

  private grantForm(): HTMLFormElement {
    const user = h("input", {
      id: "grant-user",
      type: "text",
      name: "user",
      autocomplete: "off",
      required: true,
      placeholder: "their user id",
    });
    const access = h(
      "select",
      { id: "grant-access", name: "access" },
      h("option", { value: "read" }, "Read"),
      h("option", { value: "write" }, "Read and write"),
    );
    const lifetime = h(
      "select",
      { id: "grant-expiry", name: "expires" },
      ...LIFETIMES.map(([label, seconds]) => h("option", { value: seconds === null ? "" : String(seconds) }, label)),
    );
    const grant = h("button", { type: "submit", class: "primary" }, "Grant");
    const form = h(
      "form",
      { class: "share-form grant-form", "aria-label": "New grant" },
      labelled("grant-user", "User", user),
      labelled("grant-access", "Access", access),
      labelled("grant-folder", "Opens", this.grantFolder),
      labelled("grant-expiry", "Expires after", lifetime),
      grant,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      // Before its choices are in, "Opens" says nothing: never take that for the whole session.
      if (!this.grantFolder.options.length) return;
      const body: Record<string, unknown> = { user: user.value.trim(), access: access.value, prefix: this.grantFolder.value };
      if (lifetime.value) body["expires_at"] = new Date(Date.now() + Number(lifetime.value) * 1000).toISOString();
      whileBusy(grant, () => call<Grant>("POST", `${sessionPath(this.session.id)}/grants`, body)).then(
        (grant) => {
          toast(`${grant.user} can now ${grant.access === "write" ? "read and write" : "read"} ${folderName(grant.prefix)}`);
          user.value = "";
          this.refreshGrants();
        },
        (error: unknown) => toast(`Not granted: ${reason(error)}`),
      );
    });
    return form;
  }

  private showGrants(granted: Grant[]): void {
    if (!granted.length) {
      replaceChildren(this.people, h("p", { class: "hint" }, "Shared with nobody."));
      return;
    }
    const head = h("tr", {}, ...["User", "Access", "Opens", "Expires", "Actions"].map((l) => h("th", { scope: "col" }, l)));
    const rows = granted.map((grant) => {
      const gone = expired(grant.expires_at);
      const revoke = h(
        "button",
        { type: "button", class: "quiet danger", "aria-label": `Revoke access of ${grant.user}` },
        "Revoke",
      );
      revoke.addEventListener("click", () => {
        call("DELETE", `${sessionPath(this.session.id)}/grants/${encodeURIComponent(grant.id)}`).then(
          () => {
            toast(`${grant.user} no longer has access`);
            this.refreshGrants();
          },
          (error: unknown) => toast(`Not revoked: ${reason(error)}`),
        );
      });
      return h(
        "tr",
        { class: gone ? "grant expired" : "grant" },
        h("td", {}, h("span", { class: "name" }, grant.user)),
        h("td", { "data-label": "Access" }, grant.access === "write" ? "read and write" : "read"),
        h("td", { "data-label": "Opens" }, h("span", { class: "name" }, folderName(grant.prefix))),
        h("td", { "data-label": "Expires" }, gone ? h("span", { class: "share-state" }, `expired ${until(grant.expires_at)}`) : until(grant.expires_at)),
        h("td", {}, h("div", { class: "actions" }, revoke)),
      );
    });
    replaceChildren(
      this.people,
      h("table", { class: "file-table share-table" }, h("thead", {}, head), h("tbody", {}, ...rows)),
    );
  }
}

