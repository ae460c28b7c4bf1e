import { i18n } from "./i18n";
import { session } from "./session";

const formats = new Map<string, Intl.DateTimeFormat>();

/** A time as a person here reads it: in the appliance's zone, year first in every language
 * (2024/05/01 09:30:00 in Chinese, 2024-05-01 09:30:00 in English), on one line. */
export function when(iso: string | Date): string {
  const zone = session.timeZone;
  const key = zone ?? "";
  let format = formats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
    formats.set(key, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  const sep = i18n.global.locale.value === "en" ? "-" : "/";
  return `${parts.year}${sep}${parts.month}${sep}${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

/** The instant a wall-clock midnight ("2026-12-06") begins in the appliance's zone, as ISO:
 * reports count days as the appliance does, wherever the browser is. */
export function zoneMidnight(day: string): string {
  const [y, m, d] = day.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d);
  // The zone's offset at the guess, then again at the corrected instant (a DST change
  // between the two moves it).
  let instant = guess - offsetAt(guess);
  instant = guess - offsetAt(instant);
  return new Date(instant).toISOString();
}

function offsetAt(instant: number): number {
  const zone = session.timeZone;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(instant)).map((p) => [p.type, p.value]),
  );
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return wall - Math.floor(instant / 1000) * 1000;
}

/** Today in the appliance's zone, as YYYY-MM-DD. */
export function zoneToday(): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone: session.timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(new Date()).map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}`;
}
