import { ElMessageBox } from "element-plus";
import { i18n } from "./i18n";
import type { Refusal } from "./api/gql";

/** Ask before a destructive or far-reaching action; true when the person confirmed. */
export async function confirmed(message: string): Promise<boolean> {
  const t = i18n.global.t;
  try {
    await ElMessageBox.confirm(message, { confirmButtonText: t("rec.confirm"), cancelButtonText: t("rec.cancel"), type: "warning" });
    return true;
  } catch {
    return false;
  }
}

/** Let the browser download a file the server builds (zip, xlsx, csv), with the session cookie.
 * The server is asked first (HEAD: nothing built, nothing logged), so a refusal is said in
 * words, never saved as a file; the refusal's words come from the GET's JSON body. Returns
 * the refusal's words, or null when the download started. */
export async function download(url: string): Promise<string | null> {
  const asked = await fetch(url, { method: "HEAD", credentials: "same-origin" }).catch(() => null);
  if (!asked || !asked.ok) {
    const refused = await fetch(url, { credentials: "same-origin" }).catch(() => null);
    const body = await refused?.json().catch(() => ({})) ?? {};
    return refusalWords(refused?.status ?? 0, body);
  }
  const link = document.createElement("a");
  link.href = url;
  link.download = "";
  document.body.appendChild(link);
  link.click();
  link.remove();
  return null;
}

/** A file endpoint's refusal ({error, rule, params, field}) in the console's language. */
function refusalWords(status: number, body: { error?: string; rule?: string; params?: Record<string, unknown>; field?: string }): string {
  const { t } = i18n.global;
  if (status === 404) return t("files.nothing");
  if (status === 401) return t("files.signedOut");
  if (status === 403) return t("rules.forbidden");
  if (status === 0) return t("files.unreachable");
  return explain({ message: body.error ?? `HTTP ${status}`, rule: body.rule, params: body.params, field: null }, "recording");
}

/** A person's name; the built-in administrator's, stored in English, in the console's language. */
export function personName(login: string, name: string): string {
  return login === "admin" && name === "Administrator" ? i18n.global.t("administrator") : name;
}

/** Items as a list in the console's language (、 in Chinese), at most `shown` of them. */
export function listOf(items: string[], shown = 5): string {
  const { t, locale } = i18n.global;
  const sep = locale.value === "en" ? ", " : "、";
  const head = items.slice(0, shown).join(sep);
  return items.length > shown ? t("files.andMore", { list: head, n: items.length - shown }) : head;
}

type Form = "settings" | "device" | "org" | "employee" | "role" | "password" | "recording" | "import" | "alarm" | "backup" | "ha";

/** Rules whose words depend on the field (which form, which relation): the field's hint
 * says them, with the server's numbers. */
const FIELD_RULES = new Set(["invalid_format", "overlaps_range", "unknown_device", "unknown_organisation", "unknown_role", "cycle"]);

/** The one place a refusal ({rule, params, field} from the server) becomes words in the
 * console's language, with the server's limits: the field's own hint for rules that depend
 * on the field, else the rule's words, else the server's own (English) message. */
export function explain(err: Refusal, form: Form): string {
  const { t, te } = i18n.global;
  const params = wordsOf(err.params ?? {});
  const hint = `hints.${form}.${err.field ?? ""}`;
  if (err.field && te(hint) && (!err.rule || FIELD_RULES.has(err.rule))) return t(hint, params);
  if (err.rule) {
    const rule = err.rule === "out_of_range" && params.max === undefined ? "at_least" : err.rule;
    if (te(`rules.${rule}`)) return t(`rules.${rule}`, params);
  }
  return err.message;
}

/** Params as words: lists joined, a referencing kind ("recordings", "employees") named in the
 * console's language. */
function wordsOf(params: Record<string, unknown>): Record<string, unknown> {
  const { t, te } = i18n.global;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) out[name] = value.join(", ");
    else if (name === "by" && typeof value === "string" && te(`rules.by.${value}`)) out[name] = t(`rules.by.${value}`);
    else out[name] = value;
  }
  return out;
}

/** Forget a form's field errors before it is sent again. */
export function clearErrors(errors: Record<string, string>): void {
  for (const key of Object.keys(errors)) delete errors[key];
}
