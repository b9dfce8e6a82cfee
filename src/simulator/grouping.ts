import { datasetField, isDateType, type DatasetDefinition } from "../partnerCenter/datasets/index.js";
import { isDateField, type AggregationLevel } from "../partnerCenter/fields.js";
import { comparableDate } from "./filterEval.js";
import { readField, type SimRow } from "./rowTable.js";

export type GroupKey = string | null;
export type GroupValue = string | number | boolean | null;
/** One group: the groupby keys in groupby order, then the count field or the measures. */
export type GroupRow = Readonly<Record<string, GroupValue>>;

/** Sums that grouped rows carry beside their keys, for datasets that document measures. */
export interface GroupMeasures {
  /** In the order grouped rows list them. */
  readonly fields: readonly string[];
  /** What one row adds to a measure. */
  contribution(row: SimRow, measure: string): number;
  /** How a grouped row writes a measure's total (some endpoints send counts as strings). */
  write(measure: string, total: number): string | number;
}

export interface GroupingOptions {
  readonly groupby: readonly string[];
  /** Applies to every date field in groupby; without it dates are grouped by day. */
  readonly aggregationLevel?: AggregationLevel;
  /** Partner Center does not document the count's name; default `referralCount`. */
  readonly countField?: string;
  /** Send the count as a string, as some analytics endpoints do. */
  readonly countAsString?: boolean;
  /** Whose field types and aliases apply; referrals' when absent. */
  readonly dataset?: DatasetDefinition;
  /** Grouped rows carry these sums instead of a count. */
  readonly measures?: GroupMeasures;
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
  add(row: SimRow): void;
  /** Groups sorted by their keys (null first, then code-unit order), field by field. */
  result(): GroupRow[];
}

/** A group's key for sorting, and the value its grouped row shows. */
type Extractor = (row: SimRow) => readonly [GroupKey, GroupValue];

function sortKey(value: unknown): GroupKey {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

function extractors(options: GroupingOptions, level: AggregationLevel): Extractor[] {
  const { dataset } = options;
  if (dataset === undefined) {
    // Referrals: every groupable field is text or a date, shown as its key.
    return options.groupby.map((field) =>
      isDateField(field)
        ? (row: SimRow) => {
            const key = bucketDate(row[field], level);
            return [key, key] as const;
          }
        : (row: SimRow) => {
            const key = sortKey(row[field]);
            return [key, key] as const;
          },
    );
  }
  return options.groupby.map((field) => {
    const known = datasetField(dataset, field);
    const aliases = known?.aliases;
    if (known !== undefined && isDateType(known.type)) {
      return (row: SimRow) => {
        const key = bucketDate(readField(row, field, aliases), level);
        return [key, key] as const;
      };
    }
    // Booleans and numbers keep their type in the grouped row.
    return (row: SimRow) => {
      const value = readField(row, field, aliases);
      const shown: GroupValue =
        typeof value === "string" || typeof value === "number" || typeof value === "boolean"
          ? value
          : value === null || value === undefined
            ? null
            : JSON.stringify(value);
      return [sortKey(value), shown] as const;
    };
  });
}

interface Group {
  readonly keys: GroupKey[];
  readonly values: GroupValue[];
  count: number;
  readonly sums: number[];
}

/** Counts rows (or sums measures) per group as they stream past; memory grows with the groups only. */
export function createGrouper(options: GroupingOptions): Grouper {
  const measures =
    options.measures !== undefined && options.measures.fields.length > 0 ? options.measures : undefined;
  const countField = options.countField ?? DEFAULT_COUNT_FIELD;
  if (measures === undefined && (countField === "" || options.groupby.some((f) => f === countField))) {
    throw new Error(`count field '${countField}' must be non-empty and not a groupby field`);
  }
  const level = options.aggregationLevel ?? "day";
  const extract = extractors(options, level);
  const groups = new Map<string, Group>();

  return {
    add(row) {
      const keys: GroupKey[] = [];
      const values: GroupValue[] = [];
      for (const extractor of extract) {
        const [key, value] = extractor(row);
        keys.push(key);
        values.push(value);
      }
      const id = JSON.stringify(keys);
      let group = groups.get(id);
      if (group === undefined) {
        group = { keys, values, count: 0, sums: measures === undefined ? [] : measures.fields.map(() => 0) };
        groups.set(id, group);
      }
      group.count++;
      if (measures !== undefined) {
        const { sums } = group;
        measures.fields.forEach((field, i) => {
          sums[i] = (sums[i] ?? 0) + measures.contribution(row, field);
        });
      }
    },
    result() {
      const sorted = [...groups.values()].sort((a, b) => compareKeys(a.keys, b.keys));
      return sorted.map(({ values, count, sums }) => {
        const row: Record<string, GroupValue> = {};
        options.groupby.forEach((field, i) => {
          row[field] = values[i] ?? null;
        });
        if (measures === undefined) {
          row[countField] = options.countAsString === true ? String(count) : count;
        } else {
          measures.fields.forEach((field, i) => {
            row[field] = measures.write(field, sums[i] ?? 0);
          });
        }
        return row;
      });
    },
  };
}

export function groupRows(rows: Iterable<SimRow>, options: GroupingOptions): GroupRow[] {
  const grouper = createGrouper(options);
  for (const row of rows) grouper.add(row);
  return grouper.result();
}
