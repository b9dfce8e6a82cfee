import { COMPARED_FIELDS, DATE_OFFSET, fieldText, instantText, type Compared } from "./compared.js";

/** Two independent 32-bit hashes of a string, left in these variables to avoid an allocation. */
let hashA = 0;
let hashB = 0;
function hashText(text: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashA = a >>> 0;
  hashB = (b ^ text.length) >>> 0;
  // (0, 0) marks an empty slot.
  if (hashA === 0 && hashB === 0) hashA = 1;
}

/**
 * The same fingerprint straight from a row's fields, without gathering them into an array first:
 * every referral of every raw run goes through here, and an array a row is garbage that keeps the
 * row's slice alive longer (see SLICE_ROWS in exporter.ts).
 */
export function fingerprintOfRow(row: Readonly<Record<string, unknown>>): number {
  for (let i = 0; i < COMPARED_FIELDS.length; i++) scratch[i] = fieldText(row[COMPARED_FIELDS[i] as string]);
  fingerprint(scratch);
  return hashA;
}

/** Reused by fingerprintOfRow for every row: filled, hashed and overwritten by the next. */
const scratch: (string | null)[] = new Array<string | null>(COMPARED_FIELDS.length).fill(null);

export function lastFingerprintB(): number {
  return hashB;
}

/**
 * Hashes the compared values in place, without building a string (this runs for every referral of
 * every run): a separator before each value, a marker for null, dates as instants. Baselines store
 * the result, so changing it means a new baseline version (baseline.ts).
 */
function fingerprint(values: Compared): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  let length = 0;
  for (let i = 0; i < values.length; i++) {
    const raw = values[i];
    const marker = raw === null || raw === undefined ? 1 : 0;
    a = Math.imul(a ^ marker, 0x01000193);
    b = Math.imul(b ^ marker, 0x5bd1e995);
    b ^= b >>> 15;
    length++;
    if (marker === 1 || raw === null || raw === undefined) continue;
    const text = i < DATE_OFFSET ? raw : instantText(raw);
    for (let j = 0; j < text.length; j++) {
      const c = text.charCodeAt(j);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    length += text.length;
  }
  hashA = a >>> 0;
  hashB = (b ^ length) >>> 0;
  if (hashA === 0 && hashB === 0) hashA = 1;
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

/**
 * Compact index of the previous snapshot: id -> fingerprint of (status, dates). An open-addressing
 * table keyed by two 32-bit hashes of the id, holding two 32-bit hashes of the compared values and
 * a state byte: 17 bytes a slot, a power of two of slots at least twice the previous row count
 * (34-68 bytes a referral; 36 MB for a million, no strings kept).
 */
export class SnapshotIndex {
  private idA: Uint32Array;
  private idB: Uint32Array;
  private valueA: Uint32Array;
  private valueB: Uint32Array;
  private states: Uint8Array;
  private used = 0;

  /** Sized from the previous manifest's row count, so a normal load never grows the table. */
  constructor(expectedRows: number) {
    let size = 1 << 12;
    while (size < expectedRows * 2) size *= 2;
    this.idA = new Uint32Array(size);
    this.idB = new Uint32Array(size);
    this.valueA = new Uint32Array(size);
    this.valueB = new Uint32Array(size);
    this.states = new Uint8Array(size);
  }

  get size(): number {
    return this.used;
  }

  /** Adds (or replaces) an id with the fingerprint in hashA/hashB of `values`. */
  insert(id: string, values: Compared): void {
    if (this.used * 2 >= this.states.length) this.grow();
    fingerprint(values);
    const va = hashA;
    const vb = hashB;
    hashText(id);
    const slot = this.slotOf(hashA, hashB);
    if (this.states[slot] === EMPTY) this.used++;
    this.idA[slot] = hashA;
    this.idB[slot] = hashB;
    this.valueA[slot] = va;
    this.valueB[slot] = vb;
    this.states[slot] = UNSEEN;
  }

  /** Adds (or replaces) an id with a fingerprint read from a baseline. */
  insertFingerprint(id: string, fingerprintA: number, fingerprintB: number): void {
    if (this.used * 2 >= this.states.length) this.grow();
    hashText(id);
    const slot = this.slotOf(hashA, hashB);
    if (this.states[slot] === EMPTY) this.used++;
    this.idA[slot] = hashA;
    this.idB[slot] = hashB;
    this.valueA[slot] = fingerprintA;
    this.valueB[slot] = fingerprintB;
    this.states[slot] = UNSEEN;
  }

  /** True when a fingerprint computed by `fingerprintOfRow` matches the previous snapshot's. */
  sameFingerprint(slot: number, fingerprintA: number, fingerprintB: number): boolean {
    return this.valueA[slot] === fingerprintA && this.valueB[slot] === fingerprintB;
  }

  /** The slot holding this id, or -1. */
  find(id: string): number {
    hashText(id);
    const slot = this.slotOf(hashA, hashB);
    return this.states[slot] === EMPTY ? -1 : slot;
  }

  /** True when the current values match the previous snapshot's fingerprint. */
  sameValues(slot: number, values: Compared): boolean {
    fingerprint(values);
    return this.valueA[slot] === hashA && this.valueB[slot] === hashB;
  }

  state(slot: number): number {
    return this.states[slot] ?? EMPTY;
  }

  setState(slot: number, state: number): void {
    this.states[slot] = state;
  }

  /** The slot of (a, b), or the empty slot where it belongs. */
  private slotOf(a: number, b: number): number {
    const mask = this.states.length - 1;
    let slot = a & mask;
    while (this.states[slot] !== EMPTY && (this.idA[slot] !== a || this.idB[slot] !== b))
      slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { idA, idB, valueA, valueB, states } = this;
    const size = states.length * 2;
    this.idA = new Uint32Array(size);
    this.idB = new Uint32Array(size);
    this.valueA = new Uint32Array(size);
    this.valueB = new Uint32Array(size);
    this.states = new Uint8Array(size);
    for (let i = 0; i < states.length; i++) {
      if (states[i] === EMPTY) continue;
      const slot = this.slotOf(idA[i] ?? 0, idB[i] ?? 0);
      this.idA[slot] = idA[i] ?? 0;
      this.idB[slot] = idB[i] ?? 0;
      this.valueA[slot] = valueA[i] ?? 0;
      this.valueB[slot] = valueB[i] ?? 0;
      this.states[slot] = states[i] ?? EMPTY;
    }
  }
}
