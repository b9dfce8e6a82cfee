import { REFERRAL_FIELDS } from "../partnerCenter/fields.js";

/**
 * One referral exactly as Partner Center returns it: 16 fields in the documented order. A type alias
 * rather than an interface so it stays assignable to ReferralWithExtras.
 */
export type Referral = {
  readonly id: string;
  readonly status: string;
  readonly customerMarket: string;
  readonly customerName: string;
  readonly customerOrgSize: string;
  readonly acceptedDate: string | null;
  readonly acknowledgedDate: string | null;
  readonly archivedDate: string | null;
  readonly declinedDate: string | null;
  readonly expiredDate: string | null;
  readonly lostDate: string | null;
  readonly missedDate: string | null;
  readonly createdDate: string | null;
  readonly skippedDate: string | null;
  readonly wonDate: string | null;
  readonly partnerMarket: string;
};

/** A referral that may carry fields Partner Center adds later (schema drift). */
export type ReferralWithExtras = Referral & { readonly [extra: string]: unknown };
export type ReferralPatch = Partial<Referral> & { readonly [extra: string]: unknown };

/** Rows addressed by position; implementations compute rows on demand rather than hold them. */
export interface Dataset {
  readonly size: number;
  get(index: number): Referral;
  /** Position of the row with this id, or -1. */
  indexOf(id: string): number;
  /** Changes whenever the rows change, so caches keyed on it stay correct. Absent means never changes. */
  readonly version?: number;
}

export interface MutableDataset extends Dataset {
  readonly version: number;
  /** Appends a new referral (as if just created); throws if the id exists. */
  add(row: ReferralWithExtras): void;
  /** Merges a patch into the row with this id and returns the new row; the id itself cannot change. */
  update(id: string, patch: ReferralPatch): Referral;
  /** Removes the row with this id; false when there is none. */
  remove(id: string): boolean;
}

export interface DatasetOptions {
  readonly size: number;
  readonly seed: number;
  /**
   * Every generated date falls before this instant. Defaults to the start of the current UTC day,
   * so rows are stable within a day; pass a fixed value for reproducibility across days.
   */
  readonly end?: Date | string;
}

/** Ids come from a bijection on 30 bits, so this many rows at most. */
export const MAX_DATASET_SIZE = 2 ** 30;
const ID_BASE = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Hashing and random numbers: every row is a pure function of (seed, index). The other datasets'
// generators (datasets/) share these helpers and the vocabulary below.

export function mix32(value: number): number {
  let a = value | 0;
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
  return (a ^ (a >>> 16)) >>> 0;
}

