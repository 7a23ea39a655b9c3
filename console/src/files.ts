// A session's files through the public file routes: listing, download links, move, delete, tier.

import { call, sessionPath } from "./api";

export const TIERS = ["ephemeral", "standard", "persistent", "permanent"] as const;

export interface FileEntry {
  path: string;
  size: number;
  last_modified: string;
  tier: string | null;
}

export interface FilePage {
  items: FileEntry[];
  prefixes: string[];
  next_cursor: string | null;
}

/** A path in a URL: every segment escaped on its own, so '%', '#', '?' and non-ASCII stay part of the name. */
export const filePath = (id: string, path: string): string =>
  `${sessionPath(id)}/files/${path.split("/").map(encodeURIComponent).join("/")}`;

/** One folder's files and subfolders (all pages of them). */
export async function listFolder(id: string, prefix: string): Promise<FilePage> {
  const all: FilePage = { items: [], prefixes: [], next_cursor: null };
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams({ delimiter: "/", limit: "1000" });
    if (prefix) params.set("prefix", prefix);
    if (cursor) params.set("cursor", cursor);
    const page: FilePage = await call("GET", `${sessionPath(id)}/files?${params}`);
    all.items.push(...page.items);
    all.prefixes.push(...page.prefixes);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/** Downloads go through a short presigned link served by S3 (always an attachment): the token never leaves. */
export async function download(id: string, path: string): Promise<void> {
  const link = await call<{ url: string }>("POST", `${sessionPath(id)}/links`, { path, expires_in: 300 });
  const anchor = document.createElement("a");
  anchor.href = link.url;
  anchor.rel = "noopener";
  anchor.download = path.split("/").pop() ?? "";
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

export const moveFile = (id: string, from: string, to: string): Promise<unknown> =>
  call("POST", `${sessionPath(id)}/move`, { from, to });

export const deleteFile = (id: string, path: string): Promise<void> =>
  call("DELETE", path.endsWith("/") ? `${filePath(id, path)}?recursive=true` : filePath(id, path));

export const setTier = (id: string, path: string, tier: string): Promise<FileEntry> =>
  call("PATCH", filePath(id, path), { tier });
