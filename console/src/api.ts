// The public HTTP API, same origin, with the signed-in user's token: the console has no other way in.

import { currentToken } from "./auth";

export type SessionState = "active" | "ended" | "archived";

export interface SessionSummary {
  id: string;
  name: string | null;
  state: SessionState;
  created_at: string;
  last_activity_at: string;
  file_count: number;
  bytes: number;
  tags: string[];
  project: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface ProjectSummary {
  id: string;
  name: string | null;
}

export interface Snapshot {
  name: string;
  created_at: string;
  reason: string | null;
  automatic: boolean;
}

export interface SessionQuery {
  q: string;
  state: string;
  project: string;
  tags: string[];
}

/** A refusal of the API, carrying its RFC 9457 problem document. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { title?: string; detail?: string; type?: string; [extension: string]: unknown },
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = currentToken();
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const init: RequestInit = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, problem as ApiError["problem"]);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export const sessionPath = (id: string): string => `/v1/sessions/${encodeURIComponent(id)}`;

export function listSessions(query: SessionQuery, cursor: string | null, limit = 50): Promise<Page<SessionSummary>> {
  const params = new URLSearchParams({ sort: "last_activity", order: "desc", limit: String(limit) });
  if (query.q) params.set("q", query.q);
  if (query.state) params.set("state", query.state);
  if (query.project) params.set("project", query.project);
  for (const tag of query.tags) params.append("tag", tag);
  if (cursor) params.set("cursor", cursor);
  return call("GET", `/v1/sessions?${params}`);
}

export const listProjects = (): Promise<Page<ProjectSummary>> => call("GET", "/v1/projects?limit=1000");
export const renameSession = (id: string, name: string): Promise<SessionSummary> =>
  call("PATCH", sessionPath(id), { name });
export const moveSession = (id: string, step: "end" | "archive" | "reactivate"): Promise<SessionSummary> =>
  call("POST", `${sessionPath(id)}/${step}`);
export const deleteSession = (id: string): Promise<void> => call("DELETE", sessionPath(id));
export const getSession = (id: string): Promise<SessionSummary> => call("GET", sessionPath(id));

/** Undo a delete: the snapshot the gateway took just before it brings the session and its files back. */
export async function undeleteSession(id: string): Promise<void> {
  const { items } = await call<{ items: Snapshot[] }>("GET", `${sessionPath(id)}/snapshots`);
  const taken = items
    .filter((item) => item.automatic && item.reason === "before-session-delete")
    .sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
  if (!taken) throw new Error("no snapshot was kept for this session, so it cannot come back");
  await call("POST", `${sessionPath(id)}/snapshots/${encodeURIComponent(taken.name)}/restore`, {});
}
