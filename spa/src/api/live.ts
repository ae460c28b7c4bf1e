// Live results over one websocket (graphql-transport-ws, the graphql-ws client), signed in
// by the session cookie; polling over HTTP while the socket is down.
import { createClient, type Client } from "graphql-ws";

export type LiveState = "live" | "polling";

// Closes after which retrying cannot help: the sign-in ended (4401), was refused (4403), or
// the account has too many sockets (4429). Polling takes over; an ended sign-in shows there.
const FINAL = [4401, 4403, 4429];
const POLL_MS = 5000;
const RETRY_MAX_MS = 30000;

let client: Client | null = null;

function closeCode(event: unknown): number | null {
  return typeof event === "object" && event !== null && "code" in event ? Number((event as CloseEvent).code) : null;
}

function socket(): Client {
  client ??= createClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
    lazy: true, // opened by the first subscription, closed after the last one ends
    retryAttempts: Infinity, // a server restart: back again as soon as it is
    retryWait: (retries) =>
      // Back-off with jitter, so consoles do not all come back in the same second.
      new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, 1000 * 2 ** retries) * (0.5 + Math.random() / 2))),
    shouldRetry: (event) => !FINAL.includes(closeCode(event) ?? 0),
  });
  return client;
}

/**
 * Follows a subscription: `next` gets each result. While the socket is not connected, the
 * same data comes from `poll` every 5 s instead. Returns the function that stops it all.
 */
export function follow<T>(
  query: string,
  next: (data: T) => void,
  poll: () => Promise<T>,
  state: (s: LiveState) => void,
): () => void {
  let timer = 0;
  let stopped = false;
  const polling = (on: boolean) => {
    window.clearInterval(timer);
    timer = 0;
    if (on && !stopped) {
      const once = () => void poll().then(next, () => undefined);
      once();
      timer = window.setInterval(once, POLL_MS);
    }
    state(on ? "polling" : "live");
  };
  const ws = socket();
  const offs = [ws.on("connected", () => polling(false)), ws.on("closed", () => polling(true))];
  polling(true); // until the socket says it is there
  const unsubscribe = ws.subscribe<T>(
    { query },
    {
      next: (result) => {
        if (result.data) next(result.data as T);
      },
      error: () => polling(true), // a final close: polling for good
      complete: () => undefined,
    },
  );
  return () => {
    stopped = true;
    offs.forEach((off) => off());
    unsubscribe();
    polling(false);
  };
}
