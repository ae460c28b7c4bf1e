import { GqlError, gql } from "./gql";

export type Template = "DAILY" | "MONTHLY" | "YEARLY" | "DEPARTMENT" | "CUSTOM";
export type Measure = "CALLS" | "TALK_TIME";
export type Sort = "EXTENSION" | "NAME" | "CALLS" | "TALK_TIME" | "AVERAGE" | "OUTGOING" | "INCOMING";

export interface ReportPoint {
  label: string;
  calls: number;
  talkSeconds: number;
  voicemails: number;
  peakConcurrent: number | null;
  organizationId: string | null;
}

export interface ReportExtension {
  device: string;
  extension: string;
  name: string;
  organization: string | null;
  calls: number;
  talkSeconds: number;
  averageSeconds: number;
  outgoing: number;
  incoming: number;
  voicemails: number;
}

export interface Report {
  grouping: "HOUR" | "DAY" | "MONTH" | "DEPARTMENT";
  calls: number;
  talkSeconds: number;
  voicemails: number;
  peakConcurrent: number | null;
  fromRollups: boolean;
  series: ReportPoint[];
  extensions: { total: number; items: ReportExtension[] };
  heatMap: { weekday: number; hour: number; calls: number; talkSeconds: number }[];
}

export interface ReportQuery {
  template: Template;
  at?: string;
  from?: string;
  to?: string;
  filter?: Record<string, unknown>;
  measure: Measure;
  page: number;
  pageSize: number;
  sort: Sort;
  descending: boolean;
}

const BUSY_TRIES = 8;

/** The report, or null once it is no longer wanted; while the appliance says it is busy,
 * asked again a second later for as long as it is still wanted (a superseded request must
 * not keep taking the person's share of reports from the one that replaced it). */
export async function loadReport(q: ReportQuery, wanted: () => boolean = () => true): Promise<Report | null> {
  for (let tried = 1; ; tried++) {
    try {
      return await askReport(q);
    } catch (e) {
      if (!(e instanceof GqlError) || e.code !== "BUSY" || tried >= BUSY_TRIES) throw e;
      await new Promise((done) => setTimeout(done, 1000));
      if (!wanted()) return null;
    }
  }
}

async function askReport(q: ReportQuery): Promise<Report> {
  const data = await gql<{ report: Report }>(
    `query($t: ReportTemplate!, $at: Date, $from: DateTime, $to: DateTime, $f: RecordingFilter, $m: ReportMeasure,
      $p: Int, $s: Int, $sort: ReportSort, $d: Boolean) {
      report(template: $t, at: $at, from: $from, to: $to, filter: $f, measure: $m, page: $p, pageSize: $s,
             sort: $sort, descending: $d) {
        grouping calls talkSeconds voicemails peakConcurrent fromRollups
        series { label calls talkSeconds voicemails peakConcurrent organizationId }
        extensions { total items { device extension name organization calls talkSeconds averageSeconds outgoing incoming voicemails } }
        heatMap { weekday hour calls talkSeconds }
      } }`,
    {
      t: q.template, at: q.at, from: q.from, to: q.to, f: q.filter, m: q.measure, p: q.page, s: q.pageSize,
      sort: q.sort, d: q.descending,
    },
  );
  return data.report;
}

/** The same report's parameters for the export's URL. */
export function exportParams(q: ReportQuery, lang: string): URLSearchParams {
  const params = new URLSearchParams({ template: q.template, measure: q.measure, sort: q.sort, descending: String(q.descending), lang });
  if (q.at) params.set("at", q.at);
  if (q.from) params.set("from", q.from);
  if (q.to) params.set("to", q.to);
  for (const [key, value] of Object.entries(q.filter ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  return params;
}