/** A row's random stream (mulberry32), seeded from (seed, index). */
export function rowRandom(seedHash: number, index: number): () => number {
  let state = mix32(seedHash ^ mix32(index + 0x632be5ab));
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A keyed 4-round Feistel permutation of 30-bit numbers: unique, scattered, invertible ids. */
function idPermutation(seedHash: number): { forward(n: number): number; inverse(n: number): number } {
  const keys = [1, 2, 3, 4].map((round) => mix32(seedHash + Math.imul(round, 0x9e3779b9)));
  const f = (half: number, key: number): number => mix32(half ^ key) & 0x7fff;
  return {
    forward(n) {
      let l = n >>> 15;
      let r = n & 0x7fff;
      for (const key of keys) [l, r] = [r, l ^ f(r, key)];
      return l * 0x8000 + r;
    },
    inverse(n) {
      let l = n >>> 15;
      let r = n & 0x7fff;
      for (let k = keys.length - 1; k >= 0; k--) [l, r] = [r ^ f(l, keys[k] ?? 0), l];
      return l * 0x8000 + r;
    },
  };
}

export type Weighted<T> = readonly (readonly [T, number])[];

export function chooser<T>(table: Weighted<T>): (r: number) => T {
  const total = table.reduce((sum, [, w]) => sum + w, 0);
  const cumulative = table.map(
    ([value], i) => [value, table.slice(0, i + 1).reduce((s, [, w]) => s + w, 0) / total] as const,
  );
  return (r) => {
    for (const [value, upTo] of cumulative) if (r < upTo) return value;
    return (cumulative[cumulative.length - 1] as readonly [T, number])[0];
  };
}

export function pickFrom<T>(items: readonly T[], r: number): T {
  return items[Math.min(items.length - 1, Math.floor(r * items.length))] as T;
}

// ---------------------------------------------------------------------------------------------
// Vocabulary, with proportions that look like a real referrals pipeline.

const chooseStatus = chooser<string>([
  ["New", 8],
  ["Accepted", 12],
  ["Won", 14],
  ["Lost", 10],
  ["Declined", 12],
  ["Expired", 16],
  ["Archived", 12],
  ["Missed", 10],
  ["Skipped", 6],
]);

export const chooseMarket = chooser<string>([
  ["US", 30],
  ["GB", 8],
  ["DE", 8],
  ["FR", 6],
  ["JP", 6],
  ["IN", 6],
  ["CA", 5],
  ["AU", 5],
  ["BR", 4],
  ["NL", 3],
  ["ES", 3],
  ["IT", 3],
  ["SE", 2],
  ["MX", 2],
  ["SG", 2],
  ["ZA", 2],
  ["CH", 2],
  ["KR", 2],
  ["PL", 1],
  ["IE", 1],
]);

const chooseOrgSize = chooser<string>([
  ["1to9employees", 15],
  ["10to50employees", 25],
  ["51to250employees", 25],
  ["251to1000employees", 15],
  ["morethan1000employees", 20],
]);

export const NAME_STEMS = [
  "Contoso",
  "Fabrikam",
  "Northwind Traders",
  "Adventure Works",
  "Tailspin Toys",
  "Wide World Importers",
  "Litware",
  "Proseware",
  "Woodgrove",
  "Alpine Ski House",
  "Coho Winery",
  "Lamna Healthcare",
  "Trey Research",
  "Fourth Coffee",
  "Blue Yonder Airlines",
  "Wingtip Toys",
  "Humongous Insurance",
  "Graphic Design Institute",
  "Relecloud",
  "VanArsdel",
  "Consolidated Messenger",
  "A. Datum",
  "City Power and Light",
  "Southridge Video",
  "First Up Consultants",
  "Lucerne Publishing",
  "Margie Travel",
  "Nod Publishers",
  "Bellows College",
  "Fincher Architects",
] as const;

const NAME_QUALIFIERS = [
  "",
  "",
  "",
  " Group",
  " Holdings",
  " Solutions",
  " Labs",
  " Systems",
  " Partners",
] as const;

const SUFFIX_BY_MARKET: Readonly<Record<string, readonly string[]>> = {
  US: [" Inc.", " LLC", " Corp.", ""],
  CA: [" Inc.", " Ltd.", ""],
  GB: [" Ltd", " PLC", ""],
  IE: [" Ltd", " DAC"],
  DE: [" GmbH", " AG", " GmbH & Co. KG"],
  CH: [" AG", " GmbH", " SA"],
  FR: [" SAS", " SA", " SARL"],
  JP: [" K.K.", " Co., Ltd."],
  NL: [" B.V.", " N.V."],
  SE: [" AB"],
  ES: [" S.L.", " S.A."],
  IT: [" S.p.A.", " S.r.l."],
  BR: [" Ltda.", " S.A."],
  MX: [" S.A. de C.V."],
  AU: [" Pty Ltd"],
  ZA: [" (Pty) Ltd"],
  PL: [" Sp. z o.o."],
};
const DEFAULT_SUFFIXES = [" Ltd", " Inc.", ""] as const;

/** Names that exports must survive: separators, quotes, line breaks, non-ASCII, formula triggers. */
const AWKWARD_NAMES = [
  "Smith, Jones & Partners",
  'The "Quoted" Company',
  "O'Brien Consulting",
  "Line One\nLine Two Ltd",
  "Carriage\r\nReturn GmbH",
  "Müller & Söhne GmbH",
  "Société Générale de Démo SA",
  "株式会社サンプル",
  "Ærøskøbing Fisk ApS",
  "Rocket 🚀 Labs",
  "Ελληνικές Λύσεις Α.Ε.",
  "Москва Софт ООО",
  "شركة المثال",
  "=SUM(A1:A9)",
  '=HYPERLINK("http://example.com","click")',
  "+1 Solutions",
  "-Minus Labs",
  "@Mention Media",
  "\tTabbed Imports",
  "Trailing Space Inc. ",
] as const;
const AWKWARD_RATE = 0.02;

// ---------------------------------------------------------------------------------------------
// Timelines

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

/** How far back createdDate may lie; open referrals are recent, closed ones span ~3 years. */
const WINDOW_BY_STATUS: Readonly<Record<string, number>> = {
  New: 60 * DAY,
  Accepted: 365 * DAY,
};
const DEFAULT_WINDOW = 3 * 365 * DAY;

type DateKey =
  | "acceptedDate"
  | "acknowledgedDate"
  | "archivedDate"
  | "declinedDate"
  | "expiredDate"
  | "lostDate"
  | "missedDate"
  | "skippedDate"
  | "wonDate";

/** Seconds after createdDate of each date a referral carries; -1 where it carries none. */
type Offsets = Record<DateKey, number>;

function emptyOffsets(): Offsets {
  return {
    acceptedDate: -1,
    acknowledgedDate: -1,
    archivedDate: -1,
    declinedDate: -1,
    expiredDate: -1,
    lostDate: -1,
    missedDate: -1,
    skippedDate: -1,
    wonDate: -1,
  };
}

/** Fills `o` with the dates a referral in this status would carry, and returns the latest offset. */
function timeline(status: string, rnd: () => number, o: Offsets): number {
  const between = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo));
  const ack = between(MINUTE, 3 * DAY);
  const accepted = ack + between(MINUTE, 5 * DAY);
  switch (status) {
    case "New":
      if (rnd() < 0.6) o.acknowledgedDate = ack;
      return Math.max(0, o.acknowledgedDate);
    case "Accepted":
      o.acknowledgedDate = ack;
      return (o.acceptedDate = accepted);
    case "Won":
      o.acknowledgedDate = ack;
      o.acceptedDate = accepted;
      return (o.wonDate = accepted + between(DAY, 180 * DAY));
    case "Lost":
      o.acknowledgedDate = ack;
      o.acceptedDate = accepted;
      return (o.lostDate = accepted + between(DAY, 180 * DAY));
    case "Declined":
      if (rnd() < 0.7) o.acknowledgedDate = ack;
      return (o.declinedDate = Math.max(0, o.acknowledgedDate) + between(MINUTE, 7 * DAY));
    case "Expired":
      if (rnd() < 0.3) o.acknowledgedDate = ack;
      return (o.expiredDate = between(14 * DAY, 30 * DAY));
    case "Archived":
      o.acknowledgedDate = ack;
      if (rnd() < 0.5) o.acceptedDate = accepted;
      return (o.archivedDate = Math.max(ack, o.acceptedDate) + between(DAY, 365 * DAY));
    case "Missed":
      return (o.missedDate = between(DAY, 14 * DAY));
    case "Skipped":
      if (rnd() < 0.5) o.acknowledgedDate = ack;
      return (o.skippedDate = Math.max(0, o.acknowledgedDate) + between(MINUTE, 2 * DAY + HOUR));
    default:
      return 0;
  }
}

