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

export const session = reactive<{ me: Me | null; loaded: boolean }>({ me: null, loaded: false });

export async function loadMe(): Promise<Me | null> {
  try {
    const data = await gql<{ me: (Me & { profile: { actions: string[] } }) | null }>(
      "{ me { login name isAdmin mustChangePassword profile { actions } } }",
    );
    session.me = data.me ? { ...data.me, actions: data.me.profile.actions } : null;
  } catch {
    session.me = null;
  }
  session.loaded = true;
  return session.me;
}

export async function logout(): Promise<void> {
  await gql("mutation { logout { __typename } }").catch(() => undefined);
  session.me = null;
}
