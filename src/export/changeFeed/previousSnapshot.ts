import type { ContainerClient } from "@azure/storage-blob";
import { blobText } from "../blobs/blobText.js";
import { csvRecords } from "../formats/csvReader.js";
import { jsonArrayObjects } from "../formats/jsonReader.js";
import type { LatestManifest } from "../latestManifest.js";
import { comparedOf, fieldText, keyFromParts, keyOf, type Compared, type FeedShape } from "./compared.js";

/** A row of the previous snapshot: its key (compared.ts: keyOf) and compared fields. */
export interface SnapshotRow {
  readonly id: string | null;
  readonly values: Compared;
}

/**
 * The CSV's spreadsheet guard undone: a value the writer prefixed with `'` (because it began with
 * `=`, `+`, `-`, `@`, tab or CR) compares as the original. Only CSVs of runs before baselines
 * existed are read, and only when the run wrote no JSON.
 */
function unguarded(value: string | undefined): string | undefined {
  return value !== undefined &&
    value.length > 1 &&
    value.charCodeAt(0) === 39 &&
    "=+-@\t\r".includes(value.charAt(1))
    ? value.slice(1)
    : value;
}

/** Rows of a CSV file, the key and compared fields found by the header. */
async function* csvRows(chunks: AsyncIterable<string>, shape: FeedShape): AsyncGenerator<SnapshotRow[]> {
  let keys: readonly number[] | undefined;
  let compared: readonly number[] = [];
  const cell = (record: readonly string[], i: number): string | null =>
    i < 0 ? null : fieldText(unguarded(record[i]));
  for await (const records of csvRecords(chunks)) {
    const rows: SnapshotRow[] = [];
    for (const record of records) {
      if (!keys) {
        keys = shape.keyFields.map((name) => record.indexOf(name));
        compared = shape.comparedFields.map((name) => record.indexOf(name));
        continue;
      }
      const values = compared.map((i) => cell(record, i));
      rows.push({ id: keyFromParts(keys.map((i) => cell(record, i))), values });
    }
    if (rows.length > 0) yield rows;
  }
}

async function* jsonRows(chunks: AsyncIterable<string>, shape: FeedShape): AsyncGenerator<SnapshotRow[]> {
  for await (const objects of jsonArrayObjects(chunks))
    yield objects.map((row) => ({ id: keyOf(row, shape), values: comparedOf(row, shape) }));
}

/** The data file of the previous snapshot that the feed compares with. */
export interface SnapshotFile {
  readonly path: string;
  readonly format: "csv" | "json";
  readonly rowCount: number;
}

/** The previous snapshot's rows, a downloaded chunk's worth at a time. */
export function snapshotRows(
  container: ContainerClient,
  file: SnapshotFile,
  shape: FeedShape,
  signal: AbortSignal,
): AsyncGenerator<SnapshotRow[]> {
  const chunks = blobText(container, file.path, signal);
  return file.format === "json" ? jsonRows(chunks, shape) : csvRows(chunks, shape);
}

/**
 * For a previous run without a baseline (an earlier version): its JSON file, which holds the
 * original values, in preference to its CSV, whose values may carry the spreadsheet guard.
 */
export function comparableFile(manifest: LatestManifest): SnapshotFile | undefined {
  for (const format of ["json", "csv"] as const) {
    const file = manifest.files.find((f) => f.format === format);
    if (file) return { path: file.path, format, rowCount: manifest.rowCount ?? 0 };
  }
  return undefined;
}