/** `YYYY-MM-DD` per day number; a data set spans a few thousand days, so this stays small. */
const dayText = new Map<number, string>();
/** `THH:mm:ss` per second of the day, built on first use (at most 86,400 short strings). */
const timeText: string[] = [];

/** Formats `YYYY-MM-DDTHH:mm:ss` from cached halves: row generation is the hot path of paging. */
export function formatDate(epochSeconds: number): string {
  const day = Math.floor(epochSeconds / DAY);
  let date = dayText.get(day);
  if (date === undefined) {
    date = new Date(day * DAY * 1000).toISOString().slice(0, 10);
    if (dayText.size < 100_000) dayText.set(day, date);
  }
  const second = epochSeconds - day * DAY;
  let time = timeText[second];
  if (time === undefined) {
    time = new Date(second * 1000).toISOString().slice(10, 19);
    timeText[second] = time;
  }
  return date + time;
}

export function defaultEnd(): number {
  const now = new Date();
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) / 1000;
}

export function toEpochSeconds(end: Date | string): number {
  const ms = typeof end === "string" ? Date.parse(end) : end.getTime();
  if (Number.isNaN(ms)) throw new Error(`dataset end is not a date: ${String(end)}`);
  return Math.floor(ms / 1000);
}

// ---------------------------------------------------------------------------------------------

