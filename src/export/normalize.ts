import {
  DATE_FIELDS,
  REFERRAL_FIELDS,
  type ReferralField,
  type ReferralRow,
} from "../partnerCenter/fields.js";

const DATE_SET: ReadonlySet<string> = new Set(DATE_FIELDS);
const FIELD_SET: ReadonlySet<string> = new Set(REFERRAL_FIELDS);
const PLAIN = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2}))?(?:\.(\d{1,7}))?)?$/;
const SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

/**
 * Partner Center dates are UTC without a zone (`2018-02-07T23:43:19`); they become
 * RFC 3339 UTC (`2018-02-07T23:43:19Z`) so every reader agrees on the instant.
 */
export function toRfc3339Utc(value: string): string {
  if (value.length === 19 && SECONDS.test(value)) return `${value}Z`; // the usual shape; same result as below
  const m = PLAIN.exec(value);
  if (m) {
    const [, day, hm = "00:00", ss = "00", frac] = m;
    const ms = frac ? `.${frac.padEnd(3, "0").slice(0, 3)}` : "";
    return `${day}T${hm}:${ss}${ms}Z`;
  }
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw new Error(`'${value}' is not a date`);
  return new Date(parsed).toISOString().replace(".000Z", "Z");
}

export function normalizeDate(value: unknown): unknown {
  return typeof value === "string" ? toRfc3339Utc(value) : value;
}

/**
 * A referral with documented fields first (in CSV order), dates normalised, extras kept after.
 * `onExtra` hears the name of every field that is not documented (the CSV leaves those out).
 */
export function normalizeReferral(row: ReferralRow, onExtra?: (name: string) => void): ReferralRow {
  // One literal in REFERRAL_FIELDS order: every row gets the same shape, built in one step.
  const out: ReferralRow = {
    id: row.id === undefined ? null : idText(row.id),
    status: orNull(row.status),
    customerMarket: orNull(row.customerMarket),
    customerName: orNull(row.customerName),
    customerOrgSize: orNull(row.customerOrgSize),
    acceptedDate: dateOrNull(row.acceptedDate),
    acknowledgedDate: dateOrNull(row.acknowledgedDate),
    archivedDate: dateOrNull(row.archivedDate),
    declinedDate: dateOrNull(row.declinedDate),
    expiredDate: dateOrNull(row.expiredDate),
    lostDate: dateOrNull(row.lostDate),
    missedDate: dateOrNull(row.missedDate),
    createdDate: dateOrNull(row.createdDate),
    skippedDate: dateOrNull(row.skippedDate),
    wonDate: dateOrNull(row.wonDate),
    partnerMarket: orNull(row.partnerMarket),
  } satisfies Record<ReferralField, unknown>;
  // Extras keep their order. Rows come from JSON.parse: for-in sees their own keys only, and keys
  // in the documented order are matched by identity, without a lookup (this runs for every row).
  let next = 0;
  for (const key in row) {
    if (key === REFERRAL_FIELDS[next]) {
      next++;
      continue;
    }
    if (FIELD_SET.has(key)) continue;
    onExtra?.(key);
    // `in` rather than an own-key test, so names such as `constructor` stay out.
    if (!(key in out)) out[key] = row[key];
  }
  return out;
}

function orNull(value: unknown): unknown {
  return value === undefined ? null : value;
}

function dateOrNull(value: unknown): unknown {
  return value === undefined ? null : normalizeDate(value);
}

/**
 * A group row: date keys normalised, a numeric string count turned into a number. A field outside
 * `columns` (the group-by fields and the count) is kept for JSON and reported to `onExtra`, as the
 * CSV and Parquet files leave it out.
 */
export function normalizeGroupRow(
  row: ReferralRow,
  countField: string | undefined,
  columns: ReadonlySet<string>,
  onExtra?: (field: string) => void,
): ReferralRow {
  const out: ReferralRow = {};
  for (const [key, value] of Object.entries(row)) {
    if (!columns.has(key)) onExtra?.(key);
    if (DATE_SET.has(key)) out[key] = normalizeDate(value);
    else if (key === countField && typeof value === "string" && /^\d+$/.test(value)) out[key] = Number(value);
    else out[key] = value;
  }
  return out;
}

/** The count's field name is not documented: the first numeric (or numeric string) field that is not a key. */
export function findCountField(row: ReferralRow, groupby: readonly string[]): string | undefined {
  const keys = new Set(groupby);
  for (const [key, value] of Object.entries(row)) {
    if (keys.has(key)) continue;
    if (typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value))) return key;
  }
  return undefined;
}

function idText(value: unknown): string {
  return typeof value === "number" ? value.toString() : (value as string);
}
