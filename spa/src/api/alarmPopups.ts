// The alarms that pop up on every page for administrators (the manual's 界面告警), from the
// `alarms` subscription, and stay until someone acknowledges them.
import { h } from "vue";
import { ElButton, ElMessage, ElNotification } from "element-plus";
import { gql, USER_ERROR, type UserError } from "./gql";
import { follow } from "./live";
import { ALARM_FIELDS, alarmText, eventName, levelName, type Alarm } from "./monitoring";
import { i18n } from "../i18n";
import { when } from "../time";

const open = new Map<string, ReturnType<typeof ElNotification>>();

/** Acknowledge an alarm; its pop-up goes. True when the server took it. */
export async function acknowledgeAlarm(id: string): Promise<boolean> {
  const { t } = i18n.global;
  try {
    const data = await gql<{ acknowledgeAlarm: { __typename: "Alarm" } | UserError }>(
      `mutation($id: ID!) { acknowledgeAlarm(id: $id) { __typename ${USER_ERROR} } }`,
      { id },
    );
    if (data.acknowledgeAlarm.__typename === "UserError") {
      ElMessage.error(data.acknowledgeAlarm.message);
      return false;
    }
  } catch (e) {
    ElMessage.error(t("error.generic", { message: (e as Error).message }));
    return false;
  }
  open.get(id)?.close();
  open.delete(id);
  return true;
}

const KIND = { HIGH: "error", MEDIUM: "warning", LOW: "info" } as const;

function show(alarm: Alarm): void {
  const { t } = i18n.global;
  if (alarm.state === "CLEARED") {
    ElNotification({
      type: "success",
      position: "bottom-right",
      title: t("monitoring.cleared", { event: eventName(alarm.event) }),
      message: alarmText(alarm),
      duration: 6000,
    });
    return;
  }
  if (open.has(alarm.id) || alarm.acknowledgedAt) return;
  const handle = ElNotification({
    type: KIND[alarm.level],
    position: "bottom-right",
    duration: 0,
    customClass: `alarm-popup alarm-${alarm.level.toLowerCase()}`,
    title: t("monitoring.popupTitle", { level: levelName(alarm.level), event: eventName(alarm.event) }),
    message: h("div", { "data-test": `alarm-popup-${alarm.id}` }, [
      h("div", alarmText(alarm)),
      h("div", { class: "alarm-popup-time" }, when(alarm.raisedAt)),
      h(ElButton, { size: "small", type: "primary", style: "margin-top: 6px", onClick: () => void acknowledgeAlarm(alarm.id) },
        () => t("monitoring.acknowledge")),
    ]),
    onClose: () => open.delete(alarm.id),
  });
  open.set(alarm.id, handle);
}

/** Pop up what is active and unacknowledged now, then each alarm as it comes; returns the
 * function that stops following. */
export function followAlarms(): () => void {
  const waiting = async (): Promise<{ alarms: Alarm[] }> => {
    const data = await gql<{ alarms: { items: Alarm[] }; alarmSettings: { events: { event: string; onScreen: boolean }[] } }>(
      `{ alarms(filter: { state: ACTIVE, acknowledged: false }, pageSize: 20) { items { ${ALARM_FIELDS} } }
         alarmSettings { events { event onScreen } } }`,
    );
    const shown = new Set(data.alarmSettings.events.filter((e) => e.onScreen).map((e) => e.event));
    return { alarms: data.alarms.items.filter((a) => shown.has(a.event)).reverse() };
  };
  return follow<{ alarms: Alarm | Alarm[] }>(
    `subscription { alarms { ${ALARM_FIELDS} onScreen } }`,
    (data) => {
      for (const alarm of Array.isArray(data.alarms) ? data.alarms : [data.alarms]) {
        if (alarm.onScreen !== false) show(alarm);
      }
    },
    waiting,
    () => undefined,
  );
}