export function customerName(market: string, rnd: () => number): string {
  if (rnd() < AWKWARD_RATE) return pickFrom(AWKWARD_NAMES, rnd());
  const suffixes = SUFFIX_BY_MARKET[market] ?? DEFAULT_SUFFIXES;
  return `${pickFrom(NAME_STEMS, rnd())}${pickFrom(NAME_QUALIFIERS, rnd())}${pickFrom(suffixes, rnd())}`;
}

export function checkIndex(index: number, size: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`row index ${index} outside 0..${size - 1}`);
  }
}

/** A deterministic synthetic data set: row i is computed from (seed, i) on each get, so memory is O(1). */
export function createDataset(options: DatasetOptions): Dataset {
  const { size, seed } = options;
  if (!Number.isInteger(size) || size < 0 || size > MAX_DATASET_SIZE) {
    throw new RangeError(`dataset size must be an integer from 0 to ${MAX_DATASET_SIZE}`);
  }
  if (!Number.isInteger(seed)) throw new RangeError("dataset seed must be an integer");
  const end = options.end === undefined ? defaultEnd() : toEpochSeconds(options.end);
  const seedHash = mix32(seed ^ 0x5bd1e995);
  const ids = idPermutation(seedHash);

  const get = (index: number): Referral => {
    checkIndex(index, size);
    const rnd = rowRandom(seedHash, index);
    const status = chooseStatus(rnd());
    const customerMarket = chooseMarket(rnd());
    const partnerMarket = rnd() < 0.8 ? customerMarket : chooseMarket(rnd());
    const name = customerName(customerMarket, rnd);
    const orgSize = chooseOrgSize(rnd());
    const offsets = emptyOffsets();
    const span = timeline(status, rnd, offsets);
    const window = WINDOW_BY_STATUS[status] ?? DEFAULT_WINDOW;
    // Place createdDate so that the latest date of the timeline still falls before `end`.
    const created = end - span - 1 - Math.floor(rnd() * Math.max(1, window - span - 1));
    const at = (key: DateKey): string | null => {
      const offset = offsets[key];
      return offset < 0 ? null : formatDate(created + offset);
    };
    return {
      id: String(ID_BASE + ids.forward(index)),
      status,
      customerMarket,
      customerName: name,
      customerOrgSize: orgSize,
      acceptedDate: at("acceptedDate"),
      acknowledgedDate: at("acknowledgedDate"),
      archivedDate: at("archivedDate"),
      declinedDate: at("declinedDate"),
      expiredDate: at("expiredDate"),
      lostDate: at("lostDate"),
      missedDate: at("missedDate"),
      createdDate: formatDate(created),
      skippedDate: at("skippedDate"),
      wonDate: at("wonDate"),
      partnerMarket,
    };
  };

  const indexOf = (id: string): number => {
    if (!/^\d{10}$/.test(id)) return -1;
    const n = Number(id) - ID_BASE;
    if (n < 0 || n >= MAX_DATASET_SIZE) return -1;
    const index = ids.inverse(n);
    return index < size ? index : -1;
  };

  return { size, get, indexOf };
}

