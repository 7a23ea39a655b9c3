// The session list: filters, date groups by last activity, and pages fetched as the end scrolls into view.

import { listSessions, type SessionQuery, type SessionSummary } from "./api";
import { h, replaceChildren } from "./dom";
import { renderFilters } from "./filters";
import { DATE_GROUPS, type DateGroup, dateGroup } from "./format";
import { renderNewSession } from "./newsession";
import { renderProjects } from "./projects";
import { renderRow } from "./row";

export function renderList(main: HTMLElement, now: () => Date = () => new Date()): void {
  const groups = h("div", { class: "groups", "aria-live": "polite", "aria-busy": "false" });
  const status = h("p", { class: "status", role: "status" });
  const more = h("button", { type: "button", class: "quiet more", hidden: true }, "Load more sessions");
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  let query: SessionQuery = { q: "", state: "", project: "", tags: [] };
  let cursor: string | null = null;
  let generation = 0;
  let loading = false;
  const lists = new Map<DateGroup, HTMLUListElement>();

  const listFor = (group: DateGroup): HTMLUListElement => {
    let list = lists.get(group);
    if (!list) {
      const id = `group-${group.toLowerCase().replace(" ", "-")}`;
      list = h("ul", { class: "sessions", "aria-labelledby": id });
      lists.set(group, list);
      // Groups keep their fixed order whatever page brings their first session.
      const section = h("section", { class: "group", "data-group": group }, h("h3", { id }, group), list);
      const later = [...groups.children].find(
        (other) => DATE_GROUPS.indexOf(other.getAttribute("data-group") as DateGroup) > DATE_GROUPS.indexOf(group),
      );
      groups.insertBefore(section, later ?? null);
    }
    return list;
  };

  const show = (items: SessionSummary[]): void => {
    const moment = now();
    for (const session of items) {
      listFor(dateGroup(new Date(session.last_activity_at), moment)).append(renderRow(session, { changed: reload }));
    }
  };

  const load = (): void => {
    if (loading) return;
    loading = true;
    const mine = generation;
    groups.setAttribute("aria-busy", "true");
    listSessions(query, cursor).then(
      (page) => {
        if (mine !== generation) return;
        show(page.items);
        cursor = page.next_cursor;
        more.hidden = cursor === null;
        status.textContent = lists.size === 0 ? "No sessions match." : "";
      },
      (error: unknown) => {
        if (mine === generation) status.textContent = `Could not load sessions: ${String(error)}`;
      },
    ).finally(() => {
      if (mine === generation) {
        loading = false;
        groups.setAttribute("aria-busy", "false");
        // The observer only speaks when the end comes into view: if it stayed in view, fetch on until it leaves.
        if (cursor !== null && sentinel.getBoundingClientRect().top < window.innerHeight) load();
      }
    });
  };

  function reload(): void {
    generation += 1;
    loading = false;
    cursor = null;
    lists.clear();
    groups.replaceChildren();
    status.textContent = "";
    load();
  }

  more.addEventListener("click", load);
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && cursor !== null) load();
  }).observe(sentinel);

  const filters = renderFilters((next) => {
    query = next;
    reload();
  });
  const heading = h("div", { class: "list-head" }, h("h2", { class: "title" }, "Sessions"), renderNewSession());
  replaceChildren(main, heading, filters, renderProjects(filters), status, groups, more, sentinel);
  reload();
}
