import { ElMessageBox } from "element-plus";
import { i18n } from "./i18n";
import type { UserError } from "./api/gql";

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

/** Let the browser download a file the server builds (zip, xlsx, csv), with the session cookie. */
export function download(url: string): void {
  const link = document.createElement("a");
  link.href = url;
  link.download = "";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

/** A refusal from the server in the console's language: the field's rule when we know
 * it, else the server's own words (English). */
export function explain(err: UserError, form: "settings" | "device" | "org" | "employee" | "role" | "password"): string {
  const { t, te } = i18n.global;
  if (err.code === "CONFLICT") return t("hints.conflict");
  const key = `hints.${form}.${err.field ?? ""}`;
  return err.field && te(key) ? t(key) : err.message;
}

/** Forget a form's field errors before it is sent again. */
export function clearErrors(errors: Record<string, string>): void {
  for (const key of Object.keys(errors)) delete errors[key];
}
