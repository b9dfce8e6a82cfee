import type { ContainerClient } from "@azure/storage-blob";
import type { WrittenBlob } from "../blobs/blockWriter.js";
import type { ExportFormat } from "../layout.js";

/** The formats written as text, for which column names are enough. */
export type TextFormat = Exclude<ExportFormat, "parquet">;

/** A row as the formats take it: normalised referral fields, or a change feed's row. */
export type FormatRow = Readonly<Record<string, unknown>>;

/**
 * One file of a run in one format, written into its blob as rows arrive. Its owner calls `write`
 * for each slice of rows, `flush` at each page boundary, `end` once, and `abort` when the run
 * fails; `result` settles with the committed blob or the first failure.
 */
export interface FormatWriter {
  readonly format: ExportFormat;
  readonly path: string;
  /** Settles with the blob's size and SHA-256 once committed, or with the first failure. */
  readonly result: Promise<WrittenBlob>;
  /** Renders rows into the file. Synchronous, so a slice costs no turn of the event loop. */
  write(rows: readonly FormatRow[]): void;
  /**
   * A page boundary: hands what is rendered to the blob, then waits until the file has no more
   * blocks on their way (and an encoder no more row groups) than it may have. A failed upload or
   * encoder rejects here. Never raced against `result`, which stays pending for the whole run.
   */
  flush(): Promise<void>;
  /** Writes the end of the file and starts committing it; the outcome is `result`. */
  end(): Promise<void>;
  /** Gives up: stops any encoder and commits nothing, so no blob is left. */
  abort(error: Error): void;
}

export interface FormatWriterOptions {
  readonly container: ContainerClient;
  /** The file's blob path. */
  readonly path: string;
  readonly signal: AbortSignal;
  readonly csvFormulaGuard: boolean;
  readonly csvBom: boolean;
}
