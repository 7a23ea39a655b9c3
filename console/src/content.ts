// Reading a file's bytes for the console to show: through the public API with the token (never a link that would put
// it in a URL), at most a given number of bytes (Range), and a decision of how to show them made from the name alone,
// never from a content type someone else stored.

import { ApiError } from "./api";
import { currentToken } from "./auth";
import { filePath } from "./files";

/** Text beyond this is not fetched: the first part is shown, with a note. */
export const TEXT_LIMIT = 256 * 1024;
/** Images and PDFs larger than this are offered for download only. */
export const BINARY_LIMIT = 20 * 1024 * 1024;

export type Kind = "text" | "image" | "pdf" | "none";

const TEXT = new Set(
  (
    "txt text md markdown rst csv tsv json jsonl ndjson log ini cfg conf toml yaml yml xml html htm xhtml svg css " +
    "js mjs cjs ts tsx jsx py rb go rs java kt c h cc cpp hpp cs php pl sh bash zsh sql r m swift lua tex bib " +
    "diff patch env properties gitignore dockerfile makefile"
  ).split(" "),
);
/** Image types every browser draws as an inert picture; the value is the type the blob is given. */
const IMAGES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  bmp: "image/bmp",
  ico: "image/x-icon",
  // An SVG in an <img> runs no script and loads nothing: it is shown as a picture.
  svg: "image/svg+xml",
};

export const extension = (path: string): string => {
  const name = (path.split("/").pop() ?? "").toLowerCase();
  const dot = name.lastIndexOf(".");
  return dot < 0 ? name : name.slice(dot + 1);
};

export function kindOf(path: string): Kind {
  const ext = extension(path);
  if (ext === "pdf") return "pdf";
  if (ext in IMAGES) return "image";
  if (TEXT.has(ext)) return "text";
  return "none";
}

export const imageType = (path: string): string => IMAGES[extension(path)] ?? "application/octet-stream";

export interface Fetched {
  bytes: ArrayBuffer;
  /** The file's whole size, when only its first part was fetched. */
  total: number | null;
}

/** The bytes of a file (or of one of its versions), at most `limit` of them. */
export async function fetchBytes(sid: string, path: string, versionId: string | null, limit: number): Promise<Fetched> {
  const headers: Record<string, string> = { Range: `bytes=0-${limit - 1}` };
  const token = currentToken();
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const query = versionId ? `?${new URLSearchParams({ version_id: versionId })}` : "";
  const response = await fetch(filePath(sid, path) + query, { headers, credentials: "omit", cache: "no-store" });
  // An empty file has no byte 0 to start a range at.
  if (response.status === 416) return { bytes: new ArrayBuffer(0), total: null };
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  const bytes = await response.arrayBuffer();
  const range = /\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "");
  const total = range ? Number(range[1]) : null;
  return { bytes, total: total !== null && total > bytes.byteLength ? total : null };
}

/** Text as UTF-8; a character cut by the limit, or bytes that are not UTF-8, show as U+FFFD. */
export const decodeText = (bytes: ArrayBuffer): string => new TextDecoder("utf-8").decode(bytes);
