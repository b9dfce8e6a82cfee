import type { ExportFormat } from "../config/profiles.js";
import { snapshotDateOf } from "./runId.js";

export const MANIFEST_NAME = "_manifest.json";

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/json; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
};

export function dataFileName(format: ExportFormat): string {
  return `referrals.${format}`;
}

/** JSON Schema of the JSON rows, published beside every snapshot. */
export const SCHEMA_FILE_NAME = "referrals.schema.json";
export const SCHEMA_CONTENT_TYPE = "application/schema+json";

/** The change feed's formats: a feed is small, so it always comes as both. */
export const CHANGE_FEED_FORMATS = ["csv", "json"] as const satisfies readonly ExportFormat[];
export type ChangeFeedFormat = (typeof CHANGE_FEED_FORMATS)[number];

export function changesFileName(format: ChangeFeedFormat): string {
  return `changes.${format}`;
}

/** `{profile}/snapshot_date=YYYY-MM-DD/run_id={runId}/` (Hive-style, so engines see two partitions). */
export function runFolder(profile: string, runId: string): string {
  return `${profile}/snapshot_date=${snapshotDateOf(runId)}/run_id=${runId}/`;
}

export function latestFolder(profile: string): string {
  return `${profile}/latest/`;
}
