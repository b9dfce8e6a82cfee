import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import type { ColumnSchema } from "./schema.js";

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]["schema"][number];

/**
 * Rows per row group: one Partner Center page. The encoder holds each column of a group several
 * times over while it encodes, so the group size, not the row count, sets Parquet's share of
 * memory (measured: ~30 MB at 10,000 rows, ~75 MB at 20,000); readers still get groups of about
 * 400 KB, with statistics to skip them by.
 */
export const PARQUET_ROW_GROUP_ROWS = 10_000;
/** A group also closes at this many bytes of text, so unusually long values cannot blow it up. */
export const PARQUET_ROW_GROUP_TEXT_BYTES = 4 * 1024 * 1024;

export interface ParquetFormatOptions {
  readonly columns: readonly ColumnSchema[];
  readonly rowGroupRows?: number;
  readonly rowGroupTextBytes?: number;
  readonly createdBy?: string;
}

/** Keeps what hyparquet writes until the caller takes it; the buffer is reused after each group. */
class ChunkWriter extends ByteWriter {
  private chunks: Buffer[] = [];

  flush(): void {
    if (this.index === 0) return;
    this.chunks.push(Buffer.from(this.buffer.slice(0, this.index)));
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }

  take(): Buffer[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }
}

function schemaElement(column: ColumnSchema): SchemaElement {
  const repetition_type = column.nullable ? "OPTIONAL" : "REQUIRED";
  switch (column.type) {
    case "timestamp":
      // Instants in UTC: readers show TIMESTAMP WITH TIME ZONE (DuckDB) / TimestampType (Spark).
      return {
        name: column.name,
        type: "INT64",
        converted_type: "TIMESTAMP_MILLIS",
        logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" },
        repetition_type,
      };
    case "int64":
      // Plain INT64 is a signed 64-bit integer to every reader.
      return { name: column.name, type: "INT64", repetition_type };
    case "string":
      return {
        name: column.name,
        type: "BYTE_ARRAY",
        converted_type: "UTF8",
        logical_type: { type: "STRING" },
        repetition_type,
      };
  }
}

type Converter = (value: unknown) => string | number | bigint | null;

function fail(column: ColumnSchema, value: unknown): never {
  const text = typeof value === "string" ? `'${value}'` : JSON.stringify(value);
  throw new TypeError(`Parquet column '${column.name}' (${column.type}) cannot hold ${text}`);
}

function toText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  // Objects as JSON, as the CSV writes them.
  return typeof v === "object" ? JSON.stringify(v) : null;
}

function converter(column: ColumnSchema): Converter {
  switch (column.type) {
    case "string":
      return toText;
    case "timestamp":
      return (v) => {
        if (v === null || v === undefined) return null;
        // Rows are normalised before they get here, so dates are RFC 3339 UTC text.
        const ms = typeof v === "string" ? Date.parse(v) : Number.NaN;
        return Number.isNaN(ms) ? fail(column, v) : ms;
      };
    case "int64":
      return (v) => {
        if (v === null || v === undefined) return null;
        if (typeof v === "bigint") return v;
        if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
        if (typeof v === "string" && /^-?\d{1,19}$/.test(v)) return BigInt(v);
        return fail(column, v);
      };
  }
}

/**
 * Renders a Parquet file a page of rows at a time. Rows are held column by column until a row
 * group fills up, then encoded; the encoded bytes wait in `take()` until the caller sends them on.
 * Shaped like the text formats' page formatters, so the exporter drives all formats alike.
 */
export class ParquetPages {
  private readonly columns: readonly ColumnSchema[];
  private readonly convert: readonly Converter[];
  private readonly groupRows: number;
  private readonly groupBytes: number;
  private readonly writer = new ChunkWriter(1 << 20);
  private readonly parquet: ParquetWriter;
  private values: (string | number | bigint | null)[][];
  private rowsInGroup = 0;
  private textBytes = 0;

  constructor(options: ParquetFormatOptions) {
    this.columns = [...options.columns];
    this.convert = this.columns.map(converter);
    this.groupRows = options.rowGroupRows ?? PARQUET_ROW_GROUP_ROWS;
    this.groupBytes = options.rowGroupTextBytes ?? PARQUET_ROW_GROUP_TEXT_BYTES;
    this.values = this.newGroup();
    this.parquet = new ParquetWriter({
      writer: this.writer,
      schema: [{ name: "root", num_children: this.columns.length }, ...this.columns.map(schemaElement)],
      createdBy: options.createdBy ?? "referrals-export",
    });
  }

  /** Takes a page of rows; a row group is encoded whenever one fills up. */
  format(rows: readonly Readonly<Record<string, unknown>>[]): void {
    const { columns, convert } = this;
    const width = columns.length;
    for (const row of rows) {
      // this.values, not a local: a group that closes mid-page starts new arrays.
      const values = this.values;
      const at = this.rowsInGroup;
      for (let j = 0; j < width; j++) {
        const value = (convert[j] as Converter)(row[(columns[j] as ColumnSchema).name]);
        if (typeof value === "string") this.textBytes += value.length;
        (values[j] as unknown[])[at] = value;
      }
      if (++this.rowsInGroup >= this.groupRows || this.textBytes >= this.groupBytes) this.closeGroup();
    }
  }

  /** Encodes the last row group and the footer. */
  end(): void {
    this.closeGroup();
    void this.parquet.finish();
  }

  /** The bytes encoded since the last call. */
  take(): Buffer[] {
    return this.writer.take();
  }

  /** Parquet is built from rows, never from text. */
  readonly append = (): void => {
    throw new TypeError("a Parquet file takes rows, not text");
  };

  /** Arrays of a group's full size up front: growing them row by row would copy them over and over. */
  private newGroup(): (string | number | bigint | null)[][] {
    return this.columns.map(() => new Array<string | number | bigint | null>(this.groupRows).fill(null));
  }

  private closeGroup(): void {
    if (this.rowsInGroup === 0) return;
    const rows = this.rowsInGroup;
    // The writer's flush is synchronous, so write() encodes the group and flushes it before returning.
    void this.parquet.write({
      columnData: this.columns.map((c, j) => {
        const data = this.values[j] ?? [];
        data.length = rows; // a group closed early by its text size is shorter than the arrays
        return { name: c.name, data };
      }),
      rowGroupSize: rows,
    });
    this.values = this.newGroup();
    this.rowsInGroup = 0;
    this.textBytes = 0;
  }
}
