import type { ContainerClient } from "@azure/storage-blob";
import type { FormatRow, FormatWriter } from "../formats/formatWriter.js";
import { openFormatWriter } from "../formats/openFormatWriter.js";
import { CHANGE_FEED_FORMATS, changesFileName, type ChangeFeedFormat } from "../layout.js";
import { manifestFiles, type ManifestFile } from "../manifest.js";
import type { FieldType } from "../../partnerCenter/datasets/index.js";
import { COLUMN_TYPES, type ColumnSchema } from "../schema.js";
import { keyParts, REFERRALS_FEED, type Compared, type FeedShape } from "./compared.js";

const previousName = (field: string): string => `previous${field.charAt(0).toUpperCase()}${field.slice(1)}`;

/**
 * Columns of changes.csv / changes.json: what happened, to which row (its key fields), which
 * compared fields differ, then each compared field as it is now and as it was in the previous
 * snapshot.
 */
export function changeColumns(shape: FeedShape): readonly string[] {
  return [
    "change",
    ...shape.keyFields,
    "changedFields",
    ...shape.comparedFields.flatMap((field) => [field, previousName(field)]),
  ];
}

/** The feed's columns typed, so the text formats write decimals as decimals (`10.0`). */
function changeSchema(shape: FeedShape): ColumnSchema[] {
  const types = new Map<string, FieldType>([
    ...shape.keyFields.map((f, i) => [f, shape.keyTypes[i] ?? "string"] as const),
    ...shape.comparedFields.flatMap((f, i) => {
      const type = shape.comparedTypes[i] ?? "string";
      return [[f, type] as const, [previousName(f), type] as const];
    }),
  ]);
  return changeColumns(shape).map((name) => ({
    name,
    type: COLUMN_TYPES[types.get(name) ?? "string"],
    nullable: true,
  }));
}

/** The referrals feed's columns. */
export const CHANGE_COLUMNS: readonly string[] = changeColumns(REFERRALS_FEED);

export type ChangeKind = "added" | "changed" | "removed";

/** A value as the feed writes it: numbers and booleans as such (the feed compares their text). */
function typed(value: string | null | undefined, type: FieldType | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (type === "integer" || type === "decimal") {
    const n = Number(value);
    return Number.isFinite(n) ? n : value;
  }
  if (type === "boolean") return value === "true" ? true : value === "false" ? false : value;
  return value;
}

/** `previousNames`: the compared fields' `previous…` columns, named once per feed rather than per row. */
function feedRow(
  shape: FeedShape,
  previousNames: readonly string[],
  change: ChangeKind,
  key: string,
  current: Compared | null,
  previous: Compared | null,
  changedFields: readonly string[],
): Record<string, unknown> {
  const row: Record<string, unknown> = { change };
  const parts = keyParts(key, shape);
  shape.keyFields.forEach((field, i) => {
    row[field] = typed(parts[i], shape.keyTypes[i]);
  });
  row.changedFields = changedFields;
  shape.comparedFields.forEach((field, i) => {
    const type = shape.comparedTypes[i];
    row[field] = typed(current?.[i], type);
    row[previousNames[i] as string] = typed(previous?.[i], type);
  });
  return row;
}

export interface FeedWriterOptions {
  readonly container: ContainerClient;
  /** The run folder the feed is written to. */
  readonly folder: string;
  readonly csvFormulaGuard: boolean;
  readonly csvBom: boolean;
  /** What the feed identifies rows by and compares (default: referrals). */
  readonly shape?: FeedShape;
}

/** A feed file and how a feed row goes into it. */
interface FeedFile {
  readonly writer: FormatWriter;
  write(row: FormatRow): void;
}

/** A feed file is written like the data files, by the same format writers. */
function openFeedFile(format: ChangeFeedFormat, options: FeedWriterOptions, signal: AbortSignal): FeedFile {
  const writer = openFormatWriter(format, changeSchema(options.shape ?? REFERRALS_FEED), {
    container: options.container,
    path: `${options.folder}${changesFileName(format)}`,
    signal,
    csvFormulaGuard: options.csvFormulaGuard,
    csvBom: options.csvBom,
  });
  return {
    writer,
    write:
      format === "csv"
        ? // A list does not fit a CSV cell: names are joined with ';'.
          (row) => {
            writer.write([{ ...row, changedFields: (row.changedFields as string[]).join(";") }]);
          }
        : (row) => {
            writer.write([row]);
          },
  };
}

/** Where the comparison writes the rows it finds. */
export interface FeedSink {
  write(
    change: ChangeKind,
    key: string,
    current: Compared | null,
    previous: Compared | null,
    changedFields: readonly string[],
  ): void;
  /** Waits while the rows written are still on their way. */
  drained(): Promise<void>;
}

/** changes.csv and changes.json of a run, a row at a time as changes are found. */
export class FeedWriter implements FeedSink {
  private readonly files: FeedFile[];
  private readonly shape: FeedShape;
  private readonly previousNames: readonly string[];
  /** Rejects with the first failed upload; pending otherwise. */
  private readonly failure: Promise<never>;
  /** Rows written since the last wait for the uploads. */
  private unsent = false;

  constructor(options: FeedWriterOptions, signal: AbortSignal) {
    this.shape = options.shape ?? REFERRALS_FEED;
    this.previousNames = this.shape.comparedFields.map(previousName);
    this.files = CHANGE_FEED_FORMATS.map((format) => openFeedFile(format, options, signal));
    this.failure = new Promise<never>((_, reject) => {
      for (const file of this.files) file.writer.result.catch(reject);
    });
    this.failure.catch(() => undefined);
  }

  write(
    change: ChangeKind,
    key: string,
    current: Compared | null,
    previous: Compared | null,
    changedFields: readonly string[],
  ): void {
    const row = feedRow(this.shape, this.previousNames, change, key, current, previous, changedFields);
    for (const file of this.files) file.write(row);
    this.unsent = true;
  }

  /**
   * Waits while a file's upload is behind, so at most a few blocks of feed are in memory; a failed
   * upload rejects. Not raced against `failure`: that promise stays pending for the whole run, and
   * every race would leave a reaction on it (a million rows read back at the end were 370 MB).
   */
  async drained(): Promise<void> {
    if (!this.unsent) return;
    this.unsent = false;
    await Promise.all(this.files.map(async (f) => f.writer.flush()));
  }

  /** Ends the files and waits for their commits: the manifest's entries for them. */
  async end(rowCount: number): Promise<ManifestFile[]> {
    for (const { writer } of this.files) await writer.end();
    const written = await Promise.race([Promise.all(this.files.map((f) => f.writer.result)), this.failure]);
    return manifestFiles(
      this.files.map((f) => f.writer),
      written,
      rowCount,
    );
  }

  /** Gives up: nothing of the feed is committed. Resolves once the uploads have settled. */
  async abort(error: Error): Promise<void> {
    for (const { writer } of this.files) writer.abort(error);
    await Promise.allSettled(this.files.map((f) => f.writer.result));
  }
}
