import type { DatasetId } from "../partnerCenter/datasets/index.js";
import type { QuerySpec } from "../partnerCenter/query.js";
import type { ExportFormat } from "./layout.js";
import type { WrittenBlob } from "./blobs/blockWriter.js";
import { CONTENT_TYPES } from "./layout.js";
import type { ColumnSchema, ManifestSideFile } from "./schema.js";

export type { ManifestSideFile };

export type Trigger = "http" | "timer" | "cli";

export interface ManifestFile {
  readonly path: string;
  readonly format: ExportFormat;
  readonly contentType: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly rowCount: number;
}

/** The manifest's entries for files written side by side (`written[i]` is `files[i]`'s blob). */
export function manifestFiles(
  files: readonly { readonly path: string; readonly format: ExportFormat }[],
  written: readonly WrittenBlob[],
  rowCount: number,
): ManifestFile[] {
  return files.map((file, i) => ({
    path: file.path,
    format: file.format,
    contentType: CONTENT_TYPES[file.format],
    bytes: written[i]?.bytes ?? 0,
    sha256: written[i]?.sha256 ?? "",
    rowCount,
  }));
}

/** The change feed of a raw profile: what changed since the snapshot `latest/` named when the run started. */
export interface ManifestChanges {
  /** The snapshot compared with; null when there was none to compare with (the feed is then empty). */
  readonly previousRunId: string | null;
  /** Why nothing was compared (first run, a different query, no CSV/JSON in the previous run). */
  readonly note: string | null;
  /** Fields that identify a row (referrals: `id`); the feed's rows carry them. */
  readonly keyFields: readonly string[];
  /** Fields whose change makes a row "changed". */
  readonly comparedFields: readonly string[];
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
  /**
   * changes.baseline.tsv: ids, fingerprints and original values of this run's referrals, which the
   * next run's feed compares against.
   */
  readonly baseline: ManifestSideFile | null;
  /** changes.csv and changes.json in the run folder. */
  readonly files: readonly ManifestFile[];
}

/** Why a run has no change feed, for datasets other than referrals (whose `changes` says it all). */
export interface ManifestChangeFeedStatus {
  readonly available: false;
  readonly reason: string;
}

/** `_manifest.json`: written last; its presence means the files beside it are complete. */
export interface Manifest {
  readonly schemaVersion: 1;
  readonly runId: string;
  readonly profile: string;
  /** The Partner Center analytics dataset exported (its files are named after it: `referrals.csv`, …). */
  readonly dataset: DatasetId;
  /** Published by a configured profile or by an ad-hoc export (which may never replace a profile's latest/). */
  readonly source: "profile" | "adhoc";
  readonly trigger: Trigger;
  readonly snapshotDate: string;
  readonly query: QuerySpec;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly rowCount: number;
  readonly totalCountReported: number | null;
  readonly pages: number;
  readonly partnerCenter: {
    readonly correlationId: string;
    readonly requestIds: readonly string[];
    readonly retries: number;
    readonly throttled: number;
  };
  readonly columns: readonly string[];
  /** The columns with their types and nullability, in the same order (CSV, JSON and Parquet agree). */
  readonly schema: readonly ColumnSchema[];
  /** `<stem>.schema.json`: JSON Schema of the JSON file's rows. */
  readonly schemaFile: ManifestSideFile;
  /** Upstream fields not in the stable CSV/Parquet columns (kept in the JSON file). */
  readonly droppedFields: readonly string[];
  readonly integrity: {
    readonly duplicatesRemoved: number;
    readonly countMatchesTotal: boolean | null;
    readonly warnings: readonly string[];
  };
  readonly files: readonly ManifestFile[];
  /** Null for grouped profiles, which have no change feed, and for datasets other than referrals. */
  readonly changes: ManifestChanges | null;
  /** Datasets other than referrals: why there is no change feed (a dataset without a row key, …). */
  readonly changeFeed?: ManifestChangeFeedStatus;
}

/**
 * A run's change feed in one line, for people: what it was compared with and what changed, why
 * nothing was compared, or why the run has no feed. Undefined for a run without a feed of any kind
 * (a grouped referrals export).
 */
export function changeFeedSummary(manifest: Manifest): string | undefined {
  const changes = manifest.changes;
  if (changes === null) {
    return manifest.changeFeed ? `no change feed: ${manifest.changeFeed.reason}` : undefined;
  }
  return describeChanges(changes);
}

/** What a run's change feed holds, as its manifest and its run record keep it. */
export type ChangeCounts = Pick<
  ManifestChanges,
  "previousRunId" | "note" | "keyFields" | "added" | "changed" | "removed"
>;

/** The compared run and the counts of added, changed and removed rows, or why nothing was compared. */
export function describeChanges(changes: ChangeCounts): string {
  if (changes.previousRunId === null)
    return `change feed: nothing compared (${changes.note ?? "no previous run"})`;
  return `change feed against run ${changes.previousRunId}, by ${changes.keyFields.join(", ")}: ${changes.added} added, ${changes.changed} changed, ${changes.removed} removed`;
}
