import { ElMessageBox } from "element-plus";
import { i18n } from "./i18n";

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
