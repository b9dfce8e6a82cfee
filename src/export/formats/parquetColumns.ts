/** Parquet's side of each column type: its schema element, its converter, and a row group's buffers. */
import type { PackedColumn, SchemaElement } from "./parquetMessages.js";
import type { ColumnSchema } from "../schema.js";

/** How the file's schema declares the column. */
export function schemaElement(column: ColumnSchema): SchemaElement {
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
    case "double":
      return { name: column.name, type: "DOUBLE", repetition_type };
    case "boolean":
      return { name: column.name, type: "BOOLEAN", repetition_type };
    case "date":
      // Days since 1970-01-01.
      return {
        name: column.name,
        type: "INT32",
        converted_type: "DATE",
        logical_type: { type: "DATE" },
        repetition_type,
      };
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

/** Turns a row's value into what the column holds; throws for a value it cannot hold. */
export type Converter = (value: unknown) => string | number | bigint | null;

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

/** The column's converter. */
export function converter(column: ColumnSchema): Converter {
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
    case "double":
      return (v) => {
        if (v === null || v === undefined) return null;
        // Rows are normalised before they get here, so decimals are finite numbers.
        return typeof v === "number" && Number.isFinite(v) ? v : fail(column, v);
      };
    case "boolean":
      return (v) => {
        if (v === null || v === undefined) return null;
        return typeof v === "boolean" ? (v ? 1 : 0) : fail(column, v);
      };
    case "date":
      return (v) => {
        if (v === null || v === undefined) return null;
        // Normalised dates are YYYY-MM-DD.
        const ms = typeof v === "string" && DATE_TEXT.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN;
        return Number.isNaN(ms) ? fail(column, v) : Math.round(ms / DAY_MS);
      };
  }
}

const DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/** Collects one column of a row group in the form it crosses to the encoder in. */
export interface ColumnBuilder {
  add(value: string | number | bigint | null, at: number): void;
  pack(rows: number): { column: PackedColumn; transfer: ArrayBuffer[] };
}

/** The column's buffers for a row group of up to `size` rows. */
export function builder(column: ColumnSchema, size: number): ColumnBuilder {
  switch (column.type) {
    case "string": {
      // UTF-8 straight into a buffer of the group's own (never a pooled one: it is handed over).
      let bytes = Buffer.allocUnsafeSlow(64 * 1024);
      let used = 0;
      const lengths = new Int32Array(size).fill(-1);
      return {
        add(value, at) {
          if (value === null) return;
          const text = value as string;
          if (used + text.length * 3 > bytes.length) {
            const grown = Buffer.allocUnsafeSlow(Math.max(bytes.length * 2, used + text.length * 3));
            bytes.copy(grown, 0, 0, used);
            bytes = grown;
          }
          const n = bytes.write(text, used, "utf8");
          used += n;
          lengths[at] = n;
        },
        pack: (rows) => {
          const part = rows === size ? lengths : lengths.slice(0, rows);
          const text = new Uint8Array(bytes.buffer, 0, used);
          return {
            column: { kind: "string", bytes: text, lengths: part },
            transfer: [bytes.buffer, part.buffer],
          };
        },
      };
    }
    case "timestamp": {
      const millis = new Float64Array(size).fill(Number.NaN);
      return {
        add(value, at) {
          if (value !== null) millis[at] = value as number;
        },
        pack: (rows) => {
          const part = rows === size ? millis : millis.slice(0, rows);
          return { column: { kind: "timestamp", millis: part }, transfer: [part.buffer] };
        },
      };
    }
    case "date":
    case "double": {
      const numbers = new Float64Array(size).fill(Number.NaN);
      const kind = column.type;
      return {
        add(value, at) {
          if (value !== null) numbers[at] = value as number;
        },
        pack: (rows) => {
          const part = rows === size ? numbers : numbers.slice(0, rows);
          const packed: PackedColumn =
            kind === "date" ? { kind: "date", days: part } : { kind: "double", values: part };
          return { column: packed, transfer: [part.buffer] };
        },
      };
    }
    case "boolean": {
      const values = new Uint8Array(size).fill(2);
      return {
        add(value, at) {
          if (value !== null) values[at] = value as number;
        },
        pack: (rows) => {
          const part = rows === size ? values : values.slice(0, rows);
          return { column: { kind: "boolean", values: part }, transfer: [part.buffer] };
        },
      };
    }
    case "int64": {
      const values = new BigInt64Array(size);
      const present = new Uint8Array(size);
      return {
        add(value, at) {
          if (value === null) return;
          values[at] = value as bigint;
          present[at] = 1;
        },
        pack: (rows) => {
          const v = rows === size ? values : values.slice(0, rows);
          const p = rows === size ? present : present.slice(0, rows);
          return { column: { kind: "int64", values: v, present: p }, transfer: [v.buffer, p.buffer] };
        },
      };
    }
  }
}
