import { DATE_FIELDS } from "../../partnerCenter/fields.js";

/** A referral counts as "changed" when one of these differs; other fields are not compared. */
export const COMPARED_FIELDS = ["status", ...DATE_FIELDS] as const;

/** Status and dates of one referral, in COMPARED_FIELDS order. */
export type Compared = readonly (string | null)[];

/** Where the dates start in Compared (the status comes first). */
export const DATE_OFFSET = 1;

/** A field as the feed compares and writes it: text, or null when empty. */
export function fieldText(value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The compared fields of a row. */
export function comparedOf(row: Readonly<Record<string, unknown>>): Compared {
  // A plain loop: this runs for every referral of every raw run (the baseline needs it).
  const values: (string | null)[] = new Array<string | null>(COMPARED_FIELDS.length);
  for (let i = 0; i < COMPARED_FIELDS.length; i++) values[i] = fieldText(row[COMPARED_FIELDS[i] as string]);
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
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString().replace(".000Z", "Z");
}

/** Whether the compared field at `index` differs between two snapshots. */
export function differs(index: number, before: string | null, after: string | null): boolean {
  if (before === null || after === null) return before !== after;
  return index < DATE_OFFSET ? before !== after : instantText(before) !== instantText(after);
}
