import { ElMessage } from "element-plus";
import { i18n } from "../i18n";
import { confirmed, explain } from "../ui";
import { gql, type GqlError } from "./gql";

/** Delete a push or pull device after asking; says how it went; true when it is gone. */
export async function removeDevice(device: { id: string; alias: string }): Promise<boolean> {
  const t = i18n.global.t;
  if (!(await confirmed(t("devices.deleteConfirm", { alias: device.alias })))) return false;
  const data = await gql<{ deleteDevice: { deleted: number } }>("mutation($id: ID!) { deleteDevice(id: $id) { deleted } }", { id: device.id }).catch((e: GqlError) => {
    ElMessage.error(explain(e, "device"));
    return null;
  });
  if (data) ElMessage.success(t("devices.deleted"));
  return data !== null;
}
