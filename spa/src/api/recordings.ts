import { gql, USER_ERROR, type UserError } from "./gql";
import { explain } from "../ui";
import { i18n } from "../i18n";

export interface Tag {
  name: string;
  offset: number | null;
}

export interface Recording {
  id: string;
  sn: string;
  device: string;
  caller: string;
  callerOrg: string | null;
  callee: string;
  calleeOrg: string | null;
  startedAt: string;
  duration: number;
  score: number | null;
  tags: Tag[];
  playCount: number;
  kind: "CALL" | "VOICEMAIL";
  audioUrl: string;
  protected: boolean;
}

export interface Filter {
  device?: string;
  caller?: string;
  callee?: string;
  sn?: string;
  callerOrg?: string;
  calleeOrg?: string;
  tag?: string;
  startedFrom?: string;
  startedTo?: string;
  minDuration?: number;
  maxDuration?: number;
  score?: number;
  kind?: "CALL" | "VOICEMAIL";
}

const FIELDS = "id sn device caller callerOrg callee calleeOrg startedAt duration score tags { name offset } playCount kind audioUrl protected";

/** Only the conditions that were filled in. */
export function cleaned(filter: Filter): Filter {
  return Object.fromEntries(
    Object.entries(filter).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ) as Filter;
}

export async function search(filter: Filter, page: number, pageSize: number) {
  const data = await gql<{ recordings: { total: number; items: Recording[] } }>(
    `query($f: RecordingFilter, $p: Int!, $s: Int!) { recordings(filter: $f, page: $p, pageSize: $s) { total items { ${FIELDS} } } }`,
    { f: cleaned(filter), p: page, s: pageSize },
  );
  return data.recordings;
}

type RecordingResult = { r: (Recording & { __typename: "Recording" }) | UserError };

function unwrap(result: RecordingResult["r"]): Recording {
  if (result.__typename === "UserError") throw new Error(explain(result, "recording"));
  return result;
}

export async function score(id: string, value: number): Promise<Recording> {
  const data = await gql<RecordingResult>(
    `mutation($id: ID!, $v: Int!) { r: scoreRecording(id: $id, score: $v) { __typename ... on Recording { ${FIELDS} } ${USER_ERROR} } }`,
    { id, v: value },
  );
  return unwrap(data.r);
}

export async function tag(id: string, name: string, offset: number): Promise<Recording> {
  const data = await gql<RecordingResult>(
    `mutation($id: ID!, $n: String!, $o: Float) { r: tagRecording(id: $id, name: $n, offset: $o) { __typename ... on Recording { ${FIELDS} } ${USER_ERROR} } }`,
    { id, n: name, o: offset },
  );
  return unwrap(data.r);
}

export async function tagSuggestions(prefix: string): Promise<string[]> {
  const data = await gql<{ tagSuggestions: string[] }>(
    "query($p: String!) { tagSuggestions(prefix: $p, limit: 20) }",
    { p: prefix },
  );
  return data.tagSuggestions;
}

export async function remove(ids: string[]): Promise<number> {
  const data = await gql<{ deleteRecordings: { deleted: number } }>(
    "mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }",
    { ids },
  );
  return data.deleteRecordings.deleted;
}

/** Legal hold on (or off): needs the delete right; how many changed. */
export async function protect(ids: string[], on: boolean): Promise<number> {
  const data = await gql<{ protectRecordings: { changed: number } }>(
    "mutation($ids: [ID!]!, $p: Boolean!) { protectRecordings(ids: $ids, protect: $p) { changed } }",
    { ids, p: on },
  );
  return data.protectRecordings.changed;
}

export interface ActiveCall {
  id: string;
  device: string;
  caller: string;
  callee: string;
  startedAt: string;
  seconds: number;
}

export async function activeCalls(): Promise<ActiveCall[]> {
  const data = await gql<{ activeCalls: ActiveCall[] }>("{ activeCalls { id device caller callee startedAt seconds } }");
  return data.activeCalls;
}

/** The zip or xlsx of a selection, or of everything the filter matches. */
export function fileUrl(kind: "archive.zip" | "export.xlsx", ids: string[], filter: Filter): string {
  // The spreadsheet's headers in the console's language.
  const params = new URLSearchParams({ lang: i18n.global.locale.value });
  if (ids.length) params.set("ids", ids.join(","));
  else for (const [k, v] of Object.entries(cleaned(filter))) params.set(k, String(v));
  return `/api/v1/recordings/${kind}?${params}`;
}

export function hms(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}
