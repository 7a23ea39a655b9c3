// How sizes and times read (pure functions: the moment is passed in).

export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} ${bytes === 1 ? "byte" : "bytes"}` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatCount(count: number): string {
  return `${count} ${count === 1 ? "file" : "files"}`;
}

export type DateGroup = "Today" | "Yesterday" | "This week" | "Older";
export const DATE_GROUPS: readonly DateGroup[] = ["Today", "Yesterday", "This week", "Older"];

/** The group of a moment in the viewer's own calendar: today, yesterday, the five days before, or older. */
export function dateGroup(moment: Date, now: Date): DateGroup {
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const dayMs = 24 * 60 * 60 * 1000;
  const days = Math.floor((startOfToday.getTime() - moment.getTime()) / dayMs) + 1;
  if (moment >= startOfToday) return "Today";
  if (days <= 1) return "Yesterday";
  if (days <= 6) return "This week";
  return "Older";
}

export function formatWhen(moment: Date): string {
  return moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
