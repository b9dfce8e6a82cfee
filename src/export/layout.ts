import { z } from "zod";
import { snapshotDateOf } from "./runId.js";

export const EXPORT_FORMATS = ["csv", "json", "parquet"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Profile names become blob path segments, so they are kept to a safe alphabet. */
export const PROFILE_NAME = z
  .string()
  .regex(/^[a-z0-9-]{1,63}$/, "must be 1-63 characters of a-z, 0-9 and '-' (it becomes a blob path segment)");

/** Folder of exports whose query comes with the request rather than from a configured profile. */
export const ADHOC_PROFILE = "adhoc";

export const FORMATS = z
  .array(z.enum(EXPORT_FORMATS, { error: () => `must be one of ${EXPORT_FORMATS.join(", ")}` }))
  .min(1, "needs at least one format")
  .refine((list) => new Set(list).size === list.length, "lists a format twice");

export const MANIFEST_NAME = "_manifest.json";

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/json; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
};

/** The file stem of referrals, the default dataset: `referrals.csv` and so on. */
export const REFERRALS_FILE_STEM = "referrals";

/** `${stem}.csv|json|parquet`; the stem is the dataset's `fileStem`. */
export function dataFileName(format: ExportFormat, stem: string = REFERRALS_FILE_STEM): string {
  return `${stem}.${format}`;
}

/** JSON Schema of the JSON rows, published beside every snapshot as `${stem}.schema.json`. */
export function schemaFileName(stem: string = REFERRALS_FILE_STEM): string {
  return `${stem}.schema.json`;
}

/** The referrals export's JSON Schema file. */
export const SCHEMA_FILE_NAME = schemaFileName();
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
