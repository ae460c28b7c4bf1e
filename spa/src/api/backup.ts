// Backups (备份管理, 备份设置): the GraphQL calls and shapes the two pages share.
import { i18n } from "../i18n";
import { gql, USER_ERROR, type UserError } from "./gql";

export type TargetKind = "LOCAL" | "FTP" | "SFTP" | "SMB";
export type BackupResult = "DONE" | "FAILED" | "PARTIAL";
export interface Progress { running: boolean; done: number; total: number; recordings: number; voicemails: number; bytes: number }
export interface LastRun { result?: BackupResult; recordings?: number; voicemails?: number; error?: string; detail?: string; problems?: number }
export interface Target {
  id: string; kind: TargetKind; enabled: boolean; location: string; username: string; passwordSet: boolean;
  keepMonths: number; diskLimitPercent: number; tlsFingerprint: string; hostKey: string; lastRunAt: string | null;
  lastRun: LastRun; progress: Progress;
}
export interface Problem { subject: string; reason: string; detail: string }
export interface RunResult {
  result: BackupResult; recordings: number; voicemails: number; bytes: number; problems: Problem[];
  error: string; errorDetail: string; setName: string;
}
export interface ImportResult {
  result: BackupResult; recordings: number; voicemails: number; skipped: number; bytes: number; problems: Problem[];
  error: string; errorDetail: string; sets: string[]; configRestored: Record<string, number>;
}
export interface TestResult { ok: boolean; error: string; detail: string; found: string; totalBytes: number | null; availableBytes: number | null; sets: string[] }
export type PolicyKind = "INTERVAL" | "DAILY" | "WEEKLY" | "MONTHLY";
export type Unit = "DAYS" | "HOURS" | "MINUTES" | "SECONDS";
export interface Policy { policy: PolicyKind; every: number; unit: Unit; at: string; weekdays: number[]; monthDays: number[] }
export interface BackupSettings { policies: Policy[]; nextRunAt: string | null; passphraseSet: boolean; includeConfig: boolean }

const PROGRESS = "progress { running done total recordings voicemails bytes }";
const TARGET = `id kind enabled location username passwordSet keepMonths diskLimitPercent tlsFingerprint hostKey lastRunAt lastRun ${PROGRESS}`;
const PROBLEMS = "problems { subject reason detail }";
const SETTINGS = "policies { policy every unit at weekdays monthDays } nextRunAt passphraseSet includeConfig";

export async function targets(): Promise<Target[]> {
  return (await gql<{ backupTargets: Target[] }>(`{ backupTargets { ${TARGET} } }`)).backupTargets;
}

export async function saveTarget(input: Record<string, unknown>): Promise<UserError | null> {
  const data = await gql<{ setBackupTarget: { __typename: string } | UserError }>(
    `mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) { __typename ${USER_ERROR} } }`, { i: input },
  );
  return data.setBackupTarget.__typename === "UserError" ? (data.setBackupTarget as UserError) : null;
}

export async function deleteTarget(id: string): Promise<void> {
  await gql("mutation($id: ID!) { deleteBackupTarget(id: $id) { deleted } }", { id });
}

export async function testTarget(id: string): Promise<TestResult> {
  return (await gql<{ testBackupTarget: TestResult }>(
    "mutation($id: ID!) { testBackupTarget(targetId: $id) { ok error detail found totalBytes availableBytes sets } }", { id },
  )).testBackupTarget;
}

export async function backupNow(id: string): Promise<RunResult> {
  return (await gql<{ backupNow: RunResult }>(
    `mutation($id: ID!) { backupNow(targetId: $id) { result recordings voicemails bytes ${PROBLEMS} error errorDetail setName } }`, { id },
  )).backupNow;
}

export async function importBackup(id: string, passphrase: string, sets: string[], config: boolean): Promise<ImportResult> {
  return (await gql<{ importBackup: ImportResult }>(
    `mutation($id: ID!, $p: String!, $s: [String!], $c: Boolean!) { importBackup(targetId: $id, passphrase: $p, sets: $s, includeConfig: $c) {
      result recordings voicemails skipped bytes ${PROBLEMS} error errorDetail sets configRestored } }`, { id, p: passphrase, s: sets, c: config },
  )).importBackup;
}

/** Import an uploaded set (.zip): the body is the file; the passphrase goes in a header. */
export async function importUpload(file: File, passphrase: string, config: boolean): Promise<ImportResult> {
  const response = await fetch(`/api/v1/backup-import?includeConfig=${config}`, {
    method: "POST",
    body: file,
    headers: { "Content-Type": "application/zip", "X-Backup-Passphrase": encodeURIComponent(passphrase) },
    credentials: "same-origin",
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return { ...body, errorDetail: body.errorDetail ?? "", configRestored: body.config_created ?? {} } as ImportResult;
}

export async function saveIncludeConfig(include: boolean): Promise<BackupSettings> {
  return (await gql<{ setBackupIncludeConfig: BackupSettings }>(
    `mutation($c: Boolean!) { setBackupIncludeConfig(include: $c) { ${SETTINGS} } }`, { c: include },
  )).setBackupIncludeConfig;
}

export async function settings(): Promise<BackupSettings> {
  return (await gql<{ backupSettings: BackupSettings }>(`{ backupSettings { ${SETTINGS} } }`)).backupSettings;
}

export async function savePolicies(policies: Policy[]): Promise<UserError | BackupSettings> {
  const data = await gql<{ setBackupPolicies: (BackupSettings & { __typename: string }) | UserError }>(
    `mutation($p: [BackupPolicyInput!]!) { setBackupPolicies(policies: $p) { __typename ... on BackupSettings { ${SETTINGS} } ${USER_ERROR} } }`,
    { p: policies },
  );
  return data.setBackupPolicies;
}

export async function savePassphrase(passphrase: string): Promise<UserError | BackupSettings> {
  const data = await gql<{ setBackupPassphrase: (BackupSettings & { __typename: string }) | UserError }>(
    `mutation($p: String!) { setBackupPassphrase(passphrase: $p) { __typename ... on BackupSettings { ${SETTINGS} } ${USER_ERROR} } }`,
    { p: passphrase },
  );
  return data.setBackupPassphrase;
}

/** The subscription's text for one target's progress (ids are digits: no quoting needed). */
export function progressSubscription(id: string): string {
  return `subscription { backupProgress(targetId: "${Number(id)}") { running done total recordings voicemails bytes } }`;
}

/** A target's kind as the manual names it (本地备份, FTP备份, NAS备份). */
export function kindName(kind: string): string {
  const { t, te } = i18n.global;
  return te(`backup.kinds.${kind}`) ? t(`backup.kinds.${kind}`) : kind;
}

/** Why a run or an import stopped, in the console's language. */
export function errorWords(code: string): string {
  const { t, te } = i18n.global;
  return te(`backup.errors.${code}`) ? t(`backup.errors.${code}`) : code;
}

/** Bytes as a person reads them. */
export function size(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}
