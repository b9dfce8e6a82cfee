/**
 * One normaliser per column type: what Partner Center sends (numbers as strings, ids as numbers,
 * date-only timestamps, offsets) becomes the value every format writes, and anything else is refused.
 * The referrals fast path (normalize.ts) does not go through here.
 */
import type { FieldType } from "../partnerCenter/datasets/index.js";

/** A value a column's type cannot hold; the exporter names the page, row and field. */
export class FieldValueError extends Error {
  override readonly name = "FieldValueError";
}

/** A normaliser: null for "no value", the typed value otherwise; throws FieldValueError for garbage. */
export type ValueNormalizer = (value: unknown) => unknown;

/**
 * A number as plain decimal text: no exponent (`1e-7` is `0.0000001`, `1e21` is
 * `1000000000000000000000`), no grouping. NaN and the infinities keep their names.
 */
export function plainNumber(value: number): string {
  const text = String(value);
  const e = text.indexOf("e");
  if (e < 0) return text;
  const negative = text.startsWith("-");
  const mantissa = text.slice(negative ? 1 : 0, e);
  const exponent = Number(text.slice(e + 1));
  const point = mantissa.indexOf(".");
  const digits = point < 0 ? mantissa : mantissa.slice(0, point) + mantissa.slice(point + 1);
  // Where the decimal point falls in `digits` once the exponent is applied.
  const at = (point < 0 ? mantissa.length : point) + exponent;
  const body =
    at <= 0
      ? `0.${"0".repeat(-at)}${digits}`
      : at >= digits.length
        ? digits + "0".repeat(at - digits.length)
        : `${digits.slice(0, at)}.${digits.slice(at)}`;
  return negative ? `-${body}` : body;
}

/**
 * A decimal as text that says it is one: plain digits with at least one fractional digit (`10.0`,
 * `0.36`), so CSV and JSON readers that guess types (DuckDB, pandas) see a floating-point column even
 * when every value happens to be whole.
 */
export function decimalText(value: number): string {
  const text = plainNumber(value);
  return Number.isFinite(value) && !text.includes(".") ? `${text}.0` : text;
}

function shown(value: unknown): string {
  // JSON.stringify gives undefined for what JSON cannot hold (a function, a symbol).
  const text = (JSON.stringify(value) as string | undefined) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function refuse(what: string, value: unknown): never {
  throw new FieldValueError(`is not ${what}: ${shown(value)}`);
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Milliseconds since the epoch of an ISO 8601 / RFC 3339 timestamp (`2018-02-07T23:43:19`,
 * `…19.037`, `…19.36+00:00`, `…19Z`, or a date alone, which is midnight); no zone means UTC, as
 * Partner Center writes them. Undefined for anything else, including impossible dates (02-30).
 */
export function timestampMillis(text: string): number | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", zone = "Z"] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: years 0-99 are years, not 1900-1999 (Partner Center writes year 1).
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCDate() !== day) return undefined;
  let ms =
    date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000 + Number(frac.padEnd(3, "0").slice(0, 3));
  if (zone.toUpperCase() !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offsetHours = Number(digits.slice(0, 2));
    const offsetMinutes = Number(digits.slice(2));
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    ms -= sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  return ms;
}

const MAX_TIMESTAMP_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MIN_TIMESTAMP_MS = new Date("0001-01-01T00:00:00Z").getTime();

/**
 * RFC 3339 UTC with milliseconds, always (`2018-02-07T23:43:19.000Z`): one shape per column, so a
 * reader that guesses types from the text (DuckDB's JSON reader) sees timestamps even when some
 * values carry fractions and others do not.
 */
export function normalizeTimestamp(value: unknown): string {
  if (typeof value !== "string") return refuse("a timestamp", value);
  const ms = timestampMillis(value);
  if (ms === undefined || ms < MIN_TIMESTAMP_MS || ms > MAX_TIMESTAMP_MS) return refuse("a timestamp", value);
  return new Date(ms).toISOString();
}

const DAY_MS = 86_400_000;

/** A calendar date as `YYYY-MM-DD`; a timestamp is taken when it is midnight UTC. */
export function normalizeDate(value: unknown): string {
  if (typeof value !== "string") return refuse("a date", value);
  const ms = timestampMillis(value);
  if (ms === undefined || ms < MIN_TIMESTAMP_MS || ms > MAX_TIMESTAMP_MS) return refuse("a date", value);
  if (((ms % DAY_MS) + DAY_MS) % DAY_MS !== 0) return refuse("a date (it has a time of day)", value);
  return new Date(ms).toISOString().slice(0, 10);
}

const INTEGER_TEXT = /^[+-]?\d+$/;

/** A whole number, also from its decimal digits ("63"); refused beyond ±2^53, where doubles lose digits. */
export function normalizeInteger(value: unknown): number {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && INTEGER_TEXT.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isSafeInteger(n)) return refuse("a whole number", value);
  return n === 0 ? 0 : n; // no -0
}

const DECIMAL_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A finite number, also from its text ("0.36", "1e-7"). */
export function normalizeDecimal(value: unknown): number {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && DECIMAL_TEXT.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isFinite(n)) return refuse("a number", value);
  return n === 0 ? 0 : n;
}

/** true/false, also from the words in any case ("True"). */
export function normalizeBoolean(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") {
    const word = value.toLowerCase();
    if (word === "true") return true;
    if (word === "false") return false;
  }
  return refuse("true or false", value);
}

/** Text; a number (an MPN ID sent as 2604568) as its plain digits, a boolean as its word. */
export function normalizeText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return plainNumber(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  return refuse("text", value);
}

const BY_TYPE: Record<FieldType, ValueNormalizer> = {
  string: normalizeText,
  timestamp: normalizeTimestamp,
  date: normalizeDate,
  integer: normalizeInteger,
  decimal: normalizeDecimal,
  boolean: normalizeBoolean,
};

/**
 * The normaliser of a column of this type. Null and absent values are null; so is "" for every type
 * but text (no number, instant or truth value is written as nothing), and so is each of `sentinels`
 * (the dataset's values that stand for "none", such as year 1), compared as sent and, for
 * timestamps and dates, as the instant they name.
 */
export function valueNormalizer(type: FieldType, sentinels: readonly string[] = []): ValueNormalizer {
  const typed = BY_TYPE[type];
  const emptyIsNull = type !== "string";
  const sent: ReadonlySet<string> = new Set(sentinels);
  const instants: ReadonlySet<number> = new Set(
    type === "timestamp" || type === "date"
      ? sentinels.map(timestampMillis).filter((ms): ms is number => ms !== undefined)
      : [],
  );
  if (sent.size === 0)
    return (value) =>
      value === null || value === undefined || (emptyIsNull && value === "") ? null : typed(value);
  return (value) => {
    if (value === null || value === undefined || (emptyIsNull && value === "")) return null;
    if (typeof value === "string" && sent.has(value)) return null;
    const out = typed(value);
    if (instants.size > 0 && typeof out === "string" && instants.has(timestampMillis(out) ?? NaN))
      return null;
    return out;
  };
}
