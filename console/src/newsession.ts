// Making a session from the list: a name, and optionally the project it belongs to and the tier of its new files.
// The new session opens at once, ready for files to be dropped in.

import { ApiError, call, listProjects, type SessionSummary } from "./api";
import { h, labelled, replaceChildren, whileBusy } from "./dom";
import { TIERS } from "./files";

export function renderNewSession(): HTMLElement {
  const box = h("div", { class: "new-session" });
  const open = h("button", { type: "button", class: "primary" }, "New session");
  open.addEventListener("click", () => showForm(box, open));
  replaceChildren(box, open);
  return box;
}

function showForm(box: HTMLElement, opener: HTMLButtonElement): void {
  const name = h("input", { id: "new-name", type: "text", maxlength: "256", autocomplete: "off" });
  const project = h("select", { id: "new-project" }, h("option", { value: "" }, "None"));
  const tier = h(
    "select",
    { id: "new-tier" },
    h("option", { value: "" }, "The gateway's default"),
    ...TIERS.map((t) => h("option", { value: t }, t)),
  );
  const error = h("p", { class: "error", role: "alert" });
  const cancel = h("button", { type: "button", class: "quiet" }, "Cancel");
  const create = h("button", { type: "submit", class: "primary" }, "Create");
  const form = h(
    "form",
    { class: "card new-session-form", "aria-label": "New session" },
    labelled("new-name", "Name", name),
    labelled("new-project", "Project", project),
    labelled("new-tier", "Tier of new files", tier),
    h("div", { class: "actions" }, create, cancel),
    error,
  );
  listProjects().then(
    (page) => project.append(...page.items.map((p) => h("option", { value: p.id }, p.name ?? p.id))),
    () => undefined, // Without projects the session is made outside any: the field keeps "None".
  );
  const close = (): void => {
    replaceChildren(box, opener);
    opener.focus();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body: Record<string, string> = {};
    if (name.value.trim()) body["name"] = name.value;
    if (tier.value) body["default_tier"] = tier.value;
    const where = project.value ? `/v1/projects/${encodeURIComponent(project.value)}/sessions` : "/v1/sessions";
    whileBusy(create, () => call<SessionSummary>("POST", where, body)).then(
      (made) => location.assign(`?session=${encodeURIComponent(made.id)}`),
      (failure: unknown) => {
        error.textContent = `Not created: ${failure instanceof ApiError || failure instanceof Error ? failure.message : "the request failed"}`;
      },
    );
  });
  replaceChildren(box, form);
  name.focus();
}
