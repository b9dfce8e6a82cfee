import { isDateField, type AggregationLevel, type ReferralField } from "../partnerCenter/fields.js";
import type { Referral } from "./dataset.js";
import { comparableDate } from "./filterEval.js";

export type GroupKey = string | null;
/** One group: the groupby keys in groupby order, then the count field. */
export type GroupRow = Readonly<Record<string, string | number | null>>;

export interface GroupingOptions {
  readonly groupby: readonly ReferralField[];
  /** Applies to every date field in groupby; without it dates are grouped by day. */
  readonly aggregationLevel?: AggregationLevel;
  /** Partner Center does not document the count's name; default `referralCount`. */
  readonly countField?: string;
  /** Send the count as a string, as some analytics endpoints do. */
  readonly countAsString?: boolean;
}

export const DEFAULT_COUNT_FIELD = "referralCount";

/** The bucket a date falls in: the day, the Monday of its ISO week, or the first of its month. */
export function bucketDate(value: unknown, level: AggregationLevel): GroupKey {
  const date = comparableDate(value);
  if (date === null) return null;
  const day = date.slice(0, 10);
  if (level === "day") return `${day}T00:00:00`;
  if (level === "month") return `${day.slice(0, 7)}-01T00:00:00`;
  const ms = Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
  const sinceMonday = (new Date(ms).getUTCDay() + 6) % 7;
  return `${new Date(ms - sinceMonday * 86_400_000).toISOString().slice(0, 10)}T00:00:00`;
}

function compareKeys(a: readonly GroupKey[], b: readonly GroupKey[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

export interface Grouper {
  add(row: Referral): void;
  /** Groups sorted by their keys (null first, then code-unit order), field by field. */
  result(): GroupRow[];
}

/** Counts rows per group as they stream past; memory grows with the number of groups only. */
export function createGrouper(options: GroupingOptions): Grouper {
  const countField = options.countField ?? DEFAULT_COUNT_FIELD;
  if (countField === "" || options.groupby.some((f) => f === countField)) {
    throw new Error(`count field '${countField}' must be non-empty and not a groupby field`);
  }
  const level = options.aggregationLevel ?? "day";
  const extractors = options.groupby.map((field) =>
    isDateField(field)
      ? (row: Referral): GroupKey => bucketDate(row[field], level)
      : (row: Referral): GroupKey => {
          const value: unknown = row[field];
          return value === null || value === undefined
            ? null
            : typeof value === "string"
              ? value
              : JSON.stringify(value);
        },
  );
  const groups = new Map<string, { keys: GroupKey[]; count: number }>();

  return {
    add(row) {
      const keys = extractors.map((extract) => extract(row));
      const id = JSON.stringify(keys);
      const group = groups.get(id);
      if (group) group.count++;
      else groups.set(id, { keys, count: 1 });
    },
    result() {
      const sorted = [...groups.values()].sort((a, b) => compareKeys(a.keys, b.keys));
      return sorted.map(({ keys, count }) => {
        const row: Record<string, string | number | null> = {};
        options.groupby.forEach((field, i) => {
          row[field] = keys[i] ?? null;
        });
        row[countField] = options.countAsString === true ? String(count) : count;
        return row;
      });
    },
  };
}

export function groupRows(rows: Iterable<Referral>, options: GroupingOptions): GroupRow[] {
  const grouper = createGrouper(options);
  for (const row of rows) grouper.add(row);
  return grouper.result();
}
