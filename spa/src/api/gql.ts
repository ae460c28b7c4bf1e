// The console talks to the server only through GraphQL and the audio/file URLs.

export class GqlError extends Error {
  constructor(
    message: string,
    readonly code: string,
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
    throw new GqlError(first.message, code);
  }
  if (!response.ok) throw new GqlError(`HTTP ${response.status}`, "HTTP");
  return body.data as T;
}

/** A mutation's typed union: the result, or the UserError it returned. */
export interface UserError {
  __typename: "UserError";
  code: string;
  message: string;
  field?: string | null;
}
