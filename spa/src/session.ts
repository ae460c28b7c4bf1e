import { reactive } from "vue";
import { gql } from "./api/gql";

export interface Me {
  login: string;
  name: string;
  isAdmin: boolean;
  mustChangePassword: boolean;
}

export const session = reactive<{ me: Me | null; loaded: boolean }>({ me: null, loaded: false });

export async function loadMe(): Promise<Me | null> {
  try {
    const data = await gql<{ me: Me | null }>("{ me { login name isAdmin mustChangePassword } }");
    session.me = data.me;
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
