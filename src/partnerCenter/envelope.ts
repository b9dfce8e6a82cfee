import { z } from "zod";
import { DATE_FIELDS, REFERRAL_FIELDS, type ReferralRow } from "./fields.js";

/** One page as Partner Center returned it, after validation. */
export interface ReferralPage {
  readonly rows: ReferralRow[];
  readonly nextLink?: string;
  readonly totalCount?: number;
}

export class EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvelopeError";
  }
}

const rowSchema = z.record(z.string(), z.unknown());
const nullableText = z.union([z.string(), z.null(), z.undefined()]);
const idSchema = z.union([z.string().min(1), z.number().int()]);
// Partner Center sends `2018-02-07T23:43:19`; tolerate fractions and an explicit zone.
const PARTNER_DATE =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;

const DATE_SET: ReadonlySet<string> = new Set(DATE_FIELDS);
const TEXT_FIELDS = REFERRAL_FIELDS.filter((f) => f !== "id" && !DATE_SET.has(f));

function pick(obj: Record<string, unknown>, names: readonly string[]): unknown {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  for (const [key, value] of Object.entries(obj)) if (wanted.has(key.toLowerCase())) return value;
  return undefined;
}

/**
 * Reads a page envelope case-insensitively (`Value`/`value`, `@nextLink`/`@odata.nextLink`,
 * `TotalCount`/`totalCount`) or a bare array, and validates each row. `grouped` pages hold
 * group keys and a count instead of referrals, so only their shape is checked.
 */
export function parseReferralPage(body: unknown, grouped: boolean): ReferralPage {
  let rawRows: unknown;
  let nextLink: unknown;
  let totalCount: unknown;
  if (Array.isArray(body)) {
    rawRows = body;
  } else if (body !== null && typeof body === "object") {
    const obj = body as Record<string, unknown>;
    rawRows = pick(obj, ["value"]);
    nextLink = pick(obj, ["@nextLink", "@odata.nextLink", "nextLink"]);
    totalCount = pick(obj, ["TotalCount", "@odata.count"]);
    if (rawRows === undefined) throw new EnvelopeError("response has no 'Value' array");
  } else {
    throw new EnvelopeError("response is neither an object nor an array");
  }
  if (!Array.isArray(rawRows)) throw new EnvelopeError("'Value' is not an array");
  if (nextLink !== undefined && nextLink !== null && (typeof nextLink !== "string" || nextLink === ""))
    throw new EnvelopeError("'@nextLink' is not a string");
  let total: number | undefined;
  if (totalCount !== undefined && totalCount !== null) {
    total = typeof totalCount === "string" ? Number(totalCount) : (totalCount as number);
    if (typeof total !== "number" || !Number.isInteger(total) || total < 0)
      throw new EnvelopeError("'TotalCount' is not a whole number");
  }

  const rows: ReferralRow[] = new Array<ReferralRow>(rawRows.length);
  for (let i = 0; i < rawRows.length; i++) {
    const parsed = rowSchema.safeParse(rawRows[i]);
    if (!parsed.success) throw new EnvelopeError(`row ${i} is not an object`);
    const row = parsed.data;
    if (!grouped) checkReferral(row, i);
    rows[i] = row;
  }
  return {
    rows,
    ...(typeof nextLink === "string" ? { nextLink } : {}),
    ...(total !== undefined ? { totalCount: total } : {}),
  };
}

function checkReferral(row: Record<string, unknown>, index: number): void {
  if (!idSchema.safeParse(row.id).success) throw new EnvelopeError(`row ${index} has no valid 'id'`);
  for (const field of TEXT_FIELDS) {
    if (!nullableText.safeParse(row[field]).success)
      throw new EnvelopeError(`row ${index} field '${field}' is not a string or null`);
  }
  for (const field of DATE_FIELDS) {
    const value = row[field];
    if (value === null || value === undefined) continue;
    if (typeof value !== "string" || !PARTNER_DATE.test(value))
      throw new EnvelopeError(
        `row ${index} field '${field}' is not a date: ${JSON.stringify(value).slice(0, 40)}`,
      );
  }
}
