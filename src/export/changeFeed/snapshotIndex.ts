import type { BaselineLine } from "./baseline.js";
import { comparable, fieldText, REFERRALS_FEED, TEXT, type Compared, type FeedShape } from "./compared.js";

/** Two independent 32-bit hashes of a string, left in these variables to avoid an allocation. */
let hashA = 0;
let hashB = 0;
function hashText(text: string): void {
  hashRange(text, 0, text.length, false);
}

/**
 * Hashes text[from, to) as hashText would hash that slice. With `escaped`, returns false at a
 * backslash, with nothing hashed: a baseline's id with an escape in it is hashed as its unescaped
 * string instead.
 */
function hashRange(text: string, from: number, to: number, escaped: boolean): boolean {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 && escaped) return false;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashA = a >>> 0;
  hashB = (b ^ (to - from)) >>> 0;
  return true;
}

/** Hashes the id of a baseline line, in place when it has no escape. */
function hashLineId(line: BaselineLine): void {
  if (!hashRange(line.text, line.start, line.idEnd, true)) hashText(line.id());
}

/**
 * The same fingerprint straight from a row's fields, without gathering them into an array first:
 * every row of every raw run goes through here, and an array a row is garbage that keeps the row's
 * slice alive longer (see SLICE_ROWS in exporter.ts).
 */
export function fingerprintOfRow(
  row: Readonly<Record<string, unknown>>,
  shape: FeedShape = REFERRALS_FEED,
): number {
  const fields = shape.comparedFields;
  startFingerprint();
  for (let i = 0; i < fields.length; i++)
    hashValue(fieldText(row[fields[i] as string]), shape.comparisons[i] ?? TEXT);
  endFingerprint();
  return hashA;
}

export function lastFingerprintB(): number {
  return hashB;
}

/** The fingerprint being computed (hashA/hashB are set from it at the end). */
let runA = 0;
let runB = 0;
let runLength = 0;

function startFingerprint(): void {
  runA = 0x811c9dc5;
  runB = 0x9747b28c;
  runLength = 0;
}

/**
 * Hashes one compared value in place, without building a string (this runs for every value of
 * every row of every run): a marker for null before each value, values as they are compared (dates
 * as instants). Baselines store the result, so changing it means a new baseline version (baseline.ts).
 */
