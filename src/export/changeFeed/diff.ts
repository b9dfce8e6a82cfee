import type { BaselineLine } from "./baseline.js";
import { changedFields, comparedOf, REFERRALS_FEED, type Compared, type FeedShape } from "./compared.js";
import type { FeedSink } from "./feedWriter.js";
import type { SnapshotRow } from "./previousSnapshot.js";
import { CHANGED, DONE, SAME, UNSEEN, type SnapshotIndex } from "./snapshotIndex.js";

export interface ChangeCounts {
  readonly added: number;
  readonly changed: number;
  readonly removed: number;
}

/**
 * This run's rows against the previous snapshot's index, in two passes. First this run's rows (its
 * own baseline read back, or its rows as the export streams): new keys are written as "added" at
 * once; keys whose fingerprint differs are marked, and their current values kept. Then the
 * previous snapshot is read back: the keys this run never saw are written as "removed", the marked
 * ones as "changed" with the fields that differ.
 */
export class SnapshotDiff {
  private readonly current = new Map<string, Compared>();
  private added = 0;
  private changed = 0;
  private removed = 0;

  constructor(
    private readonly index: SnapshotIndex,
    private readonly feed: FeedSink,
    private readonly shape: FeedShape = REFERRALS_FEED,
  ) {}

  get counts(): ChangeCounts {
    return { added: this.added, changed: this.changed, removed: this.removed };
  }

  /** One row of this run as the export streams, with the fingerprint of its compared values. */
  addCurrent(
    key: string,
    row: Readonly<Record<string, unknown>>,
    fingerprintA: number,
    fingerprintB: number,
  ): void {
    const slot = this.index.find(key);
    // The compared values are gathered only for a row the feed reports.
    if (slot < 0) {
      this.added++;
      this.feed.write("added", key, comparedOf(row, this.shape), null, []);
    } else if (this.differs(slot, fingerprintA, fingerprintB))
      this.current.set(key, comparedOf(row, this.shape));
  }

  /** One row of this run's own baseline, read back at the end: values parsed only when reported. */
  addCurrentLine(line: BaselineLine): void {
    const slot = this.index.findLine(line);
    if (slot < 0) {
      this.added++;
      this.feed.write("added", line.id(), line.values(), null, []);
    } else if (this.differs(slot, line.fingerprintA, line.fingerprintB))
      this.current.set(line.id(), line.values());
  }

  /** Marks a row of the previous snapshot seen in this run; true when its values differ. */
  private differs(slot: number, fingerprintA: number, fingerprintB: number): boolean {
    const { index } = this;
    if (index.state(slot) !== UNSEEN) return false;
    if (index.sameFingerprint(slot, fingerprintA, fingerprintB)) {
      index.setState(slot, SAME);
      return false;
    }
    index.setState(slot, CHANGED);
    return true;
  }

  /**
   * A row of the previous baseline, read back at the end: its values are parsed only when it
   * disappeared or changed.
   */
  addPreviousLine(line: BaselineLine): void {
    const slot = this.index.findLine(line);
    if (slot < 0) return;
    const state = this.index.state(slot);
    if (state === UNSEEN || state === CHANGED) this.previous(line.id(), state, line.values());
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
      if (state === UNSEEN || state === CHANGED) this.previous(id, state, before);
      if (state !== SAME) index.setState(slot, DONE);
    }
  }

  private previous(id: string, state: number, before: Compared): void {
    if (state === UNSEEN) {
      this.removed++;
      this.feed.write("removed", id, null, before, []);
      return;
    }
    const after = this.current.get(id);
    this.current.delete(id);
    const fields = after ? changedFields(before, after, this.shape) : [];
    if (after && fields.length > 0) {
      this.changed++;
      this.feed.write("changed", id, after, before, fields);
    }
  }
}
