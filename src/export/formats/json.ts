import { Transform, type TransformCallback } from "node:stream";
import { decimalText } from "../typedValues.js";
import type { FormatRow, FormatWriter, FormatWriterOptions } from "./formatWriter.js";
import { TextFileWriter } from "./textFileWriter.js";

/**
 * Streams objects out as one JSON array, one row per line, without ever holding the
 * whole document.
 */
export class JsonArrayStream extends Transform {
  private first = true;

  constructor() {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: 1024 });
  }

  override _transform(row: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    const text = JSON.stringify(row);
    this.push(this.first ? `[\n${text}` : `,\n${text}`);
    this.first = false;
    done();
  }

  override _flush(done: TransformCallback): void {
    this.push(this.first ? "[]\n" : "\n]\n");
    done();
  }
}

/** Renders the same JSON array as JsonArrayStream, a page of rows per call. */
export class JsonArrayPages {
  private first = true;

  /** Writes these rows (the opening bracket comes with the first row). */
  format(rows: readonly unknown[], write: (text: string) => void): void {
    for (const row of rows) {
      write(this.first ? "[\n" : ",\n");
      write(JSON.stringify(row));
      this.first = false;
    }
  }

  /** Writes the closing text: `[]` when no row came. */
  end(write: (text: string) => void): void {
    write(this.first ? "[]\n" : "\n]\n");
  }
}

const MAX_CACHED_KEYS = 1_000;

/**
 * The same JSON array, with the decimals of `decimalColumns` written with a fractional digit even
 * when whole (`"quantity":20.0`), so that readers that guess types from the text (DuckDB) see
 * decimals. Everything else is what JSON.stringify writes, in the row's own key order.
 */
export class TypedJsonArrayPages {
  private first = true;
  private readonly decimals: ReadonlySet<string>;
  /** `"name":` of every key seen, JSON-escaped once. */
  private readonly keys = new Map<string, string>();

  constructor(decimalColumns: ReadonlySet<string>) {
    this.decimals = decimalColumns;
  }

  format(rows: readonly FormatRow[], write: (text: string) => void): void {
    for (const row of rows) {
      write(this.first ? "[\n" : ",\n");
      write(this.row(row));
      this.first = false;
    }
  }

  end(write: (text: string) => void): void {
    write(this.first ? "[]\n" : "\n]\n");
  }

  private row(row: FormatRow): string {
    let text = "";
    for (const key in row) {
      const value = row[key];
      // What JSON.stringify leaves out of an object.
      if (value === undefined || typeof value === "function" || typeof value === "symbol") continue;
      let name = this.keys.get(key);
      if (name === undefined) {
        name = `${JSON.stringify(key)}:`;
        // Columns and a few extra fields; an upstream that invents names per row is not cached.
        if (this.keys.size < MAX_CACHED_KEYS) this.keys.set(key, name);
      }
      const json =
        typeof value === "number" && Number.isFinite(value) && this.decimals.has(key)
          ? decimalText(value)
          : JSON.stringify(value);
      text += text === "" ? `{${name}${json}` : `,${name}${json}`;
    }
    return text === "" ? "{}" : `${text}}`;
  }
}

/** A JSON file of a run, rendered a page at a time into its blob; see TypedJsonArrayPages for decimals. */
export function openJsonFile(
  options: FormatWriterOptions,
  decimalColumns?: ReadonlySet<string>,
): FormatWriter {
  const pages =
    decimalColumns !== undefined && decimalColumns.size > 0
      ? new TypedJsonArrayPages(decimalColumns)
      : new JsonArrayPages();
  return new TextFileWriter("json", pages, options);
}
