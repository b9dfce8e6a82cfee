import { checkIndex } from "./dataset.js";

/** One row exactly as the simulated service serves it (ungrouped). */
export type SimRow = Readonly<Record<string, unknown>>;

/**
 * Rows addressed by position, computed on demand or held. A referrals `Dataset` is one (its rows
 * are type aliases, so they widen to SimRow).
 */
export interface RowTable {
  readonly size: number;
  get(index: number): SimRow;
  /** Changes whenever the rows change, so caches keyed on it stay correct. Absent means never changes. */
  readonly version?: number;
}

export interface MutableRowTable extends RowTable {
  readonly version: number;
  /** Appends a row; throws if a row with the same key exists. */
  add(row: SimRow): void;
  /** Merges a patch into the row with this key and returns the new row; key fields cannot change. */
  update(key: readonly string[], patch: SimRow): SimRow;
  /** Removes the row with this key; false when there is none. */
  remove(key: readonly string[]): boolean;
  /** Position of the row with this key, or -1. */
  indexOfKey(key: readonly string[]): number;
}

/** A fixed, in-memory table (tests and hand-written cases). */
export function tableFromRows(rows: readonly SimRow[]): RowTable {
  return {
    size: rows.length,
    get(index) {
      checkIndex(index, rows.length);
      return rows[index] as SimRow;
    },
  };
}

function keyText(row: SimRow, keyFields: readonly string[]): string {
  return JSON.stringify(keyFields.map((field) => row[field] ?? null));
}

/**
 * A table that changes over a base, for change-feed tests on keyed datasets. The base is copied on
 * the first change: the generated datasets other than referrals are a few thousand rows, so the
 * copy is small (referrals keep their O(changes) mutable dataset).
 */
export function createMutableTable(base: RowTable, keyFields: readonly string[]): MutableRowTable {
  if (keyFields.length === 0) throw new Error("a mutable table needs key fields");
  let rows: SimRow[] | undefined;
  let positions = new Map<string, number>();
  let version = 0;

  const materialise = (): SimRow[] => {
    if (rows === undefined) {
      rows = Array.from({ length: base.size }, (_, i) => base.get(i));
      positions = new Map(rows.map((row, i) => [keyText(row, keyFields), i]));
    }
    return rows;
  };
  const keyOf = (key: readonly string[]): string => {
    if (key.length !== keyFields.length) {
      throw new Error(`a key has ${keyFields.length} parts (${keyFields.join(", ")})`);
    }
    return JSON.stringify(key);
  };
  const reindex = (all: readonly SimRow[]): void => {
    positions = new Map(all.map((row, i) => [keyText(row, keyFields), i]));
  };

  return {
    get size() {
      return rows?.length ?? base.size;
    },
    get version() {
      return version;
    },
    get(index) {
      if (rows === undefined) return base.get(index);
      checkIndex(index, rows.length);
      return rows[index] as SimRow;
    },
    indexOfKey(key) {
      materialise();
      return positions.get(keyOf(key)) ?? -1;
    },
    add(row) {
      const all = materialise();
      const text = keyText(row, keyFields);
      if (positions.has(text)) throw new Error(`a row with key ${text} already exists`);
      positions.set(text, all.length);
      all.push(row);
      version++;
    },
    update(key, patch) {
      const all = materialise();
      const at = positions.get(keyOf(key));
      if (at === undefined) throw new Error(`no row with key ${keyOf(key)}`);
      const current = all[at] as SimRow;
      for (const field of keyFields) {
        if (field in patch && patch[field] !== current[field]) {
          throw new Error(`key field '${field}' cannot change`);
        }
      }
      const next = { ...current, ...patch };
      all[at] = next;
      version++;
      return next;
    },
    remove(key) {
      const all = materialise();
      const at = positions.get(keyOf(key));
      if (at === undefined) return false;
      all.splice(at, 1);
      reindex(all);
      version++;
      return true;
    },
  };
}

/**
 * A field's value as upstream stores it: the documented name, or else the first alias the row
 * carries (a row served with `licenseActive` still filters and groups on `licensesActive`).
 */
export function readField(row: SimRow, field: string, aliases: readonly string[] | undefined): unknown {
  const value = row[field];
  if (value !== undefined || aliases === undefined) return value;
  for (const alias of aliases) {
    const aliased = row[alias];
    if (aliased !== undefined) return aliased;
  }
  return undefined;
}
