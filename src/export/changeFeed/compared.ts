import {
  changeFeedFields,
  isDateType,
  requireDataset,
  type DatasetDefinition,
  type FieldType,
} from "../../partnerCenter/datasets/index.js";
import { plainNumber } from "../typedValues.js";

/** How a compared value is compared: as text, as an instant (dates), or as a number. */
export const TEXT = 0;
export const INSTANT = 1;
export const NUMBER = 2;
type Comparison = typeof TEXT | typeof INSTANT | typeof NUMBER;

/**
 * What a dataset's change feed identifies a row by and compares (the registry's key and compared
 * fields, changeFeedFields), and how each value is compared. Everything in this folder takes one.
 */
export interface FeedShape {
  readonly dataset: DatasetDefinition["id"];
  readonly keyFields: readonly string[];
  readonly keyTypes: readonly FieldType[];
  /** Fields whose change makes a row "changed", in column order. */
  readonly comparedFields: readonly string[];
  readonly comparedTypes: readonly FieldType[];
  readonly comparisons: readonly Comparison[];
}

function comparisonOf(type: FieldType): Comparison {
  if (isDateType(type)) return INSTANT;
  return type === "integer" || type === "decimal" ? NUMBER : TEXT;
}

/** The change feed's shape of a dataset; undefined when its rows have no key. */
export function feedShapeOf(dataset: DatasetDefinition): FeedShape | undefined {
  const fields = changeFeedFields(dataset);
  if (!fields) return undefined;
  return {
    dataset: dataset.id,
    keyFields: fields.key.map((f) => f.name),
    keyTypes: fields.key.map((f) => f.type),
    comparedFields: fields.compared.map((f) => f.name),
    comparedTypes: fields.compared.map((f) => f.type),
    comparisons: fields.compared.map((f) => comparisonOf(f.type)),
  };
}

/** Referrals: identified by id, "changed" when the status or a date differs. */
export const REFERRALS_FEED = feedShapeOf(requireDataset("referrals")) as FeedShape;

/** A referral counts as "changed" when one of these differs; other fields are not compared. */
export const COMPARED_FIELDS: readonly string[] = REFERRALS_FEED.comparedFields;

/** The compared fields of one row, in the shape's order. */
export type Compared = readonly (string | null)[];

/** A field as the feed compares and writes it: text, or null when empty. */
export function fieldText(value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * A row's key as one text: the key field itself when there is one (a referral's id), else its
 * fields' texts as a JSON array, which no two different keys share. Null when the row has no key.
 */
export function keyOf(
  row: Readonly<Record<string, unknown>>,
  shape: FeedShape = REFERRALS_FEED,
): string | null {
  const fields = shape.keyFields;
  if (fields.length === 1) return fieldText(row[fields[0] as string]);
  return keyFromParts(fields.map((f) => fieldText(row[f])));
}

/** The key text of a key's field texts (see keyOf). */
export function keyFromParts(parts: readonly (string | null)[]): string | null {
  if (parts.length === 1) return parts[0] ?? null;
  return parts.every((p) => p === null) ? null : JSON.stringify(parts);
}

/** The key fields' texts back from a key text. */
export function keyParts(key: string, shape: FeedShape): readonly (string | null)[] {
  if (shape.keyFields.length === 1) return [key];
  const parts: unknown = JSON.parse(key);
  if (
    !Array.isArray(parts) ||
    parts.length !== shape.keyFields.length ||
    !parts.every((p) => p === null || typeof p === "string")
  )
    throw new Error(`a change feed key does not have the fields ${shape.keyFields.join(", ")}`);
  return parts as (string | null)[];
}

/** The compared fields of a row. */
export function comparedOf(
  row: Readonly<Record<string, unknown>>,
  shape: FeedShape = REFERRALS_FEED,
): Compared {
  // A plain loop: this runs for every row of every raw run (the baseline needs it).
  const fields = shape.comparedFields;
  const values: (string | null)[] = new Array<string | null>(fields.length);
  for (let i = 0; i < fields.length; i++) values[i] = fieldText(row[fields[i] as string]);
  return values;
}

/**
 * Dates are compared as instants, so a change of notation (CSV vs JSON, milliseconds) is no change.
 * Dates as the product writes them are taken as they are: this runs for every date of every row of
 * both snapshots, and `Date.parse` there was most of the feed's cost.
 */
export function instantText(value: string): string {
  // The product's own notation (the exporter normalises every date to it), told by its separators
  // alone: a regular expression here was a tenth of a nightly run. Anything else is parsed.
  if (
    value.length === 20 &&
    value.charCodeAt(19) === 90 /* Z */ &&
    value.charCodeAt(10) === 84 /* T */ &&
    value.charCodeAt(4) === 45 /* - */ &&
    value.charCodeAt(7) === 45 /* - */ &&
    value.charCodeAt(13) === 58 /* : */ &&
    value.charCodeAt(16) === 58 /* : */
  )
    return value;
  // The typed datasets' notation (milliseconds): whole seconds are the same instant without them.
  if (value.length === 24 && value.endsWith(".000Z") && value.charCodeAt(10) === 84 /* T */)
    return `${value.slice(0, 19)}Z`;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString().replace(".000Z", "Z");
}

/** Numbers are compared by value, so `10`, `10.0` (a decimal as the CSV writes it) and `1e1` are one. */
function numberText(value: string): string {
  const n = Number(value);
  return Number.isFinite(n) ? plainNumber(n) : value;
}

/** A compared value as it is compared (see FeedShape.comparisons). */
export function comparable(comparison: number, value: string): string {
  return comparison === TEXT ? value : comparison === INSTANT ? instantText(value) : numberText(value);
}

/** Whether the compared field at `index` differs between two snapshots. */
export function differs(
  index: number,
  before: string | null,
  after: string | null,
  shape: FeedShape = REFERRALS_FEED,
): boolean {
  if (before === null || after === null) return before !== after;
  const comparison = shape.comparisons[index] ?? TEXT;
  return comparison === TEXT
    ? before !== after
    : comparable(comparison, before) !== comparable(comparison, after);
}

/** The fields that differ between two rows' compared values. */
export function changedFields(before: Compared, after: Compared, shape: FeedShape): string[] {
  return shape.comparedFields.filter((_, i) => differs(i, before[i] ?? null, after[i] ?? null, shape));
}
