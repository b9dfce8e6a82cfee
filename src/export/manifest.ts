import type { ExportFormat } from "../config/profiles.js";

export type Trigger = "http" | "timer" | "cli";

export interface ManifestFile {
  readonly path: string;
  readonly format: ExportFormat;
  readonly contentType: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly rowCount: number;
}

/** `_manifest.json`: written last; its presence means the files beside it are complete. */
export interface Manifest {
  readonly schemaVersion: 1;
  readonly runId: string;
  readonly profile: string;
  readonly trigger: Trigger;
  readonly snapshotDate: string;
  readonly query: {
    readonly filter: string | null;
    readonly groupby: readonly string[] | null;
    readonly aggregationLevel: string | null;
  };
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
  /** Upstream fields not in the CSV's stable columns (kept in the JSON file). */
  readonly droppedFields: readonly string[];
  readonly integrity: {
    readonly duplicatesRemoved: number;
    readonly countMatchesTotal: boolean | null;
    readonly warnings: readonly string[];
  };
  readonly files: readonly ManifestFile[];
}
