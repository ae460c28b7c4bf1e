// The console talks to the server only through GraphQL and the audio/file URLs.
import { ElMessage } from "element-plus";
import { i18n } from "../i18n";

/** A refusal as the server words it: which rule (with its numbers) on which field. */
export interface Refusal {
  message: string;
  field?: string | null;
  rule?: string | null;
  params?: Record<string, unknown> | null;
}

export class GqlError extends Error implements Refusal {
  constructor(
    message: string,
    readonly code: string,
    readonly rule: string | null = null,
    readonly params: Record<string, unknown> | null = null,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

type Listener = () => void;
let onSignedOut: Listener = () => {};

/** Called when the server says the session is gone (expired, signed out elsewhere). */
export function whenSignedOut(listener: Listener): void {
  onSignedOut = listener;
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({}));
  if (body.errors?.length) {
    const first = body.errors[0];
    const code = first.extensions?.code ?? "ERROR";
    if (code === "UNAUTHENTICATED") onSignedOut();
    const ext = first.extensions ?? {};
    // A standby's refusal in the reader's language, shown at once whatever page or dialog
    // asked (not every form words unexpected errors).
    const standby = code === "STANDBY_READ_ONLY";
    const message = standby ? i18n.global.t("ha.readOnly") : first.message;
    if (standby) ElMessage.error(message);
    throw new GqlError(message, code, ext.rule ?? null, ext.params ?? null, ext.field ?? null);
  }
  if (!response.ok) throw new GqlError(`HTTP ${response.status}`, "HTTP");
  return body.data as T;
}

/** A mutation's typed union: the result, or the UserError it returned. */
export interface UserError extends Refusal {
  __typename: "UserError";
  code: string;
}

/** The fields of a UserError the console reads, for a mutation's selection. */
export const USER_ERROR = "... on UserError { code message field rule params }";
