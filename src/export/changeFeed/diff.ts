import { baselineValues } from "./baseline.js";
import { COMPARED_FIELDS, comparedOf, differs, type Compared } from "./compared.js";
import type { FeedWriter } from "./feedWriter.js";
import type { SnapshotRow } from "./previousSnapshot.js";
import { CHANGED, DONE, SAME, UNSEEN, type SnapshotIndex } from "./snapshotIndex.js";

export interface ChangeCounts {
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
}

/**
 * This run's referrals against the previous snapshot's index, in two passes. While the export
 * streams, new ids are written as "added" at once; ids whose fingerprint differs are marked, and
 * their current values kept. When the previous snapshot is read back at the end, the ids this run
 * never saw are written as "removed", the marked ones as "changed" with the fields that differ.
 */
export class SnapshotDiff {
  private readonly current = new Map<string, Compared>();
  private added = 0;
  private changed = 0;
  private removed = 0;

  constructor(
    private readonly index: SnapshotIndex,
    private readonly feed: FeedWriter,
  ) {}

  get counts(): ChangeCounts {
    return { added: this.added, changed: this.changed, removed: this.removed };
  }

  /** One referral of this run, with the fingerprint of its compared values (snapshotIndex.ts). */
  addCurrent(
    id: string,
    row: Readonly<Record<string, unknown>>,
    fingerprintA: number,
    fingerprintB: number,
  ): void {
    const { index } = this;
    const slot = index.find(id);
    // The compared values are gathered only for a referral the feed reports.
    if (slot < 0) {
      this.added++;
      this.feed.write("added", id, comparedOf(row), null, []);
    } else if (index.state(slot) === UNSEEN) {
      if (index.sameFingerprint(slot, fingerprintA, fingerprintB)) index.setState(slot, SAME);
      else {
        index.setState(slot, CHANGED);
        this.current.set(id, comparedOf(row));
      }
    }
  }

  /**
   * A referral of the previous baseline, read back at the end: its values are parsed only when it
   * disappeared or changed.
   */
  addPreviousLine(id: string, rest: string): void {
    const slot = this.index.find(id);
    if (slot < 0) return;
    const state = this.index.state(slot);
    if (state === UNSEEN || state === CHANGED) this.previous(id, slot, state, baselineValues(rest));
    if (state !== SAME) this.index.setState(slot, DONE);
  }

  /** A chunk of the previous snapshot's rows (a CSV or JSON file of an earlier version), read back at the end. */
  addPrevious(rows: readonly SnapshotRow[]): void {
    const { index } = this;
    for (const { id, values: before } of rows) {
      if (id === null) continue;
      const slot = index.find(id);
      if (slot < 0) continue;
      const state = index.state(slot);
      if (state === UNSEEN || state === CHANGED) this.previous(id, slot, state, before);
      if (state !== SAME) index.setState(slot, DONE);
    }
  }

  private previous(id: string, _slot: number, state: number, before: Compared): void {
    if (state === UNSEEN) {
      this.removed++;
      this.feed.write("removed", id, null, before, []);
      return;
    }
    const after = this.current.get(id);
    this.current.delete(id);
    const fields = after
      ? COMPARED_FIELDS.filter((_, i) => differs(i, before[i] ?? null, after[i] ?? null))
      : [];
    if (after && fields.length > 0) {
      this.changed++;
      this.feed.write("changed", id, after, before, fields);
    }
  }
}
