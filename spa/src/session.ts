import { reactive } from "vue";
import { gql } from "./api/gql";

export interface Me {
  login: string;
  name: string;
  isAdmin: boolean;
  mustChangePassword: boolean;
  /** What the person's roles allow (PLAY, DELETE…); loaded with `me`, not with sign-in. */
  actions?: string[];
}

export type Action = "PLAY" | "DOWNLOAD" | "EXPORT" | "SCORE_TAG" | "DELETE";

/** The appliance's time zone: SNs and file names use it, so the console's times do too. */
export const session = reactive<{ me: Me | null; loaded: boolean; timeZone: string | undefined }>({
  me: null,
  loaded: false,
  timeZone: undefined,
});

export async function loadMe(): Promise<Me | null> {
  try {
    const data = await gql<{ me: (Me & { profile: { actions: string[] } }) | null }>(
      "{ me { login name isAdmin mustChangePassword profile { actions } } }",
    );
    session.me = data.me ? { ...data.me, actions: data.me.profile.actions } : null;
    if (session.me) await loadTimeZone();
  } catch {
    session.me = null;
  }
  session.loaded = true;
  return session.me;
}

async function loadTimeZone(): Promise<void> {
  const data = await gql<{ systemInfo: { timeZone: string } }>("{ systemInfo { timeZone } }").catch(() => null);
  if (data) session.timeZone = data.systemInfo.timeZone;
}

/** Whether the person may take an action on the calls they see (administrators may take all). */
export function may(action: Action): boolean {
  const me = session.me;
  return !!me && (me.isAdmin || (me.actions ?? []).includes(action));
}

export async function logout(): Promise<void> {
  await gql("mutation { logout { __typename } }").catch(() => undefined);
  session.me = null;
}
