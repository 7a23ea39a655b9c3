// Export as a zip: a folder (or everything), with secrets in text files redacted on request. The zip is built in
// the bucket and fetched by its presigned link, so the token never appears in a URL.

import { followingField, h, labelled, replaceChildren } from "./dom";
import { formatBytes } from "./format";
import { asFolder, buildExport, type ExportStatus, explain, saveFrom } from "./recovery-api";
import { toast } from "./toast";

const progressText = (status: ExportStatus): string =>
  status.status === "running" && status.size
    ? `Building the zip… ${formatBytes(status.size)} so far`
    : status.status === "done"
      ? "The zip is ready: downloading"
      : "Building the zip…";

/** The session list's quick action: the whole session, as it is, told in toasts. */
export function exportSessionNow(id: string, label: string): void {
  toast(`Preparing the zip of ${label}…`);
  buildExport(id, { prefix: "", redact: false }, () => undefined).then(
    (url) => {
      saveFrom(url);
      toast(`The zip of ${label} is downloading`);
    },
    (error: unknown) => toast(`Not exported: ${explain(error)}`),
  );
}

/** The session view's export form: which folder, redacted or not, and how the build is going. */
export function renderExport(id: string, folder: () => string): { element: HTMLElement; follow: (f: string) => void } {
  const { input: where, follow } = followingField("export-folder", "folder", folder());
  const redact = h("input", { type: "checkbox", id: "export-redact", name: "redact", checked: true });
  const status = h("p", { class: "status", role: "status" });
  const go = h("button", { type: "submit", class: "primary" }, "Export zip");
  const form = h(
    "form",
    { class: "recovery-form", "aria-labelledby": "export-heading" },
    h("h4", { id: "export-heading" }, "Export as a zip"),
    labelled("export-folder", "Folder (empty: the whole session)", where),
    h(
      "div",
      { class: "check" },
      redact,
      h("label", { for: "export-redact" }, "Redact secrets (keys, tokens, passwords in text files)"),
    ),
    h("div", { class: "actions start" }, go),
    status,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go.disabled = true;
    const prefix = asFolder(where.value);
    buildExport(id, { prefix, redact: redact.checked }, (s) => replaceChildren(status, progressText(s))).then(
      (url) => {
        saveFrom(url);
        replaceChildren(status, `Exported ${prefix || "the whole session"}${redact.checked ? ", redacted" : ""}.`);
      },
      (error: unknown) => replaceChildren(status, h("span", { class: "error" }, `Not exported: ${explain(error)}`)),
    ).finally(() => (go.disabled = false));
  });
  return { element: form, follow };
}
