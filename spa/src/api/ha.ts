// Primary and standby (主备设置): the GraphQL calls the settings tab and the banner use.
import { reactive } from "vue";
import { gql, USER_ERROR, type UserError } from "./gql";

export type HaRole = "STANDALONE" | "PRIMARY" | "STANDBY";
export interface HaStatus {
  role: HaRole; peer: string; peerReachable: boolean; lastSyncAt: string | null; lagRecordings: number; lagSeconds: number;
  paired: boolean; pairedAt: string | null; peerRole: string; peerSeenAt: string | null; recordingSync: boolean;
  configSync: boolean; periodSeconds: number; takeoverSeconds: number; witness: string; epoch: number;
  promotedAt: string | null; lastError: string; lastProblem: string; pairingSecretSet: boolean; fingerprint: string;
}
export interface HaInput {
  role?: HaRole; peerAddress?: string; recordingSync?: boolean; configSync?: boolean; periodSeconds?: number;
  takeoverSeconds?: number; witness?: string; pairingSecret?: string;
}

const STATUS = `role peer peerReachable lastSyncAt lagRecordings lagSeconds paired pairedAt peerRole peerSeenAt
  recordingSync configSync periodSeconds takeoverSeconds witness epoch promotedAt lastError lastProblem pairingSecretSet
  fingerprint`;

export async function status(): Promise<HaStatus> {
  return (await gql<{ haStatus: HaStatus }>(`{ haStatus { ${STATUS} } }`)).haStatus;
}

export async function save(input: HaInput): Promise<HaStatus | UserError> {
  const data = await gql<{ updateHaSettings: (HaStatus & { __typename: "HaStatus" }) | UserError }>(
    `mutation($i: HaSettingsInput!) { updateHaSettings(input: $i) { __typename ... on HaStatus { ${STATUS} } ${USER_ERROR} } }`,
    { i: input },
  );
  return data.updateHaSettings;
}

export async function syncNow(): Promise<HaStatus> {
  return (await gql<{ syncNow: HaStatus }>(`mutation { syncNow { ${STATUS} } }`)).syncNow;
}

export async function makePrimary(): Promise<HaStatus> {
  return (await gql<{ makePrimary: HaStatus }>(`mutation { makePrimary { ${STATUS} } }`)).makePrimary;
}

/** This appliance's role, for everyone signed in (a standby's console is read-only). */
export async function applianceRole(): Promise<HaRole> {
  return (await gql<{ applianceRole: HaRole }>("{ applianceRole }")).applianceRole;
}

/** The role as the console shows it: the banner follows the settings tab's changes. */
export const appliance = reactive<{ role: HaRole }>({ role: "STANDALONE" });
