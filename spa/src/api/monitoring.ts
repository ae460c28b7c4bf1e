// Monitoring and alarms: metrics, the alarm list, the alarm settings, the live pop-ups.
import { i18n } from "../i18n";

export type AlarmEvent =
  | "CPU_HIGH" | "MEMORY_HIGH" | "STORAGE_HIGH" | "CAPTURE_ABORTED" | "BACKUP_FAILED"
  | "SERVICE_ABORTED" | "DATABASE_ERROR" | "NO_RECORDING" | "PULL_FAILED";
export type AlarmLevel = "LOW" | "MEDIUM" | "HIGH";
export type AlarmState = "ACTIVE" | "CLEARED";

export const EVENTS: AlarmEvent[] = [
  "CPU_HIGH", "MEMORY_HIGH", "STORAGE_HIGH", "CAPTURE_ABORTED", "BACKUP_FAILED", "SERVICE_ABORTED",
  "DATABASE_ERROR", "NO_RECORDING", "PULL_FAILED",
];
export const LEVELS: AlarmLevel[] = ["LOW", "MEDIUM", "HIGH"];

export interface Alarm {
  id: string;
  event: AlarmEvent;
  level: AlarmLevel;
  state: AlarmState;
  value: number | null;
  threshold: number | null;
  message: string;
  raisedAt: string;
  clearedAt: string | null;
  acknowledgedAt?: string | null;
  acknowledgedBy?: string | null;
  onScreen?: boolean;
  params: Record<string, unknown>;
  delivery?: Record<string, string>;
}

export const ALARM_FIELDS =
  "id event level state value threshold message raisedAt clearedAt acknowledgedAt acknowledgedBy params delivery";

export interface ServiceStatus { name: string; state: "RUNNING" | "STOPPED" | "ABORTED"; pid: number | null; since: string | null }

export interface SystemMetrics {
  sampledAt: string;
  cpuPercent: number;
  memoryPercent: number;
  diskPercent: number;
  memoryTotal: number;
  diskTotal: number;
  diskFree: number;
  activeCalls: number;
  callsSetUpLastMinute: number;
  callsRefusedLastMinute: number;
  packetsPerSecond: number;
  kernelDrops: number;
  recordingsToday: number;
  spoolBytes: number;
  lastRecordingAt: string | null;
  services: ServiceStatus[];
}

export const METRIC_FIELDS = `sampledAt cpuPercent memoryPercent diskPercent memoryTotal diskTotal diskFree activeCalls
  callsSetUpLastMinute callsRefusedLastMinute packetsPerSecond kernelDrops recordingsToday spoolBytes lastRecordingAt
  services { name state pid since }`;

export interface Sample { at: string; cpuPercent: number; activeCalls: number; packetsPerSecond: number }

/** The alarm's event, in the console's language. */
export function eventName(event: string): string {
  const { t, te } = i18n.global;
  return te(`alarmEvents.${event}`) ? t(`alarmEvents.${event}`) : event;
}

export function levelName(level: string): string {
  const { t, te } = i18n.global;
  return te(`alarmLevels.${level}`) ? t(`alarmLevels.${level}`) : level;
}

/** The alarm's condition in the console's language, from its event, value and params. */
export function alarmText(a: Pick<Alarm, "event" | "value" | "threshold" | "params" | "message">): string {
  const { t, te } = i18n.global;
  const key = `alarmTexts.${a.event}`;
  if (!te(key)) return a.message;
  const number = (v: number | null) => (v === null || v === undefined ? "-" : String(Math.round(v)));
  const params: Record<string, unknown> = { service: "-", pid: "-", error: "-", ...a.params };
  return t(key, { ...params, value: number(a.value), threshold: number(a.threshold) });
}

/** Element Plus's colour for a level: high red, medium orange, low blue-grey. */
export function levelType(level: AlarmLevel): "danger" | "warning" | "info" {
  return level === "HIGH" ? "danger" : level === "MEDIUM" ? "warning" : "info";
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
