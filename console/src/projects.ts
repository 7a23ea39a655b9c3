// The projects above the session list: each with its sessions, its cleanup time and, when one is due, the warning in
// plain words; pin, unpin and extend act on it, and choosing one filters the list by it.

import { call } from "./api";
import { h, replaceChildren } from "./dom";
import { formatWhen } from "./format";
import { toast } from "./toast";
import { reason } from "./uploads";

export interface ProjectWarning {
  kind: string;
  message: string;
  cleanup_at: string;
  days_left: number;
}

export interface Project {
  id: string;
  name: string | null;
  session_count: number;
  pinned: boolean;
  cleanup_after_days: number | null;
  keep_until: string | null;
  cleanup_at: string | null;
  warnings: ProjectWarning[];
}

const projectPath = (id: string): string => `/v1/projects/${encodeURIComponent(id)}`;
const displayName = (project: Project): string => project.name ?? "Untitled project";
const plural = (count: number, one: string): string => `${count} ${one}${count === 1 ? "" : "s"}`;

async function listAll(): Promise<Project[]> {
  const all: Project[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams({ limit: "1000" });
    if (cursor) params.set("cursor", cursor);
    const page: { items: Project[]; next_cursor: string | null } = await call("GET", `/v1/projects?${params}`);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/** What the project's lifetime is, in words. */
export function lifetime(project: Project): string {
  if (project.pinned) return "pinned: never cleaned up";
  if (project.cleanup_at === null) return "never cleaned up";
  return `cleaned up ${formatWhen(new Date(project.cleanup_at))} if idle`;
}

/** A cleanup warning, plainly: when, what goes, and how to keep it. */
export function warningText(project: Project, warning: ProjectWarning): string {
  const when =
    warning.days_left <= 0 ? "today" : `in ${plural(warning.days_left, "day")}`;
  const what = project.session_count ? ` with its ${plural(project.session_count, "session")}` : "";
  return (
    `Cleaned up ${when} (${formatWhen(new Date(warning.cleanup_at))})${what}, ` +
    "unless it is used, pinned or extended."
  );
}

/**
 * The projects strip for the session list. `filters` is the list's filter form: choosing a project sets its project
 * filter, so the list and the strip always agree on which project is shown. Hidden while there are no projects.
 */
export function renderProjects(filters: HTMLElement): HTMLElement {
  const select = filters.querySelector<HTMLSelectElement>("select[name=project]");
  const cards = h("ul", { class: "project-cards" });
  const section = h(
    "section",
    { class: "projects", "aria-labelledby": "projects-heading", hidden: true },
    h("h3", { id: "projects-heading" }, "Projects"),
    cards,
  );

  const pick = (project: Project): void => {
    if (!select) return;
    if (![...select.options].some((option) => option.value === project.id)) {
      select.append(h("option", { value: project.id }, displayName(project)));
    }
    // Choosing the shown project again shows every project's sessions.
    select.value = select.value === project.id ? "" : project.id;
    select.dispatchEvent(new Event("change"));
  };

  const card = (project: Project): HTMLLIElement => {
    const item = h("li", { class: "project", "data-id": project.id });
    const fill = (shown: Project): void => {
      const label = displayName(shown);
      const chosen = select?.value === shown.id;
      const name = h(
        "button",
        { type: "button", class: "link name", "aria-pressed": chosen ? "true" : "false" },
        label,
      );
      name.addEventListener("click", () => pick(shown));
      const pin = h(
        "button",
        { type: "button", class: "quiet", "aria-label": `${shown.pinned ? "Unpin" : "Pin"} ${label}` },
        shown.pinned ? "Unpin" : "Pin",
      );
      pin.addEventListener("click", () => {
        call<Project>("POST", `${projectPath(shown.id)}/${shown.pinned ? "unpin" : "pin"}`).then((changed) => {
          fill(changed);
          toast(`${label}: ${changed.pinned ? "pinned, never cleaned up" : "unpinned"}`);
        }, report);
      });
      const days = h("input", {
        type: "number",
        class: "extend-days",
        min: "1",
        max: "3650",
        value: "30",
        inputmode: "numeric",
        "aria-label": `Days to keep ${label} longer`,
      });
      const extend = h("form", { class: "extend" }, days, h("span", { "aria-hidden": "true" }, "days"));
      extend.append(h("button", { type: "submit", class: "quiet", "aria-label": `Extend ${label}` }, "Extend"));
      extend.addEventListener("submit", (event) => {
        event.preventDefault();
        call<Project>("POST", `${projectPath(shown.id)}/extend`, { days: Number(days.value) }).then((changed) => {
          fill(changed);
          toast(`${label}: kept until ${changed.keep_until ? formatWhen(new Date(changed.keep_until)) : "later"}`);
        }, report);
      });
      item.classList.toggle("warned", shown.warnings.length > 0);
      replaceChildren(
        item,
        name,
        h("p", { class: "meta" }, `${plural(shown.session_count, "session")} · ${lifetime(shown)}`),
        ...shown.warnings.map((warning) => h("p", { class: "project-warning" }, warningText(shown, warning))),
        h("div", { class: "actions" }, pin, extend),
      );
    };
    fill(project);
    return item;
  };

  listAll().then(
    (projects) => {
      replaceChildren(cards, ...projects.map(card));
      section.hidden = projects.length === 0;
    },
    () => {
      section.hidden = true;
    },
  );
  // The filter may also change from its own menu: the pressed project follows it.
  select?.addEventListener("change", () => {
    for (const button of cards.querySelectorAll<HTMLButtonElement>("li.project > button.name")) {
      const id = button.closest("li")?.getAttribute("data-id");
      button.setAttribute("aria-pressed", id === select.value ? "true" : "false");
    }
  });
  return section;
}

function report(error: unknown): void {
  toast(`Not changed: ${reason(error)}`);
}
