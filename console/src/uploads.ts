// The upload area of a session: drop files and folders, or pick them; each file gets its own line with its progress
// and, when refused, the reason in words.

import { ApiError } from "./api";
import { h, replaceChildren } from "./dom";
import { formatBytes, formatCount } from "./format";
import { upload } from "./transfer";

interface Picked {
  file: File;
  path: string; // relative to the folder being shown
}

/** Why an upload was refused, in the words a person needs: which limit, and how far it is. */
export function reason(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : "the upload failed";
  const problem = error.problem;
  const type = problem.type ?? "";
  if (error.status === 413 && type.endsWith("quota-exceeded")) return quotaReason(problem);
  if (error.status === 413 && typeof problem["limit_bytes"] === "number") {
    return `too large: this gateway takes files up to ${formatBytes(problem["limit_bytes"])}`;
  }
  if (error.status === 413) return "too large for this gateway";
  if (error.status === 412) return "a file with this name is already there";
  if (error.status === 409) return problem.detail ?? "conflicts with another change";
  return error.message;
}

function quotaReason(problem: ApiError["problem"]): string {
  const [scope = "", dimension = ""] = String(problem["quota"] ?? "").split(".");
  const whose = ({ tenant: "your organisation's", user: "your", session: "this session's" } as Record<string, string>)[
    scope
  ] ?? "the";
  const { used, limit } = problem;
  if (typeof used !== "number" || typeof limit !== "number") return `over ${whose} storage quota`;
  return dimension === "files"
    ? `over ${whose} file quota: ${formatCount(used)} of ${limit} in use`
    : `over ${whose} storage quota: ${formatBytes(used)} of ${formatBytes(limit)} in use`;
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

/** Everything under a dropped entry; a folder's files keep their paths below it. */
async function walk(entry: FileSystemEntry, into: Picked[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    into.push({ file, path: entry.fullPath.replace(/^\//, "") });
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries answers in batches until it answers none.
  for (let batch = await readEntries(reader); batch.length; batch = await readEntries(reader)) {
    for (const child of batch) await walk(child, into);
  }
}

async function dropped(transfer: DataTransfer): Promise<Picked[]> {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry?.() ?? null);
  if (entries.length && entries.every((entry) => entry !== null)) {
    const picked: Picked[] = [];
    for (const entry of entries) await walk(entry as FileSystemEntry, picked);
    return picked;
  }
  return [...transfer.files].map((file) => ({ file, path: file.name }));
}

const fromInput = (input: HTMLInputElement): Picked[] =>
  [...(input.files ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name }));

export function renderUploads(id: string, folder: () => string, done: () => void): HTMLElement {
  const list = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const files = h("input", { type: "file", multiple: true, hidden: true, "aria-label": "Files to upload" });
  const folders = h("input", { type: "file", hidden: true, webkitdirectory: true, "aria-label": "Folder to upload" });
  const pickFiles = h("button", { type: "button", class: "quiet" }, "Choose files");
  const pickFolder = h("button", { type: "button", class: "quiet" }, "Choose a folder");
  pickFiles.addEventListener("click", () => files.click());
  pickFolder.addEventListener("click", () => folders.click());
  const zone = h(
    "section",
    { class: "drop", "aria-label": "Upload files" },
    h("p", {}, "Drop files or folders here, or"),
    pickFiles,
    pickFolder,
    files,
    folders,
    list,
  );

  async function start(picked: Picked[]): Promise<void> {
    const prefix = folder();
    await Promise.all(
      picked.map(async ({ file, path }) => {
        // Shown as the gateway will store it (paths are NFC): a name typed in NFD reads the same in the file list.
        const target = (prefix + path).normalize("NFC");
        const bar = h("progress", { max: String(file.size || 1), value: "0", "aria-label": `Upload of ${target}` });
        const status = h("span", { class: "status" }, "waiting");
        const line = h("li", { class: "upload" }, h("span", { class: "name" }, target), bar, status);
        list.append(line);
        try {
          await upload(id, target, file, (sent) => {
            bar.value = sent;
            status.textContent = `${formatBytes(sent)} of ${formatBytes(file.size)}`;
          });
          bar.value = file.size || 1;
          line.classList.add("done");
          status.textContent = "uploaded";
        } catch (error) {
          line.classList.add("failed");
          replaceChildren(status, h("span", { class: "error", role: "alert" }, `Not uploaded: ${reason(error)}`));
        }
      }),
    );
    done();
  }

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer) void dropped(event.dataTransfer).then(start);
  });
  for (const input of [files, folders]) {
    input.addEventListener("change", () => {
      void start(fromInput(input));
      input.value = "";
    });
  }
  return zone;
}
