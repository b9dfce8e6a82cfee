import type { DatasetField } from "../partnerCenter/datasets/index.js";
import { FieldValueError, valueNormalizer, type ValueNormalizer } from "./typedValues.js";

/** A row as the formats take it: the columns first, in order, then any extra field as it arrived. */
export type DatasetRow = Record<string, unknown>;

/** A value a column's type cannot hold, with the field it was sent in. */
export class RowValueError extends Error {
  override readonly name = "RowValueError";
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`field '${field}' ${detail}`);
  }
}

export interface RowNormalizerOptions {
  /** The dataset's values that stand for "none" (exported as null). */
  readonly nullSentinels?: readonly string[] | undefined;
  /** Hears the name of every field that is not a column (the CSV and Parquet files leave those out). */
  readonly onExtra?: ((name: string) => void) | undefined;
}

interface Column {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly normalize: ValueNormalizer;
}

/**
 * The normaliser of rows of any dataset but referrals (whose rows take normalize.ts's fast path):
 * each column's value under its documented name (or, when that is absent, under one of its aliases),
 * typed by the column's field type; fields that are not columns are kept after them, as they came.
 * Throws a RowValueError for a value its column's type cannot hold.
 */
export function createRowNormalizer(
  fields: readonly DatasetField[],
  options: RowNormalizerOptions = {},
): (raw: Readonly<Record<string, unknown>>) => DatasetRow {
  const columns: Column[] = fields.map((f) => ({
    name: f.name,
    aliases: f.aliases ?? [],
    normalize: valueNormalizer(f.type, options.nullSentinels),
  }));
  const known: ReadonlySet<string> = new Set(columns.flatMap((c) => [c.name, ...c.aliases]));
  const { onExtra } = options;
  return (raw) => {
    const out: DatasetRow = {};
    for (const column of columns) {
      let value = raw[column.name];
      if (value === undefined && column.aliases.length > 0) {
        for (const alias of column.aliases) {
          if (!Object.hasOwn(raw, alias)) continue;
          value = raw[alias];
          break;
        }
      }
      try {
        out[column.name] = column.normalize(value);
      } catch (error) {
        if (error instanceof FieldValueError) throw new RowValueError(column.name, error.message);
        throw error;
      }
    }
    for (const key in raw) {
      if (known.has(key)) continue;
      onExtra?.(key);
      // `in` rather than an own-key test, so names such as `constructor` stay out.
      if (!(key in out)) out[key] = raw[key];
    }
    return out;
  };
}
