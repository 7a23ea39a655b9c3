// Sending one file: a plain PUT for small files, the gateway's tus endpoint in chunks for large ones. XMLHttpRequest
// rather than fetch, because only it reports upload progress.

import { ApiError, sessionPath } from "./api";
import { currentToken } from "./auth";
import { filePath } from "./files";

/** Files larger than this go over tus, in chunks of CHUNK bytes, so a dropped connection costs one chunk. */
export const TUS_THRESHOLD = 8 * 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;

type Progress = (sent: number) => void;

interface Answer {
  status: number;
  header: (name: string) => string | null;
  body: string;
}

function send(method: string, url: string, headers: Record<string, string>, body: Blob | null, progress?: Progress) {
  return new Promise<Answer>((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    const token = currentToken();
    if (token) request.setRequestHeader("Authorization", `Bearer ${token}`);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    if (progress) request.upload.onprogress = (event) => progress(event.loaded);
    request.onload = () =>
      resolve({ status: request.status, header: (name) => request.getResponseHeader(name), body: request.responseText });
    request.onerror = () => reject(new Error("the connection failed"));
    request.send(body);
  });
}

function refusal(answer: Answer): ApiError {
  let problem: ApiError["problem"] = {};
  try {
    problem = JSON.parse(answer.body) as ApiError["problem"];
  } catch {
    // Not a problem document (a proxy's page): the status alone says what happened.
  }
  return new ApiError(answer.status, problem);
}

/** A new file at `path` (refused with 412 when one is there already: uploads never overwrite silently). */
export async function upload(id: string, path: string, file: File, progress: Progress): Promise<void> {
  if (file.size > TUS_THRESHOLD) return uploadTus(id, path, file, progress);
  const headers = { "Content-Type": file.type || "application/octet-stream", "If-None-Match": "*" };
  const answer = await send("PUT", filePath(id, path), headers, file, progress);
  if (answer.status >= 300) throw refusal(answer);
  progress(file.size);
}

const base64 = (text: string): string => {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
};

async function uploadTus(id: string, path: string, file: File, progress: Progress): Promise<void> {
  const tus = { "Tus-Resumable": "1.0.0" };
  const metadata = [`path ${base64(path)}`, `content_type ${base64(file.type || "application/octet-stream")}`];
  const created = await send(
    "POST",
    `${sessionPath(id)}/uploads/`,
    { ...tus, "Upload-Length": String(file.size), "Upload-Metadata": metadata.join(","), "If-None-Match": "*" },
    null,
  );
  const location = created.header("Location");
  if (created.status !== 201 || !location) throw refusal(created);
  let offset = 0;
  let retries = 0;
  while (offset < file.size) {
    const chunk = file.slice(offset, offset + CHUNK);
    const start = offset;
    const answer = await send(
      "PATCH",
      location,
      { ...tus, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
      chunk,
      (sent) => progress(start + sent),
    ).catch(() => null);
    if (answer && answer.status === 204) {
      offset = Number(answer.header("Upload-Offset"));
      continue;
    }
    // A dropped connection or an offset that moved: ask the gateway where it stands and go on from there.
    if ((answer === null || answer.status === 409) && retries < 3) {
      retries += 1;
      const head = await send("HEAD", location, tus, null);
      if (head.status === 200) {
        offset = Number(head.header("Upload-Offset"));
        continue;
      }
    }
    if (answer === null) throw new Error("the connection failed");
    throw refusal(answer);
  }
  progress(file.size);
}