/** A fixed, in-memory data set (small tests and hand-written cases). */
export function datasetFromRows(rows: readonly ReferralWithExtras[]): Dataset {
  const byId = new Map<string, number>();
  rows.forEach((row, i) => {
    if (byId.has(row.id)) throw new Error(`duplicate referral id '${row.id}'`);
    byId.set(row.id, i);
  });
  return {
    size: rows.length,
    get(index) {
      checkIndex(index, rows.length);
      return rows[index] as Referral;
    },
    indexOf: (id) => byId.get(id) ?? -1,
  };
}

/** Orders a row's keys as documented (extra fields last), so serialised rows look like upstream's. */
function inDocumentedOrder(row: ReferralWithExtras): Referral {
  const ordered: Record<string, unknown> = {};
  for (const field of REFERRAL_FIELDS) ordered[field] = row[field];
  for (const [key, value] of Object.entries(row)) if (!(key in ordered)) ordered[key] = value;
  return ordered as unknown as Referral;
}

/**
 * A data set that changes over a base: added rows come last, updates and removals are kept as
 * deltas, so memory is O(changes) whatever the size of the base.
 */
export function createMutableDataset(base: Dataset): MutableDataset {
  /** Removed base positions, sorted ascending. */
  const removed: number[] = [];
  const overrides = new Map<number, Referral>();
  const added: Referral[] = [];
  let addedIndex = new Map<string, number>();
  let version = 0;

  /** How many removed base positions are <= position (binary search). */
  const removedUpTo = (position: number): number => {
    let lo = 0;
    let hi = removed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((removed[mid] ?? 0) <= position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const isRemoved = (position: number): boolean => {
    const k = removedUpTo(position);
    return k > 0 && removed[k - 1] === position;
  };
  const liveBase = (): number => base.size - removed.length;

  /** Base position of the index-th live base row: the least fixpoint of p = index + removedUpTo(p). */
  const basePosition = (index: number): number => {
    let position = index;
    for (let step = 0; step <= removed.length; step++) {
      const next = index + removedUpTo(position);
      if (next === position) return position;
      position = next;
    }
    return position;
  };

  const locate = (id: string): { kind: "added"; at: number } | { kind: "base"; at: number } | undefined => {
    const addedAt = addedIndex.get(id);
    if (addedAt !== undefined) return { kind: "added", at: addedAt };
    const position = base.indexOf(id);
    if (position >= 0 && !isRemoved(position)) return { kind: "base", at: position };
    return undefined;
  };

  const rebuildAddedIndex = (): void => {
    addedIndex = new Map(added.map((row, i) => [row.id, i]));
  };

  const dataset: MutableDataset = {
    get size() {
      return liveBase() + added.length;
    },
    get version() {
      return version;
    },
    get(index) {
      checkIndex(index, liveBase() + added.length);
      if (index < liveBase()) {
        const position = basePosition(index);
        return overrides.get(position) ?? base.get(position);
      }
      return added[index - liveBase()] as Referral;
    },
    indexOf(id) {
      const where = locate(id);
      if (where === undefined) return -1;
      return where.kind === "added" ? liveBase() + where.at : where.at - removedUpTo(where.at);
    },
    add(row) {
      if (locate(row.id) !== undefined) throw new Error(`referral '${row.id}' already exists`);
      addedIndex.set(row.id, added.length);
      added.push(inDocumentedOrder(row));
      version++;
    },
    update(id, patch) {
      if (patch.id !== undefined && patch.id !== id) throw new Error("a referral's id cannot change");
      const where = locate(id);
      if (where === undefined) throw new Error(`no referral with id '${id}'`);
      const current =
        where.kind === "added" ? (added[where.at] as Referral) : dataset.get(dataset.indexOf(id));
      const next = inDocumentedOrder({ ...current, ...patch, id });
      if (where.kind === "added") added[where.at] = next;
      else overrides.set(where.at, next);
      version++;
      return next;
    },
    remove(id) {
      const where = locate(id);
      if (where === undefined) return false;
      if (where.kind === "added") {
        added.splice(where.at, 1);
        rebuildAddedIndex();
      } else {
        removed.splice(removedUpTo(where.at), 0, where.at);
        overrides.delete(where.at);
      }
      version++;
      return true;
    },
  };
  return dataset;
}
