// The session view's recovery panel: bring a folder (or the whole session) back to a moment, after reading the
// plan of a dry run; the session's snapshots (make, restore, delete); and the export form.

import { followingField, h, labelled, replaceChildren } from "./dom";
import { renderExport } from "./exporting";
import { formatBytes, formatCount, formatWhen } from "./format";
import {
  asFolder,
  createSnapshot,
  currentPaths,
  deleteSnapshot,
  explain,
  listSnapshots,
  type RestorePlan,
  restoreSnapshot,
  restoreToMoment,
  type SnapshotInfo,
} from "./recovery-api";
import { toast } from "./toast";

export interface RecoveryPanel {
  element: HTMLElement;
  /** The folder in view changed: forms that the user has not edited follow it. */
  follow: (folder: string) => void;
}

/** What a plan is about, and how to carry it out for real. */
interface Target {
  title: string;
  run: (dryRun: boolean) => Promise<RestorePlan>;
}

const pad = (n: number): string => String(n).padStart(2, "0");

/** A moment as a datetime-local input shows it: the browser's own time zone, to the second. */
export const localInput = (moment: Date): string =>
  `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}` +
  `T${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`;

const QUICK: readonly [string, (now: Date) => Date][] = [
  ["1 hour ago", (now) => new Date(now.getTime() - 3_600_000)],
  ["Start of today", (now) => new Date(now.getFullYear(), now.getMonth(), now.getDate())],
  // The same time on the wall clock yesterday (not 24 hours back, which differs across a change of summer time).
  [
    "Yesterday, same time",
    (t) => new Date(t.getFullYear(), t.getMonth(), t.getDate() - 1, t.getHours(), t.getMinutes(), t.getSeconds()),
  ],
];

const files = (n: number): string => `${n} ${n === 1 ? "file" : "files"}`;
const asThen = (n: number): string =>
  n === 0
    ? "there were no files here then, and there are none now."
    : n === 1
      ? "the one file is as it was then."
      : `all ${n} files are as they were then.`;
const where = (prefix: string): string => (prefix ? `folder ${prefix}` : "the whole session");
const why = (snapshot: SnapshotInfo): string =>
  snapshot.automatic ? `Automatic, ${snapshot.reason.replace(/-/g, " ")}` : "Made by you";

