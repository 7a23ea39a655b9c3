// Recovery and export through the public routes: point-in-time restore, snapshots, built exports.

import { ApiError, call, sessionPath } from "./api";

export interface RestorePlan {
  dry_run: boolean;
  prefix: string;
  at: string | null;
  snapshot: string | null;
  counts: { restore: number; delete: number; unchanged: number };
  restore: string[];
  delete: string[];
  skipped: { path: string; reason: string }[];
  undo_snapshot: string | null;
  resumed: boolean;
  session_restored: boolean;
  complete: boolean;
}

export interface SnapshotInfo {
  name: string;
  state: "creating" | "ready" | "deleting";
  created_at: string;
  prefix: string;
  paths: string[];
  reason: string;
  automatic: boolean;
  expires_at: string | null;
  file_count: number;
  bytes: number;
}

export interface ExportStatus {
  id: string;
  status: "pending" | "running" | "done" | "failed";
  size: number | null;
  url?: string | null;
  error?: string | null;
}

const snapshotPath = (id: string, name: string): string => `${sessionPath(id)}/snapshots/${encodeURIComponent(name)}`;

/** A folder as the routes take it: '' for the whole session, otherwise ending in '/'. */
export const asFolder = (text: string): string => {
  const trimmed = text.trim().replace(/^\/+/, "");
  return trimmed && !trimmed.endsWith("/") ? `${trimmed}/` : trimmed;
};

export const restoreToMoment = (id: string, prefix: string, at: string, dryRun: boolean): Promise<RestorePlan> =>
  call("POST", `${sessionPath(id)}/restore`, { at, prefix, dry_run: dryRun });

export const restoreSnapshot = (id: string, name: string, dryRun: boolean): Promise<RestorePlan> =>
  call("POST", `${snapshotPath(id, name)}/restore`, { dry_run: dryRun });

export async function listSnapshots(id: string): Promise<SnapshotInfo[]> {
  const page = await call<{ items: SnapshotInfo[] }>("GET", `${sessionPath(id)}/snapshots`);
  return page.items;
}

export const createSnapshot = (id: string, name: string, prefix: string): Promise<SnapshotInfo> =>
  call("POST", `${sessionPath(id)}/snapshots`, { name, prefix });

export const deleteSnapshot = (id: string, name: string): Promise<void> => call("DELETE", snapshotPath(id, name));

/** Paths of the files now under `prefix`, or null when there are too many to look through for a plan's wording. */
export async function currentPaths(id: string, prefix: string, pages = 5): Promise<Set<string> | null> {
  const found = new Set<string>();
  let cursor: string | null = null;
  for (let page = 0; page < pages; page += 1) {
    const params = new URLSearchParams({ limit: "1000" });
    if (prefix) params.set("prefix", prefix);
    if (cursor) params.set("cursor", cursor);
    const answer: { items: { path: string }[]; next_cursor: string | null } = await call(
      "GET",
      `${sessionPath(id)}/files?${params}`,
    );
    for (const item of answer.items) found.add(item.path);
    cursor = answer.next_cursor;
    if (!cursor) return found;
  }
  return null;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => window.setTimeout(resolve, ms));

/**
 * Build a zip in the bucket and wait for its presigned link: the download then comes from S3, so the token never
 * appears in a URL, and a large session does not have to stream through this tab.
 */
export async function buildExport(
  id: string,
  request: { prefix: string; redact: boolean },
  progress: (status: ExportStatus) => void,
): Promise<string> {
  const started = await call<ExportStatus>("POST", `${sessionPath(id)}/exports`, request);
  let status = started;
  // An export the gateway stopped reporting on must not keep the form waiting for ever.
  const giveUp = Date.now() + 30 * 60 * 1000;
  for (let wait = 200; ; wait = Math.min(wait * 2, 2000)) {
    progress(status);
    if (status.status === "done" && status.url) return status.url;
    if (status.status === "done") throw new Error("the export is done but came with no download link");
    if (status.status === "failed") throw new Error(status.error ?? "the export failed");
    if (Date.now() > giveUp) throw new Error("the export took more than 30 minutes; it may still finish: try again later");
    await pause(wait);
    status = await call<ExportStatus>("GET", `${sessionPath(id)}/exports/${encodeURIComponent(started.id)}`);
  }
}

/** Hand a presigned link to the browser's downloads (S3 answers it as an attachment). */
export function saveFrom(url: string): void {
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.rel = "noopener";
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

/** A refusal in words: the problem's own explanation, or what its status means here. */
export function explain(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 404) return error.problem.detail ?? "not found";
    return error.problem.detail ?? error.problem.title ?? `the gateway answered ${error.status}`;
  }
  return error instanceof Error ? error.message : "something went wrong";
}
