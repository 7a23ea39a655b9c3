// A session opened from the list. The full session view (files, history, uploads) comes later; this shows what
// the record says and leads back.

import { getSession } from "./api";
import { h, replaceChildren } from "./dom";
import { formatBytes, formatCount, formatWhen } from "./format";

export function renderSession(main: HTMLElement, id: string): void {
  const back = h("a", { href: "./", class: "back" }, "← All sessions");
  replaceChildren(main, back, h("p", { role: "status" }, "Loading…"));
  getSession(id).then(
    (session) => {
      const rows: [string, string][] = [
        ["State", session.state],
        ["Files", `${formatCount(session.file_count)}, ${formatBytes(session.bytes)}`],
        ["Last activity", formatWhen(new Date(session.last_activity_at))],
        ["Created", formatWhen(new Date(session.created_at))],
        ["Tags", session.tags.join(", ") || "none"],
        ["Id", session.id],
      ];
      replaceChildren(
        main,
        back,
        h("h2", { class: session.name === null ? "title untitled" : "title" }, session.name ?? "Untitled session"),
        h("dl", { class: "card record" }, ...rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
      );
    },
    () => replaceChildren(main, back, h("p", { role: "alert" }, "This session does not exist.")),
  );
}
