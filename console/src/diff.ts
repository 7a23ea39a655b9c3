// A line diff (Myers' O(ND) algorithm): which lines one text removed and added to become another. Pure functions.

export type DiffKind = "same" | "added" | "removed";

export interface DiffLine {
  kind: DiffKind;
  text: string;
}

/** Past this many differing lines the work (and the page) would grow too large: the caller says so instead. */
export const MAX_EDITS = 2000;

export const splitLines = (text: string): string[] => {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  // A final newline ends the last line; it does not start an empty one.
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
};

/** The lines of `before` and `after` in order, each same, removed or added; null when they differ too much. */
export function diffLines(before: string, after: string, maxEdits = MAX_EDITS): DiffLine[] | null {
  const a = splitLines(before);
  const b = splitLines(after);
  // The common head and tail cost nothing to find and are most of a typical edit.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head += 1;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) {
    tail += 1;
  }
  const middle = myers(a.slice(head, a.length - tail), b.slice(head, b.length - tail), maxEdits);
  if (middle === null) return null;
  const same = (text: string): DiffLine => ({ kind: "same", text });
  return [...a.slice(0, head).map(same), ...middle, ...a.slice(a.length - tail).map(same)];
}

/** The shortest edit script from a to b, or null past maxEdits insertions and deletions. */
function myers(a: string[], b: string[], maxEdits: number): DiffLine[] | null {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  // v[k + offset]: the furthest x reached on diagonal k (y = x - k); one copy kept per step d, to walk back.
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d += 1) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && v[k - 1 + offset]! < v[k + 1 + offset]!);
      let x = down ? v[k + 1 + offset]! : v[k - 1 + offset]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x += 1;
        y += 1;
      }
      v[k + offset] = x;
      if (x >= n && y >= m) return walkBack(a, b, trace, d, k, offset);
    }
  }
  return null;
}

function walkBack(
  a: string[],
  b: string[],
  trace: Int32Array[],
  steps: number,
  diagonal: number,
  offset: number,
): DiffLine[] {
  const out: DiffLine[] = [];
  let x = a.length;
  let y = b.length;
  let k = diagonal;
  for (let d = steps; d > 0; d -= 1) {
    const v = trace[d]!; // the furthest points as they were before step d
    const down = k === -d || (k !== d && v[k - 1 + offset]! < v[k + 1 + offset]!);
    const previousK = down ? k + 1 : k - 1;
    const previousX = v[previousK + offset]!;
    const previousY = previousX - previousK;
    while (x > previousX + (down ? 0 : 1) && y > previousY + (down ? 1 : 0)) {
      x -= 1;
      y -= 1;
      out.push({ kind: "same", text: a[x]! });
    }
    if (down) {
      y -= 1;
      out.push({ kind: "added", text: b[y]! });
    } else {
      x -= 1;
      out.push({ kind: "removed", text: a[x]! });
    }
    k = previousK;
  }
  while (x > 0 && y > 0) {
    x -= 1;
    y -= 1;
    out.push({ kind: "same", text: a[x]! });
  }
  return out.reverse();
}
