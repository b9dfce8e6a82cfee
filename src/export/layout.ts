import type { ExportFormat } from "../config/profiles.js";
import { snapshotDateOf } from "./runId.js";

export const MANIFEST_NAME = "_manifest.json";

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/json; charset=utf-8",
};

export function dataFileName(format: ExportFormat): string {
  return `referrals.${format}`;
}

/** `{profile}/snapshot_date=YYYY-MM-DD/run_id={runId}/` (Hive-style, so engines see two partitions). */
export function runFolder(profile: string, runId: string): string {
  return `${profile}/snapshot_date=${snapshotDateOf(runId)}/run_id=${runId}/`;
}

export function latestFolder(profile: string): string {
  return `${profile}/latest/`;
}
