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