export function renderRecovery(id: string, folder: () => string, changed: () => void): RecoveryPanel {
  const plan = h("section", { class: "plan", "aria-labelledby": "plan-heading", hidden: true });
  const snapshotsBody = h("div", { class: "snapshot-list" });
  const followers: ((f: string) => void)[] = [];

  /** A text field for a folder that follows the folder in view until the user types in it. */
  const folderField = (fieldId: string, initial: string): HTMLInputElement => {
    const { input, follow } = followingField(fieldId, "folder", initial);
    followers.push(follow);
    return input;
  };

  // --- the plan, shared by restores to a moment and restores of a snapshot ---
  let planned = 0;
  const showPlan = async (target: Target): Promise<void> => {
    // Only the plan asked for last is shown (and can be carried out), whichever answer comes back last.
    const mine = ++planned;
    plan.hidden = false;
    replaceChildren(plan, h("p", { role: "status" }, "Working out what would change…"));
    let answer: RestorePlan;
    let present: Set<string> | null;
    try {
      answer = await target.run(true);
      present = answer.counts.restore ? await currentPaths(id, answer.prefix) : new Set();
    } catch (error) {
      if (mine === planned) replaceChildren(plan, h("p", { role: "alert", class: "error" }, `No plan: ${explain(error)}`));
      return;
    }
    if (mine !== planned) return;
    const heading = h("h4", { id: "plan-heading", tabindex: "-1" }, `Plan: ${target.title}`);
    const { restore, delete: remove, unchanged } = answer.counts;
    if (!restore && !remove) {
      replaceChildren(
        plan,
        heading,
        h("p", { class: "nothing" }, `Nothing would change: ${asThen(unchanged)}`),
        closeButton("Close"),
      );
      heading.focus();
      return;
    }
    const back = present ? answer.restore.filter((path) => !present.has(path)) : [];
    const edited = present ? answer.restore.filter((path) => present.has(path)) : answer.restore;
    const verb = (n: number, one: string, many: string): string => `${files(n)} ${n === 1 ? one : many}`;
    const parts = present && answer.restore.length === restore
      ? [verb(back.length, "comes back", "come back"), verb(edited.length, "changes back", "change back")]
      : [verb(restore, "is restored", "are restored")];
    const sentence = [...parts, verb(remove, "is deleted", "are deleted"), verb(unchanged, "stays", "stay")].join(", ");
    const apply = h("button", { type: "button", class: "primary" }, "Restore");
    apply.addEventListener("click", () => void carryOut(target, apply));
    replaceChildren(
      plan,
      heading,
      h("p", { class: "counts" }, sentence),
      present
        ? pathList("Come back (deleted since)", "back", back, 0)
        : pathList("Restored (changed or deleted since)", "edited", edited, restore - edited.length),
      present ? pathList("Change back (edited since)", "edited", edited, restore - back.length - edited.length) : null,
      pathList("Deleted (created since)", "deleted", answer.delete, remove - answer.delete.length),
      h("div", { class: "actions start" }, apply, closeButton("Cancel")),
    );
    heading.focus();
  };

  const pathList = (title: string, kind: string, paths: string[], more: number): HTMLElement | null => {
    if (!paths.length && !more) return null;
    return h(
      "div",
      { class: `paths ${kind}` },
      h("h5", {}, `${title}: ${paths.length + more}`),
      h(
        "ul",
        {},
        ...paths.map((path) => h("li", {}, path)),
        more > 0 ? h("li", { class: "hint" }, `and ${more} more`) : null,
      ),
    );
  };

  const closeButton = (label: string): HTMLButtonElement => {
    const close = h("button", { type: "button", class: "quiet" }, label);
    close.addEventListener("click", () => {
      plan.hidden = true;
      replaceChildren(plan);
    });
    return close;
  };

  const carryOut = async (target: Target, apply: HTMLButtonElement): Promise<void> => {
    apply.disabled = true;
    try {
      const done = await target.run(false);
      const skipped = done.skipped.length
        ? h(
            "div",
            { class: "paths skipped" },
            h("h5", {}, `Left alone (changed meanwhile; restore again to include them): ${done.skipped.length}`),
            h("ul", {}, ...done.skipped.map((s) => h("li", {}, `${s.path}: ${s.reason}`))),
          )
        : null;
      const undo = done.undo_snapshot ? ` To undo it, restore the snapshot ${done.undo_snapshot}.` : "";
      const heading = h("h4", { id: "plan-heading", tabindex: "-1" }, `Done: ${target.title}`);
      replaceChildren(
        plan,
        heading,
        h(
          "p",
          { class: "counts" },
          `${files(done.counts.restore)} restored, ${files(done.counts.delete)} deleted.${undo}`,
        ),
        skipped,
        closeButton("Close"),
      );
      heading.focus();
      toast(`Restored ${where(done.prefix)}`);
      changed();
      void loadSnapshots();
    } catch (error) {
      apply.disabled = false;
      replaceChildren(
        plan,
        h("p", { role: "alert", class: "error" }, `Not restored: ${explain(error)}`),
        closeButton("Close"),
      );
    }
  };

  // --- restore to a moment ---
  const restoreFolder = folderField("restore-folder", folder());
  // To the second: a moment between two writes is often only seconds wide.
  const moment = h("input", {
    type: "datetime-local",
    id: "restore-moment",
    name: "moment",
    step: "1",
    required: true,
  });
  moment.value = localInput(new Date(Date.now() - 3_600_000));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const quick = QUICK.map(([label, pick]) => {
    const button = h("button", { type: "button", class: "quiet" }, label);
    button.addEventListener("click", () => (moment.value = localInput(pick(new Date()))));
    return button;
  });
  const restoreError = h("p", { class: "error", role: "alert" });
  const restoreForm = h(
    "form",
    { class: "recovery-form", "aria-labelledby": "restore-heading" },
    h("h4", { id: "restore-heading" }, "Restore to a moment"),
    labelled("restore-folder", "Folder (empty: the whole session)", restoreFolder),
    labelled("restore-moment", `Moment (your time zone, ${zone})`, moment),
    h("div", { class: "actions start", role: "group", "aria-label": "Quick choices" }, ...quick),
    h("div", { class: "actions start" }, h("button", { type: "submit", class: "primary" }, "Show what would change")),
    restoreError,
  );
  restoreForm.addEventListener("submit", (event) => {
    event.preventDefault();
    // A datetime-local value carries no zone: Date reads it in the browser's own.
    const picked = new Date(moment.value);
    if (!moment.value || Number.isNaN(picked.getTime())) {
      restoreError.textContent = "Choose a moment first.";
      return;
    }
    restoreError.textContent = "";
    const prefix = asFolder(restoreFolder.value);
    void showPlan({
      title: `restore ${where(prefix)} to ${formatWhen(picked)}`,
      run: (dryRun) => restoreToMoment(id, prefix, picked.toISOString(), dryRun),
    });
  });

  // --- snapshots ---
  const snapshotName = h("input", {
    type: "text",
    id: "snapshot-name",
    name: "name",
    autocomplete: "off",
    required: true,
    maxlength: "64",
    "aria-describedby": "snapshot-name-hint",
  });
  const snapshotFolder = h("input", { type: "text", id: "snapshot-folder", name: "folder", autocomplete: "off" });
  const snapshotError = h("p", { class: "error", role: "alert" });
  const createForm = h(
    "form",
    { class: "recovery-form", "aria-labelledby": "snapshot-heading" },
    h("h4", { id: "snapshot-heading" }, "Snapshots"),
    labelled(
      "snapshot-name",
      "Name",
      snapshotName,
      h("p", { class: "hint", id: "snapshot-name-hint" }, "Letters, digits, '.', '_' and '-' (up to 64)."),
    ),
    labelled("snapshot-folder", "Folder (empty: the whole session)", snapshotFolder),
    h("div", { class: "actions start" }, h("button", { type: "submit", class: "primary" }, "Take a snapshot")),
    snapshotError,
  );
  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    snapshotError.textContent = "";
    createSnapshot(id, snapshotName.value.trim(), asFolder(snapshotFolder.value)).then(
      (made) => {
        toast(`Snapshot ${made.name} taken: ${formatCount(made.file_count)}`);
        snapshotName.value = "";
        void loadSnapshots();
      },
      (error: unknown) => (snapshotError.textContent = `Not taken: ${explain(error)}`),
    );
  });

  const snapshotRow = (snapshot: SnapshotInfo): HTMLTableRowElement => {
    const row = h("tr", { class: "snapshot", "data-name": snapshot.name });
    const button = (label: string, extra = ""): HTMLButtonElement =>
      h("button", { type: "button", class: `quiet ${extra}`, "aria-label": `${label} ${snapshot.name}` }, label);
    const restore = button("Restore");
    restore.addEventListener("click", () =>
      void showPlan({
        title: `restore snapshot ${snapshot.name} (${where(snapshot.prefix)})`,
        run: (dryRun) => restoreSnapshot(id, snapshot.name, dryRun),
      }),
    );
    const remove = button("Delete", "danger");
    const actions = h("td", { class: "snapshot-actions" });
    const idle = (): void => replaceChildren(actions, h("div", { class: "actions start" }, restore, remove));
    remove.addEventListener("click", () => {
      const yes = h("button", { type: "button", class: "quiet danger" }, "Yes, delete");
      const no = h("button", { type: "button", class: "quiet" }, "Keep it");
      yes.addEventListener("click", () => {
        deleteSnapshot(id, snapshot.name).then(
          () => {
            toast(`Snapshot ${snapshot.name} deleted`);
            void loadSnapshots();
          },
          (error: unknown) => toast(`Not deleted: ${explain(error)}`),
        );
      });
      no.addEventListener("click", () => {
        idle();
        remove.focus();
      });
      replaceChildren(
        actions,
        h(
          "div",
          { class: "actions start confirm" },
          h("span", {}, `Delete ${snapshot.name} and its kept copies?`),
          yes,
          no,
        ),
      );
      no.focus();
    });
    idle();
    const kept = snapshot.expires_at ? `, kept until ${formatWhen(new Date(snapshot.expires_at))}` : "";
    replaceChildren(
      row,
      h("td", {}, h("span", { class: "name" }, snapshot.name)),
      h("td", {}, h("time", { datetime: snapshot.created_at }, formatWhen(new Date(snapshot.created_at)))),
      h("td", {}, `${why(snapshot)}${kept}`),
      h(
        "td",
        {},
        `${snapshot.prefix || "Whole session"} · ${formatCount(snapshot.file_count)} · ` + formatBytes(snapshot.bytes),
      ),
      actions,
    );
    return row;
  };

  const loadSnapshots = async (): Promise<void> => {
    try {
      const items = (await listSnapshots(id)).filter((item) => item.state === "ready");
      if (!items.length) {
        replaceChildren(snapshotsBody, h("p", { class: "hint" }, "No snapshots yet."));
        return;
      }
      const titles = ["Name", "Taken", "Why", "Covers", "Actions"];
      const head = h("tr", {}, ...titles.map((t) => h("th", { scope: "col" }, t)));
      replaceChildren(
        snapshotsBody,
        h(
          "table",
          { class: "file-table snapshots", "aria-label": "Snapshots" },
          h("thead", {}, head),
          h("tbody", {}, ...items.slice().reverse().map(snapshotRow)),
        ),
      );
    } catch (error) {
      const words = `Snapshots unavailable: ${explain(error)}`;
      replaceChildren(snapshotsBody, h("p", { role: "alert", class: "error" }, words));
    }
  };

  const exporting = renderExport(id, folder);
  followers.push(exporting.follow);
  const element = h(
    "details",
    { class: "card recovery" },
    h("summary", {}, "Restore, snapshots and export"),
    h("div", { class: "recovery-grid" }, restoreForm, exporting.element),
    plan,
    h("div", { class: "snapshots-area" }, createForm, snapshotsBody),
  );
  let loaded = false;
  element.addEventListener("toggle", () => {
    if (element.open && !loaded) {
      loaded = true;
      void loadSnapshots();
    }
  });
  return { element, follow: (f) => followers.forEach((run) => run(f)) };
}
