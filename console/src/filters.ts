// The search box and filters above the session list.

import { listProjects, type SessionQuery } from "./api";
import { h, labelled } from "./dom";

export function renderFilters(onChange: (query: SessionQuery) => void): HTMLElement {
  const search = h("input", { id: "search", type: "search", name: "q", placeholder: "Search by name", autocomplete: "off" });
  const state = h(
    "select",
    { id: "state", name: "state" },
    h("option", { value: "" }, "Any state"),
    h("option", { value: "active" }, "Active"),
    h("option", { value: "ended" }, "Ended"),
    h("option", { value: "archived" }, "Archived"),
  );
  const project = h("select", { id: "project", name: "project" }, h("option", { value: "" }, "Any project"));
  const tags = h("input", { id: "tags", type: "text", name: "tags", placeholder: "tag, another", autocomplete: "off" });
  const read = (): SessionQuery => ({
    q: search.value.trim(),
    state: state.value,
    project: project.value,
    tags: tags.value.split(",").map((tag) => tag.trim()).filter(Boolean),
  });
  let pending: number | undefined;
  const later = (): void => {
    window.clearTimeout(pending);
    pending = window.setTimeout(() => onChange(read()), 250);
  };
  search.addEventListener("input", later);
  tags.addEventListener("input", later);
  state.addEventListener("change", () => onChange(read()));
  project.addEventListener("change", () => onChange(read()));
  listProjects().then(
    (page) => {
      for (const item of page.items) project.append(h("option", { value: item.id }, item.name ?? item.id));
    },
    () => project.setAttribute("disabled", ""),
  );
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Find sessions" },
    labelled("search", "Search", search),
    labelled("state", "State", state),
    labelled("project", "Project", project),
    labelled("tags", "Tags", tags),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onChange(read());
  });
  return form;
}
