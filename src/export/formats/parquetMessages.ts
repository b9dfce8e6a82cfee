/** What the exporter and its Parquet encoder thread (parquetWorker.ts) send each other: types only. */
import type { ParquetWriter } from "hyparquet-writer";

export type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]["schema"][number];

/** Given to the worker when it starts. */
export interface EncoderData {
  readonly schema: SchemaElement[];
  /** Column names, in schema order. */
  readonly names: string[];
  readonly createdBy: string;
}

/**
 * A row group's column in a form that crosses threads as a few copies of memory rather than a
 * structured clone of every value: strings as their UTF-8 bytes end to end plus each one's length
 * in bytes (-1: null), timestamps as milliseconds (NaN: null), dates as days since 1970-01-01
 * (NaN: null), doubles as themselves (NaN: null; NaN is never a value), integers with a presence
 * flag each, booleans as 0/1 (2: null).
 */
export type PackedColumn =
  | { readonly kind: "string"; readonly bytes: Uint8Array; readonly lengths: Int32Array }
  | { readonly kind: "timestamp"; readonly millis: Float64Array }
  | { readonly kind: "date"; readonly days: Float64Array }
  | { readonly kind: "double"; readonly values: Float64Array }
  | { readonly kind: "int64"; readonly values: BigInt64Array; readonly present: Uint8Array }
  | { readonly kind: "boolean"; readonly values: Uint8Array };

export type EncoderRequest =
  | { readonly type: "group"; readonly rows: number; readonly columns: PackedColumn[] }
  | { readonly type: "finish" };

/** The encoded bytes of a group (or of the footer), in file order. */
export interface EncoderReply {
  readonly type: EncoderRequest["type"];
  readonly chunks: ArrayBuffer[];
}