function hashValue(raw: string | null, comparison: number): void {
  let a = runA;
  let b = runB;
  const marker = raw === null ? 1 : 0;
  a = Math.imul(a ^ marker, 0x01000193);
  b = Math.imul(b ^ marker, 0x5bd1e995);
  b ^= b >>> 15;
  runLength++;
  if (raw !== null) {
    const text = comparison === TEXT ? raw : comparable(comparison, raw);
    for (let j = 0; j < text.length; j++) {
      const c = text.charCodeAt(j);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    runLength += text.length;
  }
  runA = a;
  runB = b;
}

function endFingerprint(): void {
  hashA = runA >>> 0;
  hashB = (runB ^ runLength) >>> 0;
  if (hashA === 0 && hashB === 0) hashA = 1;
}

/** The fingerprint of compared values (a data file of an earlier version), into hashA/hashB. */
function fingerprint(values: Compared, shape: FeedShape): void {
  startFingerprint();
  for (let i = 0; i < values.length; i++) hashValue(values[i] ?? null, shape.comparisons[i] ?? TEXT);
  endFingerprint();
}

const EMPTY = 0;
/** In the previous snapshot; not (yet) seen in this run. */
export const UNSEEN = 1;
/** Seen in this run with the same compared values. */
export const SAME = 2;
/** Seen in this run with a different fingerprint: its current values are kept for the end. */
export const CHANGED = 3;
/** Dealt with when the previous snapshot was read back at the end. */
export const DONE = 4;

/** Words of a slot: the id's two hashes, then the fingerprint's two. */
const WORDS = 4;
/**
 * Slots a referral: a load factor of 0.8. Linear probing stays short there (about 3 slots for an
 * id that is present, 13 for one that is not, all in the same few cache lines), and the table is
 * 21 MB for a million referrals where a power of two at half load took 36 MB.
 */
const SLOTS_PER_ROW = 1.25;
const MIN_SLOTS = 4096;
const TWO_32 = 4294967296;

/**
 * Compact index of the previous snapshot: key -> fingerprint of the compared fields. An open-addressing
 * table keyed by two 32-bit hashes of the id, holding two 32-bit hashes of the compared values
 * (one Uint32Array, a slot's four words side by side, so a probe reads one cache line) and a
 * state byte a slot: 17 bytes a slot, 1.25 slots a previous referral (21 bytes a referral, no
 * strings kept).
 */
export class SnapshotIndex {
  private words: Uint32Array;
  private states: Uint8Array;
  private slots: number;
  private used = 0;

  /** Sized from the previous manifest's row count, so a normal load never grows the table. */
  constructor(
    expectedRows: number,
    private readonly shape: FeedShape = REFERRALS_FEED,
  ) {
    this.slots = Math.max(MIN_SLOTS, Math.ceil(expectedRows * SLOTS_PER_ROW));
    this.words = new Uint32Array(this.slots * WORDS);
    this.states = new Uint8Array(this.slots);
  }

  get size(): number {
    return this.used;
  }

  /** Slots allocated (for tests and the memory figures in the docs). */
  get capacity(): number {
    return this.slots;
  }

  /** Adds (or replaces) an id with the fingerprint of `values` (a data file of an earlier version). */
  insert(id: string, values: Compared): void {
    fingerprint(values, this.shape);
    const fingerprintA = hashA;
    const fingerprintB = hashB;
    hashText(id);
    this.place(fingerprintA, fingerprintB);
  }

  /** Adds (or replaces) the referral of a baseline line. */
  insertLine(line: BaselineLine): void {
    hashLineId(line);
    this.place(line.fingerprintA, line.fingerprintB);
  }

  /** Puts the id hashed into hashA/hashB with this fingerprint. */
  private place(fingerprintA: number, fingerprintB: number): void {
    // Past 0.8 load (a manifest that understated its rows) probes would get long.
    if (this.used * SLOTS_PER_ROW >= this.slots) this.grow();
    const slot = this.slotOf(hashA, hashB);
    if (this.states[slot] === EMPTY) this.used++;
    this.put(slot, hashA, hashB, fingerprintA, fingerprintB, UNSEEN);
  }

  /** True when a fingerprint computed by `fingerprintOfRow` matches the previous snapshot's. */
  sameFingerprint(slot: number, fingerprintA: number, fingerprintB: number): boolean {
    const at = slot * WORDS;
    return this.words[at + 2] === fingerprintA && this.words[at + 3] === fingerprintB;
  }

  /** The slot holding this id, or -1. */
  find(id: string): number {
    hashText(id);
    const slot = this.slotOf(hashA, hashB);
    return this.states[slot] === EMPTY ? -1 : slot;
  }

  /** The slot holding the id of a baseline line, or -1. */
  findLine(line: BaselineLine): number {
    hashLineId(line);
    const slot = this.slotOf(hashA, hashB);
    return this.states[slot] === EMPTY ? -1 : slot;
  }

  state(slot: number): number {
    return this.states[slot] ?? EMPTY;
  }

  setState(slot: number, state: number): void {
    this.states[slot] = state;
  }

  private put(slot: number, a: number, b: number, fa: number, fb: number, state: number): void {
    const at = slot * WORDS;
    this.words[at] = a;
    this.words[at + 1] = b;
    this.words[at + 2] = fa;
    this.words[at + 3] = fb;
    this.states[slot] = state;
  }

  /**
   * The slot of (a, b), or the empty slot where it belongs. The home slot scales `a` to the table
   * (a multiply, not a power-of-two mask), so the table can be sized to the row count.
   */
  private slotOf(a: number, b: number): number {
    const { words, states, slots } = this;
    let slot = Math.floor((a / TWO_32) * slots);
    while (states[slot] !== EMPTY && (words[slot * WORDS] !== a || words[slot * WORDS + 1] !== b))
      if (++slot === slots) slot = 0;
    return slot;
  }

  private grow(): void {
    const { words, states, slots } = this;
    this.slots = slots * 2;
    this.words = new Uint32Array(this.slots * WORDS);
    this.states = new Uint8Array(this.slots);
    for (let i = 0; i < slots; i++) {
      const state = states[i] ?? EMPTY;
      if (state === EMPTY) continue;
      const at = i * WORDS;
      const a = words[at] ?? 0;
      const b = words[at + 1] ?? 0;
      this.put(this.slotOf(a, b), a, b, words[at + 2] ?? 0, words[at + 3] ?? 0, state);
    }
  }
}
